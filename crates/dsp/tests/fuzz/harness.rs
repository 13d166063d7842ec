//! The campaign runner: worker threads pull cases from a shared counter, a
//! watchdog thread flags any case that runs past the timeout, and every
//! panic, caught panic (`internal`), broken invariant or timeout becomes a
//! [`Finding`] whose input is saved for the malformed corpus.

use std::collections::BTreeMap;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use crate::mutate::make_case;
use crate::seeds::Seed;

/// What the target made of one case.
pub(crate) enum Verdict {
    /// Handled as it should be; the label (`ok` or an error kind) is counted.
    Fine(&'static str),
    /// The analysis caught a panic and reported kind `internal`.
    Internal(String),
    /// An invariant of the output was broken.
    Broken(String),
}

/// The function under test.
pub(crate) type Target = fn(&[u8]) -> Verdict;

/// Why a case is a finding.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) enum FindingKind {
    /// A panic reached the harness.
    Panic,
    /// A panic was caught by the analysis and reported as `internal`.
    Internal,
    /// The output broke an invariant.
    Broken,
    /// The case ran past the timeout.
    Timeout,
}

/// One failing case.
#[derive(Debug, Clone)]
pub(crate) struct Finding {
    /// Why it failed.
    pub kind: FindingKind,
    /// The seed it was made from.
    pub seed: &'static str,
    /// The case index within that seed.
    pub case: u64,
    /// The panic message or the broken invariant.
    pub message: String,
    /// The mutations that made it.
    pub mutations: Vec<String>,
    /// Where the input was saved.
    pub saved: Option<PathBuf>,
}

impl Finding {
    /// One line naming the case, the cause, the mutations and the saved file.
    pub(crate) fn describe(&self) -> String {
        format!(
            "{:?} in {} case {}: {} [{}] saved {:?}",
            self.kind,
            self.seed,
            self.case,
            self.message,
            self.mutations.join("; "),
            self.saved
        )
    }
}

/// A fuzzing campaign.
pub(crate) struct Campaign {
    /// The seeds; every one gets `cases_per_seed` cases.
    pub seeds: Vec<Seed>,
    /// Cases per seed.
    pub cases_per_seed: u64,
    /// The base seed of every case's generator.
    pub base_seed: u64,
    /// A case running longer than this is a finding.
    pub timeout: Duration,
    /// A timed-out case still running this long after it was flagged is a
    /// hang: the run is abandoned.
    pub abandon_after: Duration,
    /// Worker threads.
    pub workers: usize,
    /// Where failing inputs are saved (`None`: not saved).
    pub save_dir: Option<PathBuf>,
}

/// What a campaign did.
#[derive(Debug, Default)]
pub(crate) struct Outcome {
    /// Cases run to the end.
    pub cases: u64,
    /// Count per verdict label.
    pub labels: BTreeMap<&'static str, u64>,
    /// Every finding.
    pub findings: Vec<Finding>,
    /// The slowest case that finished.
    pub slowest: Duration,
    /// Wall-clock time of the campaign.
    pub wall: Duration,
    /// Whether some worker never came back (so the run was abandoned).
    pub hung: bool,
}

impl Outcome {
    /// Findings of `kind`.
    pub(crate) fn count(&self, kind: FindingKind) -> usize {
        self.findings.iter().filter(|f| f.kind == kind).count()
    }
}

struct Shared {
    seeds: Vec<Seed>,
    cases_per_seed: u64,
    base_seed: u64,
    save_dir: Option<PathBuf>,
    next: AtomicU64,
    done_workers: AtomicUsize,
    stop: AtomicBool,
    /// Per worker: the case it is running and since when.
    running: Vec<Mutex<Option<(u64, Instant)>>>,
    tally: Mutex<Outcome>,
}

impl Shared {
    /// Case `i` of the campaign: seeds take turns, so every seed advances.
    fn case(&self, i: u64) -> (usize, u64) {
        let n = self.seeds.len() as u64;
        ((i % n) as usize, i / n)
    }

