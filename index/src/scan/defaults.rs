//! Editor temporaries left out of every capture by default: Vim's swap files
//! (`.name.swp`, `.swo` … `.swa`, gitignore's `[._]*.sw[a-p]` template) and its
//! write probe `4913`, backup files ending in `~`, Emacs' lock (`.#name`) and
//! auto-save (`#name#`) files. They are the lowest-precedence rule: any rule in a
//! `.tlignore`, `.gitignore` or `.git/info/exclude` that matches the file decides
//! instead, so `!*~` in `.tlignore` captures backup files again.
//!
//! Only files and symlinks are matched, never directories.

/// The patterns, as documented (README, `tl --help` of `.tlignore`).
pub const EDITOR_TEMPORARIES: &[&str] = &[".*.sw[a-p]", "*~", ".#*", "#*#", "4913"];

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

#[cfg(test)]
mod tests {
    use super::is_editor_temporary;

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
}
