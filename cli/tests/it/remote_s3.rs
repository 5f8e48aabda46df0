//! The round trips of `remote.rs` against a real S3-compatible server (moto's, on
//! 127.0.0.1): push, push again (nothing sent), clone newest and `--at` (same
//! ids, same tree), fetch, verify quick and deep, an encrypted remote whose
//! objects hold no marker; multipart objects (a segment over 16 MiB).

use std::fs;
use std::path::Path;

use serde_json::Value;

use crate::support::s3::MotoServer;

fn ids(env: &crate::support::s3::S3Env, root: &Path) -> Vec<String> {
    let v: Value = serde_json::from_str(&env.ok(root, &["log", "--json"])).unwrap();
    v.as_array()
        .unwrap()
        .iter()
        .filter(|r| r["type"] == "checkpoint")
        .map(|r| r["id"].as_str().unwrap().to_string())
        .collect()
}

#[test]
fn push_clone_fetch_and_verify_round_trip_through_an_s3_server() {
    let moto = MotoServer::start();
    moto.create_bucket("tl-round");
    let env = moto.env();
    let d = tempfile::tempdir().unwrap();
    let root = d.path().join("proj");
    fs::create_dir(&root).unwrap();
    fs::write(root.join("a.txt"), "version one\n").unwrap();
    env.ok(&root, &["init"]);
    let first: Value = serde_json::from_str(&env.ok(&root, &["checkpoint", "--json"])).unwrap();
    let first = first["id"].as_str().unwrap().to_string();
    env.ok(&root, &["remote", "add", "s3", "s3://tl-round/proj"]);
    env.ok(&root, &["push", "s3"]);
    fs::write(root.join("a.txt"), "version two\n").unwrap();
    // Incompressible, so the sealed segment is over the multipart threshold.
    let big: Vec<u8> = (0..20u32 << 20)
        .map(|i| (i.wrapping_mul(2_654_435_761) >> 13) as u8)
        .collect();
    fs::write(root.join("big.bin"), &big).unwrap();
    env.ok(&root, &["checkpoint"]);
    let p: Value = serde_json::from_str(&env.ok(&root, &["push", "s3", "--json"])).unwrap();
    assert!(p["uploaded"].as_u64().unwrap() >= 1, "{p}");
    let again: Value = serde_json::from_str(&env.ok(&root, &["push", "s3", "--json"])).unwrap();
    assert_eq!(again["up_to_date"], true, "{again}");

    let keys: Vec<String> = moto
        .list_objects("tl-round")
        .into_iter()
        .map(|o| o.key)
        .collect();
    assert!(
        keys.iter().all(|k| k.starts_with("proj/tl-remote-v1/")),
        "{keys:?}"
    );
    assert!(keys.iter().any(|k| k.contains("/manifest/")), "{keys:?}");

    env.ok(d.path(), &["clone", "s3://tl-round/proj", "c"]);
    let c = d.path().join("c");
    assert_eq!(ids(&env, &c), ids(&env, &root));
    assert_eq!(fs::read(c.join("big.bin")).unwrap(), big);
    assert_eq!(
        fs::read_to_string(c.join("a.txt")).unwrap(),
        "version two\n"
    );
    env.ok(
        d.path(),
        &["clone", "s3://tl-round/proj", "old", "--at", &first],
    );
    assert_eq!(
        fs::read_to_string(d.path().join("old/a.txt")).unwrap(),
        "version one\n"
    );
    assert!(!d.path().join("old/big.bin").exists());
    let out = env.tl(
        d.path(),
        &["fetch", "s3://tl-round/proj", "a.txt", "--at", &first],
    );
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(String::from_utf8_lossy(&out.stdout), "version one\n");

    env.ok(&root, &["verify", "--remote", "s3"]);
    let v: Value =
        serde_json::from_str(&env.ok(&root, &["verify", "--remote", "s3", "--deep", "--json"]))
            .unwrap();
    assert_eq!(v["ok"], true, "{v}");
    assert_eq!(v["checkpoints"], 2, "{v}");
}

#[test]
fn an_encrypted_s3_remote_holds_no_plaintext_marker_and_clones_with_the_identity() {
    use age::secrecy::ExposeSecret;
    let moto = MotoServer::start();
    moto.create_bucket("tl-crypt");
    let env = moto.env();
    let d = tempfile::tempdir().unwrap();
    let root = d.path().join("proj");
    fs::create_dir_all(root.join("marker-dir-7c1")).unwrap();
    fs::write(
        root.join("marker-dir-7c1/marker-file-7c1.txt"),
        "marker-content-7c1\n",
    )
    .unwrap();
    env.ok(&root, &["init"]);
    env.ok(&root, &["checkpoint"]);
    let id = age::x25519::Identity::generate();
    let key = d.path().join("key.txt");
    fs::write(&key, format!("{}\n", id.to_string().expose_secret())).unwrap();
    let recipient = id.to_public().to_string();
    env.ok(
        &root,
        &[
            "remote",
            "add",
            "s3",
            "s3://tl-crypt",
            "--encrypt-to",
            &recipient,
        ],
    );
    env.ok(&root, &["push"]);
    for o in moto.list_objects("tl-crypt") {
        assert!(!o.key.contains("marker"), "{}", o.key);
        let body = moto.get_object("tl-crypt", &o.key).unwrap();
        assert!(
            !body
                .windows(10)
                .any(|w| w == b"marker-con" || w == b"marker-fil" || w == b"marker-dir"),
            "plaintext in {}",
            o.key
        );
    }
    let out = env.tl(d.path(), &["clone", "s3://tl-crypt", "c"]);
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("--identity"));
    env.ok(
        d.path(),
        &[
            "clone",
            "s3://tl-crypt",
            "c",
            "--identity",
            key.to_str().unwrap(),
        ],
    );
    assert_eq!(
        fs::read_to_string(d.path().join("c/marker-dir-7c1/marker-file-7c1.txt")).unwrap(),
        "marker-content-7c1\n"
    );
}
