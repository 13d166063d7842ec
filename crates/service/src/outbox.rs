//! The durable outbox of a fleet's callbacks, in Redis beside the
//! recordings ([`crate::redis_store`]): a delivery is written there when a
//! recording reaches its final status, and every instance runs
//! [`Outbox::run`], which claims due deliveries atomically, makes one
//! attempt each, and removes a delivery on a 2xx or reschedules it with
//! exponential backoff until its time budget is spent.
//!
//! | key (`P` = prefix)  | what                                                        |
//! |---------------------|-------------------------------------------------------------|
//! | `P:outbox`          | sorted set of delivery ids by when they are next due (ms)   |
//! | `P:delivery:{id}`   | hash: `url`, `body`, `created`, `attempts`, `backoff`, `claim`, `by` (the instance of the last claim) |
//!
//! A claim moves the delivery's due time a lease ahead (longer than one
//! attempt may take) and writes a claim token; only the token's holder
//! reschedules it. So one attempt at a time runs per delivery, and the
//! deliveries of an instance killed mid-attempt fall due again when the
//! lease ends and another instance sends them, with the same delivery id.
//! Times are Redis's (`TIME`), so instance clocks may disagree. The body
//! is the resource JSON; signatures are made per attempt, so the secret
//! never reaches Redis.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use redis::aio::ConnectionManager;
use redis::Script;

use crate::callbacks::{attempt, CallbackConfig};
use crate::redis_store::RedisRecordings;
use crate::store::StoreError;

/// How the outbox loop runs.
#[derive(Debug, Clone, Copy)]
pub struct OutboxConfig {
    /// How long a claim holds a delivery (longer than an attempt's timeout:
    /// a delivery claimed by a dead instance waits this long).
    pub lease: Duration,
    /// How often due deliveries are looked for (a new delivery of this
    /// instance is claimed at once).
    pub poll: Duration,
    /// Attempts in flight per instance at most.
    pub concurrency: usize,
}

impl OutboxConfig {
    /// A lease of twice the attempt timeout (at least 1 s), a poll every
    /// 100 ms, 64 attempts at once.
    pub fn for_callbacks(callbacks: &CallbackConfig) -> Self {
        OutboxConfig {
            lease: (callbacks.attempt_timeout * 2).max(Duration::from_secs(1)),
            poll: Duration::from_millis(100),
            concurrency: 64,
        }
    }
}

/// What became of one attempt (for the metrics).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AttemptReport {
    /// An attempt ended; `true` with a 2xx.
    Attempt(bool),
    /// The delivery was given up.
    GaveUp,
}

/// The outbox of one deployment.
pub struct Outbox {
    conn: ConnectionManager,
    prefix: String,
    instance: String,
    errors: Arc<AtomicU64>,
    callbacks: CallbackConfig,
    config: OutboxConfig,
    http: reqwest::Client,
    wake: tokio::sync::Notify,
    scripts: Scripts,
}

impl std::fmt::Debug for Outbox {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Outbox")
            .field("prefix", &self.prefix)
            .field("instance", &self.instance)
            .field("config", &self.config)
            .finish_non_exhaustive()
    }
}

struct Scripts {
    enqueue: Script,
    claim: Script,
    done: Script,
    retry: Script,
}

fn now_ms_lua() -> &'static str {
    "local t = redis.call('TIME')\nlocal now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)\n"
}

/// KEYS: outbox, delivery. ARGV: id, url, body, first backoff ms.
const ENQUEUE: &str = r"
redis.call('HSET', KEYS[2], 'url', ARGV[2], 'body', ARGV[3], 'created', now,
  'attempts', 0, 'backoff', ARGV[4], 'claim', '')
redis.call('ZADD', KEYS[1], now, ARGV[1])
return 1
";

/// KEYS: outbox, `P:delivery:`. ARGV: n, lease ms, token, instance. Returns now, then
/// for each claimed delivery: id, url, body, created, attempts, backoff.
const CLAIM: &str = r"
local due = redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', now, 'LIMIT', 0, tonumber(ARGV[1]))
local out = {tostring(now)}
for _, id in ipairs(due) do
  local key = KEYS[2] .. id
  local d = redis.call('HMGET', key, 'url', 'body', 'created', 'attempts', 'backoff')
  if d[1] and d[2] then
    redis.call('ZADD', KEYS[1], now + tonumber(ARGV[2]), id)
    redis.call('HSET', key, 'claim', ARGV[3], 'by', ARGV[4])
    local attempts = redis.call('HINCRBY', key, 'attempts', 1)
    table.insert(out, id)
    table.insert(out, d[1])
    table.insert(out, d[2])
    table.insert(out, d[3] or '0')
    table.insert(out, tostring(attempts))
    table.insert(out, d[5] or '0')
  else
    redis.call('ZREM', KEYS[1], id)
    redis.call('DEL', key)
  end
