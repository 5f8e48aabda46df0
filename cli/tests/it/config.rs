//! `.tl/config.toml` as the user edits it: a bad `[retention]` section is refused
//! with a message that says what is wrong and what is accepted, a non-zero exit,
//! and nothing written.

use std::fs;
use std::path::Path;

use crate::util::{fails, ok, tl};

/// Every path and byte under `.tl/`, to show that a refused command wrote nothing.
fn store_bytes(root: &Path) -> Vec<(String, Vec<u8>)> {
    let mut out = Vec::new();
    let mut stack = vec![root.join(".tl")];
    while let Some(d) = stack.pop() {
        for e in fs::read_dir(&d).unwrap() {
            let p = e.unwrap().path();
            if p.is_dir() {
                stack.push(p);
            } else {
                out.push((p.to_string_lossy().into_owned(), fs::read(&p).unwrap()));
            }
        }
    }
    out.sort();
    out
}

fn project_with(retention: &str) -> tempfile::TempDir {
    let d = tempfile::tempdir().unwrap();
    ok(d.path(), &["init"]);
    fs::write(d.path().join("a"), "one\n").unwrap();
    ok(d.path(), &["checkpoint"]);
    let config = d.path().join(".tl/config.toml");
    let mut text = fs::read_to_string(&config).unwrap();
    text.push_str(retention);
    fs::write(&config, text).unwrap();
    fs::write(d.path().join("a"), "two\n").unwrap();
    d
}

#[test]
fn an_unknown_retention_key_is_refused_by_name_with_the_known_keys_and_changes_nothing() {
    let d = project_with("\n[retention]\nkeep-weekly = \"4w\"\n");
    let before = store_bytes(d.path());
    let out = tl(d.path(), &["checkpoint"]);
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8(out.stderr).unwrap();
    assert_eq!(err.trim_end().lines().count(), 1, "{err}");
    assert!(err.starts_with("tl: "), "{err}");
    assert!(err.contains(".tl/config.toml: "), "{err}");
    assert!(
        err.contains("unknown key `keep-weekly` in [retention]"),
        "{err}"
    );
    assert!(
        err.contains(
            "known keys: keep-all, keep-secondly, keep-minutely, keep-hourly, keep-daily, \
             max-store-bytes"
        ),
        "{err}"
    );
    assert_eq!(
        store_bytes(d.path()),
        before,
        "the refused checkpoint wrote"
    );
    // Reading commands refuse it the same way.
    let err = fails(d.path(), &["log"]);
    assert!(err.contains("unknown key `keep-weekly`"), "{err}");
}

#[test]
fn a_bad_retention_value_says_which_key_and_what_is_accepted() {
    let d = project_with("\n[retention]\nkeep-hourly = \"a week\"\n");
    let err = fails(d.path(), &["checkpoint"]);
    assert!(
        err.contains("`keep-hourly` in [retention]: \"a week\" is not a duration"),
        "{err}"
    );
    assert!(err.contains("1h30m"), "{err}");
    let d = project_with("\n[retention]\nmax-store-bytes = \"10G\"\n");
    let before = store_bytes(d.path());
    let err = fails(d.path(), &["checkpoint"]);
    assert!(
        err.contains("`max-store-bytes` in [retention]: \"10G\": the unit \"G\" is ambiguous"),
        "{err}"
    );
    assert!(err.contains("GiB") && err.contains("GB"), "{err}");
    assert_eq!(store_bytes(d.path()), before);
}

#[test]
fn a_valid_retention_section_is_accepted() {
    let d = project_with(
        "\n[retention]\nkeep-all = \"90s\"\nkeep-secondly = \"10m\"\nmax-store-bytes = \"2GiB\"\n",
    );
    ok(d.path(), &["checkpoint"]);
    assert!(ok(d.path(), &["log"]).lines().count() >= 2);
}
