//! [`RedisRecordings`]: the [`RecordingStore`] a fleet shares, on the same
//! Redis as voxcap-bot's operation store (the bot's URL, CA and timeout,
//! through [`voxcap_capture::redis_conn`]), under a prefix of its own
//! (`<bot prefix>:svc`). Two deployments on one Redis use two prefixes and
//! see nothing of each other: a recording id of one is `404` to the other.
//!
//! | key (`P` = prefix)  | what                                                   |
//! |---------------------|--------------------------------------------------------|
//! | `P:seq`             | the last sequence number given (`INCR`)                |
//! | `P:rec:{id}`        | hash: `json` (the [`RecordingRecord`]), `status`       |
//! | `P:index`           | sorted set of ids by sequence number (the list)        |
//! | `P:status:{status}` | sorted set of the ids in that status, by sequence      |
//! | `P:idem:{key}`      | the first answer to an idempotent POST (`SET NX`, 24 h) |
//! | `P:ctx:{hash}`      | the recording placed with that `clientContext` (takeovers) |
//! | `P:expiry`          | sorted set of ids by the time they are deleted (retention) |
//!
//! Each change that touches several keys is one Lua script, so a record and
//! its indexes never disagree. A record that does not parse (a hostile or
//! garbled store) is an error naming the recording, never a panic; every
//! Redis error is counted ([`RedisRecordings::errors`]) for `/metrics`.
//! The outbox of pending callbacks ([`crate::outbox`]) lives under the
//! same prefix.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use redis::aio::ConnectionManager;
use redis::Script;
use voxcap_capture::redis_conn::{connect, redis_client, ConnectLimits};
use voxcap_capture::redis_store::RedisStoreConfig;
use voxcap_capture::secret::redact_url;

use crate::model::RecordingStatus;
use crate::store::{
    IdempotentAnswer, ListQuery, RecordingRecord, RecordingStore, StoreError, StoreFuture,
    IDEMPOTENCY_TTL,
};

/// Where a fleet's service records live.
#[derive(Clone)]
pub struct RedisRecordingsConfig {
    /// `redis://[user:password@]host:port/db` or `rediss://`.
    pub url: String,
    /// For `rediss://` with a private CA: PEM.
    pub ca_pem: Option<Vec<u8>>,
    /// The key prefix of this deployment (`<bot prefix>:svc`).
    pub prefix: String,
    /// Limit for connecting and for each command.
    pub timeout: Duration,
}

impl std::fmt::Debug for RedisRecordingsConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RedisRecordingsConfig")
            .field("url", &redact_url(&self.url))
            .field("prefix", &self.prefix)
            .field("ca_pem", &self.ca_pem.as_ref().map(|_| "set"))
            .field("timeout", &self.timeout)
            .finish()
    }
}

impl RedisRecordingsConfig {
    /// The service's records beside the bot's operation store: the same
    /// server, CA and timeout, the prefix `<bot prefix>:svc`.
    pub fn beside(bot: &RedisStoreConfig) -> Self {
        RedisRecordingsConfig {
            url: bot.url.clone(),
            ca_pem: bot.ca_pem.clone(),
            prefix: format!("{}:svc", bot.prefix),
            timeout: bot.timeout,
        }
    }
}

/// The recording records of a fleet, in Redis.
pub struct RedisRecordings {
    pub(crate) conn: ConnectionManager,
    pub(crate) prefix: String,
    errors: Arc<AtomicU64>,
    scripts: Scripts,
}

impl std::fmt::Debug for RedisRecordings {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RedisRecordings")
            .field("prefix", &self.prefix)
            .finish_non_exhaustive()
    }
}

struct Scripts {
    insert: Script,
    update: Script,
    remove: Script,
}

/// KEYS: rec, index, P:status: (a prefix), P:ctx:. ARGV: id, seq, json,
/// status, the context's hash ('' without).
const INSERT: &str = r"
redis.call('HSET', KEYS[1], 'json', ARGV[3], 'status', ARGV[4], 'ctx', ARGV[5])
if ARGV[5] ~= '' then redis.call('SET', KEYS[4] .. ARGV[5], ARGV[1]) end
redis.call('ZADD', KEYS[2], ARGV[2], ARGV[1])
redis.call('ZADD', KEYS[3] .. ARGV[4], ARGV[2], ARGV[1])
return 1
";

