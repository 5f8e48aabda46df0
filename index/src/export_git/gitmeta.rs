//! Git's own checks of the files it gives a meaning to (`.gitmodules`,
//! `.gitattributes`, `.gitignore`), so that an export never holds what
//! `git fsck --strict` (and so `receive.fsckObjects`, `transfer.fsckObjects`) rejects.
//!
//! Rewritten from Git's `fsck.c` (`fsck_tree`, `fsck_blob`, `fsck_gitmodules_fn`),
//! `submodule-config.c` (`check_submodule_name`, `check_submodule_url`), `path.c`
//! (`looks_like_command_line_option`, `is_{hfs,ntfs}_dotgit*`), `config.c` (the
//! parser) and `urlmatch.c` (`url_normalize`). Where an exact copy of Git's logic
//! would be long (URL normalization), the check here refuses at least what Git
//! refuses, never less: a refused entry is only left out of the export with a
//! warning, while one Git refuses makes the whole ref unpushable.

use crate::pathsafe;

/// A file Git reads from a tree.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum MetaFile {
    /// `.gitmodules`: submodule names, paths, URLs (CVE-2018-11235, CVE-2017-1000117).
    Modules,
    /// `.gitattributes`.
    Attributes,
    /// `.gitignore`.
    Ignore,
}

/// Which Git file `name` (one path component) opens on some file system: case,
/// HFS+ ignorables, NTFS trailing dots and spaces, streams and 8.3 names, as Git's
/// `is_{hfs,ntfs}_dotgit{modules,attributes,ignore}`.
pub fn meta_file(name: &[u8]) -> Option<MetaFile> {
    let n = pathsafe::fs_folded_name(name);
    match n.as_slice() {
        b".gitmodules" => return Some(MetaFile::Modules),
        b".gitattributes" => return Some(MetaFile::Attributes),
        b".gitignore" => return Some(MetaFile::Ignore),
        _ => {}
    }
    // 8.3 short names: `GITMOD~1`, and the hashed forms Git checks (`GI7EBA~1`...).
    if n.len() == 8 && n[6] == b'~' && n[7].is_ascii_digit() && n[7] != b'0' {
        return match &n[..6] {
            b"gitmod" | b"gi7eba" => Some(MetaFile::Modules),
            b"gitatt" | b"gi7d29" => Some(MetaFile::Attributes),
            b"gitign" | b"gi250a" => Some(MetaFile::Ignore),
            _ => None,
        };
    }
    None
}

/// The Git files the last component of `path` opens: itself, and (as Git's
/// `fsck_tree` does for NTFS) what follows each `\` in it.
pub fn meta_files_of(path: &[u8]) -> Vec<MetaFile> {
    let last = path.rsplit(|&b| b == b'/').next().unwrap_or(path);
    let mut out: Vec<MetaFile> = meta_file(last).into_iter().collect();
    for (i, &b) in last.iter().enumerate() {
        if b == b'\\' {
            if let Some(m) = meta_file(&last[i + 1..]) {
                out.push(m);
            }
        }
    }
    out.sort_by_key(|m| *m as u8);
    out.dedup();
    out
}

/// Largest `.gitmodules` or `.gitattributes` checked (Git's `ATTR_MAX_FILE_SIZE`);
/// a larger one is refused.
pub const MAX_CHECKED_BYTES: usize = 100 << 20;

/// Git's `ATTR_MAX_LINE_LENGTH`: a `.gitattributes` line this long is refused.
const ATTR_MAX_LINE_LENGTH: usize = 2048;

/// Why Git would refuse `content` as a `.gitattributes` blob, if it would.
pub fn check_gitattributes(content: &[u8]) -> Result<(), String> {
    if content.len() > MAX_CHECKED_BYTES {
        return Err(format!(
            "a .gitattributes larger than {MAX_CHECKED_BYTES} bytes (Git: gitattributesLarge)"
        ));
    }
    if content
        .split(|&b| b == b'\n')
        .any(|line| line.len() >= ATTR_MAX_LINE_LENGTH)
    {
        return Err(format!(
            "a .gitattributes line of {ATTR_MAX_LINE_LENGTH} bytes or more (Git: \
             gitattributesLineLength)"
        ));
    }
    Ok(())
}

