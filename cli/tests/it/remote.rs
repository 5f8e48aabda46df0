//! Remotes end to end on `file://` directories: `tl remote add/list/rm`, `tl push`
//! (again: a no-op), `tl clone` (newest and `--at`: the same checkpoint ids, the
//! same tree), `tl fetch` (only the segments a time needs), `tl verify --remote`
//! quick and deep (a damaged object named, exit 3), age encryption (no plaintext
//! in any object, no clone without the identity), a push that cannot reach its
//! server giving up within its limit with the store untouched.

use std::fs;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use serde_json::Value;

use crate::util::{fails, json, ok, tl};

/// A project with three checkpoints, each pushed to its own segment when
/// `push_each` names a remote; returns the checkpoint ids, oldest first.
fn history(root: &Path, push_each: Option<&str>) -> Vec<String> {
    fs::create_dir_all(root.join("src")).unwrap();
    fs::write(root.join("a.txt"), "version one\n").unwrap();
    fs::write(root.join("src/lib.rs"), "fn one() {}\n").unwrap();
    ok(root, &["init"]);
    let mut ids = Vec::new();
    for (i, text) in ["version one\n", "version two\n", "version three\n"]
        .iter()
        .enumerate()
    {
        fs::write(root.join("a.txt"), text).unwrap();
        if i == 2 {
            fs::remove_file(root.join("src/lib.rs")).unwrap();
            fs::write(root.join("src/new.rs"), "fn three() {}\n").unwrap();
        }
        let v = json(root, &["checkpoint", "--json", "-m", &format!("step {i}")]);
        ids.push(v["id"].as_str().unwrap().to_string());
        if let Some(name) = push_each {
            ok(root, &["push", name]);
        }
    }
    ids
}

fn log_ids(root: &Path) -> Vec<String> {
    json(root, &["log", "--json"])
        .as_array()
        .unwrap()
        .iter()
        .filter(|r| r["type"] == "checkpoint")
        .map(|r| r["id"].as_str().unwrap().to_string())
        .collect()
}

fn file_url(p: &Path) -> String {
    format!("file://{}", p.display())
}

/// Every file under `dir` (not `.tl`), with its bytes.
fn tree_of(dir: &Path) -> Vec<(PathBuf, Vec<u8>)> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for e in fs::read_dir(&d).unwrap() {
            let p = e.unwrap().path();
            if p.file_name().unwrap() == ".tl" {
                continue;
            }
            if p.is_dir() {
                stack.push(p);
            } else {
                out.push((
                    p.strip_prefix(dir).unwrap().to_path_buf(),
                    fs::read(&p).unwrap(),
                ));
            }
        }
    }
    out.sort();
    out
}

/// Every object file under a file:// remote.
fn objects(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for e in fs::read_dir(&d).unwrap() {
            let p = e.unwrap().path();
            if p.is_dir() {
                stack.push(p);
            } else {
                out.push(p);
            }
        }
    }
    out.sort();
    out
}

#[test]
fn push_then_clone_gives_the_same_checkpoint_ids_and_tree_and_a_second_push_sends_nothing() {
    let d = tempfile::tempdir().unwrap();
    let root = d.path().join("proj");
    let remote = d.path().join("usb");
    fs::create_dir(&root).unwrap();
    let ids = history(&root, None);
    ok(&root, &["remote", "add", "usb", &file_url(&remote)]);

    let first = json(&root, &["push", "usb", "--json"]);
    assert_eq!(first["up_to_date"], false, "{first}");
    assert!(first["uploaded"].as_u64().unwrap() >= 1, "{first}");
    assert_eq!(first["checkpoints"], 3, "{first}");
    assert_eq!(first["manifest_written"], true);
    let again = json(&root, &["push", "usb", "--json"]);
    assert_eq!(again["up_to_date"], true, "{again}");
    assert_eq!(again["uploaded"], 0);
    assert_eq!(again["generation"], first["generation"]);
    let text = ok(&root, &["push"]);
    assert!(text.contains("up to date"), "{text}");

    let clone_dir = d.path().join("clone");
    let out = ok(d.path(), &["clone", &file_url(&remote), "clone"]);
    assert!(out.contains("3 checkpoint(s)"), "{out}");
    assert_eq!(log_ids(&clone_dir), log_ids(&root));
    assert_eq!(log_ids(&clone_dir).len(), ids.len());
    assert_eq!(tree_of(&clone_dir), tree_of(&root));
    ok(&clone_dir, &["fsck", "--deep"]);
    let status = json(&clone_dir, &["status", "--json"]);
    assert_eq!(
        status["clean"], true,
        "the clone's tree is its newest checkpoint: {status}"
    );
    // The clone is a project of its own: it captures after what it cloned.
    fs::write(clone_dir.join("a.txt"), "edited in the clone\n").unwrap();
    ok(&clone_dir, &["checkpoint"]);
    assert_eq!(log_ids(&clone_dir).len(), 4);
    ok(&clone_dir, &["fsck"]);
}

