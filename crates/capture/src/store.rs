//! Where pending record operations, early completions and seen completions
//! live, behind [`OperationStore`] so a shared store (Redis, with the
//! `redis` feature: `crate::redis_store`) can replace the in-memory one
//! when several bot instances share a callback URL.
//!
//! The store decides, atomically per key, who gets a completion: the waiter
//! registered for it (on this instance or, with a shared store, on the
//! instance that placed the operation), the early-completion buffer (the
//! notification beat the POST response), or nobody (a duplicate, or an
//! operation already declared lost). The waiters themselves (channels) stay
//! in the process; a shared store reaches them through a [`DeliveryTarget`].

use crate::error::Result;
use crate::limits::{completion_size, EarlyBufferLimits};
use crate::wire::{OperationKey, RecordOperation};
use futures_util::future::BoxFuture;
use serde::{Deserialize, Serialize};
use std::collections::HashMap;
use std::sync::{Mutex, Weak};
use std::time::{Duration, Instant};

/// What [`OperationStore::register`] found.
#[derive(Debug, Clone)]
pub enum Registration {
    /// Registered; a completion will be delivered later.
    Pending,
    /// The completion had already arrived; here it is (and the key is done).
    AlreadyCompleted(Box<RecordOperation>),
}

/// What to do with a completion, per [`OperationStore::complete`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Disposition {
    /// A waiter is registered: deliver to it. With a shared store the waiter
    /// may live on another instance; the store has already forwarded it.
    Deliver,
    /// No waiter yet: buffered until a register or the TTL.
    Buffered,
    /// Seen before, or the operation was given up as lost: ignore.
    Duplicate,
}

/// What [`OperationStore::abandon`] found when the deadline passed.
#[derive(Debug, Clone)]
pub enum Abandoned {
    /// No completion: the operation is now lost.
    Lost,
    /// A completion was delivered meanwhile; it is included when the store
    /// holds it (a shared store), else it is in the waiter's channel.
    Completed(Option<Box<RecordOperation>>),
    /// Another instance took the operation over (this one was presumed dead).
    TakenOver {
        /// The instance that owns it now.
        by: String,
    },
}

/// An operation as the store records it, so that another instance can
/// finish it if the one that placed it dies.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PendingOperation {
    /// Call ID as Graph gave it.
    pub call_id: String,
    /// Operation ID as Graph gave it.
    pub operation_id: String,
    /// The client context sent.
    pub client_context: Option<String>,
    /// Time allowed for the completion, counted from registration.
    pub deadline_ms: u64,
    /// What a successor needs to finish the job (the request and the
    /// application's own settings), opaque to the store.
    pub settings: serde_json::Value,
}

/// An operation this instance took over from a dead one
/// ([`OperationStore::adopt_orphans`]).
#[derive(Debug, Clone)]
pub struct OrphanedOperation {
    /// The normalised key.
    pub key: OperationKey,
    /// What its owner recorded.
    pub pending: PendingOperation,
    /// The instance that placed it.
    pub previous_owner: String,
    /// The completion, if it arrived (and was never fetched).
    pub completion: Option<Box<RecordOperation>>,
    /// Time left until its deadline (zero when it has passed).
    pub remaining: Duration,
}

/// Where a shared store hands completions that another instance received.
pub trait DeliveryTarget: Send + Sync {
    /// A completion for `key`, to pass to its local waiter if there is one.
    fn deliver(&self, key: &OperationKey, op: RecordOperation);
    /// Forwarded deliveries may have been missed (the store reconnected):
    /// check every awaited key with [`OperationStore::poll`].
    fn resync(&self);
}

