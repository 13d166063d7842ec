//! Where pending record operations, early completions and seen completions
//! live, behind [`OperationStore`] so a shared store (Redis) can replace the
//! in-memory one when several bot instances share a callback URL.
//!
//! The store decides, atomically per key, who gets a completion: the waiter
//! registered for it, the early-completion buffer (the notification beat the
//! POST response), or nobody (a duplicate, or an operation already declared
//! lost). The waiters themselves (channels) stay in the process.

use crate::error::Result;
use crate::wire::{OperationKey, RecordOperation};
use futures_util::future::BoxFuture;
use std::collections::HashMap;
use std::sync::Mutex;
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
    /// A waiter is registered: deliver to it.
    Deliver,
    /// No waiter yet: buffered until a register or the TTL.
    Buffered,
    /// Seen before, or the operation was given up as lost: ignore.
    Duplicate,
}

/// Pending-operation state shared between the POST path and the webhook.
pub trait OperationStore: Send + Sync + 'static {
    /// Marks `key` as awaited, unless its completion was already buffered,
    /// in which case that completion is returned and the key is finished.
    fn register(&self, key: &OperationKey) -> BoxFuture<'_, Result<Registration>>;

    /// Records a completion for `key`; buffers it for `early_ttl` if no one
    /// waits yet.
    fn complete(
        &self,
        key: &OperationKey,
        op: &RecordOperation,
        early_ttl: Duration,
    ) -> BoxFuture<'_, Result<Disposition>>;

    /// Gives up on `key` (deadline passed or the handle was dropped). Returns
    /// `true` if it was still pending, `false` if a completion was already
    /// delivered (the waiter should then read it).
    fn abandon(&self, key: &OperationKey) -> BoxFuture<'_, Result<bool>>;
}

#[derive(Debug)]
enum Entry {
    Pending,
    Early {
        op: Box<RecordOperation>,
        expires: Instant,
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
    max_early: usize,
}

#[derive(Debug, Default)]
struct StoreState {
    entries: HashMap<OperationKey, Entry>,
    early_count: usize,
    last_sweep: Option<Instant>,
}

impl Default for InMemoryStore {
    fn default() -> Self {
        Self::new(Duration::from_secs(600), 10_000)
    }
}

impl InMemoryStore {
    /// A store remembering finished keys for `done_ttl` (to drop duplicates)
    /// and buffering at most `max_early` unmatched completions, so a flood of
    /// unrelated notifications cannot grow memory without bound.
    pub fn new(done_ttl: Duration, max_early: usize) -> Self {
        InMemoryStore {
            state: Mutex::new(StoreState::default()),
            done_ttl,
            max_early,
        }
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
        state.early_count = state
            .entries
            .values()
            .filter(|e| matches!(e, Entry::Early { .. }))
            .count();
    }
}

impl OperationStore for InMemoryStore {
    fn register(&self, key: &OperationKey) -> BoxFuture<'_, Result<Registration>> {
        let key = key.clone();
        Box::pin(async move {
            let now = Instant::now();
            let mut st = self.lock();
            Self::sweep(&mut st, now);
            let done = Entry::Done {
                expires: now + self.done_ttl,
            };
            match st.entries.insert(key.clone(), Entry::Pending) {
                Some(Entry::Early { op, expires }) if expires > now => {
                    st.entries.insert(key, done);
                    st.early_count = st.early_count.saturating_sub(1);
                    Ok(Registration::AlreadyCompleted(op))
                }
                Some(Entry::Early { .. }) => {
                    st.early_count = st.early_count.saturating_sub(1);
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
            let mut st = self.lock();
            Self::sweep(&mut st, now);
            let disposition = match st.entries.get(&key) {
                Some(Entry::Pending) => Disposition::Deliver,
                Some(Entry::Early { expires, .. }) | Some(Entry::Done { expires })
                    if *expires > now =>
                {
                    Disposition::Duplicate
                }
                _ if st.early_count >= self.max_early => {
                    tracing::warn!(%key, "early-completion buffer full; dropping completion");
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
                        },
                    );
                    st.early_count += 1;
                }
                Disposition::Duplicate => {}
            }
            Ok(disposition)
        })
    }

    fn abandon(&self, key: &OperationKey) -> BoxFuture<'_, Result<bool>> {
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
            Ok(was_pending)
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn op() -> RecordOperation {
        RecordOperation::default()
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
            s.register(&k).await.unwrap(),
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
            s.register(&k).await.unwrap(),
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
        assert!(!s.abandon(&k).await.unwrap());
    }

    #[tokio::test]
    async fn abandoned_key_ignores_late_completion() {
        let s = InMemoryStore::default();
        let k = OperationKey::new("c", "o");
        s.register(&k).await.unwrap();
        assert!(s.abandon(&k).await.unwrap());
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
            s.register(&k).await.unwrap(),
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