#[test]
fn clone_at_writes_an_older_tree_and_refuses_a_directory_that_is_not_empty() {
    let d = tempfile::tempdir().unwrap();
    let root = d.path().join("proj");
    let remote = d.path().join("nas");
    fs::create_dir(&root).unwrap();
    let ids = history(&root, None);
    ok(&root, &["remote", "add", "nas", &file_url(&remote)]);
    ok(&root, &["push", "nas"]);

    let out = json(
        d.path(),
        &[
            "clone",
            &file_url(&remote),
            "old",
            "--at",
            &ids[0],
            "--json",
        ],
    );
    assert_eq!(out["checkpoint"], ids[0].as_str(), "{out}");
    let old = d.path().join("old");
    assert_eq!(
        fs::read_to_string(old.join("a.txt")).unwrap(),
        "version one\n"
    );
    assert!(old.join("src/lib.rs").is_file());
    assert!(!old.join("src/new.rs").exists());
    assert_eq!(
        log_ids(&old),
        log_ids(&root),
        "the whole history, whatever --at"
    );

    fs::create_dir(d.path().join("busy")).unwrap();
    fs::write(d.path().join("busy/keep.txt"), "mine").unwrap();
    let err = fails(d.path(), &["clone", &file_url(&remote), "busy"]);
    assert!(err.contains("not empty"), "{err}");
    assert_eq!(
        fs::read_to_string(d.path().join("busy/keep.txt")).unwrap(),
        "mine"
    );
    assert!(!d.path().join("busy/.tl").exists());

    let err = fails(
        d.path(),
        &["clone", &file_url(&d.path().join("nothing")), "new"],
    );
    assert!(err.contains("no tl history"), "{err}");
    assert!(
        !d.path().join("new").exists(),
        "a failed clone leaves nothing"
    );
}

