//! The simulated week: a deterministic schedule of steps (when, and what kind)
//! and the edits each step makes to the tree. Both depend only on the seed, the
//! interval between steps and the tree, never on which steps are snapshotted, so
//! tl and its peers replay the same history.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

/// 2026-11-04T00:00:00Z, a Wednesday: the week is Wed Thu Fri, an idle weekend,
/// then Mon Tue, so that it ends on a working day (GC at the end of Tuesday sees
/// every tier of the policy: the last hour, the last day, the week).
pub const START_NS: i64 = 1_793_750_400 * NS;
/// Nanoseconds per second.
pub const NS: i64 = 1_000_000_000;
const DAY_SECS: i64 = 86_400;
const HOUR_SECS: i64 = 3_600;
/// Working hours, UTC (the GC is given a UTC offset of 0).
const WORK_START_SECS: i64 = 9 * HOUR_SECS;
const WORK_END_SECS: i64 = 18 * HOUR_SECS;
/// Files replaced by a branch switch.
pub const BRANCH_FILES: usize = 50;
/// The .rs files one day's editing touches (a developer works on a few files at a
/// time, not on the whole tree uniformly).
const WORKING_SET: usize = 20;

/// A small deterministic PRNG (splitmix64): the same numbers on every machine.
pub struct Rng(u64);

impl Rng {
    /// A generator started from `seed`.
    pub fn new(seed: u64) -> Rng {
        Rng(seed)
    }

    /// The next 64 random bits.
    pub fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// Uniform in `lo..=hi`.
    pub fn range(&mut self, lo: u64, hi: u64) -> u64 {
        lo + self.next() % (hi - lo + 1)
    }

    /// Uniform index below `n`.
    pub fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }
}

/// What a step does to the tree.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Action {
    /// The first step: the tree as copied, nothing changed.
    Initial,
    /// 1 to 5 files of the day's working set edited.
    Edit,
    /// [`BRANCH_FILES`] files replaced by another branch's version.
    SwitchAway,
    /// Those files back to their content before the switch.
    SwitchBack,
}

impl Action {
    /// The name in the manifest.
    pub fn name(self) -> &'static str {
        match self {
            Action::Initial => "initial",
            Action::Edit => "edit",
            Action::SwitchAway => "switch",
            Action::SwitchBack => "back",
        }
    }
}

/// One step of the week.
#[derive(Clone, Copy, Debug)]
pub struct Step {
    /// Simulated time of the step (its snapshot), ns since the Unix epoch.
    pub time_ns: i64,
    /// The simulated day (0 = Wednesday).
    pub day: u32,
    /// What it does.
    pub action: Action,
}

/// Seconds between two edits: uniform in `lo_secs..=hi_secs`.
#[derive(Clone, Copy, Debug)]
pub struct Interval {
    /// Shortest gap.
    pub lo_secs: u64,
    /// Longest gap.
    pub hi_secs: u64,
}

/// The steps of the week, in time order. Working hours 09:00-18:00 on the five
/// working days; one branch switch a day (away between 10:00 and 14:00, back 1 to
/// 3 hours later); nothing at night or on the weekend.
pub fn schedule(seed: u64, interval: Interval) -> Vec<Step> {
    let mut rng = Rng::new(seed);
    let mut steps = Vec::new();
    for day in 0..7u32 {
        // Day 0 is a Wednesday: days 3 and 4 are Saturday and Sunday.
        if day == 3 || day == 4 {
            continue;
        }
        let day_start = START_NS / NS + i64::from(day) * DAY_SECS;
        let switch_away = day_start + 10 * HOUR_SECS + rng.range(0, 4 * 3_600) as i64;
        let switch_back = switch_away + HOUR_SECS + rng.range(0, 2 * 3_600) as i64;
        let mut t = day_start + WORK_START_SECS;
        let first = if steps.is_empty() {
            Action::Initial
        } else {
            Action::Edit
        };
        steps.push(Step {
            time_ns: t * NS,
            day,
            action: first,
        });
        let (mut away, mut back) = (false, false);
        loop {
            t += rng.range(interval.lo_secs, interval.hi_secs) as i64;
            if t >= day_start + WORK_END_SECS {
                break;
            }
            let action = if !away && t >= switch_away {
                away = true;
                Action::SwitchAway
            } else if away && !back && t >= switch_back {
                back = true;
                Action::SwitchBack
            } else {
                Action::Edit
            };
            steps.push(Step {
                time_ns: t * NS,
                day,
                action,
            });
        }
    }
    steps
}

/// The tree being edited and the state the edits need (today's working set, the
/// content a branch switch put aside).
pub struct Editor {
    root: PathBuf,
    rs_files: Vec<PathBuf>,
    rng: Rng,
    day: Option<u32>,
    working_set: Vec<usize>,
    put_aside: BTreeMap<usize, Vec<u8>>,
}