end
return out
";

/// KEYS: outbox, delivery. ARGV: id.
const DONE: &str = r"
redis.call('DEL', KEYS[2])
redis.call('ZREM', KEYS[1], ARGV[1])
return 1
";

/// KEYS: outbox, delivery. ARGV: id, token, wait ms, next backoff ms.
/// Returns 0 when the claim is no longer this token's.
const RETRY: &str = r"
if redis.call('HGET', KEYS[2], 'claim') ~= ARGV[2] then return 0 end
redis.call('HSET', KEYS[2], 'backoff', ARGV[4], 'claim', '')
redis.call('ZADD', KEYS[1], now + tonumber(ARGV[3]), ARGV[1])
return 1
";

/// One claimed delivery.
struct Claimed {
    id: String,
    url: String,
    body: Vec<u8>,
    created_ms: u64,
    attempts: u32,
    backoff: Duration,
    now_ms: u64,
}

fn with_now(body: &str) -> Script {
    Script::new(&format!("{}{body}", now_ms_lua()))
}

impl Outbox {
    /// The outbox beside `store`'s records (the same connection, prefix and
    /// error counter), signing and retrying as `callbacks` says; `instance`
    /// names this instance in its claims.
    pub fn beside(
        store: &RedisRecordings,
        instance: &str,
        callbacks: CallbackConfig,
        config: OutboxConfig,
    ) -> Outbox {
        Outbox {
            conn: store.conn.clone(),
            prefix: store.prefix.clone(),
            instance: instance.to_string(),
            errors: store.error_counter(),
            callbacks,
            config,
            http: reqwest::Client::new(),
            wake: tokio::sync::Notify::new(),
            scripts: Scripts {
                enqueue: with_now(ENQUEUE),
                claim: with_now(CLAIM),
                done: with_now(DONE),
                retry: with_now(RETRY),
            },
        }
    }

    fn key(&self, what: &str) -> String {
        format!("{}:{what}", self.prefix)
    }

    /// Removes delivery `id` (its record and its place in the outbox); a
    /// failure is counted and logged as `doing`.
    async fn remove(
        &self,
        conn: &mut ConnectionManager,
        (outbox, delivery): (&str, &str),
        id: &str,
        doing: &str,
    ) {
        let done: Result<i64, _> = self
            .scripts
            .done
            .key(outbox)
            .key(delivery)
            .arg(id)
            .invoke_async(conn)
            .await;
        if let Err(e) = done {
            let _ = self.fail(doing, e);
        }
    }

    fn fail(&self, doing: &str, e: redis::RedisError) -> StoreError {
        self.errors.fetch_add(1, Ordering::Relaxed);
        tracing::warn!(error = %e, doing, "Redis command failed");
        StoreError(format!("Redis: {doing}: {e}"))
    }

    /// Writes a delivery of `body` to `url` and wakes this instance's loop;
    /// returns the delivery id.
    pub async fn enqueue(&self, url: &str, body: &[u8]) -> Result<String, StoreError> {
        let id = format!("{:032x}", rand::random::<u128>());
        let body = String::from_utf8_lossy(body).into_owned();
        let mut conn = self.conn.clone();
        let _: i64 = self
            .scripts
            .enqueue
            .key(self.key("outbox"))
            .key(self.key(&format!("delivery:{id}")))
            .arg(&id)
            .arg(url)
            .arg(body)
            .arg(self.callbacks.first_backoff.as_millis() as u64)
            .invoke_async(&mut conn)
            .await
            .map_err(|e| self.fail("queueing a callback", e))?;
        self.wake.notify_one();
        Ok(id)
    }

    /// Deliveries not yet delivered nor given up (for tests and metrics).
    pub async fn pending(&self) -> Result<u64, StoreError> {
        let mut conn = self.conn.clone();
        redis::cmd("ZCARD")
            .arg(self.key("outbox"))
            .query_async(&mut conn)
            .await
            .map_err(|e| self.fail("counting callbacks", e))
    }

