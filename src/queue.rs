//! The distributed batch: analysis jobs on a Redis Stream, consumed by any
//! number of workers on any number of machines, results kept in Redis.
//!
//! Keys of queue `Q` (the braces are a Redis Cluster hash tag, so every key
//! of a queue lives in one slot and the atomic result write may touch two):
//!
//! - `voxcap:{Q}:jobs`, a stream; one entry per file with fields `path`,
//!   `seq` and `options` (JSON), read through the consumer group `workers`;
//! - `voxcap:{Q}:seq`, the counter that numbers jobs in enqueue order;
//! - `voxcap:{Q}:enqueued`, how many jobs were queued;
//! - `voxcap:{Q}:results`, a hash from job (stream entry) id to result JSON.
//!
//! Guarantees: a job is processed at least once (a worker that dies leaves
//! its entries pending; after the visibility timeout another worker claims
//! them with `XAUTOCLAIM`), and reported exactly once, because the result is
//! written with `HSETNX` in the same `MULTI`/`EXEC` as the `XACK`: the first
//! finished delivery wins, a job is never acknowledged before its result is
//! stored, and a late duplicate only acknowledges. A job delivered more than
//! `max_deliveries` times (it keeps killing workers) is reported as an error
//! and acknowledged, so one poison pill cannot stall the batch.
//!
//! This module knows Redis and JSON but not DSP: the worker is handed the
//! analysis as a function ([`Analyse`]), which runs on a blocking thread.

use std::collections::{BTreeMap, HashSet};
use std::future::Future;
use std::hash::{BuildHasher, Hasher};
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use redis::aio::{ConnectionManager, ConnectionManagerConfig};
use redis::streams::{StreamAutoClaimReply, StreamId, StreamPendingCountReply, StreamReadReply};
use redis::Value;
use serde::{Deserialize, Serialize};
use tokio::sync::{Notify, Semaphore};
use tokio::task::JoinSet;

/// The consumer group every worker reads through.
pub const GROUP: &str = "workers";

/// How long connecting to Redis may take before the command gives up.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(3);
/// How long one Redis reply may take; above the blocking read's wait.
const RESPONSE_TIMEOUT: Duration = Duration::from_secs(5);
/// How long a worker's read blocks waiting for new jobs; short, so a stop
/// request or `--drain` is noticed quickly.
const READ_BLOCK_MS: u64 = 1000;
/// The same with `--drain`, where an empty read is usually the end of the
/// batch and a long block would only delay the exit.
const DRAIN_READ_BLOCK_MS: u64 = 100;
/// Jobs per `MULTI` when enqueueing: large enough to save round trips,
/// small enough not to stall the server.
const ENQUEUE_CHUNK: usize = 500;
/// How long a worker rides out a Redis outage before it gives up.
const OUTAGE_LIMIT: Duration = Duration::from_secs(30);

/// Why a queue operation failed. Every message names the (redacted) Redis URL.
#[derive(Debug, thiserror::Error)]
pub enum QueueError {
    /// The URL does not parse as a Redis URL.
    #[error("{url}: not a usable Redis URL: {cause}")]
    InvalidUrl {
        /// The URL, password redacted.
        url: String,
        /// The cause; shown in the message rather than chained, because
        /// the Redis error already repeats its own cause.
        cause: redis::RedisError,
    },
    /// The server could not be reached or did not answer.
    #[error("cannot reach Redis at {url}: {cause}")]
    Unreachable {
        /// The URL, password redacted.
        url: String,
        /// The cause; shown in the message rather than chained, because
        /// the Redis error already repeats its own cause.
        cause: redis::RedisError,
    },
    /// A command failed once connected.
    #[error("Redis at {url}: {action}: {cause}")]
    Command {
        /// The URL, password redacted.
        url: String,
        /// What was being done.
        action: &'static str,
        /// The cause; shown in the message rather than chained, because
        /// the Redis error already repeats its own cause.
        cause: redis::RedisError,
    },
    /// A queue name that would break the key layout.
    #[error("{0:?} is not a queue name (1-64 of A-Z a-z 0-9 . _ -)")]
    InvalidQueueName(String),
    /// A path that cannot be carried as UTF-8 text in a job.
    #[error("{0}: the path is not valid UTF-8, so it cannot be queued")]
    NonUtf8Path(String),
}