impl Editor {
    /// An editor of the tree at `root`, whose `.rs` files (outside `.tl`) are the
    /// ones edited.
    pub fn new(root: &Path, seed: u64) -> std::io::Result<Editor> {
        let mut rs_files = Vec::new();
        collect_rs(root, root, &mut rs_files)?;
        rs_files.sort();
        assert!(
            rs_files.len() >= BRANCH_FILES,
            "the corpus needs at least {BRANCH_FILES} .rs files"
        );
        Ok(Editor {
            root: root.to_path_buf(),
            rs_files,
            rng: Rng::new(seed),
            day: None,
            working_set: Vec::new(),
            put_aside: BTreeMap::new(),
        })
    }

    /// Makes `step`'s change on disk; returns the number of files written.
    pub fn apply(&mut self, step: &Step) -> std::io::Result<usize> {
        if self.day != Some(step.day) {
            self.day = Some(step.day);
            self.working_set = (0..WORKING_SET)
                .map(|_| self.rng.below(self.rs_files.len()))
                .collect();
        }
        match step.action {
            Action::Initial => Ok(0),
            Action::Edit => {
                let n = self.rng.range(1, 5) as usize;
                for _ in 0..n {
                    let f = self.working_set[self.rng.below(self.working_set.len())];
                    let path = self.root.join(&self.rs_files[f]);
                    let text = std::fs::read(&path)?;
                    let edited = edit(&mut self.rng, &text);
                    std::fs::write(&path, edited)?;
                }
                Ok(n)
            }
            Action::SwitchAway => {
                assert!(self.put_aside.is_empty(), "one branch at a time");
                while self.put_aside.len() < BRANCH_FILES {
                    let f = self.rng.below(self.rs_files.len());
                    if self.put_aside.contains_key(&f) {
                        continue;
                    }
                    let path = self.root.join(&self.rs_files[f]);
                    let text = std::fs::read(&path)?;
                    std::fs::write(&path, branch_version(&mut self.rng, &text))?;
                    self.put_aside.insert(f, text);
                }
                Ok(BRANCH_FILES)
            }
            Action::SwitchBack => {
                let n = self.put_aside.len();
                for (f, text) in std::mem::take(&mut self.put_aside) {
                    std::fs::write(self.root.join(&self.rs_files[f]), text)?;
                }
                Ok(n)
            }
        }
    }
}

fn collect_rs(root: &Path, dir: &Path, out: &mut Vec<PathBuf>) -> std::io::Result<()> {
    for entry in std::fs::read_dir(dir)? {
        let entry = entry?;
        let kind = entry.file_type()?;
        let path = entry.path();
        if kind.is_dir() {
            if entry.file_name() != ".tl" {
                collect_rs(root, &path, out)?;
            }
        } else if kind.is_file() && path.extension().is_some_and(|e| e == "rs") {
            out.push(path.strip_prefix(root).expect("under root").to_path_buf());
        }
    }
    Ok(())
}

/// A line of code-like text, different each time.
fn new_line(rng: &mut Rng) -> String {
    const NAMES: [&str; 8] = [
        "len", "offset", "count", "buf", "state", "index", "total", "limit",
    ];
    let a = NAMES[rng.below(NAMES.len())];
    let b = NAMES[rng.below(NAMES.len())];
    let n = rng.range(0, 9_999);
    match rng.below(4) {
        0 => format!(
            "    let {a}_{n} = {b}.saturating_add({});",
            rng.range(1, 64)
        ),
        1 => format!("    // {a}: checked against {b} ({n})"),
        2 => format!("    if {a} > {n} {{ return Err(Error::{b}({a})); }}"),
        _ => format!("    debug_assert!({a} <= {b} + {n});"),
    }
}

/// One small edit, as a save in an editor makes: a line changed, inserted or
/// deleted at a random place.
fn edit(rng: &mut Rng, text: &[u8]) -> Vec<u8> {
    let text = String::from_utf8_lossy(text);
    let mut lines: Vec<String> = text.lines().map(str::to_owned).collect();
    let at = if lines.is_empty() {
        0
    } else {
        rng.below(lines.len())
    };
    match rng.below(10) {
        0..=5 if !lines.is_empty() => {
            let extra = new_line(rng);
            lines[at].push_str(extra.trim_start());
        }
        6 if !lines.is_empty() => {
            lines.remove(at);
        }
        _ => lines.insert(at, new_line(rng)),
    }
    let mut out = lines.join("\n");
    out.push('\n');
    out.into_bytes()
}

/// Another branch's version of a file: about one line in eight changed.
fn branch_version(rng: &mut Rng, text: &[u8]) -> Vec<u8> {
    let text = String::from_utf8_lossy(text);
    let mut out = String::with_capacity(text.len() + 256);
    for line in text.lines() {
        if rng.below(8) == 0 {
            out.push_str(&new_line(rng));
        } else {
            out.push_str(line);
        }
        out.push('\n');
    }
    out.into_bytes()
}