/// KEYS: rec, index, P:status:, expiry. ARGV: id, json, status, the time
/// it expires ('' for none). Returns the seq, or 0 when the record is gone
/// (deleted meanwhile: not brought back).
const UPDATE: &str = r"
local old = redis.call('HGET', KEYS[1], 'status')
local seq = redis.call('ZSCORE', KEYS[2], ARGV[1])
if not old or not seq then return 0 end
redis.call('HSET', KEYS[1], 'json', ARGV[2], 'status', ARGV[3])
redis.call('ZREM', KEYS[3] .. old, ARGV[1])
redis.call('ZADD', KEYS[3] .. ARGV[3], seq, ARGV[1])
if ARGV[4] ~= '' then
  redis.call('ZADD', KEYS[4], ARGV[4], ARGV[1])
else
  redis.call('ZREM', KEYS[4], ARGV[1])
end
return tonumber(seq)
";

/// KEYS: rec, index, P:status:, P:ctx:, expiry. ARGV: id. Returns the
/// json, or nil.
const REMOVE: &str = r"
local json = redis.call('HGET', KEYS[1], 'json')
local old = redis.call('HGET', KEYS[1], 'status')
local ctx = redis.call('HGET', KEYS[1], 'ctx')
if ctx and ctx ~= '' and redis.call('GET', KEYS[4] .. ctx) == ARGV[1] then
  redis.call('DEL', KEYS[4] .. ctx)
end
redis.call('DEL', KEYS[1])
redis.call('ZREM', KEYS[5], ARGV[1])
redis.call('ZREM', KEYS[2], ARGV[1])
if old then redis.call('ZREM', KEYS[3] .. old, ARGV[1]) end
return json
";

impl RedisRecordings {
    /// Connects (within `config.timeout`) and checks the server answers.
    pub async fn connect(config: &RedisRecordingsConfig) -> Result<Self, StoreError> {
        let at = redact_url(&config.url);
        let client = redis_client(&config.url, config.ca_pem.as_deref())
            .map_err(|e| StoreError(format!("Redis {at}: parsing the URL: {e}")))?;
        let conn = connect(&client, &ConnectLimits::within(config.timeout, 2))
            .await
            .map_err(|e| StoreError(format!("Redis {at}: connecting: {e}")))?;
        tracing::info!(store = %at, prefix = %config.prefix, "service records in Redis");
        Ok(RedisRecordings {
            conn,
            prefix: config.prefix.clone(),
            errors: Arc::default(),
            scripts: Scripts {
                insert: Script::new(INSERT),
                update: Script::new(UPDATE),
                remove: Script::new(REMOVE),
            },
        })
    }

    /// How many Redis commands have failed so far (for `/metrics`).
    pub fn errors(&self) -> u64 {
        self.errors.load(Ordering::Relaxed)
    }

    /// The shared counter behind [`RedisRecordings::errors`] (the outbox
    /// counts its failures there too).
    pub(crate) fn error_counter(&self) -> Arc<AtomicU64> {
        self.errors.clone()
    }

    pub(crate) fn key(&self, what: &str) -> String {
        format!("{}:{what}", self.prefix)
    }

    /// Counts and wraps a Redis error.
    pub(crate) fn fail(&self, doing: &str, e: redis::RedisError) -> StoreError {
        self.errors.fetch_add(1, Ordering::Relaxed);
        tracing::warn!(error = %e, doing, "Redis command failed");
        StoreError(format!("Redis: {doing}: {e}"))
    }

    fn parse(id: &str, json: &str) -> Result<RecordingRecord, StoreError> {
        serde_json::from_str(json).map_err(|e| {
            StoreError(format!(
                "recording {id}: the record in Redis is unreadable ({e})"
            ))
        })
    }

    async fn read_many(&self, ids: &[String]) -> Result<Vec<RecordingRecord>, StoreError> {
        if ids.is_empty() {
            return Ok(Vec::new());
        }
        let mut pipe = redis::pipe();
        for id in ids {
            pipe.hget(self.key(&format!("rec:{id}")), "json");
        }
        let mut conn = self.conn.clone();
        let found: Vec<Option<String>> = pipe
            .query_async(&mut conn)
            .await
            .map_err(|e| self.fail("reading recordings", e))?;
        ids.iter()
            .zip(found)
            .filter_map(|(id, json)| json.map(|j| Self::parse(id, &j)))
            .collect()
    }
}