/// Pending-operation state shared between the POST path and the webhook.
pub trait OperationStore: Send + Sync + 'static {
    /// Marks `key` as awaited, unless its completion was already buffered,
    /// in which case that completion is returned and the key is finished.
    fn register(
        &self,
        key: &OperationKey,
        pending: &PendingOperation,
    ) -> BoxFuture<'_, Result<Registration>>;

    /// Records a completion for `key`; buffers it for `early_ttl` if no one
    /// waits yet.
    fn complete(
        &self,
        key: &OperationKey,
        op: &RecordOperation,
        early_ttl: Duration,
    ) -> BoxFuture<'_, Result<Disposition>>;

    /// Gives up on `key` (deadline passed or the handle was dropped).
    fn abandon(&self, key: &OperationKey) -> BoxFuture<'_, Result<Abandoned>>;

    /// The local waiter for `key` went away without an answer (its handle
    /// was dropped, e.g. the task was cancelled). The in-memory store gives
    /// the operation up; a shared store hands it to the fleet, whose next
    /// takeover scan finishes it.
    fn release(&self, key: &OperationKey) -> BoxFuture<'_, Result<()>> {
        let key = key.clone();
        Box::pin(async move { self.abandon(&key).await.map(|_| ()) })
    }

    /// Claims the right to download `key`'s recording. Exactly one caller
    /// across all instances gets `true` (a dead holder's claim is taken
    /// over). The in-memory store always says `true`: its single delivery
    /// already makes the download unique.
    fn claim_download(&self, _key: &OperationKey) -> BoxFuture<'_, Result<bool>> {
        Box::pin(async { Ok(true) })
    }

    /// Records how `key` ended (`state` is `done`, `failed` or `lost`) with a
    /// summary for operators; the key leaves the pending set.
    fn finish(
        &self,
        _key: &OperationKey,
        _state: &str,
        _summary: &serde_json::Value,
    ) -> BoxFuture<'_, Result<()>> {
        Box::pin(async { Ok(()) })
    }

    /// The completion of `key` if it arrived for an operation this instance
    /// owns (used after a reconnect or an adoption).
    fn poll(&self, _key: &OperationKey) -> BoxFuture<'_, Result<Option<RecordOperation>>> {
        Box::pin(async { Ok(None) })
    }

    /// After a reconnect: makes sure `key`, still awaited here, is known to
    /// the store (a Redis restarted without persistence forgot it), and
    /// returns its completion if it arrived meanwhile.
    fn reregister(
        &self,
        key: &OperationKey,
        _pending: &PendingOperation,
    ) -> BoxFuture<'_, Result<Option<RecordOperation>>> {
        self.poll(key)
    }

    /// Takes over the pending operations of instances that died, and returns
    /// them. The in-memory store has none.
    fn adopt_orphans(&self) -> BoxFuture<'_, Result<Vec<OrphanedOperation>>> {
        Box::pin(async { Ok(Vec::new()) })
    }

    /// Lets a shared store forward completions received elsewhere.
    fn attach(&self, _target: Weak<dyn DeliveryTarget>) {}

    /// True when completions may be delivered on another instance (so a
    /// missing local waiter is normal).
    fn is_shared(&self) -> bool {
        false
    }
}

/// A completion in a form a shared store can keep and give back: the
/// `recordOperation` fields under their v1.0 names (the recording token
/// included, since a successor must be able to download).
#[cfg(any(test, feature = "redis"))]
pub(crate) fn completion_to_json(op: &RecordOperation) -> serde_json::Value {
    use crate::wire::{OperationStatus, ResultInfo};
    use crate::Secret;

    #[derive(Serialize)]
    #[serde(rename_all = "camelCase")]
    struct Stored<'a> {
        #[serde(rename = "@odata.type", skip_serializing_if = "Option::is_none")]
        odata_type: Option<&'a str>,
        #[serde(rename = "@odata.id", skip_serializing_if = "Option::is_none")]
        odata_id: Option<&'a str>,
        id: Option<&'a str>,
        client_context: Option<&'a str>,
        status: Option<&'a str>,
        result_info: Option<&'a ResultInfo>,
        recording_location: Option<&'a str>,
        recording_access_token: Option<&'a str>,
        completion_reason: Option<String>,
        #[serde(rename = "voxcapTenantId", skip_serializing_if = "Option::is_none")]
        tenant_id: Option<&'a str>,
    }
    serde_json::to_value(Stored {
        odata_type: op.odata_type.as_deref(),
        odata_id: op.odata_id.as_deref(),
        id: op.id.as_deref(),
        client_context: op.client_context.as_deref(),
        status: op.status.as_ref().map(OperationStatus::as_str),
        result_info: op.result_info.as_ref(),
        recording_location: op.recording_location.as_deref(),
        recording_access_token: op.recording_access_token.as_ref().map(Secret::expose),
        completion_reason: op
            .completion_reason
            .as_ref()
            .map(|r| r.as_str().to_string()),
        tenant_id: op.tenant_id.as_deref(),
    })
    .unwrap_or(serde_json::Value::Null)
}

