//! Goal: every rule of "Path safety" 1-3 has a test that a breaking path is refused
//! with that rule, and ordinary paths (including odd but harmless ones) pass.

use super::*;
use proptest::prelude::*;

/// Asserts `path` is refused by [`validate_path`] with a rule matching `expected`.
fn check_refused(path: &[u8], expected: fn(&PathRule) -> bool) {
    match validate_path(path) {
        Ok(()) => panic!("{:?} was accepted", String::from_utf8_lossy(path)),
        Err(e) => assert!(
            expected(&e.rule),
            "{:?}: unexpected rule {:?}",
            e.path,
            e.rule
        ),
    }
}

#[test]
fn ordinary_paths_are_accepted() {
    for path in [
        &b"a"[..],
        b"src/main.rs",
        b"a/b/c/d.txt",
        b".gitignore",
        b".gitmodules",
        b"dir/.github/workflows/ci.yml",
        b".tlconfig",
        b"git",
        b"tl",
        b"git~0",
        b"a.git",
        b"...a",
        b".a",
        b"x/..y",
        b"caf\xc3\xa9",
        b"not-utf8-\xff\xfe",
        b"C",
        b"1:x",
        b"a b",
    ] {
        assert_eq!(
            validate_path(path),
            Ok(()),
            "{:?}",
            String::from_utf8_lossy(path)
        );
    }
}

#[test]
fn empty_path_is_refused() {
    check_refused(b"", |r| *r == PathRule::Empty);
}

#[test]
fn over_long_path_is_refused() {
    let ok = vec![b'a'; PATH_MAX_BYTES];
    assert_eq!(validate_path(&ok), Ok(()));
    let long = vec![b'a'; PATH_MAX_BYTES + 1];
    check_refused(
        &long,
        |r| matches!(r, PathRule::TooLong { len } if *len == PATH_MAX_BYTES + 1),
    );
}

#[test]
fn over_deep_path_is_refused() {
    let ok = vec!["a"; PATH_MAX_DEPTH].join("/");
    assert_eq!(validate_path(ok.as_bytes()), Ok(()));
    let deep = vec!["a"; PATH_MAX_DEPTH + 1].join("/");
    check_refused(deep.as_bytes(), |r| matches!(r, PathRule::TooDeep { .. }));
}

#[test]
fn nul_byte_is_refused() {
    check_refused(b"a\0b", |r| *r == PathRule::Nul);
}

#[test]
fn absolute_and_unc_paths_are_refused() {
    for path in [
        &b"/etc/passwd"[..],
        b"/",
        b"\\windows",
        b"\\\\server\\share\\x",
    ] {
        check_refused(path, |r| *r == PathRule::Absolute);
    }
}

#[test]
fn drive_prefix_is_refused() {
    for path in [&b"C:"[..], b"c:foo", b"C:\\Windows", b"z:/x"] {
        check_refused(path, |r| *r == PathRule::DrivePrefix);
    }
}

#[test]
fn empty_components_are_refused() {
    for path in [&b"a//b"[..], b"a/", b"a\\\\b", b"a\\"] {
        check_refused(path, |r| *r == PathRule::EmptyComponent);
    }
}

#[test]
fn dot_and_dot_dot_components_are_refused() {
    for path in [
        &b"."[..],
        b"..",
        b"./a",
        b"a/./b",
        b"a/..",
        b"../x",
        b"a\\..\\..\\x",
        b"a/..\\x",
        b"...",
        b".. ",
        b"a/. /b",
    ] {
        check_refused(path, |r| *r == PathRule::DotComponent);
    }
}

fn is_reserved(r: &PathRule) -> bool {
    matches!(r, PathRule::Reserved { .. })
}

#[test]
fn dot_git_and_dot_tl_are_refused_in_any_component() {
    for path in [
        &b".git"[..],
        b".git/config",
        b"a/.git/hooks/pre-commit",
        b".tl",
        b"x/.tl/segments",
    ] {
        check_refused(path, is_reserved);
    }
}

#[test]
fn dot_git_is_refused_case_insensitively() {
    for path in [&b".GIT"[..], b".Git/config", b"a/.gIt", b".TL", b".Tl/x"] {
        check_refused(path, is_reserved);
    }
}