impl QueueError {
    /// The Redis error code (`NOGROUP`, `BUSYGROUP`...), if Redis sent one.
    pub fn redis_code(&self) -> Option<&str> {
        match self {
            QueueError::Command { cause, .. } | QueueError::Unreachable { cause, .. } => {
                cause.code()
            }
            _ => None,
        }
    }
}

/// Returns `url` with any password (and a lone user-info part) replaced by
/// `***`, so a URL can appear in messages and logs.
pub fn redact_url(url: &str) -> String {
    let Some(scheme_end) = url.find("://") else {
        // Not a URL the client accepts; still hide anything before an `@`.
        return match url.rfind('@') {
            Some(at) => format!("***{}", &url[at..]),
            None => url.to_string(),
        };
    };
    let (head, rest) = url.split_at(scheme_end + 3);
    let authority_end = rest.find(['/', '?', '#']).unwrap_or(rest.len());
    let (authority, tail) = rest.split_at(authority_end);
    let authority = match authority.rfind('@') {
        Some(at) => {
            let (userinfo, host) = authority.split_at(at);
            match userinfo.split_once(':') {
                Some((user, _)) => format!("{user}:***{host}"),
                // `redis://secret@host` is read as a user name by some
                // clients and as a password by others; hide it either way.
                None => format!("***{host}"),
            }
        }
        None => authority.to_string(),
    };
    // `?password=` / `?pass=` style parameters carry secrets too.
    let tail = match tail.split_once('?') {
        Some((path, query)) => {
            let redacted: Vec<String> = query
                .split('&')
                .map(|kv| match kv.split_once('=') {
                    Some((k, _))
                        if k.eq_ignore_ascii_case("password") || k.eq_ignore_ascii_case("pass") =>
                    {
                        format!("{k}=***")
                    }
                    _ => kv.to_string(),
                })
                .collect();
            format!("{path}?{}", redacted.join("&"))
        }
        None => tail.to_string(),
    };
    format!("{head}{authority}{tail}")
}

/// Checks a queue name: it becomes part of every key, inside a hash tag.
pub fn validate_queue_name(name: &str) -> Result<(), QueueError> {
    let ok = (1..=64).contains(&name.len())
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-'));
    if ok {
        Ok(())
    } else {
        Err(QueueError::InvalidQueueName(name.to_string()))
    }
}

/// The Redis keys of one queue.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct QueueKeys {
    /// The job stream.
    pub jobs: String,
    /// The enqueue-order counter.
    pub seq: String,
    /// How many jobs were queued.
    pub enqueued: String,
    /// Job id → result JSON.
    pub results: String,
}

impl QueueKeys {
    /// The keys of queue `name` (not validated here).
    pub fn new(name: &str) -> Self {
        let key = |what: &str| format!("voxcap:{{{name}}}:{what}");
        QueueKeys {
            jobs: key("jobs"),
            seq: key("seq"),
            enqueued: key("enqueued"),
            results: key("results"),
        }
    }
}

/// The analysis settings that travel with each job (the `analyze` flags).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct JobOptions {
    /// Stop tones, e.g. `"#*"`.
    pub stop_tones: String,
    /// initialSilenceTimeoutInSeconds.
    pub initial_silence: f64,
    /// maxSilenceTimeoutInSeconds.
    pub max_silence: f64,
    /// maxRecordDurationInSeconds.
    pub max_record: f64,
    /// The completion reason or subcode Graph reported.
    pub reported: Option<String>,
    /// Audio kept before the first speech when trimming, in ms.
    pub pad_start_ms: u32,
    /// Audio kept after the last speech when trimming, in ms.
    pub pad_end_ms: u32,
    /// Analyse truncated files as far as they go.
    pub lenient: bool,
}

/// One job as a worker received it.
#[derive(Debug, Clone, PartialEq)]
pub struct Job {
    /// The stream entry id, which identifies the job.
    pub id: String,
    /// The absolute path of the file.
    pub path: String,
    /// Its place in enqueue order.
    pub seq: u64,
    /// Its analysis settings, or why they could not be read.
    pub options: Result<JobOptions, String>,
    /// How many times it has been delivered, this delivery included.
    pub deliveries: u64,
}