    fn record(&self, kind: FindingKind, i: u64, message: String) {
        let (s, case) = self.case(i);
        let seed = &self.seeds[s];
        let (bytes, mutations) = make_case(seed, self.base_seed, s, case);
        let saved = self.save_dir.as_deref().and_then(|dir| {
            let name = format!("fuzz_{}_case{case}_{:?}.wav", seed.name, kind).to_lowercase();
            save(dir, &name, &bytes)
        });
        eprintln!(
            "fuzz finding: {kind:?} in seed {} case {case} (base seed {:#x}): {message}\n  mutations: {}\n  saved: {saved:?}",
            seed.name,
            self.base_seed,
            mutations.join("; ")
        );
        lock(&self.tally).findings.push(Finding {
            kind,
            seed: seed.name,
            case,
            message,
            mutations,
            saved,
        });
    }
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

/// Writes a finding atomically (temp file, fsync, rename).
fn save(dir: &Path, name: &str, bytes: &[u8]) -> Option<PathBuf> {
    use std::io::Write;
    std::fs::create_dir_all(dir).ok()?;
    let path = dir.join(name);
    let tmp = dir.join(format!(".{name}.tmp"));
    let mut f = std::fs::File::create(&tmp).ok()?;
    f.write_all(bytes).ok()?;
    f.sync_all().ok()?;
    std::fs::rename(&tmp, &path).ok()?;
    Some(path)
}

fn worker(shared: &Shared, me: usize, target: Target) {
    let total = shared.cases_per_seed * shared.seeds.len() as u64;
    loop {
        let i = shared.next.fetch_add(1, Ordering::Relaxed);
        if i >= total || shared.stop.load(Ordering::Relaxed) {
            return;
        }
        let (s, case) = shared.case(i);
        let (bytes, _) = make_case(&shared.seeds[s], shared.base_seed, s, case);
        let started = Instant::now();
        *lock(&shared.running[me]) = Some((i, started));
        let verdict = catch_unwind(AssertUnwindSafe(|| target(&bytes)));
        *lock(&shared.running[me]) = None;
        let took = started.elapsed();
        {
            let mut t = lock(&shared.tally);
            t.cases += 1;
            t.slowest = t.slowest.max(took);
            if let Ok(Verdict::Fine(label)) = &verdict {
                *t.labels.entry(label).or_default() += 1;
            }
        }
        match verdict {
            Ok(Verdict::Fine(_)) => {}
            Ok(Verdict::Internal(m)) => shared.record(FindingKind::Internal, i, m),
            Ok(Verdict::Broken(m)) => shared.record(FindingKind::Broken, i, m),
            Err(p) => shared.record(
                FindingKind::Panic,
                i,
                voxcap_dsp::analysis::panic_message(&*p),
            ),
        }
    }
}

/// Runs the campaign against `target`. A worker stuck in one case past the
/// timeout is reported; if it has not come back after a further timeout the
/// run is abandoned (its thread left behind) and `hung` is set.
pub(crate) fn run(c: Campaign, target: Target) -> Outcome {
    let started = Instant::now();
    let workers = c.workers.max(1);
    let shared = Arc::new(Shared {
        seeds: c.seeds,
        cases_per_seed: c.cases_per_seed,
        base_seed: c.base_seed,
        save_dir: c.save_dir,
        next: AtomicU64::new(0),
        done_workers: AtomicUsize::new(0),
        stop: AtomicBool::new(false),
        running: (0..workers).map(|_| Mutex::new(None)).collect(),
        tally: Mutex::new(Outcome::default()),
    });
    for me in 0..workers {
        let shared = Arc::clone(&shared);
        std::thread::spawn(move || {
            worker(&shared, me, target);
            shared.done_workers.fetch_add(1, Ordering::SeqCst);
        });
    }
    // The watchdog runs here, on the calling thread.
    let mut flagged: BTreeMap<u64, Instant> = BTreeMap::new();
    let mut hung = false;
    while shared.done_workers.load(Ordering::SeqCst) < workers {
        std::thread::sleep(Duration::from_millis(20));
        for slot in &shared.running {
            let running = *lock(slot);
            if let Some((i, since)) = running {
                if since.elapsed() > c.timeout && !flagged.contains_key(&i) {
                    flagged.insert(i, Instant::now());
                    shared.record(
                        FindingKind::Timeout,
                        i,
                        format!("still running after {:?}", c.timeout),
                    );
                }
            }
        }
        if flagged.values().any(|t| t.elapsed() > c.abandon_after) && {
            let still = shared
                .running
                .iter()
                .filter_map(|s| *lock(s))
                .any(|(i, _)| flagged.contains_key(&i));
            still
        } {
            hung = true;
            shared.stop.store(true, Ordering::SeqCst);
            break;
        }
    }
    let mut outcome = std::mem::take(&mut *lock(&shared.tally));
    outcome.hung = hung;
    outcome.wall = started.elapsed();
    outcome
}
