//! Where the service keeps its recording records and idempotency entries:
//! the [`RecordingStore`] trait, and [`InMemoryRecordings`], the phase-1
//! store (one process; everything is lost on restart, the files stay). The
//! trait's methods return boxed futures so that the Redis store shared by
//! a fleet ([`crate::redis_store::RedisRecordings`]) implements it too.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::future::Future;
use std::pin::Pin;
use std::sync::Mutex;
use std::time::{Duration, SystemTime};

use serde::{Deserialize, Serialize};

use crate::model::{Recording, RecordingStatus};

/// What a store's operation returns.
pub type StoreFuture<'a, T> = Pin<Box<dyn Future<Output = Result<T, StoreError>> + Send + 'a>>;

/// A store that failed (a Redis store's connection; the in-memory one
/// never fails).
#[derive(Debug, thiserror::Error)]
#[error("recording store: {0}")]
pub struct StoreError(pub String);

/// One recording as the service keeps it: the resource clients see, plus
/// what only the service needs (its order, the file stem).
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RecordingRecord {
    /// Insertion order, the list's cursor.
    pub seq: u64,
    /// Creation time, in milliseconds since the epoch (for `since`).
    pub created_ms: u64,
    /// The resource.
    pub resource: Recording,
    /// The file stem (the normalised operation id) once files exist.
    pub stem: Option<String>,
    /// How long to keep it once it ends (`voxcap.retentionSeconds`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub retention_s: Option<u64>,
    /// When it is to be deleted (ms since the epoch), set when it ends.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub expires_ms: Option<u64>,
    /// The fleet instance that accepted it and follows it (`None` alone).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub owner: Option<String>,
    /// When a recording still `running` is presumed abandoned if the
    /// instance following it is gone (ms since the epoch): the operation's
    /// own deadline plus a grace, by which any takeover has ended it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stale_ms: Option<u64>,
}

/// A stored first answer to an idempotent POST.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct IdempotentAnswer {
    /// SHA-256 of the route and body the key was first used with.
    pub fingerprint: String,
    /// The first answer's status code.
    pub status: u16,
    /// The first answer's body.
    pub body: serde_json::Value,
    /// When it was stored.
    pub stored_at: SystemTime,
}

/// A page of the list.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ListQuery {
    /// Only this status.
    pub status: Option<RecordingStatus>,
    /// Only recordings created at or after this time (ms since the epoch).
    pub since_ms: Option<u64>,
    /// Only recordings after this sequence number (the cursor).
    pub after_seq: Option<u64>,
    /// At most this many.
    pub limit: usize,
}

/// The service's records: recordings and idempotency entries.
pub trait RecordingStore: Send + Sync + 'static {
    /// Stores `answer` for `key` unless the key is already taken; returns
    /// the answer already stored then (atomic: of two racing first uses,
    /// exactly one stores its answer).
    fn put_answer_if_absent(
        &self,
        key: &str,
        answer: IdempotentAnswer,
    ) -> StoreFuture<'_, Option<IdempotentAnswer>>;

    /// Adds a new recording; assigns and returns its sequence number.
    fn insert(&self, record: RecordingRecord) -> StoreFuture<'_, u64>;

    /// Replaces the recording with `record.resource.id`.
    fn update(&self, record: RecordingRecord) -> StoreFuture<'_, ()>;

    /// The recording `id`.
    fn get(&self, id: &str) -> StoreFuture<'_, Option<RecordingRecord>>;

    /// Removes the recording `id`, returning it.
    fn remove(&self, id: &str) -> StoreFuture<'_, Option<RecordingRecord>>;

    /// Recordings matching `query`, in creation order, plus whether more
    /// follow the page.
    fn list(&self, query: ListQuery) -> StoreFuture<'_, (Vec<RecordingRecord>, bool)>;

    /// How many recordings are in each status.
    fn count_by_status(&self) -> StoreFuture<'_, Vec<(RecordingStatus, u64)>>;

    /// The ids of at most `limit` recordings whose `expires_ms` is at or
    /// before `now_ms`, soonest first.
    fn expired(&self, now_ms: u64, limit: usize) -> StoreFuture<'_, Vec<String>>;

    /// The recording whose operation was placed with `client_context` (a
    /// fleet follows a taken-over operation back to its record this way);
    /// the in-memory store has no fleet, so none.
    fn find_by_context(&self, client_context: &str) -> StoreFuture<'_, Option<String>> {
        let _ = client_context;
        ready(None)
    }

    /// How many of the store's commands have failed so far (Redis errors,
    /// for `/metrics`; the in-memory store never fails).
    fn errors(&self) -> u64 {
        0
    }
}

/// How long an idempotency key is remembered.
pub const IDEMPOTENCY_TTL: Duration = Duration::from_secs(24 * 3600);

/// How many idempotency keys the in-memory store keeps at most (the
/// oldest beyond it are forgotten first, past their TTL or not).
pub const MAX_IDEMPOTENCY_KEYS: usize = 100_000;