#[test]
fn fetch_prints_a_file_at_a_time_downloading_only_the_segments_up_to_it() {
    let d = tempfile::tempdir().unwrap();
    let root = d.path().join("proj");
    let remote = d.path().join("usb");
    fs::create_dir(&root).unwrap();
    fs::create_dir_all(root.join("src")).unwrap();
    fs::write(root.join("a.txt"), "x").unwrap();
    ok(&root, &["init"]);
    ok(&root, &["remote", "add", "usb", &file_url(&remote)]);
    let ids = {
        // Each push seals the segment: one segment per checkpoint.
        let mut ids = Vec::new();
        for text in ["version one\n", "version two\n", "version three\n"] {
            fs::write(root.join("a.txt"), text).unwrap();
            let v = json(&root, &["checkpoint", "--json"]);
            ids.push(v["id"].as_str().unwrap().to_string());
            ok(&root, &["push", "usb"]);
        }
        ids
    };
    let times: Vec<String> = json(&root, &["log", "--json"])
        .as_array()
        .unwrap()
        .iter()
        .filter(|r| r["type"] == "checkpoint")
        .map(|r| r["time"].as_str().unwrap().to_string())
        .collect();
    // `tl log` is newest first.
    let oldest_time = times.last().unwrap().clone();
    let url = file_url(&remote);

    let out = tl(d.path(), &["fetch", &url, "a.txt", "--at", &oldest_time]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(String::from_utf8_lossy(&out.stdout), "version one\n");
    let note = String::from_utf8_lossy(&out.stderr).to_string();
    let total = json(&root, &["push", "usb", "--json"])["segments"]
        .as_u64()
        .unwrap();
    assert!(total >= 3, "{total}");
    assert!(
        !note.contains(&format!("{total} of {total} segment")),
        "an early time needs fewer segments than the remote holds: {note}"
    );

    let out = tl(d.path(), &["fetch", &url, "a.txt", "--at", &ids[1]]);
    assert_eq!(String::from_utf8_lossy(&out.stdout), "version two\n");
    let out = tl(d.path(), &["fetch", &url, "a.txt"]);
    assert_eq!(String::from_utf8_lossy(&out.stdout), "version three\n");
    let err = fails(d.path(), &["fetch", &url, "missing.txt", "--at", &ids[1]]);
    assert!(err.contains("is not a file in checkpoint"), "{err}");
}

#[test]
fn verify_quick_and_deep_pass_and_name_each_damaged_or_missing_object_with_exit_3() {
    let d = tempfile::tempdir().unwrap();
    let root = d.path().join("proj");
    let remote = d.path().join("usb");
    fs::create_dir(&root).unwrap();
    ok(&root, &["init"]);
    ok(&root, &["remote", "add", "usb", &file_url(&remote)]);
    fs::write(root.join("a.txt"), "one").unwrap();
    ok(&root, &["checkpoint"]);
    ok(&root, &["push"]);
    fs::write(root.join("b.txt"), "two").unwrap();
    ok(&root, &["checkpoint"]);
    ok(&root, &["push"]);

    let out = ok(&root, &["verify", "--remote", "usb"]);
    assert!(out.contains("OK"), "{out}");
    let v = json(&root, &["verify", "--remote", "usb", "--deep", "--json"]);
    assert_eq!(v["ok"], true, "{v}");
    assert_eq!(v["checkpoints"], 2, "{v}");

    let segs: Vec<PathBuf> = objects(&remote)
        .into_iter()
        .filter(|p| p.to_string_lossy().contains("/seg/"))
        .collect();
    assert!(segs.len() >= 2, "{segs:?}");
    let mut bytes = fs::read(&segs[0]).unwrap();
    let mid = bytes.len() / 2;
    bytes[mid] ^= 0x40;
    fs::write(&segs[0], &bytes).unwrap();

    ok(&root, &["verify", "--remote", "usb"]);
    let out = tl(&root, &["verify", "--remote", "usb", "--deep"]);
    assert_eq!(out.status.code(), Some(3));
    let text = String::from_utf8_lossy(&out.stdout);
    let name = segs[0].file_name().unwrap().to_string_lossy().to_string();
    assert!(text.contains(&name), "names the damaged object: {text}");

    let clone = tl(d.path(), &["clone", &file_url(&remote), "c"]);
    assert!(!clone.status.success(), "a clone refuses damaged data");
    assert!(String::from_utf8_lossy(&clone.stderr).contains("damaged"));

    fs::remove_file(&segs[1]).unwrap();
    let out = tl(&root, &["verify", "--remote", "usb", "--json"]);
    assert_eq!(out.status.code(), Some(3));
    let v: Value = serde_json::from_slice(&out.stdout).unwrap();
    let named: Vec<String> = v["problems"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["object"].as_str().unwrap().to_string())
        .collect();
    assert!(
        named
            .iter()
            .any(|o| o.ends_with(&*segs[1].file_name().unwrap().to_string_lossy())),
        "{v}"
    );
}

/// An age identity and its recipient, made with the age crate.
fn age_key(dir: &Path) -> (PathBuf, String) {
    use age::secrecy::ExposeSecret;
    let id = age::x25519::Identity::generate();
    let path = dir.join("key.txt");
    fs::write(
        &path,
        format!("# test key\n{}\n", id.to_string().expose_secret()),
    )
    .unwrap();
    (path, id.to_public().to_string())
}

#[test]
fn an_encrypted_remote_holds_no_plaintext_and_is_read_back_only_with_the_identity() {
    let d = tempfile::tempdir().unwrap();
    let root = d.path().join("proj");
    let remote = d.path().join("usb");
    fs::create_dir_all(root.join("secret-dir-marker")).unwrap();
    fs::write(
        root.join("secret-dir-marker/notes-marker.txt"),
        "content-marker-4f2a\n",
    )
    .unwrap();
    ok(&root, &["init"]);
    ok(&root, &["checkpoint"]);
    let (key, recipient) = age_key(d.path());
    ok(
        &root,
        &[
            "remote",
            "add",
            "usb",
            &file_url(&remote),
            "--encrypt-to",
            &recipient,
        ],
    );
    let listed = ok(&root, &["remote", "list"]);
    assert!(listed.contains("encrypted to 1 age recipient"), "{listed}");
    ok(&root, &["push"]);

    for p in objects(&remote) {
        let name = p.to_string_lossy().to_string();
        assert!(!name.contains("marker"), "{name}");
        let bytes = fs::read(&p).unwrap();
        for marker in ["content-marker-4f2a", "notes-marker", "secret-dir-marker"] {
            assert!(
                !bytes.windows(marker.len()).any(|w| w == marker.as_bytes()),
                "{marker} in {name}"
            );
        }
    }
    let url = file_url(&remote);
    let err = fails(d.path(), &["clone", &url, "c"]);
    assert!(err.contains("--identity"), "{err}");
    assert!(!d.path().join("c").exists());
    let err = fails(
        d.path(),
        &["fetch", &url, "secret-dir-marker/notes-marker.txt"],
    );
    assert!(err.contains("--identity"), "{err}");
    let err = fails(&root, &["verify", "--remote", "usb", "--deep"]);
    assert!(err.contains("--identity"), "{err}");
    ok(&root, &["verify", "--remote", "usb"]);

    let k = key.to_str().unwrap();
    ok(d.path(), &["clone", &url, "c", "--identity", k]);
    assert_eq!(log_ids(&d.path().join("c")), log_ids(&root));
    assert_eq!(
        fs::read_to_string(d.path().join("c/secret-dir-marker/notes-marker.txt")).unwrap(),
        "content-marker-4f2a\n"
    );
    let out = tl(
        d.path(),
        &[
            "fetch",
            &url,
            "secret-dir-marker/notes-marker.txt",
            "--identity",
            k,
        ],
    );
    assert_eq!(
        String::from_utf8_lossy(&out.stdout),
        "content-marker-4f2a\n"
    );
    let v = json(
        &root,
        &[
            "verify",
            "--remote",
            "usb",
            "--deep",
            "--identity",
            k,
            "--json",
        ],
    );
    assert_eq!(v["ok"], true, "{v}");
}

#[test]
fn remote_add_list_and_rm_say_what_each_remote_is() {
    let d = tempfile::tempdir().unwrap();
    let root = d.path();
    ok(root, &["init"]);
    let out = ok(root, &["remote", "list"]);
    assert!(out.contains("no remotes"), "{out}");
    ok(
        root,
        &[
            "remote",
            "add",
            "s3",
            "s3://my-bucket/proj",
            "--endpoint",
            "http://127.0.0.1:9",
            "--no-auto",
        ],
    );
    ok(root, &["remote", "add", "usb", "file:///media/usb/proj"]);
    let text = ok(root, &["remote", "list"]);
    assert!(text.contains("plaintext"), "{text}");
    assert!(text.contains("never pushed"), "{text}");
    let v = json(root, &["remote", "list", "--json"]);
    let rows = v.as_array().unwrap();
    assert_eq!(rows.len(), 2);
    assert_eq!(rows[0]["name"], "s3");
    assert_eq!(rows[0]["url"], "s3://my-bucket/proj");
    assert_eq!(rows[0]["auto"], false);
    assert_eq!(rows[0]["encrypted"], false);
    assert_eq!(rows[1]["auto"], true);
    let err = fails(root, &["remote", "add", "usb", "file:///x"]);
    assert!(err.contains("exists already"), "{err}");
    let err = fails(root, &["remote", "add", "bad", "ftp://x"]);
    assert!(err.contains("not a remote URL"), "{err}");
    let err = fails(
        root,
        &[
            "remote",
            "add",
            "k",
            "file:///x",
            "--encrypt-to",
            "age1nope",
        ],
    );
    assert!(err.contains("not an age recipient"), "{err}");
    ok(root, &["remote", "rm", "usb"]);
    let err = fails(root, &["remote", "rm", "usb"]);
    assert!(err.contains("no remote named usb"), "{err}");
    assert_eq!(
        json(root, &["remote", "list", "--json"])
            .as_array()
            .unwrap()
            .len(),
        1
    );
}

#[test]
fn a_push_to_a_server_that_never_answers_gives_up_within_its_limit_and_changes_nothing() {
    let d = tempfile::tempdir().unwrap();
    let root = d.path();
    fs::write(root.join("a.txt"), "one").unwrap();
    ok(root, &["init"]);
    ok(root, &["checkpoint"]);
    // Accepts connections and never answers.
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let endpoint = format!("http://127.0.0.1:{port}");
    ok(
        root,
        &["remote", "add", "s3", "s3://bkt/p", "--endpoint", &endpoint],
    );
    let settings = root.join(".tl/remotes/s3/remote");
    let text = fs::read_to_string(&settings).unwrap();
    fs::write(
        &settings,
        text.replace("push_timeout_s = 60", "push_timeout_s = 3"),
    )
    .unwrap();
    let before = log_ids(root);
    let started = Instant::now();
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_tl"))
        .current_dir(root)
        .args(["push", "s3"])
        .env("AWS_ACCESS_KEY_ID", "testing")
        .env("AWS_SECRET_ACCESS_KEY", "testing")
        .env("AWS_REGION", "us-east-1")
        .output()
        .unwrap();
    let took = started.elapsed();
    drop(listener);
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("3 s limit"), "{err}");
    assert!(took < Duration::from_secs(20), "{took:?}");
    assert_eq!(log_ids(root), before);
    ok(root, &["fsck"]);
}

