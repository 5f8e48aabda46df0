//! What every capture leaves out by default, below every ignore file's rules:
//!
//! - Editor temporaries: Vim's swap files (`.name.swp`, `.swo` … `.swa`,
//!   gitignore's `[._]*.sw[a-p]` template) and its write probe `4913`, backup
//!   files ending in `~`, Emacs' lock (`.#name`) and auto-save (`#name#`) files.
//! - Files that usually hold secrets ([`SECRET_FILES`]): dotenv files, private
//!   keys and certificates, key stores, password files. History is hard to take
//!   back (it is replayed, exported to Git, copied with the project), so a key
//!   that is not in it cannot leak from it; the cost is that a file with such a
//!   name that is no secret must be asked for. Templates that projects commit
//!   (`.env.example`, `.env.sample`, `.env.template`, `.env.dist`,
//!   `.env.defaults`) and public keys (`id_rsa.pub`) are captured.
//!
//! Both are the lowest-precedence rule: any rule in a `.tlignore`, `.gitignore`
//! or `.git/info/exclude` that matches the file decides instead, so `!*~` in
//! `.tlignore` captures backup files again and `!.env` captures `.env`.
//!
//! Only files and symlinks are matched, never directories (a virtualenv named
//! `.env/` is captured as any directory). Secret names are matched ignoring ASCII
//! case (`SERVER.KEY` from another system is as secret as `server.key`).

/// The patterns, as documented (README, `tl --help` of `.tlignore`).
pub const EDITOR_TEMPORARIES: &[&str] = &[".*.sw[a-p]", "*~", ".#*", "#*#", "4913"];

/// The names left out as likely secrets, as documented (README); matched by
/// [`is_secret`].
pub const SECRET_FILES: &[&str] = &[
    ".env",
    ".env.* (not .env.example, .env.sample, .env.template, .env.dist, .env.defaults)",
    "*.pem",
    "*.key",
    "id_rsa*, id_dsa*, id_ecdsa*, id_ed25519* (not *.pub)",
    "*.p12",
    "*.pfx",
    "*.jks",
    "*.keystore",
    "*.kdbx",
    ".netrc",
    ".pgpass",
    ".git-credentials",
];

/// What follows `.env.` in the dotenv templates projects commit on purpose.
const ENV_TEMPLATES: &[&[u8]] = &[b"example", b"sample", b"template", b"dist", b"defaults"];

/// Extensions of key, certificate and key-store files.
const SECRET_EXTENSIONS: &[&[u8]] = &[b"pem", b"key", b"p12", b"pfx", b"jks", b"keystore", b"kdbx"];

/// Whole names of credential files.
const SECRET_NAMES: &[&[u8]] = &[b".env", b".netrc", b".pgpass", b".git-credentials"];

/// Prefixes of OpenSSH private keys (`id_rsa`, `id_ed25519_work`, `id_ecdsa_sk`).
const SSH_KEY_PREFIXES: &[&[u8]] = &[b"id_rsa", b"id_dsa", b"id_ecdsa", b"id_ed25519"];

/// Which default rule leaves a file out.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum DefaultRule {
    /// An editor's swap, backup, lock or auto-save file ([`EDITOR_TEMPORARIES`]).
    EditorTemporary,
    /// A file that usually holds a secret ([`SECRET_FILES`]).
    Secret,
}

/// The default rule that leaves a file named `name` (the last path component)
/// out, if any.
pub fn default_rule(name: &[u8]) -> Option<DefaultRule> {
    if is_editor_temporary(name) {
        Some(DefaultRule::EditorTemporary)
    } else if is_secret(name) {
        Some(DefaultRule::Secret)
    } else {
        None
    }
}

/// True when a file named `name` (the last path component) is an editor
/// temporary by [`EDITOR_TEMPORARIES`].
pub fn is_editor_temporary(name: &[u8]) -> bool {
    let vim_swap = name.len() > 4
        && name[0] == b'.'
        && name[..name.len() - 1].ends_with(b".sw")
        && (b'a'..=b'p').contains(&name[name.len() - 1]);
    let backup = name.len() > 1 && name.ends_with(b"~");
    let emacs_lock = name.len() > 2 && name.starts_with(b".#");
    let emacs_autosave = name.len() > 2 && name.starts_with(b"#") && name.ends_with(b"#");
    vim_swap || backup || emacs_lock || emacs_autosave || name == b"4913"
}

/// True when a file named `name` (the last path component) usually holds a
/// secret, by [`SECRET_FILES`] (ASCII case ignored).
pub fn is_secret(name: &[u8]) -> bool {
    let lower = name.to_ascii_lowercase();
    let name = lower.as_slice();
    if SECRET_NAMES.contains(&name) {
        return true;
    }
    if let Some(rest) = name.strip_prefix(b".env.") {
        return !rest.is_empty() && !ENV_TEMPLATES.contains(&rest);
    }
    if SSH_KEY_PREFIXES.iter().any(|p| name.starts_with(p)) {
        return !name.ends_with(b".pub");
    }
    match name.iter().rposition(|&b| b == b'.') {
        // A name that is only an extension (`.pem`) is a hidden file of that
        // name: left out as well, it is no less a key.
        Some(dot) => SECRET_EXTENSIONS.contains(&&name[dot + 1..]),
        None => false,
    }
}

#[cfg(test)]
mod tests {
    use super::{default_rule, is_editor_temporary, is_secret, DefaultRule};

    #[test]
    fn editor_temporaries_are_recognised_and_ordinary_names_are_not() {
        for yes in [
            ".main.rs.swp",
            ".x.swo",
            ".x.swa",
            "notes.txt~",
            ".#main.rs",
            "#main.rs#",
            "4913",
        ] {
            assert!(is_editor_temporary(yes.as_bytes()), "{yes}");
        }
        for no in [
            "main.rs", ".swp", "x.swp", ".x.swz", "~", ".#", "##", "#x", "49130", "a~b",
        ] {
            assert!(!is_editor_temporary(no.as_bytes()), "{no}");
        }
    }

    #[test]
    fn secret_files_are_recognised_and_their_templates_and_public_halves_are_not() {
        for yes in [
            ".env",
            ".env.local",
            ".env.production",
            ".ENV",
            "server.pem",
            "tls.key",
            "SERVER.KEY",
            "id_rsa",
            "id_rsa_work",
            "id_ed25519",
            "id_ed25519_sk",
            "id_ecdsa",
            "id_dsa",
            "cert.p12",
            "cert.pfx",
            "release.jks",
            "debug.keystore",
            "passwords.kdbx",
            ".netrc",
            ".pgpass",
            ".git-credentials",
        ] {
            assert!(is_secret(yes.as_bytes()), "{yes}");
            assert_eq!(
                default_rule(yes.as_bytes()),
                Some(DefaultRule::Secret),
                "{yes}"
            );
        }
        for no in [
            ".env.example",
            ".env.sample",
            ".env.template",
            ".env.dist",
            ".env.defaults",
            ".env.",
            ".envrc",
            "env",
            ".npmrc",
            "id_rsa.pub",
            "id_ed25519.pub",
            "keys.rs",
            "key",
            "monkey",
            "main.rs",
            "pem",
            "netrc.md",
            "README.md",
        ] {
            assert!(!is_secret(no.as_bytes()), "{no}");
        }
        assert_eq!(default_rule(b"x~"), Some(DefaultRule::EditorTemporary));
        assert_eq!(default_rule(b"main.rs"), None);
    }
}