/// Why Git would refuse `content` as a `.gitmodules` blob, if it would: a submodule
/// name with a `..` component (either separator) or empty, a URL that looks like an
/// option or that Git's URL checks reject, a path that looks like an option, an
/// `update = !command`. A file that does not parse as Git config, or holds a NUL
/// byte, is refused too: its settings could not all be checked.
pub fn check_gitmodules(content: &[u8]) -> Result<(), String> {
    if content.len() > MAX_CHECKED_BYTES {
        return Err(format!(
            "a .gitmodules larger than {MAX_CHECKED_BYTES} bytes (Git: gitmodulesLarge)"
        ));
    }
    if content.contains(&0) {
        return Err("a .gitmodules with a NUL byte, which Git's checks would not see past".into());
    }
    let settings = parse_config(content).map_err(|line| {
        format!("a .gitmodules that is not valid Git config (line {line}), so not checkable")
    })?;
    for s in &settings {
        let Some((name, key)) = submodule_key(&s.var) else {
            continue;
        };
        let show = |b: &[u8]| String::from_utf8_lossy(b).into_owned();
        if !submodule_name_ok(name) {
            return Err(format!(
                "a .gitmodules with the submodule name {:?} (Git: gitmodulesName)",
                show(name)
            ));
        }
        let Some(value) = &s.value else { continue };
        match key {
            b"url" if !submodule_url_ok(value) => {
                return Err(format!(
                    "a .gitmodules with the submodule url {:?} (Git: gitmodulesUrl)",
                    show(value)
                ))
            }
            b"path" if looks_like_option(value) => {
                return Err(format!(
                    "a .gitmodules with the submodule path {:?} (Git: gitmodulesPath)",
                    show(value)
                ))
            }
            b"update" if value.first() == Some(&b'!') => {
                return Err(format!(
                    "a .gitmodules with the submodule update command {:?} (Git: \
                     gitmodulesUpdate)",
                    show(value)
                ))
            }
            _ => {}
        }
    }
    Ok(())
}

/// Git's `looks_like_command_line_option`.
fn looks_like_option(s: &[u8]) -> bool {
    s.first() == Some(&b'-')
}

/// Git's `parse_config_key(var, "submodule", ...)`: `(name, key)` of
/// `submodule.<name>.<key>`, `None` for any other variable.
fn submodule_key(var: &[u8]) -> Option<(&[u8], &[u8])> {
    let rest = var.strip_prefix(b"submodule.")?;
    let last_dot = rest.iter().rposition(|&b| b == b'.')?;
    Some((&rest[..last_dot], &rest[last_dot + 1..]))
}

fn is_dir_sep(b: u8) -> bool {
    b == b'/' || b == b'\\'
}

/// Git's `check_submodule_name`: not empty, no `..` component (split on `/` and
/// `\`, on every platform).
fn submodule_name_ok(name: &[u8]) -> bool {
    !name.is_empty() && !name.split(|&b| is_dir_sep(b)).any(|c| c == b"..")
}

/// Git's `check_submodule_url`, refusing at least what it refuses.
fn submodule_url_ok(url: &[u8]) -> bool {
    if looks_like_option(url) {
        return false;
    }
    let relative = url.starts_with(b"./") || url.starts_with(b"../");
    if relative || url.starts_with(b"git://") {
        // It could be appended to an http URL and decoded: no newline, raw or %0a.
        if has_newline_decoded(url) {
            return false;
        }
        // `../` climbing out of the remote's host (CVE-2020-11008).
        let mut rest = url;
        let mut dotdots = 0;
        loop {
            if let Some(r) = rest.strip_prefix(b"../") {
                dotdots += 1;
                rest = r;
            } else if let Some(r) = rest.strip_prefix(b"./") {
                rest = r;
            } else {
                break;
            }
        }
        return !(dotdots > 0 && matches!(rest.first(), Some(b':') | Some(b'/')));
    }
    let curl = [&b"http::"[..], b"https::", b"ftp::", b"ftps::"]
        .iter()
        .find_map(|p| url.strip_prefix(*p))
        .or_else(|| {
            [&b"http://"[..], b"https://", b"ftp://", b"ftps://"]
                .iter()
                .any(|p| url.starts_with(p))
                .then_some(url)
        });
    match curl {
        Some(u) => curl_url_ok(u),
        None => true,
    }
}

/// True if `s` holds a newline once %-decoded (Git decodes valid escapes only; any
/// `%0a` counts here, wherever it is).
fn has_newline_decoded(s: &[u8]) -> bool {
    s.contains(&b'\n')
        || s.windows(3)
            .any(|w| w[0] == b'%' && w[1] == b'0' && (w[2] | 0x20) == b'a')
}

