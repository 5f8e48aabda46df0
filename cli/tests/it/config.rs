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

/// A hostile config.toml (issue 19): every command refuses it with a message
/// naming the file (and the key where there is one), exits 1, writes nothing,
/// and never panics; a 50 MB file is refused without being parsed.
#[test]
fn a_hostile_config_is_refused_with_bounded_work_and_a_clear_message() {
    let huge = format!("# {}\n", "x".repeat(50 << 20));
    let deep = format!(
        "max_file_bytes = {}1{}\n",
        "[".repeat(5000),
        "]".repeat(5000)
    );
    let cases: [(&str, &str, &[&str]); 10] = [
        ("big file", huge.as_str(), &["over 1024 KiB", "config.toml"]),
        (
            "2^70",
            "max_file_bytes = 1180591620717411303424\n",
            &[
                "config.toml",
                "`max_file_bytes` = 1180591620717411303424 (line 1)",
                "past what 64 bits hold",
                "whole number from 1 to 9223372036854775807",
            ],
        ),
        (
            "2^70 for a level",
            "# levels\nzstd_level = 1180591620717411303424 # fast\n",
            &[
                "`zstd_level` = 1180591620717411303424 (line 2)",
                "from 1 to 22",
            ],
        ),
        (
            "2^70 in [retention]",
            "snapshot_every = 5\n[retention]\nkeep-all = 1180591620717411303424\n",
            &[
                "`retention.keep-all` = 1180591620717411303424 (line 3)",
                "quoted value like its default, \"1h\"",
            ],
        ),
        (
            "2^70 for an unknown key",
            "debounce_ms = 1180591620717411303424\n",
            &["`debounce_ms`", "unknown setting", "max_file_bytes"],
        ),
        (
            "float",
            "max_file_bytes = 1e300\n",
            &["max_file_bytes", "integer"],
        ),
        ("negative", "max_file_bytes = -5\n", &["max_file_bytes"]),
        (
            "not TOML",
            "zstd_level = 12x\n",
            &["`zstd_level` = 12x (line 1)", "from 1 to 22"],
        ),
        (
            "unknown key",
            "no_such_key = 1\n",
            &["no_such_key", "known"],
        ),
        ("deep nesting", deep.as_str(), &["config.toml"]),
    ];
    for (what, text, says) in cases {
        let d = tempfile::tempdir().unwrap();
        ok(d.path(), &["init"]);
        fs::write(d.path().join(".tl/config.toml"), text).unwrap();
        let before = store_bytes(d.path());
        let out = tl(d.path(), &["checkpoint"]);
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(1), "{what}: {err}");
        assert!(!err.contains("panicked"), "{what}: {err}");
        for s in says {
            assert!(err.contains(s), "{what}: no {s:?} in {err}");
        }
        assert_eq!(store_bytes(d.path()), before, "{what}: wrote to .tl");
    }
}
