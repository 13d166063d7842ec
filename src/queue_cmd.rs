//! `voxcap enqueue`, `voxcap worker` and `voxcap results`: the distributed
//! batch's command line. The queue mechanics live in [`voxcap_queue`]; this
//! module adds the arguments and plugs `voxcap analyze`'s per-file analysis
//! in as the worker's job.

use std::io::{self, Write};
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::Context;
use clap::Args;
use voxcap_capture::instance_id::generate_instance_id;
use voxcap_queue::{
    collect_results, enqueue_files, run_worker, CollectedResults, Enqueued, ResultsStatus,
    WorkerConfig,
};

use voxcap_queue::local::{expand_inputs, Input};

use crate::analyze::RecordingArgs;

/// Exit code of `voxcap results` when some jobs have no result yet.
pub(crate) const EXIT_INCOMPLETE: u8 = 5;

/// The Redis server and queue that `enqueue`, `worker` and `results` share.
#[derive(Debug, Args)]
pub(crate) struct QueueTarget {
    /// Redis URL, e.g. redis://host:6379/0 (redis://:password@host/ with AUTH; rediss:// for TLS); default $VOXCAP_REDIS_URL, which keeps a password off the command line.
    #[arg(
        long,
        value_name = "URL",
        env = "VOXCAP_REDIS_URL",
        hide_env_values = true
    )]
    pub redis: String,
    /// CA certificate(s), PEM, for a rediss:// server with a private CA (default: the public roots).
    #[arg(long, value_name = "FILE")]
    pub redis_ca: Option<PathBuf>,
    /// Queue name; several batches can share one Redis under different names.
    #[arg(long, value_name = "NAME", default_value = "default")]
    pub queue: String,
}

impl QueueTarget {
    /// The queue these flags name (reads and checks `--redis-ca`).
    fn target(&self) -> anyhow::Result<voxcap_queue::QueueTarget> {
        Ok(voxcap_queue::QueueTarget {
            url: self.redis.clone(),
            ca_pem: crate::record_cmd::read_redis_ca(self.redis_ca.as_deref())?,
            name: self.queue.clone(),
        })
    }
}

/// Arguments of `voxcap enqueue`.
#[derive(Debug, Args)]
pub(crate) struct EnqueueArgs {
    /// WAV files or directories (walked for *.wav, in sorted order). Workers
    /// open them by absolute path, so they must be on a filesystem every
    /// worker mounts at the same place.
    #[arg(required = true, value_name = "PATH")]
    pub paths: Vec<PathBuf>,
    /// Where the queue lives.
    #[command(flatten)]
    pub target: QueueTarget,
    /// Analyse truncated files as far as they go and flag them, instead of failing.
    #[arg(long)]
    pub lenient: bool,
    #[command(flatten)]
    pub recording: RecordingArgs,
}

/// Arguments of `voxcap worker`.
#[derive(Debug, Args)]
pub(crate) struct WorkerArgs {
    /// Where the queue lives.
    #[command(flatten)]
    pub target: QueueTarget,
    /// Files analysed at once (default: all cores).
    #[arg(short = 'j', long = "jobs", value_name = "N", value_parser = clap::value_parser!(u16).range(1..=1024))]
    pub jobs: Option<u16>,
    /// Seconds a job may sit unacknowledged with no sign of life before
    /// another worker takes it over.
    #[arg(long, value_name = "S", default_value_t = 60.0, value_parser = crate::seconds_in(1e-3, 7.0 * 86400.0))]
    pub visibility_timeout: f64,
    /// Deliveries after which a job is reported as failed instead of retried.
    #[arg(long, value_name = "N", default_value_t = 5, value_parser = clap::value_parser!(u64).range(1..))]
    pub max_deliveries: u64,
    /// Seconds one file's analysis may take before it is reported as a
    /// `timeout` error (a file on a hung mount must not hold a slot forever).
    #[arg(long, value_name = "S", default_value_t = 600.0, value_parser = crate::seconds_in(1e-3, 7.0 * 86400.0))]
    pub job_timeout: f64,
    /// Also write each result to DIR/<seq>.json (atomically).
    #[arg(long, value_name = "DIR")]
    pub out: Option<PathBuf>,
    /// Exit once the queue has no new and no pending jobs.
    #[arg(long)]
    pub drain: bool,
    /// Open only files that resolve (following links) inside DIR; refuse other jobs.
    #[arg(long, value_name = "DIR")]
    pub root: Option<PathBuf>,
    /// Silero VAD's ONNX file, fused into the speech detector (docs/speech.md).
    #[arg(long, value_name = "FILE", env = "VOXCAP_SPEECH_MODEL")]
    pub speech_model: Option<PathBuf>,
}

/// Arguments of `voxcap results`.
#[derive(Debug, Args)]
pub(crate) struct ResultsArgs {
    /// Where the queue lives.
    #[command(flatten)]
    pub target: QueueTarget,
    /// Wait until every queued job has a result (or --timeout passes).
    #[arg(long)]
    pub wait: bool,
    /// Longest wait with --wait, in seconds.
    #[arg(long, value_name = "S", default_value_t = 3600.0, value_parser = crate::seconds_in(1e-3, 7.0 * 86400.0))]
    pub timeout: f64,
    /// Also write the summary as JSON to FILE (atomically).
    #[arg(long, value_name = "FILE")]
    pub summary_json: Option<PathBuf>,
}