#[test]
fn after_gc_a_push_ships_the_rewritten_log_and_deletes_what_it_superseded_only_after_the_grace_period(
) {
    let d = tempfile::tempdir().unwrap();
    let root = d.path().join("proj");
    let remote = d.path().join("usb");
    fs::create_dir(&root).unwrap();
    ok(&root, &["init"]);
    fs::write(
        root.join(".tl/config.toml"),
        "[retention]\nkeep-all = \"0s\"\nkeep-secondly = \"0s\"\nkeep-minutely = \"0s\"\n\
         keep-hourly = \"0s\"\nkeep-daily = \"0s\"\n",
    )
    .unwrap();
    ok(&root, &["remote", "add", "usb", &file_url(&remote)]);
    for i in 0..4 {
        fs::write(root.join("f.txt"), format!("version {i}\n").repeat(50)).unwrap();
        ok(&root, &["checkpoint"]);
    }
    ok(&root, &["push"]);
    let before: Vec<PathBuf> = objects(&remote);
    let gc = json(&root, &["gc", "--json"]);
    assert!(gc["dropped"].as_u64().unwrap() > 0, "{gc}");

    let p = json(&root, &["push", "usb", "--json"]);
    assert!(p["uploaded"].as_u64().unwrap() >= 1, "{p}");
    assert_eq!(p["manifest_written"], true);
    assert!(p["pending_deletes"].as_u64().unwrap() >= 1, "{p}");
    assert_eq!(p["deleted"], 0);
    for o in &before {
        assert!(o.exists(), "kept through the grace period: {}", o.display());
    }
    ok(d.path(), &["clone", &file_url(&remote), "c1"]);
    assert_eq!(log_ids(&d.path().join("c1")), log_ids(&root));

    // With no grace, what the next GC supersedes goes as soon as the new manifest
    // is there; what the first one superseded still waits for its 24 h.
    let middle: Vec<PathBuf> = objects(&remote)
        .into_iter()
        .filter(|o| !before.contains(o))
        .filter(|o| o.to_string_lossy().contains("/seg/"))
        .collect();
    assert!(!middle.is_empty());
    let settings = root.join(".tl/remotes/usb/remote");
    let text = fs::read_to_string(&settings).unwrap();
    fs::write(
        &settings,
        text.replace("delete_grace_s = 86400", "delete_grace_s = 0"),
    )
    .unwrap();
    for i in 4..6 {
        fs::write(root.join("f.txt"), format!("version {i}\n").repeat(50)).unwrap();
        ok(&root, &["checkpoint"]);
    }
    let gc = json(&root, &["gc", "--json"]);
    assert!(gc["dropped"].as_u64().unwrap() > 0, "{gc}");
    let p = json(&root, &["push", "usb", "--json"]);
    assert!(p["deleted"].as_u64().unwrap() >= 1, "{p}");
    let after = objects(&remote);
    for o in &middle {
        assert!(!after.contains(o), "deleted: {}", o.display());
    }
    for o in before
        .iter()
        .filter(|o| o.to_string_lossy().contains("/seg/"))
    {
        assert!(
            after.contains(o),
            "still in its grace period: {}",
            o.display()
        );
    }
    ok(d.path(), &["clone", &file_url(&remote), "c2"]);
    assert_eq!(log_ids(&d.path().join("c2")), log_ids(&root));
    ok(&root, &["verify", "--remote", "usb", "--deep"]);
}

