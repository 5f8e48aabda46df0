use super::*;
use std::os::unix::fs::symlink;

fn mode(p: &Path) -> u32 {
    fs::symlink_metadata(p).unwrap().permissions().mode() & 0o7777
}

#[test]
fn write_atomic_never_writes_through_a_planted_temp_or_target_symlink() {
    let d = tempfile::tempdir().unwrap();
    let victim = d.path().join("victim");
    fs::write(&victim, b"precious").unwrap();
    let target = d.path().join("catalog");
    // The fixed temp names older versions used.
    symlink(&victim, d.path().join("catalog.tmp")).unwrap();
    symlink(
        &victim,
        d.path().join(format!("catalog.tmp.{}", std::process::id())),
    )
    .unwrap();
    write_atomic(&target, b"new", Durability::Cache).unwrap();
    assert_eq!(fs::read(&target).unwrap(), b"new");
    assert_eq!(mode(&target), FILE_MODE);

    // A symlink at the target itself is refused, naming it.
    let link = d.path().join("statcache");
    symlink(&victim, &link).unwrap();
    let e = write_atomic(&link, b"bytes", Durability::Synced).unwrap_err();
    let refused = unexpected_entry(&e).expect("an UnexpectedEntry");
    assert_eq!(refused.path, link);
    assert_eq!(refused.found, "a symlink");
    assert!(e.to_string().contains("remove it"), "{e}");
    assert_eq!(fs::read(&victim).unwrap(), b"precious");
    // No temporary is left behind.
    let left: Vec<_> = fs::read_dir(d.path())
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| is_temp_name(n))
        .collect();
    assert!(left.is_empty(), "{left:?}");
}

#[test]
fn appends_and_opens_refuse_a_symlink_and_leave_its_target_alone() {
    let d = tempfile::tempdir().unwrap();
    let victim = d.path().join("victim");
    fs::write(&victim, b"precious").unwrap();
    let link = d.path().join("daemon.log");
    symlink(&victim, &link).unwrap();
    for e in [
        open_append(&link).unwrap_err(),
        open_or_create(&link).unwrap_err(),
        open_rw(&link).unwrap_err(),
    ] {
        assert_eq!(
            unexpected_entry(&e).map(|u| u.found),
            Some("a symlink"),
            "{e}"
        );
    }
    assert_eq!(
        create_new(&link).unwrap_err().kind(),
        io::ErrorKind::AlreadyExists
    );
    assert_eq!(fs::read(&victim).unwrap(), b"precious");

    let dir = d.path().join("a-dir");
    fs::create_dir(&dir).unwrap();
    let e = open_append(&dir).unwrap_err();
    assert_eq!(
        unexpected_entry(&e).map(|u| u.found),
        Some("a directory"),
        "{e}"
    );
}

#[test]
fn new_files_and_directories_are_owner_only() {
    let d = tempfile::tempdir().unwrap();
    let sub = d.path().join("a/b");
    ensure_dir(&sub).unwrap();
    assert_eq!(mode(&d.path().join("a")), DIR_MODE);
    assert_eq!(mode(&sub), DIR_MODE);
    let f = sub.join("f");
    drop(create_new(&f).unwrap());
    assert_eq!(mode(&f), FILE_MODE);
    let log = sub.join("log");
    open_append(&log).unwrap().write_all(b"x").unwrap();
    assert_eq!(mode(&log), FILE_MODE);

    let link = d.path().join("link");
    symlink(&sub, &link).unwrap();
    let e = ensure_dir(&link).unwrap_err();
    assert_eq!(
        unexpected_entry(&e).map(|u| u.found),
        Some("a symlink"),
        "{e}"
    );
}

#[test]
fn tighten_takes_group_and_other_bits_off_and_reports_what_it_changed() {
    let d = tempfile::tempdir().unwrap();
    let root = d.path().join("tl");
    fs::create_dir_all(root.join("wal")).unwrap();
    fs::write(root.join("wal/seg"), b"x").unwrap();
    fs::write(root.join("private"), b"x").unwrap();
    fs::set_permissions(&root, fs::Permissions::from_mode(0o755)).unwrap();
    fs::set_permissions(root.join("wal"), fs::Permissions::from_mode(0o755)).unwrap();
    fs::set_permissions(root.join("wal/seg"), fs::Permissions::from_mode(0o644)).unwrap();
    fs::set_permissions(root.join("private"), fs::Permissions::from_mode(0o600)).unwrap();
    let outside = d.path().join("outside");
    fs::write(&outside, b"x").unwrap();
    fs::set_permissions(&outside, fs::Permissions::from_mode(0o644)).unwrap();
    symlink(&outside, root.join("link")).unwrap();
    assert!(!is_private_dir(&root).unwrap());

    let changed = tighten(&root).unwrap();
    assert_eq!(
        changed,
        vec![root.clone(), root.join("wal"), root.join("wal/seg")]
    );
    assert_eq!(mode(&root), 0o700);
    assert_eq!(mode(&root.join("wal/seg")), 0o600);
    assert_eq!(mode(&outside), 0o644, "a symlink's target is not touched");
    assert!(is_private_dir(&root).unwrap());
    assert!(tighten(&root).unwrap().is_empty());
}