fn runtime() -> anyhow::Result<tokio::runtime::Runtime> {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .context("starting the async runtime")
}

/// Runs `voxcap enqueue`.
pub(crate) fn enqueue(args: &EnqueueArgs) -> anyhow::Result<ExitCode> {
    let mut paths = Vec::new();
    for input in expand_inputs(&args.paths) {
        match input {
            Input::Stdin => anyhow::bail!("`-` (stdin) cannot be queued: workers read files"),
            Input::File(p) => {
                let abs = std::path::absolute(&p)
                    .with_context(|| format!("{}: making the path absolute", p.display()))?;
                paths.push(abs);
            }
            // Queue all or nothing: a half-queued directory is hard to finish.
            Input::Unreadable(p, e) => {
                anyhow::bail!("{}: {e}; nothing was queued", p.display())
            }
        }
    }
    if paths.is_empty() {
        anyhow::bail!("no WAV files found under the given paths; nothing was queued");
    }
    let options = args.recording.job_options(args.lenient);
    let target = args.target.target()?;
    let queued = runtime()?.block_on(enqueue_files(&target, &paths, &options))?;
    if let Enqueued {
        seqs: Some((first, last)),
        total,
    } = queued
    {
        let (n, queue) = (paths.len(), &args.target.queue);
        eprintln!("voxcap: queued {n} file(s) on queue {queue} (seq {first}..={last}; {total} queued in all)");
    }
    println!("{}", paths.len());
    Ok(ExitCode::SUCCESS)
}

/// Resolves on ctrl-c or SIGTERM.
async fn stop_requested() {
    voxcap_bot::serve::shutdown_signal().await;
    eprintln!("voxcap: stop requested; finishing the jobs in flight");
}

/// Runs `voxcap worker`.
pub(crate) fn worker(args: &WorkerArgs) -> anyhow::Result<ExitCode> {
    crate::record_cmd::init_tracing();
    let slots = args
        .jobs
        .map(usize::from)
        .unwrap_or_else(|| std::thread::available_parallelism().map_or(1, |n| n.get()));
    if let Some(dir) = &args.out {
        std::fs::create_dir_all(dir).with_context(|| format!("{}: creating", dir.display()))?;
    }
    let config = WorkerConfig {
        slots,
        visibility_timeout: Duration::from_secs_f64(args.visibility_timeout),
        max_deliveries: args.max_deliveries,
        job_timeout: Duration::from_secs_f64(args.job_timeout),
        out_dir: args.out.clone(),
        drain: args.drain,
        consumer: generate_instance_id(),
        root: args.root.clone(),
    };
    let target = args.target.target()?;
    let consumer = config.consumer.clone();
    eprintln!(
        "voxcap: worker {consumer}: queue {} at {}, {slots} slot(s)",
        args.target.queue,
        target.shown_url()
    );
    let started = Instant::now();
    let model = voxcap_bot::file_analysis::speech_model_at(args.speech_model.as_deref())?;
    let rt = runtime()?;
    let stats = rt.block_on(run_worker(
        &target,
        config,
        Arc::new(voxcap_bot::file_analysis::job_analyzer(model)),
        stop_requested(),
    ));
    // Do not wait for analyses abandoned after --job-timeout: they may never
    // return (a hung mount); exiting ends them.
    rt.shutdown_background();
    let stats = stats?;
    let seconds = started.elapsed().as_secs_f64();
    eprintln!("voxcap: worker {consumer}: {stats}, in {seconds:.2} s");
    Ok(ExitCode::SUCCESS)
}

/// Runs `voxcap results`: NDJSON on stdout in enqueue order, summary on
/// stderr; exit 0 (all analysed), 1 (some failed) or [`EXIT_INCOMPLETE`].
pub(crate) fn results(args: &ResultsArgs) -> anyhow::Result<ExitCode> {
    let target = args.target.target()?;
    let wait = args.wait.then(|| Duration::from_secs_f64(args.timeout));
    let CollectedResults { summary, results } =
        runtime()?.block_on(collect_results(&target, wait))?;
    let mut out = io::BufWriter::new(io::stdout().lock());
    let printed = results.iter().try_for_each(|r| {
        serde_json::to_writer(&mut out, r)?;
        out.write_all(b"\n")
    });
    match printed.and_then(|()| out.flush()) {
        Err(e) if e.kind() == io::ErrorKind::BrokenPipe => {}
        other => other.context("writing results to stdout")?,
    }
    eprint!("{}", summary.to_text());
    if let Some(path) = &args.summary_json {
        voxcap_capture::atomic_file::write_json_atomically(path, &summary)
            .with_context(|| format!("{}: writing the summary", path.display()))?;
    }
    Ok(match summary.status() {
        ResultsStatus::Complete => ExitCode::SUCCESS,
        ResultsStatus::SomeFailed => ExitCode::from(1),
        ResultsStatus::Incomplete => ExitCode::from(EXIT_INCOMPLETE),
    })
}