/// Refuses every URL Git's `url_normalize` refuses (bad scheme, bad `%` escape, no or
/// a bad host, a bad port, a `..` above the root: here any `..` segment) and any
/// that decodes to a newline.
fn curl_url_ok(url: &[u8]) -> bool {
    const SCHEME: &[u8] = b"+.-";
    const HOST: &[u8] = b".-_[:]";
    if has_newline_decoded(url) {
        return false;
    }
    // Every `%` starts a valid escape.
    for (i, &b) in url.iter().enumerate() {
        if b == b'%'
            && !(i + 2 < url.len() && hex_val(url[i + 1]).and(hex_val(url[i + 2])).is_some())
        {
            return false;
        }
    }
    let scheme_len = url
        .iter()
        .take_while(|b| b.is_ascii_alphanumeric() || SCHEME.contains(b))
        .count();
    if scheme_len == 0 || !url[0].is_ascii_alphabetic() || !url[scheme_len..].starts_with(b"://") {
        return false;
    }
    let mut rest = &url[scheme_len + 3..];
    let end_of_authority = rest
        .iter()
        .position(|b| b"/?#".contains(b))
        .unwrap_or(rest.len());
    if let Some(at) = rest.iter().position(|&b| b == b'@') {
        if at < end_of_authority {
            rest = &rest[at + 1..];
        }
    }
    let slash = rest
        .iter()
        .position(|b| b"/?#".contains(b))
        .unwrap_or(rest.len());
    if slash == 0 || rest[0] == b':' {
        return false; // no host
    }
    let authority = &rest[..slash];
    // The port starts after the last ':' not inside an IPv6 literal.
    let colon = match authority.iter().rposition(|&b| b == b':' || b == b']') {
        Some(i) if authority[i] == b':' => i,
        _ => authority.len(),
    };
    if !authority[..colon]
        .iter()
        .all(|b| b.is_ascii_alphanumeric() || HOST.contains(b))
    {
        return false;
    }
    if colon < authority.len() {
        let port = &authority[colon + 1..];
        if !port.iter().all(u8::is_ascii_digit) {
            return false;
        }
        // Leading zeros dropped, but `0` alone (or `00`) is port 0: refused.
        let digits: Vec<u8> = port.iter().skip_while(|&&b| b == b'0').copied().collect();
        if !port.is_empty() {
            let n: u64 = match digits.len() {
                1..=5 => std::str::from_utf8(&digits)
                    .ok()
                    .and_then(|s| s.parse().ok())
                    .unwrap_or(0),
                _ => 0,
            };
            if n == 0 || n > 65535 {
                return false;
            }
        }
    }
    let path = &rest[slash..];
    let path_end = path
        .iter()
        .position(|b| b"?#".contains(b))
        .unwrap_or(path.len());
    !path[..path_end]
        .split(|&b| b == b'/')
        .any(|seg| percent_decode(seg) == b"..")
}

fn percent_decode(s: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(s.len());
    let mut i = 0;
    while i < s.len() {
        if s[i] == b'%' && i + 2 < s.len() {
            if let (Some(h), Some(l)) = (hex_val(s[i + 1]), hex_val(s[i + 2])) {
                out.push(h << 4 | l);
                i += 3;
                continue;
            }
        }
        out.push(s[i]);
        i += 1;
    }
    out
}

fn hex_val(b: u8) -> Option<u8> {
    (b as char).to_digit(16).map(|d| d as u8)
}

// ---------------------------------------------------------------------------------
// Git's config parser (`config.c`: `git_parse_source`, `get_base_var`,
// `get_extended_base_var`, `get_value`, `parse_value`).

/// One variable as Git's parser hands it to a callback: `section.sub.key` with
/// section and key lowercased, and its value (`None`: a bare `key`, boolean true).
#[derive(Debug, PartialEq, Eq)]
struct Setting {
    var: Vec<u8>,
    value: Option<Vec<u8>>,
}

struct Source<'a> {
    bytes: &'a [u8],
    pos: usize,
    eof: bool,
    line: usize,
}

/// Git's `isspace` (`sane_ctype`): space, tab, newline, carriage return.
fn is_space(c: u8) -> bool {
    matches!(c, b' ' | b'\t' | b'\n' | b'\r')
}

fn is_key_char(c: u8) -> bool {
    c.is_ascii_alphanumeric() || c == b'-'
}

impl Source<'_> {
    /// Git's `get_next_char`: `\r\n` reads as `\n`, the end of input as `\n` (and
    /// sets `eof`).
    fn next(&mut self) -> u8 {
        let Some(&c) = self.bytes.get(self.pos) else {
            self.eof = true;
            return b'\n';
        };
        self.pos += 1;
        if c == b'\r' && self.bytes.get(self.pos) == Some(&b'\n') {
            self.pos += 1;
            self.line += 1;
            return b'\n';
        }
        if c == b'\n' {
            self.line += 1;
        }
        c
    }
}

