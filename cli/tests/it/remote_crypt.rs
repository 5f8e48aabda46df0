//! Issue 15's encryption, on a real moto S3 server: a remote added with
//! `--encrypt-to` holds no plaintext content and no path in any object (every
//! object in the bucket grepped for marker strings, and every key), the pushing
//! machine needs only the public key, and clone, fetch and deep verify without
//! `--identity` are refused with a message naming it (with the wrong identity
//! too), while with it the clone is byte-identical.

use std::fs;
use std::path::{Path, PathBuf};

use crate::support::project::{log_ids, tree_of};
use crate::support::s3::{MotoServer, S3Env};
use crate::util::ok;

const BUCKET: &str = "tl-crypt";
const CONTENT_MARKER: &str = "plaintext-content-marker-7c1d";
const DIR_MARKER: &str = "secret-directory-marker";
const FILE_MARKER: &str = "secret-filename-marker";

/// An age identity file under `dir` and its recipient, made with the age crate.
fn age_key(dir: &Path, name: &str) -> (PathBuf, String) {
    use age::secrecy::ExposeSecret;
    let id = age::x25519::Identity::generate();
    let path = dir.join(name);
    fs::write(
        &path,
        format!("# test key\n{}\n", id.to_string().expose_secret()),
    )
    .unwrap();
    (path, id.to_public().to_string())
}

/// A project with the markers in its contents and paths, two checkpoints,
/// pushed to an encrypted remote `s3`; returns the project's root.
fn encrypted_project(top: &Path, moto: &MotoServer, env: &S3Env, recipient: &str) -> PathBuf {
    moto.create_bucket(BUCKET);
    let root = top.join("proj");
    fs::create_dir_all(root.join(DIR_MARKER)).unwrap();
    let file = root.join(DIR_MARKER).join(format!("{FILE_MARKER}.txt"));
    fs::write(&file, format!("{CONTENT_MARKER}\n").repeat(200)).unwrap();
    fs::write(root.join("plain.txt"), format!("first {CONTENT_MARKER}\n")).unwrap();
    ok(&root, &["init"]);
    ok(&root, &["checkpoint"]);
    fs::write(root.join("plain.txt"), format!("second {CONTENT_MARKER}\n")).unwrap();
    ok(&root, &["checkpoint"]);
    let url = format!("s3://{BUCKET}/proj");
    env.ok(
        &root,
        &["remote", "add", "s3", &url, "--encrypt-to", recipient],
    );
    env.ok(&root, &["push", "s3"]);
    root
}

fn contains(hay: &[u8], needle: &str) -> bool {
    hay.windows(needle.len()).any(|w| w == needle.as_bytes())
}

#[test]
fn an_encrypted_s3_remote_holds_no_plaintext_content_or_path_in_any_object() {
    let d = tempfile::tempdir().unwrap();
    let moto = MotoServer::start();
    let env = moto.env();
    let (_key, recipient) = age_key(d.path(), "key.txt");
    encrypted_project(d.path(), &moto, &env, &recipient);

    let objects = moto.list_objects(BUCKET);
    assert!(
        objects.iter().any(|o| o.key.contains("/seg/")),
        "{objects:?}"
    );
    assert!(
        objects.iter().any(|o| o.key.contains("manifest")),
        "{objects:?}"
    );
    for o in &objects {
        for marker in [CONTENT_MARKER, DIR_MARKER, FILE_MARKER, "plain.txt"] {
            assert!(!o.key.contains(marker), "{marker} in the name {}", o.key);
        }
        let bytes = moto.get_object(BUCKET, &o.key).unwrap();
        assert_eq!(bytes.len() as u64, o.size);
        for marker in [CONTENT_MARKER, DIR_MARKER, FILE_MARKER, "plain.txt"] {
            assert!(!contains(&bytes, marker), "{marker} inside {}", o.key);
        }
    }
    // The same push to a plaintext remote does show them: the grep can fail.
    let root = d.path().join("proj");
    env.ok(
        &root,
        &["remote", "add", "plain", &format!("s3://{BUCKET}/plain")],
    );
    env.ok(&root, &["push", "plain"]);
    let seen = moto
        .list_objects(BUCKET)
        .iter()
        .filter(|o| o.key.starts_with("plain/"))
        .any(|o| contains(&moto.get_object(BUCKET, &o.key).unwrap(), FILE_MARKER));
    assert!(
        seen,
        "a plaintext remote holds the path: the check above is real"
    );
}

#[test]
fn clone_fetch_and_deep_verify_of_an_encrypted_remote_need_the_identity() {
    let d = tempfile::tempdir().unwrap();
    let moto = MotoServer::start();
    let env = moto.env();
    let (key, recipient) = age_key(d.path(), "key.txt");
    let (wrong, _) = age_key(d.path(), "other.txt");
    let root = encrypted_project(d.path(), &moto, &env, &recipient);
    let url = format!("s3://{BUCKET}/proj");
    let path = format!("{DIR_MARKER}/{FILE_MARKER}.txt");

    let refused = |args: &[&str]| {
        let out = env.tl(d.path(), args);
        let err = String::from_utf8_lossy(&out.stderr).to_string();
        assert!(!out.status.success(), "{args:?} should be refused");
        assert!(
            err.contains("--identity"),
            "{args:?}: names --identity: {err}"
        );
        assert!(
            !contains(&out.stdout, CONTENT_MARKER),
            "{args:?} printed content"
        );
    };
    refused(&["clone", &url, "c1"]);
    assert!(
        !d.path().join("c1/.tl").exists(),
        "a refused clone leaves no store"
    );
    refused(&["fetch", &url, &path]);
    let out = env.tl(&root, &["verify", "--remote", "s3", "--deep"]);
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("--identity"));
    // The quick verify reads no content: the public key is enough.
    env.ok(&root, &["verify", "--remote", "s3"]);

    let wrong = wrong.to_str().unwrap();
    let out = env.tl(d.path(), &["clone", &url, "c2", "--identity", wrong]);
    assert!(!out.status.success(), "another identity cannot read it");
    assert!(!d.path().join("c2/.tl").exists());

    let key = key.to_str().unwrap();
    env.ok(d.path(), &["clone", &url, "c3", "--identity", key]);
    let clone = d.path().join("c3");
    assert_eq!(log_ids(&clone), log_ids(&root));
    assert!(tree_of(&clone) == tree_of(&root), "byte-identical");
    let out = env.tl(d.path(), &["fetch", &url, &path, "--identity", key]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(
        out.stdout,
        format!("{CONTENT_MARKER}\n").repeat(200).into_bytes()
    );
    env.ok(
        &root,
        &["verify", "--remote", "s3", "--deep", "--identity", key],
    );
}
