//! voxcap-batch: the batch on one machine, without Redis: finding the
//! inputs (what `voxcap analyze` analyses, `voxcap enqueue` queues and the
//! Python package's `analyze_many` walks), running one job per input on a
//! few threads with the results handed back in input order, and the
//! bookkeeping of such a batch ([`Failure`], [`Summary`]).
//!
//! A crate of its own, without the Redis and HTTP stack of `voxcap-queue`
//! (which re-exports it as `voxcap_queue::local`), so that the Python
//! package runs the CLI's batch.
//!
//! [`run_ordered`] keeps memory bounded whatever the number of inputs: at
//! most a small window (four per worker) is in flight or waiting to be
//! handed on, because the feeder waits for the consumer to take a result
//! before it releases the next input. A panic in one job becomes that
//! input's result (through the caller's `panicked`), so every index gets
//! its slot and the ordered hand-over never waits for a job that died.
//! Only `std` is used: threads, channels, `catch_unwind`.

use std::any::Any;
use std::collections::{BTreeMap, HashMap};
use std::io::{self, Write};
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::path::{Path, PathBuf};
use std::sync::{mpsc, Arc, Mutex};

use serde::Serialize;

/// One input of a local batch, or a failure met while finding inputs.
#[derive(Debug)]
pub enum Input {
    /// Standard input (`-`).
    Stdin,
    /// A file (it may still fail to open).
    File(PathBuf),
    /// A directory or entry that could not be read while walking.
    Unreadable(PathBuf, io::Error),
}

impl Input {
    /// The input's name as printed: `-`, or the path.
    pub fn name(&self) -> String {
        match self {
            Input::Stdin => "-".to_string(),
            Input::File(p) | Input::Unreadable(p, _) => p.display().to_string(),
        }
    }

    fn path(&self) -> Option<&Path> {
        match self {
            Input::Stdin => None,
            Input::File(p) | Input::Unreadable(p, _) => Some(p),
        }
    }
}

/// Expands command-line paths into inputs, in order: `-` is stdin, a
/// directory is walked for `*.wav` (any case; in sorted order; symlinked
/// directories are not followed, so a link cycle cannot hang the walk), and
/// anything else is a file (a missing one is reported when opened, with the
/// OS's reason).
pub fn expand_inputs(paths: &[PathBuf]) -> Vec<Input> {
    let mut inputs = Vec::new();
    for p in paths {
        if p.as_os_str() == "-" {
            inputs.push(Input::Stdin);
        } else if p.is_dir() {
            let mut found = Vec::new();
            walk(p, &mut found);
            found.sort_by(|a, b| a.path().cmp(&b.path()));
            inputs.extend(found);
        } else {
            inputs.push(Input::File(p.clone()));
        }
    }
    inputs
}

fn walk(dir: &Path, found: &mut Vec<Input>) {
    let entries = match std::fs::read_dir(dir) {
        Ok(e) => e,
        Err(e) => return found.push(Input::Unreadable(dir.to_path_buf(), e)),
    };
    for entry in entries {
        let entry = match entry {
            Ok(e) => e,
            Err(e) => {
                found.push(Input::Unreadable(dir.to_path_buf(), e));
                continue;
            }
        };
        let path = entry.path();
        let wav = path
            .extension()
            .is_some_and(|e| e.eq_ignore_ascii_case("wav"));
        match entry.file_type() {
            Ok(t) if t.is_dir() => walk(&path, found),
            Ok(_) if wav => found.push(Input::File(path)),
            Ok(_) => {}
            Err(e) => found.push(Input::Unreadable(path, e)),
        }
    }
}

