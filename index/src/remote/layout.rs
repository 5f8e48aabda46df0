//! Object names on a remote. Everything lives under `tl-remote-v1/` (the layout's
//! format number) below the URL's prefix:
//!
//! ```text
//! tl-remote-v1/seg/<base LSN, 20 digits>-<segment salt, 16 hex>   a sealed segment
//! tl-remote-v1/manifest/<generation, 20 digits>                    a manifest
//! ```
//!
//! A segment's name is unique to its bytes: the salt is random per segment, so the
//! log a GC rewrites (starting again at LSN 0) never reuses a name. Names carry no
//! path and no content, encrypted or not.

use tl_wal::Lsn;

/// The layout version, in every object name.
pub const LAYOUT_VERSION: u32 = 1;

/// The directory of this layout version.
pub fn root() -> String {
    format!("tl-remote-v{LAYOUT_VERSION}")
}

/// Where manifests live (the one prefix a clone LISTs).
pub fn manifest_prefix() -> String {
    format!("{}/manifest/", root())
}

/// The manifest of generation `generation`.
pub fn manifest_name(generation: u64) -> String {
    format!("{}{generation:020}", manifest_prefix())
}

/// The generation a manifest's name carries, if it is one.
pub fn parse_manifest_name(name: &str) -> Option<u64> {
    let rest = name.strip_prefix(&manifest_prefix())?;
    if rest.len() != 20 || !rest.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    rest.parse().ok()
}

/// The object holding the segment of base `base` and salt `salt`.
pub fn segment_name(base: Lsn, salt: u64) -> String {
    format!("{}/seg/{:020}-{salt:016x}", root(), base.get())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn manifest_names_sort_by_generation_and_parse_back() {
        assert_eq!(
            manifest_name(42),
            "tl-remote-v1/manifest/00000000000000000042"
        );
        assert_eq!(parse_manifest_name(&manifest_name(42)), Some(42));
        assert!(manifest_name(9) < manifest_name(10));
        assert_eq!(parse_manifest_name("tl-remote-v1/manifest/x"), None);
        assert_eq!(
            segment_name(Lsn::new(64), 0xab),
            "tl-remote-v1/seg/00000000000000000064-00000000000000ab"
        );
    }
}