#[test]
fn a_push_beside_a_running_daemon_ships_everything_it_captured_and_the_daemon_goes_on() {
    let daemon = crate::daemon::Daemon::start(20);
    let root = daemon.root();
    let elsewhere = tempfile::tempdir().unwrap();
    let remote = elsewhere.path().join("usb");
    ok(&root, &["remote", "add", "usb", &file_url(&remote)]);
    crate::daemon::durable_after(&root, "a.txt", "captured by the daemon\n");
    let p = json(&root, &["push", "usb", "--json"]);
    assert!(p["checkpoints"].as_u64().unwrap() >= 1, "{p}");
    let clone = elsewhere.path().join("clone");
    ok(elsewhere.path(), &["clone", &file_url(&remote), "clone"]);
    assert_eq!(
        fs::read_to_string(clone.join("a.txt")).unwrap(),
        "captured by the daemon\n",
        "the push sealed what the daemon had captured"
    );
    assert_eq!(log_ids(&clone), log_ids(&root));
    // The daemon took its log back and captures on.
    crate::daemon::durable_after(&root, "b.txt", "after the push\n");
}

#[test]
fn a_push_that_lost_its_shipped_record_finds_the_remote_state_and_sends_nothing_twice() {
    let d = tempfile::tempdir().unwrap();
    let root = d.path().join("proj");
    fs::create_dir(&root).unwrap();
    history(&root, None);
    let plain = d.path().join("plain");
    let sealed = d.path().join("sealed");
    let (key, recipient) = age_key(d.path());
    ok(&root, &["remote", "add", "plain", &file_url(&plain)]);
    ok(
        &root,
        &[
            "remote",
            "add",
            "sealed",
            &file_url(&sealed),
            "--encrypt-to",
            &recipient,
        ],
    );
    ok(&root, &["push"]);
    for name in ["plain", "sealed"] {
        fs::remove_file(root.join(format!(".tl/remotes/{name}/shipped"))).unwrap();
    }
    let p = json(&root, &["push", "plain", "--json"]);
    assert_eq!(p["up_to_date"], true, "the newest manifest is adopted: {p}");
    // An encrypted manifest is unreadable here: each segment is found there
    // already (nothing uploaded) and a new manifest names them.
    let s = json(&root, &["push", "sealed", "--json"]);
    assert_eq!(s["uploaded"], 0, "{s}");
    assert_eq!(s["generation"], 2, "{s}");
    ok(
        d.path(),
        &[
            "clone",
            &file_url(&sealed),
            "c",
            "--identity",
            key.to_str().unwrap(),
        ],
    );
    assert_eq!(log_ids(&d.path().join("c")), log_ids(&root));
    let other = d.path().join("other");
    fs::create_dir(&other).unwrap();
    ok(&other, &["init"]);
    fs::write(other.join("x.txt"), "x").unwrap();
    ok(&other, &["checkpoint"]);
    ok(&other, &["remote", "add", "plain", &file_url(&plain)]);
    let err = fails(&other, &["push", "plain"]);
    assert!(err.contains("another project"), "{err}");
}