/// The phase-1 store: a mutex over two maps.
#[derive(Debug, Default)]
pub struct InMemoryRecordings {
    inner: Mutex<Inner>,
}

#[derive(Debug, Default)]
struct Inner {
    next_seq: u64,
    by_seq: BTreeMap<u64, RecordingRecord>,
    seq_of: HashMap<String, u64>,
    /// `(expires_ms, seq)` of every recording with an expiry.
    expiry: BTreeSet<(u64, u64)>,
    answers: HashMap<String, IdempotentAnswer>,
}

impl InMemoryRecordings {
    fn lock(&self) -> std::sync::MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(|p| p.into_inner())
    }
}

fn ready<'a, T: Send + 'a>(v: T) -> StoreFuture<'a, T> {
    Box::pin(std::future::ready(Ok(v)))
}

impl RecordingStore for InMemoryRecordings {
    fn put_answer_if_absent(
        &self,
        key: &str,
        answer: IdempotentAnswer,
    ) -> StoreFuture<'_, Option<IdempotentAnswer>> {
        let mut inner = self.lock();
        let now = SystemTime::now();
        let fresh = |a: &IdempotentAnswer| {
            now.duration_since(a.stored_at).unwrap_or_default() < IDEMPOTENCY_TTL
        };
        if let Some(existing) = inner.answers.get(key).filter(|a| fresh(a)) {
            return ready(Some(existing.clone()));
        }
        if inner.answers.len() >= MAX_IDEMPOTENCY_KEYS {
            inner.answers.retain(|_, a| fresh(a));
            if inner.answers.len() >= MAX_IDEMPOTENCY_KEYS {
                let oldest = inner
                    .answers
                    .iter()
                    .min_by_key(|(_, a)| a.stored_at)
                    .map(|(k, _)| k.clone());
                if let Some(k) = oldest {
                    inner.answers.remove(&k);
                }
            }
        }
        inner.answers.insert(key.to_string(), answer);
        ready(None)
    }

    fn insert(&self, mut record: RecordingRecord) -> StoreFuture<'_, u64> {
        let mut inner = self.lock();
        inner.next_seq += 1;
        let seq = inner.next_seq;
        record.seq = seq;
        inner.seq_of.insert(record.resource.id.clone(), seq);
        inner.by_seq.insert(seq, record);
        ready(seq)
    }

    fn update(&self, record: RecordingRecord) -> StoreFuture<'_, ()> {
        let mut inner = self.lock();
        if let Some(seq) = inner.seq_of.get(&record.resource.id).copied() {
            if let Some(at) = record.expires_ms {
                inner.expiry.insert((at, seq));
            }
            let old = inner.by_seq.insert(seq, RecordingRecord { seq, ..record });
            if let Some(at) = old.and_then(|o| o.expires_ms) {
                if inner.by_seq.get(&seq).and_then(|r| r.expires_ms) != Some(at) {
                    inner.expiry.remove(&(at, seq));
                }
            }
        }
        ready(())
    }

    fn get(&self, id: &str) -> StoreFuture<'_, Option<RecordingRecord>> {
        let inner = self.lock();
        let found = inner
            .seq_of
            .get(id)
            .and_then(|s| inner.by_seq.get(s))
            .cloned();
        ready(found)
    }

    fn remove(&self, id: &str) -> StoreFuture<'_, Option<RecordingRecord>> {
        let mut inner = self.lock();
        let removed = inner
            .seq_of
            .remove(id)
            .and_then(|s| inner.by_seq.remove(&s));
        if let Some(r) = &removed {
            if let Some(at) = r.expires_ms {
                inner.expiry.remove(&(at, r.seq));
            }
        }
        ready(removed)
    }

    fn list(&self, query: ListQuery) -> StoreFuture<'_, (Vec<RecordingRecord>, bool)> {
        let inner = self.lock();
        let start = query.after_seq.map_or(0, |s| s.saturating_add(1));
        let mut matching = inner.by_seq.range(start..).map(|(_, r)| r).filter(|r| {
            query.status.is_none_or(|s| r.resource.status == s)
                && query.since_ms.is_none_or(|t| r.created_ms >= t)
        });
        let page: Vec<RecordingRecord> = matching.by_ref().take(query.limit).cloned().collect();
        let more = matching.next().is_some();
        ready((page, more))
    }

    fn count_by_status(&self) -> StoreFuture<'_, Vec<(RecordingStatus, u64)>> {
        let inner = self.lock();
        let counts = RecordingStatus::ALL
            .iter()
            .map(|s| {
                let n = inner
                    .by_seq
                    .values()
                    .filter(|r| r.resource.status == *s)
                    .count();
                (*s, n as u64)
            })
            .collect();
        ready(counts)
    }

    fn expired(&self, now_ms: u64, limit: usize) -> StoreFuture<'_, Vec<String>> {
        let inner = self.lock();
        let ids = inner
            .expiry
            .range(..=(now_ms, u64::MAX))
            .take(limit)
            .filter_map(|(_, seq)| inner.by_seq.get(seq))
            .map(|r| r.resource.id.clone())
            .collect();
        ready(ids)
    }
}