/// Reads what [`completion_to_json`] wrote, the verified tenant included.
#[cfg(any(test, feature = "redis"))]
pub(crate) fn completion_from_json(json: &str) -> Option<RecordOperation> {
    #[derive(Deserialize)]
    struct Stored {
        #[serde(flatten)]
        op: RecordOperation,
        #[serde(rename = "voxcapTenantId", default)]
        tenant_id: Option<String>,
    }
    let s: Stored = serde_json::from_str(json).ok()?;
    Some(RecordOperation {
        tenant_id: s.tenant_id,
        ..s.op
    })
}

#[derive(Debug)]
enum Entry {
    Pending,
    Early {
        op: Box<RecordOperation>,
        expires: Instant,
        /// What it is charged against the byte cap.
        bytes: usize,
    },
    /// Delivered, or abandoned: later copies are duplicates.
    Done {
        expires: Instant,
    },
}

/// An [`OperationStore`] in process memory.
#[derive(Debug)]
pub struct InMemoryStore {
    state: Mutex<StoreState>,
    done_ttl: Duration,
    limits: EarlyBufferLimits,
}

#[derive(Debug, Default)]
struct StoreState {
    entries: HashMap<OperationKey, Entry>,
    early_count: usize,
    early_bytes: usize,
    last_sweep: Option<Instant>,
}

impl Default for InMemoryStore {
    fn default() -> Self {
        Self::with_limits(Duration::from_secs(600), EarlyBufferLimits::default())
    }
}

impl InMemoryStore {
    /// A store remembering finished keys for `done_ttl` (to drop duplicates)
    /// and buffering at most `max_early` unmatched completions (and at most
    /// the default byte cap of [`EarlyBufferLimits`]), so a flood of
    /// unrelated notifications cannot grow memory without bound.
    pub fn new(done_ttl: Duration, max_early: usize) -> Self {
        Self::with_limits(
            done_ttl,
            EarlyBufferLimits {
                max_entries: max_early,
                ..EarlyBufferLimits::default()
            },
        )
    }

    /// A store with both early-buffer caps given: entries and bytes (each
    /// completion charged [`completion_size`]).
    pub fn with_limits(done_ttl: Duration, limits: EarlyBufferLimits) -> Self {
        InMemoryStore {
            state: Mutex::new(StoreState::default()),
            done_ttl,
            limits,
        }
    }