impl Job {
    /// Reads a stream entry; a missing or malformed field becomes a job that
    /// fails (rather than one that is retried forever).
    fn from_entry(entry: &StreamId, deliveries: u64) -> Job {
        let text = |field: &str| match entry.map.get(field) {
            Some(Value::BulkString(b)) => Some(String::from_utf8_lossy(b).into_owned()),
            Some(Value::SimpleString(s)) => Some(s.clone()),
            _ => None,
        };
        let path = text("path").unwrap_or_default();
        let seq = text("seq").and_then(|s| s.parse().ok()).unwrap_or(0);
        let options = match text("options") {
            None => Err("the job has no options field".to_string()),
            Some(json) => serde_json::from_str(&json)
                .map_err(|e| format!("the job's options are not valid: {e}")),
        };
        let options = if path.is_empty() {
            Err("the job has no path field".to_string())
        } else {
            options
        };
        Job {
            id: entry.id.clone(),
            path,
            seq,
            options,
            deliveries,
        }
    }
}

/// Why a job produced no report.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct JobFailure {
    /// A short machine-readable kind (`io`, `format`, `gave_up`...).
    pub kind: String,
    /// The human message, naming the file.
    pub message: String,
}

/// One job's result, as stored in Redis and printed by `voxcap results`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct JobResult {
    /// Place in enqueue order.
    pub seq: u64,
    /// The file.
    pub path: String,
    /// The job (stream entry) id.
    pub job: String,
    /// Deliveries of the job up to and including the one that reported.
    pub deliveries: u64,
    /// The consumer (worker) that reported.
    pub worker: String,
    /// The analysis report, when the file was analysed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub report: Option<serde_json::Value>,
    /// Why it was not, otherwise.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<JobFailure>,
}

impl JobResult {
    /// Whether the file was analysed.
    pub fn is_ok(&self) -> bool {
        self.error.is_none() && self.report.is_some()
    }
}

/// Sorts results into enqueue order (ties, which only a hand-edited queue
/// has, by job id).
pub fn sort_results(results: &mut [JobResult]) {
    results.sort_by(|a, b| a.seq.cmp(&b.seq).then_with(|| a.job.cmp(&b.job)));
}

/// What `voxcap results` concludes.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct ResultsSummary {
    /// The queue.
    pub queue: String,
    /// Jobs queued.
    pub enqueued: u64,
    /// Jobs with a result.
    pub reported: u64,
    /// Results with a report.
    pub ok: u64,
    /// Results with an error.
    pub failed: u64,
    /// Jobs without a result yet (`enqueued - reported`).
    pub pending: u64,
    /// Count per completion verdict of the reports.
    pub verdicts: BTreeMap<String, u64>,
    /// Count per error kind.
    pub errors: BTreeMap<String, u64>,
}

/// How a results read ends; see [`ResultsSummary::status`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ResultsStatus {
    /// Every job reported and analysed.
    Complete,
    /// Every job reported, some files failed.
    SomeFailed,
    /// Some jobs have no result yet.
    Incomplete,
}

impl ResultsSummary {
    /// Counts `results` against `enqueued`.
    pub fn new(queue: &str, enqueued: u64, results: &[JobResult]) -> Self {
        let mut s = ResultsSummary {
            queue: queue.to_string(),
            enqueued,
            reported: results.len() as u64,
            ..ResultsSummary::default()
        };
        for r in results {
            match (&r.report, &r.error) {
                (Some(report), None) => {
                    s.ok += 1;
                    if let Some(v) = report
                        .pointer("/completion/verdict")
                        .and_then(|v| v.as_str())
                    {
                        *s.verdicts.entry(v.to_string()).or_default() += 1;
                    }
                }
                (_, Some(e)) => {
                    s.failed += 1;
                    *s.errors.entry(e.kind.clone()).or_default() += 1;
                }
                (None, None) => {
                    s.failed += 1;
                    *s.errors.entry("empty".to_string()).or_default() += 1;
                }
            }
        }
        s.pending = enqueued.saturating_sub(s.reported);
        s
    }

    /// Incomplete beats failed: a partial batch is not a verdict on the files.
    pub fn status(&self) -> ResultsStatus {
        if self.pending > 0 {
            ResultsStatus::Incomplete
        } else if self.failed > 0 {
            ResultsStatus::SomeFailed
        } else {
            ResultsStatus::Complete
        }
    }