/// Runs `job` on every input with `workers` threads (at least one) and
/// hands each result to `sink` in input order, as soon as it and all
/// earlier ones are ready. A job that panics yields
/// `panicked(index, payload)` instead. Returns when every input was handed
/// on.
pub fn run_ordered<I: Send, R: Send>(
    inputs: Vec<I>,
    workers: usize,
    job: impl Fn(I) -> R + Sync,
    panicked: impl Fn(usize, &(dyn Any + Send)) -> R + Sync,
    mut sink: impl FnMut(R),
) {
    let workers = workers.max(1);
    // Inputs in flight or waiting to be handed on.
    let window = workers * 4;
    std::thread::scope(|scope| {
        let (permit_tx, permit_rx) = mpsc::sync_channel::<()>(window);
        for _ in 0..window {
            permit_tx.send(()).ok();
        }
        let (job_tx, job_rx) = mpsc::sync_channel::<(usize, I)>(window);
        let job_rx = Arc::new(Mutex::new(job_rx));
        let (result_tx, result_rx) = mpsc::channel();
        scope.spawn(move || {
            for item in inputs.into_iter().enumerate() {
                // Wait until the consumer has room, so a slow first input
                // cannot let the others pile up in memory.
                if permit_rx.recv().is_err() || job_tx.send(item).is_err() {
                    return;
                }
            }
        });
        for _ in 0..workers {
            let (job_rx, result_tx) = (Arc::clone(&job_rx), result_tx.clone());
            let (job, panicked) = (&job, &panicked);
            scope.spawn(move || loop {
                let next = match job_rx.lock() {
                    Ok(rx) => rx.recv(),
                    Err(_) => return,
                };
                let Ok((index, input)) = next else { return };
                let result = catch_unwind(AssertUnwindSafe(|| job(input)))
                    .unwrap_or_else(|payload| panicked(index, &*payload));
                if result_tx.send((index, result)).is_err() {
                    return;
                }
            });
        }
        drop(result_tx);
        let mut pending = HashMap::new();
        let mut next = 0;
        for (index, result) in result_rx {
            pending.insert(index, result);
            while let Some(result) = pending.remove(&next) {
                next += 1;
                sink(result);
                permit_tx.send(()).ok();
            }
        }
    });
}

/// Why one input of a local batch failed: a kind (`io`, `decode`,
/// `internal`...) and the message shown.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Failure {
    /// The kind of failure, counted by [`Summary`].
    pub kind: &'static str,
    /// The message, naming the input and the cause.
    pub message: String,
}

/// The closing summary of a local batch.
#[derive(Debug, Default, Serialize)]
pub struct Summary {
    /// Inputs seen.
    pub files: u64,
    /// Inputs analysed.
    pub analysed: u64,
    /// Inputs that failed.
    pub failed: u64,
    /// Seconds of audio analysed.
    pub audio_s: f64,
    /// Wall-clock seconds the batch took.
    pub wall_s: f64,
    /// Count per completion verdict.
    pub verdicts: BTreeMap<String, u64>,
    /// Count per quality label.
    pub labels: BTreeMap<String, u64>,
    /// Count per error kind.
    pub errors: BTreeMap<String, u64>,
}

impl Failure {
    /// An input that could not be read.
    pub fn io(e: &io::Error) -> Self {
        Failure {
            kind: "io",
            message: e.to_string(),
        }
    }

    /// An input whose job panicked with `message` (a bug).
    pub fn panicked(message: &str) -> Self {
        Failure {
            kind: "internal",
            message: format!("internal error: panicked: {message}"),
        }
    }
}

/// The serde name of a unit enum value (`consistent`, `dtmf_only`...).
fn serde_name(v: &impl Serialize) -> String {
    serde_json::to_value(v)
        .ok()
        .and_then(|v| v.as_str().map(String::from))
        .unwrap_or_default()
}

impl Summary {
    /// Counts an analysed input: its seconds of audio, and its verdict and
    /// quality labels under their serde names.
    pub fn add_analysed<V: Serialize, L: Serialize>(
        &mut self,
        audio_s: f64,
        verdict: &V,
        labels: &[L],
    ) {
        self.files += 1;
        self.analysed += 1;
        self.audio_s += audio_s;
        *self.verdicts.entry(serde_name(verdict)).or_default() += 1;
        for l in labels {
            *self.labels.entry(serde_name(l)).or_default() += 1;
        }
    }

