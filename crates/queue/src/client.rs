//! [`Queue`]: one queue's keys on one Redis server, and the commands the
//! enqueuer, the workers and the results reader send.

use std::path::PathBuf;
use std::time::Duration;

use redis::aio::ConnectionManager;
use redis::streams::{StreamAutoClaimReply, StreamPendingCountReply, StreamReadReply};
use redis::Value;
use voxcap_capture::redis_conn::{self, ConnectLimits};
use voxcap_capture::secret::redact_url;

use crate::error::QueueError;
use crate::job::{parse_result, Job, JobOptions, JobResult};
use crate::keys::{validate_queue_name, QueueKeys};
use crate::summary::{sort_results, ResultsSummary};
use crate::GROUP;

/// Jobs per `MULTI` when enqueueing: large enough to save round trips,
/// small enough not to stall the server.
const ENQUEUE_CHUNK: usize = 500;

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

/// Limits of the handshake: a command must not hang on a black-holed
/// address, and a reply may take longer than the blocking read's wait.
const LIMITS: ConnectLimits = ConnectLimits {
    connect_timeout: Duration::from_secs(3),
    response_timeout: Duration::from_secs(5),
    retries: 1,
    max_delay: Duration::from_secs(1),
    handshake: Duration::from_secs(9),
};

/// Where a queue lives: the Redis server and the queue's name.
#[derive(Clone)]
pub struct QueueTarget {
    /// `redis://[user:password@]host:port/db`, or `rediss://` for TLS.
    pub url: String,
    /// CA certificates (PEM) for a `rediss://` server with a private CA.
    pub ca_pem: Option<Vec<u8>>,
    /// The queue's name; see [`validate_queue_name`].
    pub name: String,
}

impl std::fmt::Debug for QueueTarget {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("QueueTarget")
            .field("url", &shown_url(&self.url))
            .field("ca_pem", &self.ca_pem.as_ref().map(|_| "set"))
            .field("name", &self.name)
            .finish()
    }
}

impl QueueTarget {
    /// The URL as messages and logs may show it: password removed.
    pub fn shown_url(&self) -> String {
        shown_url(&self.url)
    }
}

/// The URL as messages show it: redacted, and withheld whole when it has
/// no scheme (then nothing tells a password from a host name).
pub(crate) fn shown_url(url: &str) -> String {
    if url.contains("://") {
        redact_url(url)
    } else {
        "(a URL without a scheme, not shown)".to_string()
    }
}

async fn connect_manager(
    client: &redis::Client,
    url: &str,
) -> Result<ConnectionManager, QueueError> {
    redis_conn::connect(client, &LIMITS)
        .await
        .map_err(|cause| QueueError::Unreachable {
            url: url.to_string(),
            cause,
        })
}

impl Queue {
    /// Connects to `target` (checking the server answers); a `rediss://`
    /// URL is verified against the target's CA when given, else the public
    /// roots.
    pub async fn connect(target: &QueueTarget) -> Result<Queue, QueueError> {
        validate_queue_name(&target.name)?;
        let shown = shown_url(&target.url);
        let client =
            redis_conn::redis_client(&target.url, target.ca_pem.as_deref()).map_err(|cause| {
                QueueError::InvalidUrl {
                    url: shown.clone(),
                    cause,
                }
            })?;
        let conn = connect_manager(&client, &shown).await?;
        Ok(Queue {
            url: shown,
            keys: QueueKeys::new(&target.name),
            client,
            conn,
        })
    }

    /// A second connection to the same server, for blocking reads that
    /// would otherwise hold up the commands queued behind them.
    pub(crate) async fn with_own_connection(&self) -> Result<Queue, QueueError> {
        let mut other = self.clone();
        other.conn = connect_manager(&self.client, &self.url).await?;
        Ok(other)
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
    pub(crate) async fn claim_stale(
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
    pub(crate) async fn read_new(
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
    pub(crate) async fn refresh(
        &mut self,
        consumer: &str,
        ids: &[String],
    ) -> Result<u64, QueueError> {
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

/// What [`enqueue_files`] did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Enqueued {
    /// The seq numbers given, first and last (none for no paths).
    pub seqs: Option<(u64, u64)>,
    /// Jobs queued on the queue in all, these included.
    pub total: u64,
}

/// Queues one job per path (absolute, UTF-8) on `target` with `options`.
pub async fn enqueue_files(
    target: &QueueTarget,
    paths: &[PathBuf],
    options: &JobOptions,
) -> Result<Enqueued, QueueError> {
    let mut queue = Queue::connect(target).await?;
    let seqs = queue.enqueue(paths, options).await?;
    let total = queue.enqueued().await?;
    Ok(Enqueued { seqs, total })
}

/// A queue's results and what they add up to.
#[derive(Debug, Clone)]
pub struct CollectedResults {
    /// The counts and the status.
    pub summary: ResultsSummary,
    /// Every stored result, in enqueue order.
    pub results: Vec<JobResult>,
}

/// Reads every result of `target`; with `wait`, first waits up to that long
/// for every queued job to have one.
pub async fn collect_results(
    target: &QueueTarget,
    wait: Option<Duration>,
) -> Result<CollectedResults, QueueError> {
    let mut queue = Queue::connect(target).await?;
    if let Some(limit) = wait {
        let deadline = tokio::time::Instant::now() + limit;
        while queue.reported().await? < queue.enqueued().await?
            && tokio::time::Instant::now() < deadline
        {
            tokio::time::sleep(Duration::from_millis(500)).await;
        }
    }
    // Results before the count: a job reported in between then shows as
    // pending rather than as an unexplained extra result.
    let results = queue.results().await?;
    let enqueued = queue.enqueued().await?;
    Ok(CollectedResults {
        summary: ResultsSummary::new(&target.name, enqueued, &results),
        results,
    })
}
