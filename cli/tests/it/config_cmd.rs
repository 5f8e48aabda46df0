//! `tl config list|get|set` (issue 18): every key with its value and whether it
//! is the default, a change that keeps the file's comments and is read by the
//! next command, and unknown keys or bad values refused with nothing written.

use std::fs;

use crate::util::{fails, json, ok};

fn project() -> tempfile::TempDir {
    let d = tempfile::tempdir().unwrap();
    ok(d.path(), &["init"]);
    d
}

#[test]
fn config_list_shows_every_key_at_its_default_after_init() {
    let d = project();
    let out = ok(d.path(), &["config", "list"]);
    assert!(out.contains("zstd_level = 1  (default)\n"), "{out}");
    assert!(
        out.contains("retention.keep-all = \"1h\"  (default)\n"),
        "{out}"
    );
    assert_eq!(out.lines().count(), 16, "{out}");
    let rows = json(d.path(), &["config", "list", "--json"]);
    let rows = rows.as_array().unwrap();
    assert_eq!(rows.len(), 16);
    assert_eq!(rows[0]["key"], "max_file_bytes");
    // tl init's file spells out each top-level key at its default.
    assert_eq!(rows[0]["from_file"], true);
    assert!(rows.iter().all(|r| r["is_default"] == true), "{rows:?}");
    assert!(rows.iter().all(|r| r["doc"].as_str().unwrap().len() > 10));
}

#[test]
fn config_set_keeps_the_comments_and_the_next_command_reads_it() {
    let d = project();
    let path = d.path().join(".tl/config.toml");
    let before = fs::read_to_string(&path).unwrap();
    let out = ok(d.path(), &["config", "set", "zstd_level", "3"]);
    assert!(out.starts_with("zstd_level = 3 (in "), "{out}");
    let after = fs::read_to_string(&path).unwrap();
    assert!(after.contains("\nzstd_level = 3\n"), "{after}");
    for line in before.lines().filter(|l| l.starts_with('#')) {
        assert!(after.contains(line), "comment {line:?} lost:\n{after}");
    }
    assert_eq!(ok(d.path(), &["config", "get", "zstd_level"]), "3\n");
    let list = ok(d.path(), &["config", "list"]);
    assert!(list.contains("zstd_level = 3\n"), "{list}");
    fs::write(d.path().join("a.txt"), "x").unwrap();
    ok(d.path(), &["checkpoint", "-m", "after set"]);
}

#[test]
fn config_set_of_a_retention_key_writes_the_retention_section() {
    let d = project();
    ok(d.path(), &["config", "set", "retention.keep-all", "2h"]);
    ok(
        d.path(),
        &["config", "set", "retention.keep-daily", "\"30d\""],
    );
    assert_eq!(
        ok(d.path(), &["config", "get", "retention.keep-all"]),
        "\"2h\"\n"
    );
    let text = fs::read_to_string(d.path().join(".tl/config.toml")).unwrap();
    let section = text
        .split("\n[retention]\n")
        .nth(1)
        .expect("a [retention] section");
    assert!(section.contains("keep-all = \"2h\"\n"), "{text}");
    assert!(section.contains("keep-daily = \"30d\"\n"), "{text}");
    ok(d.path(), &["gc", "--dry-run"]);
}

#[test]
fn config_set_refuses_an_unknown_key_naming_the_known_ones() {
    let d = project();
    let path = d.path().join(".tl/config.toml");
    let before = fs::read(&path).unwrap();
    let err = fails(d.path(), &["config", "set", "zstd_levle", "3"]);
    assert!(err.contains("unknown setting `zstd_levle`"), "{err}");
    assert!(err.contains("zstd_level, gc_zstd_level"), "{err}");
    assert!(err.contains("retention.max-store-bytes"), "{err}");
    let err = fails(d.path(), &["config", "get", "retention.keep-yearly"]);
    assert!(err.contains("known settings"), "{err}");
    assert_eq!(fs::read(&path).unwrap(), before);
}

#[test]
fn config_set_refuses_a_value_tl_would_refuse_and_writes_nothing() {
    let d = project();
    let path = d.path().join(".tl/config.toml");
    let before = fs::read(&path).unwrap();
    let err = fails(d.path(), &["config", "set", "zstd_level", "99"]);
    assert!(
        err.contains("1..=22") && err.contains("config.toml"),
        "{err}"
    );
    let err = fails(d.path(), &["config", "set", "snapshot_every", "often"]);
    assert!(err.contains("`snapshot_every` must be an integer"), "{err}");
    let err = fails(d.path(), &["config", "set", "retention.keep-all", "soon"]);
    assert!(err.contains("keep-all"), "{err}");
    assert_eq!(fs::read(&path).unwrap(), before);
}

#[test]
fn an_unknown_key_in_the_file_is_refused_on_open_naming_the_known_ones() {
    let d = project();
    let path = d.path().join(".tl/config.toml");
    let text = fs::read_to_string(&path).unwrap();
    fs::write(&path, format!("max_file_byte = 5\n{text}")).unwrap();
    for cmd in [&["status"][..], &["config", "list"]] {
        let err = fails(d.path(), cmd);
        assert!(err.contains("unknown setting `max_file_byte`"), "{err}");
        assert!(err.contains("known settings: max_file_bytes"), "{err}");
    }
}