#[test]
fn dot_git_with_hfs_ignorable_code_points_is_refused() {
    for ignorable in [
        '\u{200c}', '\u{200d}', '\u{200e}', '\u{200f}', '\u{202a}', '\u{202e}',
    ]
    .into_iter()
    .chain(['\u{206a}', '\u{206f}', '\u{feff}'])
    {
        for path in [
            format!(".g{ignorable}it/config"),
            format!("{ignorable}.git"),
            format!(".GIT{ignorable}"),
            format!("a/.t{ignorable}{ignorable}l"),
        ] {
            check_refused(path.as_bytes(), is_reserved);
        }
    }
    // A code point that is not ignorable keeps the name distinct.
    assert_eq!(validate_path(".g\u{2010}it".as_bytes()), Ok(()));
}

#[test]
fn dot_git_in_ntfs_forms_is_refused() {
    for path in [
        &b"git~1"[..],
        b"GIT~1/config",
        b"git~2",
        b"tl~1",
        b".git ",
        b".git.",
        b".git. . ",
        b".git::$INDEX_ALLOCATION",
        b".git:stream",
        b".GIT::$index_allocation/config",
        b"a\\.git\\config",
        b".tl ",
    ] {
        check_refused(path, is_reserved);
    }
}

#[test]
fn error_names_the_path_lossily_and_the_rule() {
    let e = validate_path(b"ok/\xff/.git").unwrap_err();
    assert_eq!(e.path, "ok/\u{fffd}/.git");
    let message = e.to_string();
    assert!(message.contains("ok/\u{fffd}/.git"), "{message}");
    assert!(message.contains(".git"), "{message}");
}

#[test]
fn duplicate_paths_are_refused() {
    let paths: [&[u8]; 3] = [b"a", b"b", b"a"];
    let e = check_no_duplicates_or_prefix_conflicts(paths).unwrap_err();
    assert_eq!(e.rule, PathRule::Duplicate);
    assert_eq!(e.path, "a");
}

#[test]
fn entry_that_is_also_a_parent_directory_is_refused() {
    // Sorted byte order puts `a-x` between `a` and `a/b`; the check must not depend on
    // the two being neighbours.
    let paths: [&[u8]; 3] = [b"a", b"a-x", b"a/b"];
    let e = check_no_duplicates_or_prefix_conflicts(paths).unwrap_err();
    assert_eq!(
        e.rule,
        PathRule::EntryIsAlsoParent {
            child: "a/b".into()
        }
    );
    assert_eq!(e.path, "a");
    // Unsorted, deeper.
    let paths: [&[u8]; 2] = [b"x/y/z", b"x/y"];
    let e = check_no_duplicates_or_prefix_conflicts(paths).unwrap_err();
    assert_eq!(e.path, "x/y");
}

#[test]
fn siblings_and_shared_prefixes_are_not_conflicts() {
    let paths: [&[u8]; 5] = [b"a/b", b"a/c", b"ab", b"a-x", b"ab/c"];
    // `ab` and `ab/c` do conflict; drop it and the rest is fine.
    assert!(check_no_duplicates_or_prefix_conflicts(paths).is_err());
    let paths: [&[u8]; 4] = [b"a/b", b"a/c", b"ab", b"a-x/c"];
    assert_eq!(check_no_duplicates_or_prefix_conflicts(paths), Ok(()));
}

proptest! {
    #[test]
    fn validate_never_panics(path in proptest::collection::vec(any::<u8>(), 0..64)) {
        let _ = validate_path(&path);
    }

    #[test]
    fn accepted_paths_have_no_dot_or_empty_components(
        path in proptest::collection::vec(
            prop_oneof![Just(b'a'), Just(b'.'), Just(b'/'), Just(b'\\'), Just(b'g'), Just(b':')],
            0..12,
        )
    ) {
        if validate_path(&path).is_ok() {
            for component in path.split(|&b| b == b'/' || b == b'\\') {
                prop_assert!(!component.is_empty());
                prop_assert!(component != b"." && component != b"..");
            }
        }
    }
}

#[test]
fn symlink_targets_into_dot_git_are_named_in_any_spelling() {
    for t in [
        &b".git"[..],
        b"../.git/hooks",
        b"/home/u/p/.GIT/config",
        b"sub/.git./x",
        b"..\\.git\\hooks",
        b"GIT~1/hooks",
        b".g\xe2\x80\x8cit",
    ] {
        assert!(target_names_dot_git(t), "{:?}", String::from_utf8_lossy(t));
    }
    for t in [
        &b"src.rs"[..],
        b"../.github/x",
        b".gitignore",
        b"a/.gitx",
        b".tl",
    ] {
        assert!(!target_names_dot_git(t), "{:?}", String::from_utf8_lossy(t));
    }
}