/// Every setting of a config file in order; `Err(line)` where Git's parser stops
/// with an error.
fn parse_config(bytes: &[u8]) -> Result<Vec<Setting>, usize> {
    let bytes = bytes.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(bytes);
    let mut src = Source {
        bytes,
        pos: 0,
        eof: false,
        line: 1,
    };
    let mut out = Vec::new();
    let mut var: Vec<u8> = Vec::new();
    let mut base_len = 0;
    let mut comment = false;
    if bytes.first() == Some(&0xEF) {
        return Err(1); // a partial byte order mark
    }
    loop {
        let c = src.next();
        if c == b'\n' {
            if src.eof {
                return Ok(out);
            }
            comment = false;
            continue;
        }
        if comment || is_space(c) {
            continue;
        }
        if c == b'#' || c == b';' {
            comment = true;
            continue;
        }
        if c == b'[' {
            var.clear();
            base_var(&mut src, &mut var).map_err(|()| src.line)?;
            if var.is_empty() {
                return Err(src.line);
            }
            var.push(b'.');
            base_len = var.len();
            continue;
        }
        if !c.is_ascii_alphabetic() {
            return Err(src.line);
        }
        var.truncate(base_len);
        var.push(c.to_ascii_lowercase());
        let value = get_value(&mut src, &mut var).map_err(|()| src.line)?;
        out.push(Setting {
            var: var.clone(),
            value,
        });
    }
}

/// `[section]`, `[section.sub]` (lowercased) or `[section "sub"]`.
fn base_var(src: &mut Source<'_>, var: &mut Vec<u8>) -> Result<(), ()> {
    loop {
        let c = src.next();
        if src.eof {
            return Err(());
        }
        if c == b']' {
            return Ok(());
        }
        if is_space(c) {
            return extended_base_var(src, var, c);
        }
        if !is_key_char(c) && c != b'.' {
            return Err(());
        }
        var.push(c.to_ascii_lowercase());
    }
}

fn extended_base_var(src: &mut Source<'_>, var: &mut Vec<u8>, mut c: u8) -> Result<(), ()> {
    loop {
        if c == b'\n' {
            return Err(());
        }
        c = src.next();
        if !is_space(c) {
            break;
        }
    }
    if c != b'"' {
        return Err(());
    }
    var.push(b'.');
    loop {
        let mut c = src.next();
        if c == b'\n' {
            return Err(());
        }
        if c == b'"' {
            break;
        }
        if c == b'\\' {
            c = src.next();
            if c == b'\n' {
                return Err(());
            }
        }
        var.push(c);
    }
    if src.next() != b']' {
        return Err(());
    }
    Ok(())
}

fn get_value(src: &mut Source<'_>, var: &mut Vec<u8>) -> Result<Option<Vec<u8>>, ()> {
    let mut c;
    loop {
        c = src.next();
        if src.eof || !is_key_char(c) {
            break;
        }
        var.push(c.to_ascii_lowercase());
    }
    while c == b' ' || c == b'\t' {
        c = src.next();
    }
    if c == b'\n' {
        return Ok(None);
    }
    if c != b'=' {
        return Err(());
    }
    parse_value(src).map(Some)
}

fn parse_value(src: &mut Source<'_>) -> Result<Vec<u8>, ()> {
    let mut quote = false;
    let mut comment = false;
    let mut trim_len = 0;
    let mut value = Vec::new();
    loop {
        let mut c = src.next();
        if c == b'\n' {
            if quote {
                return Err(());
            }
            if trim_len > 0 {
                value.truncate(trim_len);
            }
            return Ok(value);
        }
        if comment {
            continue;
        }
        if is_space(c) && !quote {
            if trim_len == 0 {
                trim_len = value.len();
            }
            if !value.is_empty() {
                value.push(c);
            }
            continue;
        }
        if !quote && (c == b';' || c == b'#') {
            comment = true;
            continue;
        }
        trim_len = 0;
        if c == b'\\' {
            c = match src.next() {
                b'\n' => continue,
                b't' => b'\t',
                b'b' => 8,
                b'n' => b'\n',
                c @ (b'\\' | b'"') => c,
                _ => return Err(()),
            };
            value.push(c);
            continue;
        }
        if c == b'"' {
            quote = !quote;
            continue;
        }
        value.push(c);
    }
}

#[cfg(test)]
mod tests;
