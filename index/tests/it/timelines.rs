//! Timelines against a model (issue 14): random file operations interleaved
//! with checkpoints and timeline create, switch, remove and undo. After every
//! step the files on disk are the model's, every live timeline's newest state
//! is the tree the model says it holds, and after the run a store opened anew
//! (the catalog folded from the log) agrees. What was tried: 64 runs of up to
//! 40 steps over 5 paths (one in a directory) and up to 4 timelines.

use std::collections::BTreeMap;
use std::path::Path;

use proptest::prelude::*;
use tl_index::record::CommitKind;
use tl_index::store::Store;

const PATHS: [&str; 5] = ["a", "b", "c", "d/e", "d/f"];
const NAMES: [&str; 3] = ["t1", "t2", "t3"];

type Files = BTreeMap<String, String>;

#[derive(Clone, Debug)]
enum Op {
    Write(usize, u8),
    Delete(usize),
    Checkpoint,
    Create(usize),
    Switch(usize),
    Remove(usize),
    Undo,
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        4 => (0..PATHS.len(), any::<u8>()).prop_map(|(p, v)| Op::Write(p, v)),
        2 => (0..PATHS.len()).prop_map(Op::Delete),
        2 => Just(Op::Checkpoint),
        2 => (0..NAMES.len()).prop_map(Op::Create),
        3 => (0..=NAMES.len()).prop_map(Op::Switch),
        1 => (0..NAMES.len()).prop_map(Op::Remove),
        2 => Just(Op::Undo),
    ]
}

/// What the project should hold.
struct Model {
    dir: Files,
    /// Each live timeline's newest state.
    timelines: BTreeMap<String, Files>,
    current: String,
    /// What `tl undo` brings back: the files and timeline before the last
    /// operation.
    before_last_op: Option<(Files, String)>,
}

fn disk(root: &Path) -> Files {
    let mut out = Files::new();
    for p in PATHS {
        if let Ok(s) = std::fs::read_to_string(root.join(p)) {
            out.insert(p.to_string(), s);
        }
    }
    out
}

fn files_of(store: &Store, idx: tl_index::catalog::CheckpointIndex) -> Files {
    let tree = store.tree_at(idx).unwrap();
    tree.iter()
        .map(|(p, e)| {
            (
                String::from_utf8(p.clone()).unwrap(),
                String::from_utf8(store.blob_bytes(&e.hash).unwrap()).unwrap(),
            )
        })
        .collect()
}

fn timeline_name(i: usize) -> &'static str {
    if i == NAMES.len() {
        "main"
    } else {
        NAMES[i]
    }
}

fn check(store: &Store, root: &Path, m: &Model) -> Result<(), TestCaseError> {
    prop_assert_eq!(&disk(root), &m.dir);
    let cat = store.catalog().unwrap();
    let live: Vec<String> = cat.timelines().live().map(|t| t.name.clone()).collect();
    let mut want: Vec<String> = m.timelines.keys().cloned().collect();
    let mut got = live.clone();
    want.sort();
    got.sort();
    prop_assert_eq!(got, want);
    prop_assert_eq!(
        cat.timelines().name_of(cat.current_timeline()),
        m.current.clone()
    );
    for (name, files) in &m.timelines {
        let t = cat.timelines().by_name(name).unwrap();
        match cat.timeline_head(t.id) {
            Some(idx) => prop_assert_eq!(&files_of(store, idx), files, "timeline {}", name),
            None => prop_assert!(files.is_empty()),
        }
    }
    Ok(())
}

fn run(ops: Vec<Op>) -> Result<(), TestCaseError> {
    let d = tempfile::tempdir().unwrap();
    let root = d.path().join("proj");
    std::fs::create_dir(&root).unwrap();
    let mut store = Store::init(&root).unwrap();
    let mut m = Model {
        dir: Files::new(),
        timelines: BTreeMap::from([("main".to_string(), Files::new())]),
        current: "main".into(),
        before_last_op: None,
    };
    // The first state, so every timeline has one to start from.
    std::fs::write(root.join("a"), "first").unwrap();
    m.dir.insert("a".into(), "first".into());
    store.checkpoint(CommitKind::Manual, None).unwrap();
    m.timelines.insert("main".into(), m.dir.clone());
    for op in ops {
        match op {
            Op::Write(p, v) => {
                let path = root.join(PATHS[p]);
                std::fs::create_dir_all(path.parent().unwrap()).unwrap();
                let text = format!("{} {v}", PATHS[p]);
                std::fs::write(&path, &text).unwrap();
                m.dir.insert(PATHS[p].to_string(), text);
            }
            Op::Delete(p) => {
                let _ = std::fs::remove_file(root.join(PATHS[p]));
                m.dir.remove(PATHS[p]);
            }
            Op::Checkpoint => {
                store.checkpoint(CommitKind::Manual, None).unwrap();
                m.timelines.insert(m.current.clone(), m.dir.clone());
            }
            Op::Create(i) => {
                let name = NAMES[i];
                if m.timelines.contains_key(name) {
                    continue;
                }
                store.capture_if_changed(CommitKind::Auto, None).unwrap();
                m.timelines.insert(m.current.clone(), m.dir.clone());
                let base = store.last_index();
                let id = store.create_timeline(name, base).unwrap();
                m.before_last_op = Some((m.dir.clone(), m.current.clone()));
                tl_index::switch::switch(&mut store, id, &|_, _| {}).unwrap();
                m.timelines.insert(name.to_string(), m.dir.clone());
                m.current = name.to_string();
            }
            Op::Switch(i) => {
                let name = timeline_name(i);
                if !m.timelines.contains_key(name) || m.current == name {
                    continue;
                }
                let id = store.timeline_named(name).unwrap().id;
                m.before_last_op = Some((m.dir.clone(), m.current.clone()));
                tl_index::switch::switch(&mut store, id, &|_, _| {}).unwrap();
                m.timelines
                    .insert(m.current.clone(), m.before_last_op.clone().unwrap().0);
                m.dir = m.timelines[name].clone();
                m.current = name.to_string();
            }
            Op::Remove(i) => {
                let name = NAMES[i];
                if !m.timelines.contains_key(name) || m.current == name {
                    continue;
                }
                store.remove_timeline(name).unwrap();
                m.timelines.remove(name);
            }
            Op::Undo => {
                let Some((files, tl)) = m.before_last_op.clone() else {
                    continue;
                };
                tl_index::switch::undo(&mut store, &|_, _| {}).unwrap();
                m.before_last_op = Some((m.dir.clone(), m.current.clone()));
                m.timelines.insert(m.current.clone(), m.dir.clone());
                let to = if m.timelines.contains_key(&tl) {
                    tl
                } else {
                    m.current.clone()
                };
                m.dir = files;
                m.timelines.insert(to.clone(), m.dir.clone());
                m.current = to;
            }
        }
        check(&store, &root, &m)?;
    }
    drop(store);
    // The log is the truth: a store opened anew from it agrees.
    std::fs::remove_file(root.join(".tl/index/catalog")).ok();
    let store = Store::open(&root).unwrap();
    check(&store, &root, &m)
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 64, ..ProptestConfig::default() })]

    #[test]
    fn timelines_hold_what_the_model_says_through_switches_removals_and_undos(
        ops in proptest::collection::vec(op(), 1..40)
    ) {
        run(ops)?;
    }
}
