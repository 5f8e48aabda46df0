//! Line diffs of two contents, as `tl diff` and `tl log --stat` show them: git's
//! rule for binary content, the lines inserted and deleted, the unified diff.
//!
//! Not a general diff library: it wraps `similar`'s line diff (Myers) with the
//! choices tl makes, so that every command counts lines the same way.

/// git's rule: content with a NUL byte in its first 8000 bytes is binary.
pub fn is_binary(bytes: &[u8]) -> bool {
    bytes[..bytes.len().min(8000)].contains(&0)
}

/// Lines inserted and deleted from one text to another.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct LineCounts {
    /// Lines only in the newer text.
    pub insertions: usize,
    /// Lines only in the older text.
    pub deletions: usize,
}

/// Two contents as text: None when either is binary (git's rule) or not UTF-8.
#[derive(Clone, Copy, Debug)]
pub struct TextPair<'a> {
    /// The older text.
    pub before: &'a str,
    /// The newer text.
    pub after: &'a str,
}

impl<'a> TextPair<'a> {
    /// The two contents as text, or None when either is binary or not UTF-8.
    pub fn new(before: &'a [u8], after: &'a [u8]) -> Option<TextPair<'a>> {
        if is_binary(before) || is_binary(after) {
            return None;
        }
        Some(TextPair {
            before: std::str::from_utf8(before).ok()?,
            after: std::str::from_utf8(after).ok()?,
        })
    }

    /// The lines inserted and deleted.
    pub fn line_counts(&self) -> LineCounts {
        let d = similar::TextDiff::from_lines(self.before, self.after);
        let mut counts = LineCounts::default();
        for c in d.iter_all_changes() {
            match c.tag() {
                similar::ChangeTag::Insert => counts.insertions += 1,
                similar::ChangeTag::Delete => counts.deletions += 1,
                similar::ChangeTag::Equal => {}
            }
        }
        counts
    }

    /// The unified diff with 3 lines of context under `---`/`+++` headers naming
    /// `old_name` and `new_name` (as git names them: `a/x`, `b/x`, `/dev/null`).
    pub fn unified(&self, old_name: &str, new_name: &str) -> String {
        similar::TextDiff::from_lines(self.before, self.after)
            .unified_diff()
            .context_radius(3)
            .header(old_name, new_name)
            .to_string()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn counts(x: &str, y: &str) -> (usize, usize) {
        let c = TextPair::new(x.as_bytes(), y.as_bytes())
            .unwrap()
            .line_counts();
        (c.insertions, c.deletions)
    }

    #[test]
    fn counts_lines_inserted_and_deleted() {
        assert_eq!(counts("", ""), (0, 0));
        assert_eq!(counts("a\nb\n", "a\nc\nd\n"), (2, 1));
        assert_eq!(counts("a\n", ""), (0, 1));
    }

    #[test]
    fn binary_or_non_utf8_content_is_not_text() {
        assert!(TextPair::new(b"a\0b", b"x").is_none());
        assert!(TextPair::new(b"x", &[0xff, 0xfe]).is_none());
        let late_nul = [vec![b'a'; 8000], vec![0]].concat();
        assert!(!is_binary(&late_nul));
    }

    #[test]
    fn the_unified_diff_names_both_sides() {
        let p = TextPair::new(b"a\n", b"b\n").unwrap();
        assert_eq!(
            p.unified("a/x", "b/x"),
            "--- a/x\n+++ b/x\n@@ -1 +1 @@\n-a\n+b\n"
        );
    }
}