    async fn claim(&self, n: usize) -> Result<Vec<Claimed>, StoreError> {
        let token = format!("{:032x}", rand::random::<u128>());
        let mut conn = self.conn.clone();
        let out: Vec<String> = self
            .scripts
            .claim
            .key(self.key("outbox"))
            .key(self.key("delivery:"))
            .arg(n)
            .arg(self.config.lease.as_millis() as u64)
            .arg(&token)
            .arg(&self.instance)
            .invoke_async(&mut conn)
            .await
            .map_err(|e| self.fail("claiming callbacks", e))?;
        let mut it = out.into_iter();
        let now_ms = it.next().and_then(|n| n.parse().ok()).unwrap_or(0);
        let mut claimed = Vec::new();
        let rest: Vec<String> = it.collect();
        for c in rest.chunks_exact(6) {
            claimed.push(Claimed {
                id: c[0].clone(),
                url: c[1].clone(),
                body: c[2].clone().into_bytes(),
                created_ms: c[3].parse().unwrap_or(now_ms),
                attempts: c[4].parse().unwrap_or(1),
                backoff: Duration::from_millis(c[5].parse().unwrap_or(0))
                    .max(self.callbacks.first_backoff),
                now_ms,
            });
        }
        // The token travels with the claim for the reschedule.
        Ok(claimed
            .into_iter()
            .map(|mut c| {
                c.id = format!("{}\n{token}", c.id);
                c
            })
            .collect())
    }

    /// Makes one attempt of a claimed delivery and records what follows.
    async fn attempt_one(&self, c: Claimed, report: &(dyn Fn(AttemptReport) + Send + Sync)) {
        let (id, token) = c.id.split_once('\n').unwrap_or((&c.id, ""));
        let result = attempt(&self.http, &self.callbacks, &c.url, id, &c.body).await;
        report(AttemptReport::Attempt(result.is_ok()));
        let mut conn = self.conn.clone();
        let outbox = self.key("outbox");
        let delivery = self.key(&format!("delivery:{id}"));
        let why = match result {
            Ok(()) => {
                // On failure: delivered all the same; it may be sent again
                // (at least once).
                self.remove(
                    &mut conn,
                    (&outbox, &delivery),
                    id,
                    "removing a delivered callback",
                )
                .await;
                tracing::debug!(delivery = id, attempts = c.attempts, "callback delivered");
                return;
            }
            Err(why) => why,
        };
        let jitter = rand::random_range(0..=c.backoff.as_millis() as u64 / 4);
        let wait = c.backoff + Duration::from_millis(jitter);
        let age = Duration::from_millis(c.now_ms.saturating_sub(c.created_ms));
        if age + wait > self.callbacks.give_up_after {
            tracing::warn!(delivery = id, attempts = c.attempts, reason = %why, "callback given up");
            report(AttemptReport::GaveUp);
            self.remove(
                &mut conn,
                (&outbox, &delivery),
                id,
                "removing a given-up callback",
            )
            .await;
            return;
        }
        tracing::info!(delivery = id, attempts = c.attempts, reason = %why,
            retry_in_ms = wait.as_millis() as u64, "callback failed; retrying");
        let next = (c.backoff * 2).min(self.callbacks.max_backoff);
        let retried: Result<i64, _> = self
            .scripts
            .retry
            .key(&outbox)
            .key(&delivery)
            .arg(id)
            .arg(token)
            .arg(wait.as_millis() as u64)
            .arg(next.as_millis() as u64)
            .invoke_async(&mut conn)
            .await;
        if let Err(e) = retried {
            // The lease runs out and the delivery falls due again.
            let _ = self.fail("rescheduling a callback", e);
        }
    }

    /// Claims and sends due deliveries until the task is dropped or aborted;
    /// `report` hears of each attempt.
    pub async fn run(self: Arc<Self>, report: Arc<dyn Fn(AttemptReport) + Send + Sync>) {
        let slots = Arc::new(tokio::sync::Semaphore::new(self.config.concurrency.max(1)));
        let mut tasks = tokio::task::JoinSet::new();
        loop {
            let free = slots.available_permits();
            if free > 0 {
                match self.claim(free).await {
                    Ok(claimed) => {
                        for c in claimed {
                            let Ok(permit) = slots.clone().try_acquire_owned() else {
                                break;
                            };
                            let outbox = self.clone();
                            let report = report.clone();
                            tasks.spawn(async move {
                                outbox.attempt_one(c, &*report).await;
                                drop(permit);
                            });
                        }
                    }
                    Err(e) => tracing::warn!(error = %e, "callback outbox: claim failed; retrying"),
                }
            }
            while tasks.try_join_next().is_some() {}
            tokio::select! {
                _ = self.wake.notified() => {}
                _ = tokio::time::sleep(self.config.poll) => {}
            }
        }
    }
}