    /// Completions buffered now, and the bytes they are charged.
    pub fn early_buffered(&self) -> (usize, usize) {
        let st = self.lock();
        (st.early_count, st.early_bytes)
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, StoreState> {
        // A panic while holding this lock cannot leave entries half-updated
        // (each operation is one insert/remove), so poisoning is ignored.
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn sweep(state: &mut StoreState, now: Instant) {
        if state
            .last_sweep
            .is_some_and(|t| now.duration_since(t) < Duration::from_secs(1))
        {
            return;
        }
        state.last_sweep = Some(now);
        state.entries.retain(|_, e| match e {
            Entry::Pending => true,
            Entry::Early { expires, .. } | Entry::Done { expires } => *expires > now,
        });
        let (count, bytes) = state
            .entries
            .values()
            .filter_map(|e| match e {
                Entry::Early { bytes, .. } => Some(*bytes),
                _ => None,
            })
            .fold((0, 0), |(n, b), x| (n + 1, b + x));
        state.early_count = count;
        state.early_bytes = bytes;
    }
}

impl OperationStore for InMemoryStore {
    fn register(
        &self,
        key: &OperationKey,
        _pending: &PendingOperation,
    ) -> BoxFuture<'_, Result<Registration>> {
        let key = key.clone();
        Box::pin(async move {
            let now = Instant::now();
            let mut st = self.lock();
            Self::sweep(&mut st, now);
            let done = Entry::Done {
                expires: now + self.done_ttl,
            };
            match st.entries.insert(key.clone(), Entry::Pending) {
                Some(Entry::Early { op, expires, bytes }) if expires > now => {
                    st.entries.insert(key, done);
                    st.early_count = st.early_count.saturating_sub(1);
                    st.early_bytes = st.early_bytes.saturating_sub(bytes);
                    Ok(Registration::AlreadyCompleted(op))
                }
                Some(Entry::Early { bytes, .. }) => {
                    st.early_count = st.early_count.saturating_sub(1);
                    st.early_bytes = st.early_bytes.saturating_sub(bytes);
                    Ok(Registration::Pending)
                }
                _ => Ok(Registration::Pending),
            }
        })
    }

    fn complete(
        &self,
        key: &OperationKey,
        op: &RecordOperation,
        early_ttl: Duration,
    ) -> BoxFuture<'_, Result<Disposition>> {
        let key = key.clone();
        let op = op.clone();
        Box::pin(async move {
            let now = Instant::now();
            let size = completion_size(&op);
            let mut st = self.lock();
            Self::sweep(&mut st, now);
            let disposition = match st.entries.get(&key) {
                Some(Entry::Pending) => Disposition::Deliver,
                Some(Entry::Early { expires, .. }) | Some(Entry::Done { expires })
                    if *expires > now =>
                {
                    Disposition::Duplicate
                }
                _ if st.early_count >= self.limits.max_entries
                    || st.early_bytes + size > self.limits.max_bytes =>
                {
                    tracing::warn!(%key, buffered = st.early_count, buffered_bytes = st.early_bytes,
                        "early-completion buffer full; dropping completion");
                    Disposition::Duplicate
                }
                _ => Disposition::Buffered,
            };
            match disposition {
                Disposition::Deliver => {
                    st.entries.insert(
                        key,
                        Entry::Done {
                            expires: now + self.done_ttl,
                        },
                    );
                }
                Disposition::Buffered => {
                    st.entries.insert(
                        key,
                        Entry::Early {
                            op: Box::new(op),
                            expires: now + early_ttl,
                            bytes: size,
                        },
                    );
                    st.early_count += 1;
                    st.early_bytes += size;
                }
                Disposition::Duplicate => {}
            }
            Ok(disposition)
        })
    }