    /// The human summary (several lines).
    pub fn to_text(&self) -> String {
        let list = |m: &BTreeMap<String, u64>| {
            if m.is_empty() {
                "-".to_string()
            } else {
                let v: Vec<String> = m.iter().map(|(k, n)| format!("{k} {n}")).collect();
                v.join(", ")
            }
        };
        format!(
            "voxcap: queue {}: {} enqueued, {} reported ({} ok, {} failed), {} still pending\n  verdicts  {}\n  errors    {}\n",
            self.queue,
            self.enqueued,
            self.reported,
            self.ok,
            self.failed,
            self.pending,
            list(&self.verdicts),
            list(&self.errors)
        )
    }
}

/// A connection to one queue.
#[derive(Clone)]
pub struct Queue {
    url: String,
    keys: QueueKeys,
    client: redis::Client,
    conn: ConnectionManager,
}

impl std::fmt::Debug for Queue {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Queue")
            .field("url", &self.url)
            .field("keys", &self.keys)
            .finish_non_exhaustive()
    }
}

async fn connect_manager(
    client: &redis::Client,
    url: &str,
) -> Result<ConnectionManager, QueueError> {
    let config = ConnectionManagerConfig::new()
        .set_connection_timeout(Some(CONNECT_TIMEOUT))
        .set_response_timeout(Some(RESPONSE_TIMEOUT))
        .set_number_of_retries(1);
    let unreachable = |cause| QueueError::Unreachable {
        url: url.to_string(),
        cause,
    };
    // The manager's own retries are bounded, but guard the whole handshake
    // too: a black-holed address must not hang the command.
    let mut conn = tokio::time::timeout(
        CONNECT_TIMEOUT * 3,
        client.get_connection_manager_with_config(config),
    )
    .await
    .map_err(|_| {
        unreachable(redis::RedisError::from(std::io::Error::new(
            std::io::ErrorKind::TimedOut,
            "connection timed out",
        )))
    })?
    .map_err(unreachable)?;
    redis::cmd("PING")
        .query_async::<String>(&mut conn)
        .await
        .map_err(unreachable)?;
    Ok(conn)
}

impl Queue {
    /// Connects to `url` (checking the server answers) for queue `name`.
    pub async fn connect(url: &str, name: &str) -> Result<Queue, QueueError> {
        Self::connect_with_ca(url, name, None).await
    }

    /// Like [`Queue::connect`]; a `rediss://` URL is verified against
    /// `ca_pem` (PEM CA certificates) when given, else the public roots.
    pub async fn connect_with_ca(
        url: &str,
        name: &str,
        ca_pem: Option<&[u8]>,
    ) -> Result<Queue, QueueError> {
        validate_queue_name(name)?;
        let shown = redact_url(url);
        let client = voxcap_capture::redis_store::redis_client(url, ca_pem).map_err(|cause| {
            QueueError::InvalidUrl {
                url: shown.clone(),
                cause,
            }
        })?;
        let conn = connect_manager(&client, &shown).await?;
        Ok(Queue {
            url: shown,
            keys: QueueKeys::new(name),
            client,
            conn,
        })
    }

    /// The keys of this queue.
    pub fn keys(&self) -> &QueueKeys {
        &self.keys
    }

    /// The URL, password redacted.
    pub fn url(&self) -> &str {
        &self.url
    }

    fn command_error(&self, action: &'static str) -> impl Fn(redis::RedisError) -> QueueError {
        let url = self.url.clone();
        move |cause| QueueError::Command {
            url: url.clone(),
            action,
            cause,
        }
    }

    /// Creates the stream and its consumer group if missing. The group starts
    /// at the beginning, so jobs queued before any worker started are seen.
    pub async fn ensure_group(&mut self) -> Result<(), QueueError> {
        let created = redis::cmd("XGROUP")
            .arg("CREATE")
            .arg(&self.keys.jobs)
            .arg(GROUP)
            .arg("0")
            .arg("MKSTREAM")
            .query_async::<()>(&mut self.conn)
            .await;
        match created {
            Err(e) if e.code() == Some("BUSYGROUP") => Ok(()),
            other => other.map_err(self.command_error("creating the consumer group")),
        }
    }