    /// Counts a failed input.
    pub fn add_failed(&mut self, failure: &Failure) {
        self.files += 1;
        self.failed += 1;
        *self.errors.entry(failure.kind.to_string()).or_default() += 1;
    }

    /// Writes the summary as four lines: totals and speed, verdicts, labels, errors.
    pub fn write_text(&self, out: &mut impl Write) -> io::Result<()> {
        let list = |m: &BTreeMap<String, u64>| {
            let v: Vec<String> = m.iter().map(|(k, n)| format!("{k} {n}")).collect();
            if v.is_empty() {
                "-".to_string()
            } else {
                v.join(", ")
            }
        };
        writeln!(
            out,
            "voxcap: {} file(s), {} analysed, {} failed; {:.1} s of audio in {:.2} s ({:.0}x real time)",
            self.files,
            self.analysed,
            self.failed,
            self.audio_s,
            self.wall_s,
            self.audio_s / self.wall_s.max(1e-9)
        )?;
        writeln!(out, "  verdicts  {}", list(&self.verdicts))?;
        writeln!(out, "  labels    {}", list(&self.labels))?;
        writeln!(out, "  errors    {}", list(&self.errors))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn results_come_in_input_order_and_a_panicking_job_gets_its_slot() {
        for workers in [1, 2, 7] {
            let mut got = Vec::new();
            run_ordered(
                (0..100u64).collect(),
                workers,
                |i| {
                    assert!(i != 42, "job 42 fails");
                    // Later inputs finish first, to exercise the reordering.
                    std::thread::sleep(std::time::Duration::from_micros(100 - i));
                    i.to_string()
                },
                |index, _| format!("panicked {index}"),
                |r| got.push(r),
            );
            let want: Vec<String> = (0..100)
                .map(|i| match i {
                    42 => "panicked 42".to_string(),
                    _ => i.to_string(),
                })
                .collect();
            assert_eq!(got, want, "{workers} workers");
        }
    }

    #[test]
    fn the_summary_counts_verdicts_labels_and_error_kinds() {
        let mut s = Summary::default();
        s.add_analysed(2.0, &"consistent", &["speech"]);
        s.add_analysed(1.5, &"inconsistent", &["speech", "clipped"]);
        let failure = Failure {
            kind: "decode",
            message: "x.wav: not a WAV".into(),
        };
        s.add_failed(&failure);
        s.add_failed(&Failure::io(&io::Error::other("gone")));
        s.wall_s = 0.5;
        let mut text = Vec::new();
        s.write_text(&mut text).unwrap();
        assert_eq!(
            String::from_utf8(text).unwrap(),
            "voxcap: 4 file(s), 2 analysed, 2 failed; 3.5 s of audio in 0.50 s (7x real time)\n  \
             verdicts  consistent 1, inconsistent 1\n  labels    clipped 1, speech 2\n  errors    decode 1, io 1\n"
        );
    }

    #[test]
    fn directories_are_walked_for_wav_files_in_sorted_order() {
        let dir = tempfile::tempdir().unwrap();
        for name in ["b.wav", "a.WAV", "notes.txt", "sub/c.wav"] {
            let p = dir.path().join(name);
            std::fs::create_dir_all(p.parent().unwrap()).unwrap();
            std::fs::write(p, b"").unwrap();
        }
        let names: Vec<String> = expand_inputs(&[dir.path().into(), "-".into()])
            .iter()
            .map(|i| {
                i.name()
                    .trim_start_matches(&*dir.path().to_string_lossy())
                    .to_string()
            })
            .collect();
        assert_eq!(names, ["/a.WAV", "/b.wav", "/sub/c.wav", "-"]);
    }
}
