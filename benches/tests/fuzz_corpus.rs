//! Goal: every input in the checked-in fuzz corpus (`fuzz/corpus/<target>/`) passes
//! the fuzz targets' checks under plain `cargo test`, on the stable toolchain and
//! without libFuzzer. The target bodies are compiled here from the fuzz crate's own
//! source, so the two can never drift apart.
//!
//! `TL_REGEN_FUZZ_SEEDS=1 cargo test -p tl-benches --test fuzz_corpus` (re)writes the
//! seed inputs (`seed-*` files) from `common::seeds()`.

#[path = "../../fuzz/fuzz_targets/common.rs"]
#[allow(dead_code)]
mod common;
#[path = "../../fuzz/fuzz_targets/index_common.rs"]
#[allow(dead_code)]
mod index_common;

use std::path::{Path, PathBuf};

fn corpus_dir(target: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../fuzz/corpus")
        .join(target)
}

fn replay(target: &str, check: fn(&[u8])) {
    let dir = corpus_dir(target);
    let mut paths: Vec<PathBuf> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .map(|entry| entry.expect("corpus entry").path())
        .collect();
    paths.sort();
    assert!(!paths.is_empty(), "{} holds no inputs", dir.display());
    for path in &paths {
        let data = std::fs::read(path).expect("read corpus input");
        // The name in the panic message is what a failure needs first.
        let result = std::panic::catch_unwind(|| check(&data));
        if let Err(cause) = result {
            std::panic::resume_unwind(Box::new(format!(
                "{target}: {} fails: {:?}",
                path.display(),
                cause
                    .downcast_ref::<String>()
                    .map(String::as_str)
                    .or(cause.downcast_ref::<&str>().copied())
            )));
        }
    }
}

#[test]
fn seeds_pass_and_can_be_regenerated() {
    let regen = std::env::var_os("TL_REGEN_FUZZ_SEEDS").is_some();
    for (target, name, bytes) in common::seeds().into_iter().chain(index_common::seeds()) {
        match target {
            "frame_decode" => common::frame_decode(&bytes),
            "segment_recover" => common::segment_recover(&bytes),
            "record_decode" => index_common::record_decode(&bytes),
            "snapshot_access" => index_common::snapshot_access(&bytes),
            "timespec_parse" => index_common::timespec_parse(&bytes),
            "store_open_replay" => index_common::store_open_replay(&bytes),
            other => panic!("unknown target {other}"),
        }
        if regen {
            let path = corpus_dir(target).join(format!("seed-{name}"));
            std::fs::create_dir_all(path.parent().expect("parent")).expect("mkdir");
            std::fs::write(&path, &bytes).expect("write seed");
        }
    }
}

#[test]
fn frame_decode_corpus() {
    replay("frame_decode", common::frame_decode);
}

#[test]
fn segment_recover_corpus() {
    replay("segment_recover", common::segment_recover);
}

#[test]
fn record_decode_corpus() {
    replay("record_decode", index_common::record_decode);
}

#[test]
fn snapshot_access_corpus() {
    replay("snapshot_access", index_common::snapshot_access);
}

#[test]
fn timespec_parse_corpus() {
    replay("timespec_parse", index_common::timespec_parse);
}

#[test]
fn store_open_replay_corpus() {
    replay("store_open_replay", index_common::store_open_replay);
}
