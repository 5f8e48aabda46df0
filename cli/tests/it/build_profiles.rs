//! The build profiles (issue 18): `release`, what `cargo install` builds, is lean
//! (no debug info, symbols stripped); `profiling` is the same code with debug
//! info, and the benches run its binaries.

use std::fs;
use std::path::{Path, PathBuf};

fn workspace() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .unwrap()
        .to_path_buf()
}

fn profile(name: &str) -> toml::Table {
    let text = fs::read_to_string(workspace().join("Cargo.toml")).unwrap();
    let manifest: toml::Table = toml::from_str(&text).unwrap();
    manifest["profile"][name]
        .as_table()
        .unwrap_or_else(|| panic!("no [profile.{name}] in Cargo.toml"))
        .clone()
}

#[test]
fn the_release_profile_keeps_no_debug_info_and_strips_symbols() {
    let release = profile("release");
    assert_eq!(release.get("debug").and_then(|v| v.as_bool()), Some(false));
    assert_eq!(
        release.get("strip").and_then(|v| v.as_str()),
        Some("symbols")
    );
}

#[test]
fn the_profiling_profile_is_release_with_debug_info() {
    let p = profile("profiling");
    assert_eq!(p["inherits"].as_str(), Some("release"));
    assert_eq!(p["debug"].as_integer(), Some(1));
    assert_eq!(p["strip"].as_str(), Some("none"));
    for key in p.keys() {
        assert!(
            ["inherits", "debug", "strip"].contains(&key.as_str()),
            "[profile.profiling] changes {key}: its timings would not be release's"
        );
    }
}

#[test]
fn the_bench_scripts_run_profiling_binaries() {
    let benches = workspace().join("benches");
    let mut scripts = 0;
    for e in fs::read_dir(&benches).unwrap() {
        let p = e.unwrap().path();
        if p.extension().is_some_and(|x| x == "sh") {
            let text = fs::read_to_string(&p).unwrap();
            assert!(
                !text.contains("target/release/"),
                "{} runs a release binary (no debug info): use target/profiling/",
                p.display()
            );
            scripts += text.contains("target/profiling/") as usize;
        }
    }
    assert!(
        scripts >= 4,
        "only {scripts} scripts name target/profiling/"
    );
}
