//! Names that collide only by case or Unicode normalization (issue 19): a tree
//! captured on Linux may hold `README` and `readme`, or a composed and a
//! decomposed `é`; restored onto a file system that treats each pair as one
//! name, the second would overwrite the first. The restore probes its
//! directory's file system and refuses such a tree before writing anything,
//! naming both paths. No case-insensitive or normalizing file system can be
//! mounted where these tests run, so the file system's answer is forced
//! (`Folding::Assume`); the probe itself is checked on the real (exact) one.

use std::fs;

use tl_index::catalog::CheckpointIndex;
use tl_index::record::CommitKind;
use tl_index::restore::{materialize, Folding, MaterializeOptions, NameRules, RestoreError};
use tl_index::RepoPath;

use crate::support::project;

const FOLDS_CASE: NameRules = NameRules {
    folds_case: true,
    normalizes_unicode: false,
};
const NORMALIZES: NameRules = NameRules {
    folds_case: false,
    normalizes_unicode: true,
};

fn assuming(rules: NameRules) -> MaterializeOptions {
    MaterializeOptions {
        folding: Folding::Assume(rules),
        ..MaterializeOptions::default()
    }
}

/// A store whose first checkpoint holds `names` (each with its own content)
/// and `other`; the head has none of them.
fn captured(
    names: &[&str],
) -> (
    tempfile::TempDir,
    std::path::PathBuf,
    tl_index::store::Store,
) {
    let (tmp, root, mut store) = project();
    for (i, name) in names.iter().enumerate() {
        fs::write(root.join(name), format!("content {i}")).unwrap();
    }
    fs::write(root.join("other"), b"other").unwrap();
    store.checkpoint(CommitKind::Manual, None).unwrap();
    for name in names {
        fs::remove_file(root.join(name)).unwrap();
    }
    fs::write(root.join("other"), b"changed").unwrap();
    store.checkpoint(CommitKind::Manual, None).unwrap();
    (tmp, root, store)
}

#[test]
fn names_differing_only_by_case_are_refused_where_case_is_folded_and_nothing_is_written() {
    let (tmp, root, store) = captured(&["README", "readme"]);
    let tree = store.tree_at(CheckpointIndex::new(0)).unwrap();
    let into = tmp.path().join("copy");
    let err = materialize(&store, &tree, &into, &assuming(FOLDS_CASE)).unwrap_err();
    assert!(
        matches!(&err, RestoreError::NameCollision { first, second, .. }
            if first == "README" && second == "readme"),
        "{err:?}"
    );
    let text = err.to_string();
    assert!(
        text.starts_with(
            "README and readme would be one file on this file system (it ignores case)"
        ) && text.ends_with("nothing was written"),
        "{text}"
    );
    assert!(!into.exists(), "the directory was not even made");
    // In place too: the disk is as it was.
    let err = materialize(&store, &tree, &root, &assuming(FOLDS_CASE)).unwrap_err();
    assert!(matches!(err, RestoreError::NameCollision { .. }));
    assert_eq!(fs::read(root.join("other")).unwrap(), b"changed");
    assert!(!root.join("README").exists() && !root.join("readme").exists());
}

#[test]
fn a_directory_and_a_file_differing_only_by_case_are_refused_where_case_is_folded() {
    let (tmp, _root, mut store) = project();
    let root = store.root().to_path_buf();
    fs::create_dir(root.join("Docs")).unwrap();
    fs::write(root.join("Docs/a"), b"a").unwrap();
    fs::write(root.join("docs"), b"a file").unwrap();
    store.checkpoint(CommitKind::Manual, None).unwrap();
    let tree = store.tree_at(CheckpointIndex::new(0)).unwrap();
    let err = materialize(
        &store,
        &tree,
        &tmp.path().join("copy"),
        &assuming(FOLDS_CASE),
    )
    .unwrap_err();
    assert!(
        matches!(&err, RestoreError::NameCollision { first, second, .. }
            if first == "Docs" && second == "docs"),
        "{err:?}"
    );
}

#[test]
fn composed_and_decomposed_names_are_refused_where_unicode_is_normalized() {
    let (composed, decomposed) = ("caf\u{e9}", "cafe\u{301}");
    let (tmp, _root, store) = captured(&[composed, decomposed]);
    let tree = store.tree_at(CheckpointIndex::new(0)).unwrap();
    let err = materialize(
        &store,
        &tree,
        &tmp.path().join("copy"),
        &assuming(NORMALIZES),
    )
    .unwrap_err();
    let text = err.to_string();
    assert!(
        text.contains(composed) && text.contains(decomposed) && text.contains("normalization"),
        "{text}"
    );
    // A file system that folds case but keeps normalization apart (vfat)
    // holds both: written.
    let into = tmp.path().join("vfat-like");
    let r = materialize(&store, &tree, &into, &assuming(FOLDS_CASE)).unwrap();
    assert_eq!(r.written.len(), 3);
    assert_eq!(fs::read(into.join(composed)).unwrap(), b"content 0");
    assert_eq!(fs::read(into.join(decomposed)).unwrap(), b"content 1");
}

#[test]
fn one_of_two_colliding_paths_restored_alone_is_written() {
    let (tmp, _root, store) = captured(&["README", "readme"]);
    let tree = store.tree_at(CheckpointIndex::new(0)).unwrap();
    let into = tmp.path().join("copy");
    let opts = MaterializeOptions {
        only: Some(vec![RepoPath::from(&b"readme"[..])]),
        ..assuming(FOLDS_CASE)
    };
    let r = materialize(&store, &tree, &into, &opts).unwrap();
    assert_eq!(r.written, vec![b"readme".to_vec()]);
    assert_eq!(fs::read(into.join("readme")).unwrap(), b"content 1");
}

#[test]
fn a_file_system_that_keeps_names_apart_is_probed_so_and_gets_both() {
    let (tmp, root, store) = captured(&["README", "readme", "caf\u{e9}", "cafe\u{301}"]);
    let tree = store.tree_at(CheckpointIndex::new(0)).unwrap();
    // Into a new directory (the probe runs in its nearest existing ancestor),
    // then in place: the probe's temporaries are gone afterwards.
    let into = tmp.path().join("new/copy");
    let r = materialize(&store, &tree, &into, &MaterializeOptions::default()).unwrap();
    assert_eq!(r.written.len(), 5);
    assert_eq!(fs::read(into.join("README")).unwrap(), b"content 0");
    assert_eq!(fs::read(into.join("readme")).unwrap(), b"content 1");
    materialize(&store, &tree, &root, &MaterializeOptions::default()).unwrap();
    assert_eq!(fs::read(root.join("cafe\u{301}")).unwrap(), b"content 3");
    for dir in [tmp.path(), &root, &into] {
        for entry in fs::read_dir(dir).unwrap() {
            let name = entry.unwrap().file_name();
            assert!(
                !name.to_string_lossy().starts_with(".tl-tmp-"),
                "{name:?} left in {}",
                dir.display()
            );
        }
    }
}