    /// Queues one job per path (absolute, UTF-8) with `options`; returns the
    /// seq numbers given, first and last.
    pub async fn enqueue(
        &mut self,
        paths: &[PathBuf],
        options: &JobOptions,
    ) -> Result<Option<(u64, u64)>, QueueError> {
        let texts = paths
            .iter()
            .map(|p| {
                p.to_str()
                    .map(str::to_string)
                    .ok_or_else(|| QueueError::NonUtf8Path(p.display().to_string()))
            })
            .collect::<Result<Vec<_>, _>>()?;
        self.ensure_group().await?;
        if texts.is_empty() {
            return Ok(None);
        }
        let options = serde_json::to_string(options).unwrap_or_else(|_| "{}".to_string());
        let n = texts.len() as u64;
        let last: u64 = redis::cmd("INCRBY")
            .arg(&self.keys.seq)
            .arg(n)
            .query_async(&mut self.conn)
            .await
            .map_err(self.command_error("numbering jobs"))?;
        let first = last + 1 - n;
        for (chunk_no, chunk) in texts.chunks(ENQUEUE_CHUNK).enumerate() {
            // Each chunk's entries and its share of the count commit together,
            // so `enqueued` never disagrees with the stream.
            let mut pipe = redis::pipe();
            pipe.atomic();
            for (i, path) in chunk.iter().enumerate() {
                let seq = first + (chunk_no * ENQUEUE_CHUNK + i) as u64;
                pipe.cmd("XADD")
                    .arg(&self.keys.jobs)
                    .arg("*")
                    .arg("path")
                    .arg(path)
                    .arg("seq")
                    .arg(seq)
                    .arg("options")
                    .arg(&options)
                    .ignore();
            }
            pipe.cmd("INCRBY")
                .arg(&self.keys.enqueued)
                .arg(chunk.len())
                .ignore();
            pipe.query_async::<()>(&mut self.conn)
                .await
                .map_err(self.command_error("adding jobs"))?;
        }
        Ok(Some((first, last)))
    }

    /// Jobs queued so far.
    pub async fn enqueued(&mut self) -> Result<u64, QueueError> {
        let n: Option<u64> = redis::cmd("GET")
            .arg(&self.keys.enqueued)
            .query_async(&mut self.conn)
            .await
            .map_err(self.command_error("reading the enqueued count"))?;
        Ok(n.unwrap_or(0))
    }

    /// Jobs with a result so far.
    pub async fn reported(&mut self) -> Result<u64, QueueError> {
        redis::cmd("HLEN")
            .arg(&self.keys.results)
            .query_async(&mut self.conn)
            .await
            .map_err(self.command_error("counting results"))
    }

    /// Every stored result, in enqueue order. A result that does not parse
    /// (written by hand or by another program) becomes an error result.
    pub async fn results(&mut self) -> Result<Vec<JobResult>, QueueError> {
        let mut cursor = "0".to_string();
        let mut out = Vec::new();
        loop {
            // HSCAN rather than HGETALL: a big queue must not stall the server.
            let (next, flat): (String, Vec<String>) = redis::cmd("HSCAN")
                .arg(&self.keys.results)
                .arg(&cursor)
                .arg("COUNT")
                .arg(1000)
                .query_async(&mut self.conn)
                .await
                .map_err(self.command_error("reading results"))?;
            for pair in flat.chunks_exact(2) {
                out.push(parse_result(&pair[0], &pair[1]));
            }
            if next == "0" {
                break;
            }
            cursor = next;
        }
        sort_results(&mut out);
        Ok(out)
    }

    /// Entries delivered to some worker and not yet acknowledged.
    pub async fn pending(&mut self) -> Result<u64, QueueError> {
        let reply: Value = redis::cmd("XPENDING")
            .arg(&self.keys.jobs)
            .arg(GROUP)
            .query_async(&mut self.conn)
            .await
            .map_err(self.command_error("reading pending jobs"))?;
        Ok(match reply {
            Value::Array(items) => match items.first() {
                Some(Value::Int(n)) => (*n).max(0) as u64,
                _ => 0,
            },
            _ => 0,
        })
    }

    /// Claims up to `count` entries idle for at least `min_idle` (their
    /// worker died or hung), scanning from `cursor` and advancing it.
    async fn claim_stale(
        &mut self,
        consumer: &str,
        min_idle: Duration,
        count: usize,
        cursor: &mut String,
    ) -> Result<Vec<Job>, QueueError> {
        let reply: StreamAutoClaimReply = redis::cmd("XAUTOCLAIM")
            .arg(&self.keys.jobs)
            .arg(GROUP)
            .arg(consumer)
            .arg(min_idle.as_millis() as u64)
            .arg(cursor.as_str())
            .arg("COUNT")
            .arg(count)
            .query_async(&mut self.conn)
            .await
            .map_err(self.command_error("reclaiming stale jobs"))?;
        *cursor = reply.next_stream_id;
        let mut jobs = Vec::with_capacity(reply.claimed.len());
        for entry in &reply.claimed {
            let deliveries = self.deliveries(&entry.id).await?;
            jobs.push(Job::from_entry(entry, deliveries));
        }
        Ok(jobs)
    }

