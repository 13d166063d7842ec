//! The worker: reads jobs (new ones, and stale ones of dead or stalled
//! workers), runs the analysis it was handed on blocking threads with a
//! time limit, and stores each result exactly once.

use std::collections::HashSet;
use std::future::Future;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde::Serialize;
use tokio::sync::{Notify, Semaphore};
use tokio::task::JoinSet;

use crate::client::{Queue, QueueTarget};
use crate::error::QueueError;
use crate::job::{Job, JobFailure, JobResult};

/// How long a worker's read blocks waiting for new jobs; short, so a stop
/// request or `--drain` is noticed quickly.
const READ_BLOCK_MS: u64 = 1000;
/// The same with `--drain`, where an empty read is usually the end of the
/// batch and a long block would only delay the exit.
const DRAIN_READ_BLOCK_MS: u64 = 100;
/// How long a worker rides out a Redis outage before it gives up.
const OUTAGE_LIMIT: Duration = Duration::from_secs(30);

/// The analysis a worker runs for each job, on a blocking thread: the
/// report as JSON, or why there is none. The queue knows no DSP; the
/// caller passes this in.
pub type AnalyzeJob = Arc<dyn Fn(&Job) -> Result<serde_json::Value, JobFailure> + Send + Sync>;

/// How a worker runs.
#[derive(Debug, Clone)]
pub struct WorkerConfig {
    /// Jobs analysed at once.
    pub slots: usize,
    /// Idle time after which another worker may take a job.
    pub visibility_timeout: Duration,
    /// Deliveries after which a job is reported as failed without analysis.
    pub max_deliveries: u64,
    /// Longest one analysis may take; a job still running then (a file on a
    /// hung mount, a FIFO) is reported as a `timeout` error and its thread
    /// abandoned.
    pub job_timeout: Duration,
    /// Where to also write each result as `<seq>.json`.
    pub out_dir: Option<PathBuf>,
    /// Exit once no job is new or pending.
    pub drain: bool,
    /// This worker's consumer name, unique per process; see
    /// [`voxcap_capture::instance_id::generate_instance_id`].
    pub consumer: String,
    /// When set, only files that resolve (after following symbolic links)
    /// inside this directory are opened; any other job is refused with an
    /// error result. A job's path comes from Redis, not from this host.
    pub root: Option<PathBuf>,
}

/// What a worker did.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct WorkerStats {
    /// Results this worker stored.
    pub reported: u64,
    /// Of those, errors (including give-ups).
    pub failed: u64,
    /// Jobs taken over from another (dead or stalled) worker.
    pub reclaimed: u64,
    /// Jobs given up after too many deliveries.
    pub gave_up: u64,
    /// Jobs finished after another worker had already reported them.
    pub duplicates: u64,
    /// Jobs whose result could not be stored (left pending for a retry).
    pub unrecorded: u64,
}

impl std::fmt::Display for WorkerStats {
    /// One line, e.g. `12 result(s) stored (1 failed, 0 given up), 2
    /// reclaimed from other workers, 0 duplicate(s), 0 unstored`.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{} result(s) stored ({} failed, {} given up), {} reclaimed from other workers, {} duplicate(s), {} unstored",
            self.reported, self.failed, self.gave_up, self.reclaimed, self.duplicates, self.unrecorded
        )
    }
}

