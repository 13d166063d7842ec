//! voxcap-queue's tests, one integration binary: the library's enqueue,
//! worker and results against a real `redis-server` on loopback
//! (`voxcap_testkit::LocalRedis`), with the analysis passed in as the
//! command line passes it. The `voxcap` binary's queue tests are in the
//! root's tests/cli/queue.rs.
//!
//! - [`worker_root`]: `WorkerConfig::root` confines job paths;
//! - [`stored_errors`]: a stored error quotes no file contents.

mod stored_errors;
mod worker_root;

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use voxcap_queue::{
    collect_results, enqueue_files, run_worker, AnalyzeJob, Job, JobFailure, JobOptions, JobResult,
    QueueTarget, WorkerConfig,
};
use voxcap_testkit::LocalRedis;

/// A local Redis and a queue on it.
struct Harness {
    _redis: LocalRedis,
    target: QueueTarget,
}

impl Harness {
    fn start(queue: &str) -> Harness {
        let redis =
            LocalRedis::start().expect("redis-server must be installed (.ci/run installs it)");
        let target = QueueTarget {
            url: redis.url(),
            ca_pem: None,
            name: queue.to_string(),
        };
        Harness {
            _redis: redis,
            target,
        }
    }

    /// Queues `paths`, runs one draining worker with `root` and `analyze`,
    /// and returns the results in enqueue order.
    fn run(&self, paths: &[PathBuf], root: Option<&Path>, analyze: AnalyzeJob) -> Vec<JobResult> {
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .unwrap();
        rt.block_on(async {
            enqueue_files(&self.target, paths, &options())
                .await
                .unwrap();
            let config = WorkerConfig {
                slots: 2,
                visibility_timeout: Duration::from_secs(30),
                max_deliveries: 3,
                job_timeout: Duration::from_secs(30),
                out_dir: None,
                drain: true,
                consumer: "test-worker".to_string(),
                root: root.map(Path::to_path_buf),
            };
            let stats = run_worker(&self.target, config, analyze, std::future::pending())
                .await
                .unwrap();
            assert_eq!(stats.reported, paths.len() as u64, "{stats:?}");
            collect_results(&self.target, None).await.unwrap().results
        })
    }
}

fn options() -> JobOptions {
    JobOptions {
        stop_tones: String::new(),
        initial_silence: 5.0,
        max_silence: 5.0,
        max_record: 5.0,
        reported: None,
        pad_start_ms: 150,
        pad_end_ms: 300,
        lenient: false,
    }
}

/// The analysis the command line passes in, reduced to the decoder: the
/// real error messages, each naming the file.
fn decode_job(opened: Arc<Mutex<Vec<String>>>) -> AnalyzeJob {
    Arc::new(move |job: &Job| {
        opened.lock().unwrap().push(job.path.clone());
        let fail = |kind: &str, message: String| JobFailure {
            kind: kind.to_string(),
            message: format!("{}: {message}", job.path),
        };
        let file = std::fs::File::open(&job.path).map_err(|e| fail("io", e.to_string()))?;
        let config = voxcap_dsp::AnalysisConfig::default();
        let report = voxcap_dsp::analyze_reader(&job.path, file, &config)
            .map_err(|e| fail(e.kind(), e.to_string()))?;
        serde_json::to_value(&report).map_err(|e| fail("report", e.to_string()))
    })
}

/// A short silent WAV (PCM 16-bit, 8 kHz, mono).
fn silent_wav(path: &Path) {
    let samples = vec![0i16; 800];
    let data_len = (samples.len() * 2) as u32;
    let mut b = Vec::new();
    b.extend_from_slice(b"RIFF");
    b.extend_from_slice(&(36 + data_len).to_le_bytes());
    b.extend_from_slice(b"WAVEfmt ");
    b.extend_from_slice(&16u32.to_le_bytes());
    b.extend_from_slice(&1u16.to_le_bytes());
    b.extend_from_slice(&1u16.to_le_bytes());
    b.extend_from_slice(&8000u32.to_le_bytes());
    b.extend_from_slice(&16000u32.to_le_bytes());
    b.extend_from_slice(&2u16.to_le_bytes());
    b.extend_from_slice(&16u16.to_le_bytes());
    b.extend_from_slice(b"data");
    b.extend_from_slice(&data_len.to_le_bytes());
    for s in samples {
        b.extend_from_slice(&s.to_le_bytes());
    }
    std::fs::write(path, b).unwrap();
}