    /// The delivery count of one pending entry (1 if it is not pending).
    async fn deliveries(&mut self, id: &str) -> Result<u64, QueueError> {
        let reply: StreamPendingCountReply = redis::cmd("XPENDING")
            .arg(&self.keys.jobs)
            .arg(GROUP)
            .arg(id)
            .arg(id)
            .arg(1)
            .query_async(&mut self.conn)
            .await
            .map_err(self.command_error("reading a delivery count"))?;
        Ok(reply
            .ids
            .first()
            .map_or(1, |p| p.times_delivered as u64)
            .max(1))
    }

    /// Reads up to `count` new entries, blocking up to `block_ms`.
    async fn read_new(
        &mut self,
        consumer: &str,
        count: usize,
        block_ms: u64,
    ) -> Result<Vec<Job>, QueueError> {
        let reply: Option<StreamReadReply> = redis::cmd("XREADGROUP")
            .arg("GROUP")
            .arg(GROUP)
            .arg(consumer)
            .arg("COUNT")
            .arg(count)
            .arg("BLOCK")
            .arg(block_ms)
            .arg("STREAMS")
            .arg(&self.keys.jobs)
            .arg(">")
            .query_async(&mut self.conn)
            .await
            .map_err(self.command_error("reading new jobs"))?;
        Ok(reply
            .into_iter()
            .flat_map(|r| r.keys)
            .flat_map(|k| k.ids)
            .map(|entry| Job::from_entry(&entry, 1))
            .collect())
    }

    /// Resets the idle time of `ids` that `consumer` still owns, so a slow
    /// job is not taken from a live worker. One that another worker already
    /// claimed is left alone (taking it back would make two owners).
    async fn refresh(&mut self, consumer: &str, ids: &[String]) -> Result<u64, QueueError> {
        static REFRESH: std::sync::LazyLock<redis::Script> = std::sync::LazyLock::new(|| {
            redis::Script::new(
                r"
local n = 0
for i = 3, #ARGV do
  local p = redis.call('XPENDING', KEYS[1], ARGV[1], ARGV[i], ARGV[i], 1)
  if p[1] and p[1][2] == ARGV[2] then
    redis.call('XCLAIM', KEYS[1], ARGV[1], ARGV[2], 0, ARGV[i], 'JUSTID')
    n = n + 1
  end
end
return n",
            )
        });
        let mut call = REFRESH.key(&self.keys.jobs);
        call.arg(GROUP).arg(consumer);
        for id in ids {
            call.arg(id);
        }
        call.invoke_async(&mut self.conn)
            .await
            .map_err(self.command_error("refreshing in-flight jobs"))
    }

    /// Stores `result` for its job unless one is stored already, and
    /// acknowledges the job, atomically. Returns whether this call stored it.
    pub async fn record(&mut self, result: &JobResult) -> Result<bool, QueueError> {
        let json = serde_json::to_string(result).unwrap_or_else(|_| "{}".to_string());
        let (stored, _acked): (i64, i64) = redis::pipe()
            .atomic()
            .cmd("HSETNX")
            .arg(&self.keys.results)
            .arg(&result.job)
            .arg(json)
            .cmd("XACK")
            .arg(&self.keys.jobs)
            .arg(GROUP)
            .arg(&result.job)
            .query_async(&mut self.conn)
            .await
            .map_err(self.command_error("storing a result"))?;
        Ok(stored == 1)
    }
}

fn parse_result(job: &str, json: &str) -> JobResult {
    serde_json::from_str(json).unwrap_or_else(|e| JobResult {
        seq: u64::MAX,
        path: String::new(),
        job: job.to_string(),
        deliveries: 0,
        worker: String::new(),
        report: None,
        error: Some(JobFailure {
            kind: "bad_result".to_string(),
            message: format!("the stored result of job {job} does not parse: {e}"),
        }),
    })
}