/// Runs a worker on `target` until `shutdown` resolves (then it finishes
/// the jobs in flight) or, with `drain`, until the queue is empty.
pub async fn run_worker(
    target: &QueueTarget,
    mut config: WorkerConfig,
    analyze: AnalyzeJob,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> Result<WorkerStats, QueueError> {
    if let Some(root) = &config.root {
        // Resolved once, so a job's resolved path can be compared with it.
        config.root = Some(root.canonicalize().map_err(|source| QueueError::Root {
            path: root.display().to_string(),
            source,
        })?);
    }
    let mut queue = Queue::connect(target).await?;
    queue.ensure_group().await?;
    // Blocking reads get their own connection: on the shared one they would
    // hold up results and heartbeats queued behind them.
    let mut reader = queue.with_own_connection().await?;

    let stop = Arc::new(AtomicBool::new(false));
    let stop_notify = Arc::new(Notify::new());
    {
        let (stop, stop_notify) = (Arc::clone(&stop), Arc::clone(&stop_notify));
        tokio::spawn(async move {
            shutdown.await;
            stop.store(true, Ordering::SeqCst);
            stop_notify.notify_waiters();
        });
    }

    let slots = config.slots.max(1);
    let semaphore = Arc::new(Semaphore::new(slots));
    let in_flight: Arc<Mutex<HashSet<String>>> = Arc::default();
    let stats: Arc<Mutex<WorkerStats>> = Arc::default();
    let heartbeat = {
        let mut queue = queue.clone();
        let in_flight = Arc::clone(&in_flight);
        let consumer = config.consumer.clone();
        let every = (config.visibility_timeout / 3).max(Duration::from_millis(20));
        tokio::spawn(async move {
            let mut tick = tokio::time::interval(every);
            tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            loop {
                tick.tick().await;
                let ids: Vec<String> = lock(&in_flight).iter().cloned().collect();
                if ids.is_empty() {
                    continue;
                }
                if let Err(e) = queue.refresh(&consumer, &ids).await {
                    tracing::warn!("{e}");
                }
            }
        })
    };

    let mut tasks = JoinSet::new();
    let mut cursor = "0-0".to_string();
    let mut last_claim: Option<Instant> = None;
    let claim_every =
        (config.visibility_timeout / 4).clamp(Duration::from_millis(100), Duration::from_secs(5));
    let mut outage: Option<Instant> = None;
    let outcome = loop {
        while tasks.try_join_next().is_some() {}
        if stop.load(Ordering::SeqCst) {
            break Ok(());
        }
        let first = tokio::select! {
            p = Arc::clone(&semaphore).acquire_owned() => match p {
                Ok(p) => p,
                Err(_) => break Ok(()),
            },
            () = stop_notify.notified() => break Ok(()),
        };
        // The stop may have come while every slot was busy.
        if stop.load(Ordering::SeqCst) {
            break Ok(());
        }
        let mut permits = vec![first];
        while permits.len() < slots {
            match Arc::clone(&semaphore).try_acquire_owned() {
                Ok(p) => permits.push(p),
                Err(_) => break,
            }
        }

        let fetched = async {
            let mut jobs = Vec::new();
            // Scan for stale jobs while a scan is under way, and otherwise
            // every so often: a dead worker's jobs only become claimable
            // after the visibility timeout anyway.
            if cursor != "0-0" || last_claim.is_none_or(|t| t.elapsed() >= claim_every) {
                last_claim = Some(Instant::now());
                let claimed = queue
                    .claim_stale(
                        &config.consumer,
                        config.visibility_timeout,
                        permits.len(),
                        &mut cursor,
                    )
                    .await?;
                let mine = lock(&in_flight);
                jobs.extend(claimed.into_iter().filter(|j| !mine.contains(&j.id)));
            }
            // Mid-scan of a long pending list, scan on rather than block on
            // a read: stale jobs are the ones someone is waiting for.
            if jobs.is_empty() && cursor == "0-0" {
                let block_ms = if config.drain {
                    DRAIN_READ_BLOCK_MS
                } else {
                    READ_BLOCK_MS
                };
                jobs = reader
                    .read_new(&config.consumer, permits.len(), block_ms)
                    .await?;
            }
            Ok::<_, QueueError>(jobs)
        }
        .await;
        let jobs = match fetched {
            Ok(jobs) => {
                outage = None;
                jobs
            }
            Err(e) if e.redis_code() == Some("NOGROUP") => {
                // The queue's keys were deleted (a reset) or Redis restarted
                // empty: recreate the group and wait for new jobs.
                tracing::warn!("{e}; recreating the consumer group");
                drop(permits);
                if let Err(e) = queue.ensure_group().await {
                    tracing::warn!("{e}");
                    tokio::time::sleep(Duration::from_secs(1)).await;
                }
                continue;
            }
            Err(e) => {
                // Ride out a short outage (the connection managers
                // reconnect); give up on a long one.
                let since = *outage.get_or_insert_with(Instant::now);
                if since.elapsed() >= OUTAGE_LIMIT {
                    break Err(e);
                }
                tracing::warn!("{e}; retrying");
                drop(permits);
                tokio::time::sleep(Duration::from_secs(1)).await;
                continue;
            }
        };

        if jobs.is_empty() {
            drop(permits);
            if config.drain && lock(&in_flight).is_empty() {
                match queue.pending().await {
                    Ok(0) => break Ok(()),
                    Ok(_) => {}
                    Err(e) => tracing::warn!("{e}"),
                }
            }
            continue;
        }

        for job in jobs {
            let Some(permit) = permits.pop() else { break };
            if job.deliveries > 1 {
                lock(&stats).reclaimed += 1;
            }
            lock(&in_flight).insert(job.id.clone());
            let mut queue = queue.clone();
            let analyze = Arc::clone(&analyze);
            let in_flight = Arc::clone(&in_flight);
            let stats = Arc::clone(&stats);
            let config = config.clone();
            tasks.spawn(async move {
                let id = job.id.clone();
                let result = process(job, &config, analyze).await;
                let stored = record_with_retry(&mut queue, &result).await;
                {
                    let mut s = lock(&stats);
                    match stored {
                        Ok(true) => {
                            s.reported += 1;
                            if !result.is_ok() {
                                s.failed += 1;
                            }
                            if result.error.as_ref().is_some_and(|e| e.kind == "gave_up") {
                                s.gave_up += 1;
                            }
                        }
                        Ok(false) => s.duplicates += 1,
                        Err(e) => {
                            tracing::warn!("{}: {e}", result.path);
                            s.unrecorded += 1;
                        }
                    }
                }
                lock(&in_flight).remove(&id);
                drop(permit);
            });
        }
        // Permits left over (fewer jobs than free slots) return on drop.
    };
    while tasks.join_next().await.is_some() {}
    heartbeat.abort();
    let stats = lock(&stats).clone();
    outcome.map(|()| stats)
}

/// Locks a mutex, taking the data even if a task panicked while holding it
/// (the sets and counters stay meaningful).
fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

/// Analyses one job (or gives it up) and writes the optional result file.
async fn process(job: Job, config: &WorkerConfig, analyze: AnalyzeJob) -> JobResult {
    let mut result = JobResult {
        seq: job.seq,
        path: job.path.clone(),
        job: job.id.clone(),
        deliveries: job.deliveries,
        worker: config.consumer.clone(),
        report: None,
        error: None,
    };
    let outcome = if job.deliveries > config.max_deliveries {
        Err(JobFailure {
            kind: "gave_up".to_string(),
            message: format!(
                "{}: gave up after {} deliveries (at most {} allowed); each attempt ended without a result",
                job.path,
                job.deliveries - 1,
                config.max_deliveries
            ),
        })
    } else if let Err(why) = &job.options {
        Err(JobFailure {
            kind: "bad_job".to_string(),
            message: format!("job {}: {why}", job.id),
        })
    } else if let Err(refused) = confine(&job, config.root.as_deref()) {
        Err(refused)
    } else {
        let path = job.path.clone();
        let job = confined(job, config.root.as_deref());
        let analysis = tokio::task::spawn_blocking(move || analyze(&job));
        match tokio::time::timeout(config.job_timeout, analysis).await {
            Ok(Ok(outcome)) => outcome.map_err(JobFailure::without_file_contents),
            Ok(Err(e)) => Err(JobFailure {
                kind: "panic".to_string(),
                message: format!("{path}: the analysis panicked: {e}"),
            }),
            // A blocking thread cannot be cancelled; it is left to finish or
            // to die with the process, and the slot is freed now.
            Err(_) => Err(JobFailure {
                kind: "timeout".to_string(),
                message: format!(
                    "{path}: the analysis was still running after {:.1} s (the job time limit); abandoned",
                    config.job_timeout.as_secs_f64()
                ),
            }),
        }
    };
    match outcome {
        Ok(report) => result.report = Some(report),
        Err(e) => result.error = Some(e),
    }
    if let Some(dir) = &config.out_dir {
        let dest = dir.join(format!("{}.json", result.seq));
        let value = result.clone();
        let written = tokio::task::spawn_blocking(move || {
            voxcap_capture::atomic_file::write_json_atomically(&dest, &value)
                .map_err(|e| e.to_string())
        })
        .await
        .unwrap_or_else(|e| Err(e.to_string()));
        if let Err(e) = written {
            // The Redis result is the record of truth; a failed file write is
            // reported in it rather than retried forever.
            result.report = None;
            result.error = Some(JobFailure {
                kind: "out_file".to_string(),
                message: format!("{}: writing the result file: {e}", result.path),
            });
        }
    }
    result
}

/// Refuses a job whose path does not resolve inside `root`. Resolving
/// follows every symbolic link, so a link inside the root that points out
/// of it is refused too.
fn confine(job: &Job, root: Option<&Path>) -> Result<(), JobFailure> {
    let Some(root) = root else { return Ok(()) };
    let refuse = |why: String| JobFailure {
        kind: "outside_root".to_string(),
        message: format!("{}: refused: {why}", job.path),
    };
    match Path::new(&job.path).canonicalize() {
        Ok(resolved) if resolved.starts_with(root) => Ok(()),
        Ok(resolved) => Err(refuse(format!(
            "it resolves to {}, outside the worker's root {}",
            resolved.display(),
            root.display()
        ))),
        Err(e) => Err(refuse(format!(
            "it does not resolve inside the worker's root {} ({})",
            root.display(),
            e.kind()
        ))),
    }
}

/// With a root, the job the analysis sees names the resolved path, so a
/// link swapped after the check cannot lead it elsewhere.
fn confined(mut job: Job, root: Option<&Path>) -> Job {
    if root.is_some() {
        if let Ok(resolved) = Path::new(&job.path).canonicalize() {
            if let Some(text) = resolved.to_str() {
                job.path = text.to_string();
            }
        }
    }
    job
}

/// Stores a result, retrying through a short Redis outage.
async fn record_with_retry(queue: &mut Queue, result: &JobResult) -> Result<bool, QueueError> {
    let started = Instant::now();
    loop {
        match queue.record(result).await {
            Ok(stored) => return Ok(stored),
            Err(e) if started.elapsed() >= OUTAGE_LIMIT => return Err(e),
            Err(_) => tokio::time::sleep(Duration::from_secs(1)).await,
        }
    }
}