/// The hex SHA-256 of `text` (client contexts and idempotency keys become
/// fixed-size Redis keys).
fn digest(text: &str) -> String {
    use sha2::{Digest, Sha256};
    Sha256::digest(text.as_bytes())
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

fn status_of(record: &RecordingRecord) -> &'static str {
    record.resource.status.as_str()
}

impl RecordingStore for RedisRecordings {
    fn put_answer_if_absent(
        &self,
        key: &str,
        answer: IdempotentAnswer,
    ) -> StoreFuture<'_, Option<IdempotentAnswer>> {
        // The key is hashed into the Redis key: any visible ASCII is safe,
        // and a long key costs nothing.
        let redis_key = self.key(&format!("idem:{}", digest(key)));
        Box::pin(async move {
            let json = serde_json::to_string(&answer)
                .map_err(|e| StoreError(format!("an idempotent answer: {e}")))?;
            let mut conn = self.conn.clone();
            // Two tries: a key that expires between the SET NX and the GET
            // is free again.
            for _ in 0..2 {
                let set: Option<String> = redis::cmd("SET")
                    .arg(&redis_key)
                    .arg(&json)
                    .arg("NX")
                    .arg("EX")
                    .arg(IDEMPOTENCY_TTL.as_secs())
                    .query_async(&mut conn)
                    .await
                    .map_err(|e| self.fail("storing an idempotency key", e))?;
                if set.is_some() {
                    return Ok(None);
                }
                let existing: Option<String> = redis::cmd("GET")
                    .arg(&redis_key)
                    .query_async(&mut conn)
                    .await
                    .map_err(|e| self.fail("reading an idempotency key", e))?;
                if let Some(existing) = existing {
                    let parsed: IdempotentAnswer =
                        serde_json::from_str(&existing).map_err(|e| {
                            StoreError(format!(
                            "Idempotency-Key: the stored first answer in Redis is unreadable ({e})"
                        ))
                        })?;
                    return Ok(Some(parsed));
                }
            }
            Err(StoreError(
                "Idempotency-Key: the key changed hands twice while it was stored".into(),
            ))
        })
    }

    fn insert(&self, mut record: RecordingRecord) -> StoreFuture<'_, u64> {
        Box::pin(async move {
            let mut conn = self.conn.clone();
            let seq: u64 = redis::cmd("INCR")
                .arg(self.key("seq"))
                .query_async(&mut conn)
                .await
                .map_err(|e| self.fail("numbering a recording", e))?;
            record.seq = seq;
            let json = serde_json::to_string(&record)
                .map_err(|e| StoreError(format!("recording {}: {e}", record.resource.id)))?;
            let id = &record.resource.id;
            let _: i64 = self
                .scripts
                .insert
                .key(self.key(&format!("rec:{id}")))
                .key(self.key("index"))
                .key(self.key("status:"))
                .key(self.key("ctx:"))
                .arg(id)
                .arg(seq)
                .arg(json)
                .arg(status_of(&record))
                .arg(
                    record
                        .resource
                        .client_context
                        .as_deref()
                        .map_or(String::new(), digest),
                )
                .invoke_async(&mut conn)
                .await
                .map_err(|e| self.fail("storing a recording", e))?;
            Ok(seq)
        })
    }

    fn update(&self, mut record: RecordingRecord) -> StoreFuture<'_, ()> {
        Box::pin(async move {
            let mut conn = self.conn.clone();
            let id = record.resource.id.clone();
            if record.seq == 0 {
                // The record keeps the sequence number it was given.
                let seq: Option<u64> = redis::cmd("ZSCORE")
                    .arg(self.key("index"))
                    .arg(&id)
                    .query_async(&mut conn)
                    .await
                    .map_err(|e| self.fail("reading a recording's order", e))?;
                let Some(seq) = seq else {
                    return Ok(());
                };
                record.seq = seq;
            }
            let json = serde_json::to_string(&record)
                .map_err(|e| StoreError(format!("recording {id}: {e}")))?;
            let _: i64 = self
                .scripts
                .update
                .key(self.key(&format!("rec:{id}")))
                .key(self.key("index"))
                .key(self.key("status:"))
                .key(self.key("expiry"))
                .arg(&id)
                .arg(json)
                .arg(status_of(&record))
                .arg(record.expires_ms.map_or(String::new(), |t| t.to_string()))
                .invoke_async(&mut conn)
                .await
                .map_err(|e| self.fail("updating a recording", e))?;
            Ok(())
        })
    }

    fn get(&self, id: &str) -> StoreFuture<'_, Option<RecordingRecord>> {
        let id = id.to_string();
        Box::pin(async move {
            let mut conn = self.conn.clone();
            let json: Option<String> = redis::cmd("HGET")
                .arg(self.key(&format!("rec:{id}")))
                .arg("json")
                .query_async(&mut conn)
                .await
                .map_err(|e| self.fail("reading a recording", e))?;
            json.map(|j| Self::parse(&id, &j)).transpose()
        })
    }

    fn remove(&self, id: &str) -> StoreFuture<'_, Option<RecordingRecord>> {
        let id = id.to_string();
        Box::pin(async move {
            let mut conn = self.conn.clone();
            let json: Option<String> = self
                .scripts
                .remove
                .key(self.key(&format!("rec:{id}")))
                .key(self.key("index"))
                .key(self.key("status:"))
                .key(self.key("ctx:"))
                .key(self.key("expiry"))
                .arg(&id)
                .invoke_async(&mut conn)
                .await
                .map_err(|e| self.fail("removing a recording", e))?;
            // A garbled record is removed all the same.
            Ok(json.and_then(|j| Self::parse(&id, &j).ok()))
        })
    }

    fn list(&self, query: ListQuery) -> StoreFuture<'_, (Vec<RecordingRecord>, bool)> {
        Box::pin(async move {
            let index = match query.status {
                Some(s) => self.key(&format!("status:{}", s.as_str())),
                None => self.key("index"),
            };
            let mut conn = self.conn.clone();
            let mut from = query.after_seq.map_or(0, |s| s.saturating_add(1));
            let mut page = Vec::new();
            // Batches of ids by sequence; `since` filters what is read (the
            // sequence follows creation, so old pages thin out quickly).
            let batch = (query.limit + 1).max(50);
            loop {
                let ids: Vec<(String, f64)> = redis::cmd("ZRANGEBYSCORE")
                    .arg(&index)
                    .arg(from)
                    .arg("+inf")
                    .arg("WITHSCORES")
                    .arg("LIMIT")
                    .arg(0)
                    .arg(batch)
                    .query_async(&mut conn)
                    .await
                    .map_err(|e| self.fail("listing recordings", e))?;
                let exhausted = ids.len() < batch;
                let Some(last) = ids.last().map(|(_, s)| *s as u64) else {
                    return Ok((page, false));
                };
                let names: Vec<String> = ids.into_iter().map(|(id, _)| id).collect();
                for r in self.read_many(&names).await? {
                    let keep = query.status.is_none_or(|s| r.resource.status == s)
                        && query.since_ms.is_none_or(|t| r.created_ms >= t);
                    if keep {
                        if page.len() == query.limit {
                            return Ok((page, true));
                        }
                        page.push(r);
                    }
                }
                if exhausted {
                    return Ok((page, false));
                }
                from = last + 1;
            }
        })
    }

    fn count_by_status(&self) -> StoreFuture<'_, Vec<(RecordingStatus, u64)>> {
        Box::pin(async move {
            let mut pipe = redis::pipe();
            for s in RecordingStatus::ALL {
                pipe.zcard(self.key(&format!("status:{}", s.as_str())));
            }
            let mut conn = self.conn.clone();
            let counts: Vec<u64> = pipe
                .query_async(&mut conn)
                .await
                .map_err(|e| self.fail("counting recordings", e))?;
            Ok(RecordingStatus::ALL.iter().copied().zip(counts).collect())
        })
    }

    fn expired(&self, now_ms: u64, limit: usize) -> StoreFuture<'_, Vec<String>> {
        Box::pin(async move {
            let mut conn = self.conn.clone();
            redis::cmd("ZRANGEBYSCORE")
                .arg(self.key("expiry"))
                .arg("-inf")
                .arg(now_ms)
                .arg("LIMIT")
                .arg(0)
                .arg(limit)
                .query_async(&mut conn)
                .await
                .map_err(|e| self.fail("listing expired recordings", e))
        })
    }

    fn find_by_context(&self, client_context: &str) -> StoreFuture<'_, Option<String>> {
        let key = self.key(&format!("ctx:{}", digest(client_context)));
        Box::pin(async move {
            let mut conn = self.conn.clone();
            redis::cmd("GET")
                .arg(key)
                .query_async(&mut conn)
                .await
                .map_err(|e| self.fail("finding a recording by its client context", e))
        })
    }

    fn errors(&self) -> u64 {
        RedisRecordings::errors(self)
    }
}