/// The analysis a worker runs for each job, on a blocking thread: the
/// report as JSON, or why there is none.
pub type Analyse = Arc<dyn Fn(&Job) -> Result<serde_json::Value, JobFailure> + Send + Sync>;

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
    /// This worker's consumer name; see [`consumer_name`].
    pub consumer: String,
    /// CA certificates (PEM) for a `rediss://` server with a private CA.
    pub ca_pem: Option<Vec<u8>>,
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

/// A consumer name unique per process: `host-pid-random`.
pub fn consumer_name() -> String {
    let host = std::fs::read_to_string("/proc/sys/kernel/hostname")
        .ok()
        .or_else(|| std::env::var("HOSTNAME").ok())
        .map(|h| h.trim().to_string())
        .filter(|h| !h.is_empty())
        .unwrap_or_else(|| "host".to_string());
    // RandomState is seeded randomly per process; enough to tell apart two
    // workers that reuse a pid (containers).
    let random = std::collections::hash_map::RandomState::new()
        .build_hasher()
        .finish();
    format!("{host}-{}-{:08x}", std::process::id(), random as u32)
}

/// Runs a worker on queue `name` at `url` until `shutdown` resolves (then it
/// finishes the jobs in flight) or, with `drain`, until the queue is empty.
pub async fn run_worker(
    url: &str,
    name: &str,
    config: WorkerConfig,
    analyse: Analyse,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> Result<WorkerStats, QueueError> {
    let mut queue = Queue::connect_with_ca(url, name, config.ca_pem.as_deref()).await?;
    queue.ensure_group().await?;
    // Blocking reads get their own connection: on the shared one they would
    // hold up results and heartbeats queued behind them.
    let mut reader = queue.clone();
    reader.conn = connect_manager(&queue.client, &queue.url).await?;

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
            let analyse = Arc::clone(&analyse);
            let in_flight = Arc::clone(&in_flight);
            let stats = Arc::clone(&stats);
            let config = config.clone();
            tasks.spawn(async move {
                let id = job.id.clone();
                let result = process(job, &config, analyse).await;
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
async fn process(job: Job, config: &WorkerConfig, analyse: Analyse) -> JobResult {
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
                "{}: gave up after {} deliveries (--max-deliveries {}); each attempt ended without a result",
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
    } else {
        let path = job.path.clone();
        let analysis = tokio::task::spawn_blocking(move || analyse(&job));
        match tokio::time::timeout(config.job_timeout, analysis).await {
            Ok(Ok(outcome)) => outcome,
            Ok(Err(e)) => Err(JobFailure {
                kind: "panic".to_string(),
                message: format!("{path}: the analysis panicked: {e}"),
            }),
            // A blocking thread cannot be cancelled; it is left to finish or
            // to die with the process, and the slot is freed now.
            Err(_) => Err(JobFailure {
                kind: "timeout".to_string(),
                message: format!(
                    "{path}: the analysis was still running after {:.1} s (--job-timeout); abandoned",
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
            crate::trim_out::write_json_atomically(&dest, &value)
                .map_err(|e| format!("{}: {e:#}", dest.display()))
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn redacts_passwords_in_urls() {
        let cases = [
            ("redis://127.0.0.1:6379/", "redis://127.0.0.1:6379/"),
            ("redis://:hunter2@host:6379/0", "redis://:***@host:6379/0"),
            ("redis://bob:hunter2@host/", "redis://bob:***@host/"),
            (
                "rediss://bob:p%40ss@host:6380",
                "rediss://bob:***@host:6380",
            ),
            ("redis://hunter2@host", "redis://***@host"),
            (
                "redis://host/0?password=hunter2&db=1",
                "redis://host/0?password=***&db=1",
            ),
            ("host:6379", "host:6379"),
            ("redis//:hunter2@host", "***@host"),
        ];
        for (url, want) in cases {
            let got = redact_url(url);
            assert_eq!(got, want, "{url}");
            assert!(!got.contains("hunter2"), "{got}");
        }
    }

    #[test]
    fn keys_share_one_hash_tag() {
        let k = QueueKeys::new("nightly");
        assert_eq!(k.jobs, "voxcap:{nightly}:jobs");
        assert_eq!(k.results, "voxcap:{nightly}:results");
        assert_eq!(k.seq, "voxcap:{nightly}:seq");
        assert_eq!(k.enqueued, "voxcap:{nightly}:enqueued");
    }

    #[test]
    fn queue_names_are_checked() {
        for ok in ["default", "a", "night-2026.11_23"] {
            assert!(validate_queue_name(ok).is_ok(), "{ok}");
        }
        let long = "x".repeat(65);
        for bad in ["", "a b", "a{b}", "a:b", long.as_str()] {
            assert!(validate_queue_name(bad).is_err(), "{bad:?}");
        }
    }

    fn result(seq: u64, job: &str, verdict: Option<&str>, error: Option<&str>) -> JobResult {
        JobResult {
            seq,
            path: format!("/clips/{seq}.wav"),
            job: job.to_string(),
            deliveries: 1,
            worker: "w".to_string(),
            report: verdict.map(|v| serde_json::json!({"completion": {"verdict": v}})),
            error: error.map(|k| JobFailure {
                kind: k.to_string(),
                message: "m".to_string(),
            }),
        }
    }

    #[test]
    fn results_sort_by_enqueue_order_not_job_id() {
        // Job ids follow stream order per enqueue, but seq is the order the
        // user queued; a reclaim or a second enqueue must not reorder.
        let mut r = vec![
            result(3, "1-0", Some("consistent"), None),
            result(1, "9-0", Some("consistent"), None),
            result(2, "5-1", None, Some("io")),
            result(2, "5-0", None, Some("io")),
        ];
        sort_results(&mut r);
        let order: Vec<(u64, &str)> = r.iter().map(|r| (r.seq, r.job.as_str())).collect();
        assert_eq!(order, [(1, "9-0"), (2, "5-0"), (2, "5-1"), (3, "1-0")]);
    }

    #[test]
    fn summary_counts_and_status() {
        let r = vec![
            result(1, "1-0", Some("consistent"), None),
            result(2, "2-0", Some("consistent"), None),
            result(3, "3-0", Some("inconsistent"), None),
            result(4, "4-0", None, Some("io")),
            result(5, "5-0", None, Some("gave_up")),
        ];
        let s = ResultsSummary::new("q", 5, &r);
        assert_eq!(
            (s.enqueued, s.reported, s.ok, s.failed, s.pending),
            (5, 5, 3, 2, 0)
        );
        assert_eq!(s.verdicts.get("consistent"), Some(&2));
        assert_eq!(s.verdicts.get("inconsistent"), Some(&1));
        assert_eq!(s.errors.get("io"), Some(&1));
        assert_eq!(s.errors.get("gave_up"), Some(&1));
        assert_eq!(s.status(), ResultsStatus::SomeFailed);
        assert!(s
            .to_text()
            .contains("5 enqueued, 5 reported (3 ok, 2 failed), 0 still pending"));

        let all_ok = ResultsSummary::new("q", 3, &r[..3]);
        assert_eq!(all_ok.status(), ResultsStatus::Complete);
        // Missing results win over failures: the batch is not over.
        let partial = ResultsSummary::new("q", 9, &r);
        assert_eq!(
            (partial.pending, partial.status()),
            (4, ResultsStatus::Incomplete)
        );
    }

    #[test]
    fn unparsable_stored_result_is_an_error_result() {
        let r = parse_result("7-0", "{not json");
        assert_eq!(r.job, "7-0");
        assert_eq!(r.error.map(|e| e.kind).as_deref(), Some("bad_result"));
    }

    #[test]
    fn job_from_entry_reads_fields_and_flags_missing_ones() {
        let opts = JobOptions {
            stop_tones: "#".into(),
            initial_silence: 5.0,
            max_silence: 5.0,
            max_record: 5.0,
            reported: None,
            pad_start_ms: 150,
            pad_end_ms: 300,
            lenient: false,
        };
        let mut entry = StreamId {
            id: "1-0".into(),
            ..StreamId::default()
        };
        entry
            .map
            .insert("path".into(), Value::BulkString(b"/a.wav".to_vec()));
        entry
            .map
            .insert("seq".into(), Value::BulkString(b"42".to_vec()));
        entry.map.insert(
            "options".into(),
            Value::BulkString(serde_json::to_vec(&opts).unwrap()),
        );
        let job = Job::from_entry(&entry, 2);
        assert_eq!(
            (job.path.as_str(), job.seq, job.deliveries),
            ("/a.wav", 42, 2)
        );
        assert_eq!(job.options, Ok(opts));

        entry.map.remove("options");
        assert!(Job::from_entry(&entry, 1).options.is_err());
        entry.map.remove("path");
        assert!(Job::from_entry(&entry, 1).options.is_err());
    }
}