    fn abandon(&self, key: &OperationKey) -> BoxFuture<'_, Result<Abandoned>> {
        let key = key.clone();
        Box::pin(async move {
            let now = Instant::now();
            let mut st = self.lock();
            let was_pending = matches!(st.entries.get(&key), Some(Entry::Pending));
            if was_pending {
                st.entries.insert(
                    key,
                    Entry::Done {
                        expires: now + self.done_ttl,
                    },
                );
            }
            Ok(if was_pending {
                Abandoned::Lost
            } else {
                Abandoned::Completed(None)
            })
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn op() -> RecordOperation {
        RecordOperation::default()
    }

    fn pending() -> PendingOperation {
        PendingOperation {
            call_id: "c".into(),
            operation_id: "o".into(),
            client_context: None,
            deadline_ms: 1000,
            settings: serde_json::Value::Null,
        }
    }

    #[tokio::test]
    async fn early_then_register_then_duplicate() {
        let s = InMemoryStore::default();
        let k = OperationKey::new("c", "o");
        let ttl = Duration::from_secs(60);
        assert_eq!(
            s.complete(&k, &op(), ttl).await.unwrap(),
            Disposition::Buffered
        );
        assert_eq!(
            s.complete(&k, &op(), ttl).await.unwrap(),
            Disposition::Duplicate
        );
        assert!(matches!(
            s.register(&k, &pending()).await.unwrap(),
            Registration::AlreadyCompleted(_)
        ));
        assert_eq!(
            s.complete(&k, &op(), ttl).await.unwrap(),
            Disposition::Duplicate
        );
    }

    #[tokio::test]
    async fn register_then_complete_once_then_abandon_is_false() {
        let s = InMemoryStore::default();
        let k = OperationKey::new("c", "o");
        let ttl = Duration::from_secs(60);
        assert!(matches!(
            s.register(&k, &pending()).await.unwrap(),
            Registration::Pending
        ));
        assert_eq!(
            s.complete(&k, &op(), ttl).await.unwrap(),
            Disposition::Deliver
        );
        assert_eq!(
            s.complete(&k, &op(), ttl).await.unwrap(),
            Disposition::Duplicate
        );
        assert!(matches!(
            s.abandon(&k).await.unwrap(),
            Abandoned::Completed(None)
        ));
    }

    #[tokio::test]
    async fn abandoned_key_ignores_late_completion() {
        let s = InMemoryStore::default();
        let k = OperationKey::new("c", "o");
        s.register(&k, &pending()).await.unwrap();
        assert!(matches!(s.abandon(&k).await.unwrap(), Abandoned::Lost));
        let d = s
            .complete(&k, &op(), Duration::from_secs(60))
            .await
            .unwrap();
        assert_eq!(d, Disposition::Duplicate);
    }

    #[tokio::test]
    async fn expired_early_completion_is_not_delivered() {
        let s = InMemoryStore::default();
        let k = OperationKey::new("c", "o");
        s.complete(&k, &op(), Duration::ZERO).await.unwrap();
        assert!(matches!(
            s.register(&k, &pending()).await.unwrap(),
            Registration::Pending
        ));
    }

    #[tokio::test]
    async fn early_buffer_is_bounded() {
        let s = InMemoryStore::new(Duration::from_secs(60), 2);
        let ttl = Duration::from_secs(60);
        for i in 0..2 {
            let k = OperationKey::new("c", &i.to_string());
            assert_eq!(
                s.complete(&k, &op(), ttl).await.unwrap(),
                Disposition::Buffered
            );
        }
        let k = OperationKey::new("c", "overflow");
        assert_eq!(
            s.complete(&k, &op(), ttl).await.unwrap(),
            Disposition::Duplicate
        );
    }
}

#[cfg(test)]
mod stored_json_tests {
    use super::*;

    #[test]
    fn completion_round_trips_through_stored_json() {
        let raw = serde_json::json!({
            "@odata.type": "#microsoft.graph.recordOperation",
            "id": "0fe0623f-d628-42ed-b4bd-8ac290072cc5",
            "clientContext": "ctx",
            "status": "completed",
            "resultInfo": {"code": 200, "subcode": 8514, "message": "stop tone"},
            "recordResourceLocation": "https://file.location/abc",
            "recordResourceAccessToken": "tok",
            "completionReason": "stopToneDetected"
        });
        let mut op: RecordOperation = serde_json::from_value(raw.clone()).unwrap();
        assert_eq!(op.tenant_id, None, "a body never sets the tenant");
        op.tenant_id = Some("72f988bf-86f1-41af-91ab-2d7cd011db47".into());
        let back = completion_from_json(&completion_to_json(&op).to_string()).unwrap();
        assert_eq!(back, op);
        assert_eq!(back.access_token().map(crate::Secret::expose), Some("tok"));
        // A body naming the stored field still cannot set the tenant.
        let mut forged = raw;
        forged["voxcapTenantId"] = "evil".into();
        let op: RecordOperation = serde_json::from_value(forged).unwrap();
        assert_eq!(op.tenant_id, None);
    }
}
