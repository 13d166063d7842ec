//! Operation tracking: start a record operation and get a handle that resolves
//! exactly once, to completed, failed (as Graph reported) or lost (no
//! completion by the deadline).
//!
//! Completions reach the tracker from the webhook through a bounded channel
//! ([`NotificationSink`]); a dispatcher task matches them to waiters through
//! the [`OperationStore`], which also buffers early completions and drops
//! duplicates.

use crate::client::{GraphClient, GraphVersion};
use crate::error::{CaptureError, Result};
use crate::secret::Secret;
use crate::store::{
    Abandoned, DeliveryTarget, Disposition, InMemoryStore, OperationStore, OrphanedOperation,
    PendingOperation, Registration,
};
use crate::wire::{
    CommsNotifications, CompletionReason, OperationKey, OperationStatus, RecordOperation,
    RecordResponseRequest, ResultInfo,
};
use std::collections::HashMap;
use std::sync::{Arc, Mutex, Weak};
use std::time::Duration;
use tokio::sync::{mpsc, oneshot};
use tokio::time::Instant;

/// Which Graph action starts the recording.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum RecordApi {
    /// v1.0 `recordResponse`.
    #[default]
    RecordResponseV1,
    /// beta `recordResponse`.
    RecordResponseBeta,
    /// legacy beta `record` (`/app/calls/{id}/record`).
    LegacyRecord,
}

/// Per-operation options.
#[derive(Debug, Clone, Default)]
pub struct RecordOptions {
    /// Which API to call.
    pub api: RecordApi,
    /// Length of the prompt (Graph starts the initial-silence timer after it).
    pub prompt_duration: Duration,
    /// Overrides the tracker's deadline margin.
    pub deadline_margin: Option<Duration>,
    /// The application's own settings for this operation, kept by a shared
    /// store so that another instance can finish the job if this one dies
    /// (e.g. whether a recording permit was acquired, output preferences).
    pub app_settings: serde_json::Value,
    /// A [`crate::RecordingPermit`] is held for this call, so an instance
    /// that takes the operation over may persist the recording
    /// ([`crate::RecordingPermit::inherit`]).
    pub permit_held: bool,
}

/// Tracker settings.
#[derive(Debug, Clone)]
pub struct TrackerConfig {
    /// How long a completion that beat the POST response is kept.
    pub early_ttl: Duration,
    /// Added to prompt + initial silence + max record to form the deadline.
    pub deadline_margin: Duration,
    /// Capacity of the notification queue between webhook and dispatcher.
    pub queue_capacity: usize,
    /// Caps of the in-memory early-completion buffer (used by
    /// [`OperationTracker::new`]; a Redis store has its own in
    /// `RedisStoreConfig::early_buffer`). Default 10,000 entries, 8 MiB.
    pub early_buffer: crate::limits::EarlyBufferLimits,
    /// Told of duplicate completions and store errors (metrics); `None`
    /// by default.
    pub tap: Option<Arc<dyn crate::tap::WebhookTap>>,
}

impl Default for TrackerConfig {
    fn default() -> Self {
        TrackerConfig {
            early_ttl: Duration::from_secs(300),
            deadline_margin: Duration::from_secs(15),
            queue_capacity: 1024,
            early_buffer: crate::limits::EarlyBufferLimits::default(),
            tap: None,
        }
    }
}

/// The webhook's handle for passing verified notifications to a tracker.
#[derive(Debug, Clone)]
pub struct NotificationSink {
    tx: mpsc::Sender<CommsNotifications>,
}

/// The notification queue is full (or the tracker is gone).
#[derive(Debug, thiserror::Error)]
#[error("notification queue is full or closed")]
pub struct SinkFull;

impl NotificationSink {
    /// Queues a batch without waiting; fails when the queue is full, so the
    /// webhook can answer at once instead of blocking Graph.
    pub fn try_submit(&self, batch: CommsNotifications) -> std::result::Result<(), SinkFull> {
        self.tx.try_send(batch).map_err(|_| SinkFull)
    }
}

/// A local waiter: where its completion goes, and the registration to
/// repeat if the store lost it.
type Waiter = (oneshot::Sender<RecordOperation>, Option<PendingOperation>);

/// Starts record operations and matches their completions.
#[derive(Clone)]
pub struct OperationTracker {
    inner: Arc<TrackerInner>,
}

struct TrackerInner {
    client: GraphClient,
    store: Arc<dyn OperationStore>,
    /// Local waiters, with what the store was told about each operation (so
    /// it can be told again if the store lost it).
    waiters: Mutex<HashMap<OperationKey, Waiter>>,
    config: TrackerConfig,
    sink: NotificationSink,
    /// `streamWhileRecording` announcements and their waiters.
    started: Arc<crate::started::StartedLocations>,
    /// Itself, for tasks spawned from [`DeliveryTarget::resync`].
    me: std::sync::OnceLock<Weak<TrackerInner>>,
}

impl std::fmt::Debug for OperationTracker {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("OperationTracker")
            .field("config", &self.inner.config)
            .finish_non_exhaustive()
    }
}

impl OperationTracker {
    /// What the deadline adds to an operation's prompt and timers
    /// ([`TrackerConfig::deadline_margin`]).
    pub fn deadline_margin(&self) -> Duration {
        self.inner.config.deadline_margin
    }

    /// Operations this process is waiting on (placed or adopted, not yet
    /// completed, failed or lost).
    pub fn pending_count(&self) -> usize {
        self.inner.lock_waiters().len()
    }

    /// A tracker with an in-memory store. Must be called inside a tokio
    /// runtime: it spawns the dispatcher task.
    pub fn new(client: GraphClient, config: TrackerConfig) -> Self {
        let store = InMemoryStore::with_limits(Duration::from_secs(600), config.early_buffer);
        Self::with_store(client, config, Arc::new(store))
    }

    /// A tracker with a custom store.
    pub fn with_store(
        client: GraphClient,
        config: TrackerConfig,
        store: Arc<dyn OperationStore>,
    ) -> Self {
        let (tx, mut rx) = mpsc::channel(config.queue_capacity.max(1));
        let inner = Arc::new(TrackerInner {
            client,
            store,
            waiters: Mutex::new(HashMap::new()),
            config,
            sink: NotificationSink { tx },
            started: Arc::default(),
            me: std::sync::OnceLock::new(),
        });
        let _ = inner.me.set(Arc::downgrade(&inner));
        let target: Weak<dyn DeliveryTarget> = Arc::downgrade(&inner) as Weak<TrackerInner>;
        inner.store.attach(target);
        let weak: Weak<TrackerInner> = Arc::downgrade(&inner);
        tokio::spawn(async move {
            while let Some(batch) = rx.recv().await {
                let Some(inner) = weak.upgrade() else { break };
                inner.dispatch(batch).await;
            }
        });
        OperationTracker { inner }
    }

    /// The sink the webhook feeds.
    pub fn notification_sink(&self) -> NotificationSink {
        self.inner.sink.clone()
    }

    /// The Graph client.
    pub fn client(&self) -> &GraphClient {
        &self.inner.client
    }

    /// Processes a batch directly (what the dispatcher does for queued ones).
    pub async fn handle_notifications(&self, batch: CommsNotifications) {
        self.inner.dispatch(batch).await;
    }

    /// The operation store.
    pub fn store(&self) -> &Arc<dyn OperationStore> {
        &self.inner.store
    }

    /// Records how an operation ended (`state`: `done`, `failed` or `lost`)
    /// with a summary, so a shared store stops treating it as pending and
    /// operators can look it up. A no-op for the in-memory store.
    pub async fn finish(
        &self,
        call_id: &str,
        operation_id: &str,
        state: &str,
        summary: &serde_json::Value,
    ) -> Result<()> {
        let key = OperationKey::new(call_id, operation_id);
        self.inner.store.finish(&key, state, summary).await
    }

    /// Takes over the operations of instances that died (shared store only)
    /// and returns a handle for each: completed ones resolve at once, pending
    /// ones wait for their completion until their original deadline, and
    /// those past it resolve to `Lost`.
    pub async fn adopt_orphans(&self) -> Result<Vec<AdoptedOperation>> {
        let orphans = self.inner.store.adopt_orphans().await?;
        let mut adopted = Vec::with_capacity(orphans.len());
        for orphan in orphans {
            let p = &orphan.pending;
            let info = HandleInfo {
                key: orphan.key.clone(),
                call_id: p.call_id.clone(),
                operation_id: p.operation_id.clone(),
                client_context: p.client_context.clone(),
                deadline: orphan.remaining,
                started: Instant::now(),
            };
            tracing::info!(key = %orphan.key, from = %orphan.previous_owner,
                completed = orphan.completion.is_some(), remaining_ms = orphan.remaining.as_millis() as u64,
                "took over an operation from a dead instance");
            let handle = match &orphan.completion {
                Some(op) => OperationHandle::ready(info, (**op).clone(), self.inner.clone()),
                None => {
                    let (tx, rx) = oneshot::channel();
                    let mut pending = orphan.pending.clone();
                    pending.deadline_ms =
                        u64::try_from(orphan.remaining.as_millis()).unwrap_or(u64::MAX);
                    self.inner
                        .lock_waiters()
                        .insert(orphan.key.clone(), (tx, Some(pending)));
                    // The completion may have been forwarded to us between the
                    // adoption and the waiter's insertion: look once.
                    if let Ok(Some(op)) = self.inner.store.poll(&orphan.key).await {
                        self.inner.deliver_local(&orphan.key, op);
                    }
                    OperationHandle {
                        info,
                        state: Some(HandleState::Waiting(rx)),
                        inner: self.inner.clone(),
                    }
                }
            };
            adopted.push(AdoptedOperation { orphan, handle });
        }
        Ok(adopted)
    }

    /// Asks Graph to record on `call_id` and returns a handle for the result.
    ///
    /// A `clientContext` is generated when the request has none, so every
    /// operation carries a unique one.
    pub async fn record(
        &self,
        call_id: &str,
        request: &RecordResponseRequest,
        options: &RecordOptions,
    ) -> Result<OperationHandle> {
        let mut request = request.clone();
        if request.client_context.is_none() {
            request.client_context = Some(format!("{:032x}", rand::random::<u128>()));
        }
        let client = &self.inner.client;
        let accepted = match options.api {
            RecordApi::RecordResponseV1 => {
                client
                    .record_response(call_id, &request, GraphVersion::V1)
                    .await?
            }
            RecordApi::RecordResponseBeta => {
                client
                    .record_response(call_id, &request, GraphVersion::Beta)
                    .await?
            }
            RecordApi::LegacyRecord => client.record_legacy(call_id, &request.to_legacy()).await?,
        };
        let margin = options
            .deadline_margin
            .unwrap_or(self.inner.config.deadline_margin);
        let deadline = options.prompt_duration
            + Duration::from_secs(u64::from(request.initial_silence_timeout_in_seconds))
            + Duration::from_secs(u64::from(request.max_record_duration_in_seconds))
            + margin;
        let key = OperationKey::new(call_id, &accepted.operation_id);
        let base = HandleInfo {
            key: key.clone(),
            call_id: call_id.to_string(),
            operation_id: accepted.operation_id.clone(),
            client_context: request.client_context.clone(),
            deadline,
            started: Instant::now(),
        };
        // If the POST response is already terminal, no notification follows.
        if accepted
            .operation
            .status
            .as_ref()
            .is_some_and(OperationStatus::is_terminal)
        {
            tracing::debug!(%key, "operation already terminal in POST response");
            return Ok(OperationHandle::ready(
                base,
                accepted.operation,
                self.inner.clone(),
            ));
        }
        let pending = PendingOperation {
            call_id: call_id.to_string(),
            operation_id: accepted.operation_id.clone(),
            client_context: request.client_context.clone(),
            deadline_ms: u64::try_from(deadline.as_millis()).unwrap_or(u64::MAX),
            settings: serde_json::json!({
                "api": match options.api {
                    RecordApi::RecordResponseV1 => "recordResponse",
                    RecordApi::RecordResponseBeta => "recordResponseBeta",
                    RecordApi::LegacyRecord => "record",
                },
                "request": request,
                "permitHeld": options.permit_held,
                "app": options.app_settings,
            }),
        };
        // Waiter first, then register: a completion the store delivers always
        // finds its waiter.
        let (tx, rx) = oneshot::channel();
        self.inner
            .lock_waiters()
            .insert(key.clone(), (tx, Some(pending.clone())));
        // If this future is dropped while registering, the waiter must not
        // stay in the map forever.
        let guard = WaiterGuard {
            inner: &self.inner,
            key: &key,
        };
        let registration = self.inner.store.register(&key, &pending).await;
        std::mem::forget(guard);
        match registration {
            Ok(Registration::Pending) => {
                tracing::debug!(%key, deadline_ms = deadline.as_millis() as u64, "awaiting completion");
                Ok(OperationHandle {
                    info: base,
                    state: Some(HandleState::Waiting(rx)),
                    inner: self.inner.clone(),
                })
            }
            Ok(Registration::AlreadyCompleted(op)) => {
                self.inner.lock_waiters().remove(&key);
                tracing::debug!(%key, "completion arrived before the POST response");
                Ok(OperationHandle::ready(base, *op, self.inner.clone()))
            }
            Err(e) => {
                self.inner.lock_waiters().remove(&key);
                Err(e)
            }
        }
    }
}

impl DeliveryTarget for TrackerInner {
    fn deliver(&self, key: &OperationKey, op: RecordOperation) {
        if self.deliver_local(key, op) {
            tracing::debug!(%key, "completion forwarded from another instance");
        }
    }

    fn resync(&self) {
        let keys: Vec<(OperationKey, Option<PendingOperation>)> = self
            .lock_waiters()
            .iter()
            .map(|(k, (_, p))| (k.clone(), p.clone()))
            .collect();
        if keys.is_empty() {
            return;
        }
        let store = self.store.clone();
        let Some(me) = self.me.get().and_then(Weak::upgrade) else {
            return;
        };
        let Ok(rt) = tokio::runtime::Handle::try_current() else {
            return;
        };
        rt.spawn(async move {
            for (key, pending) in keys {
                let found = match &pending {
                    Some(p) => store.reregister(&key, p).await,
                    None => store.poll(&key).await,
                };
                match found {
                    Ok(Some(op)) => {
                        me.deliver_local(&key, op);
                    }
                    Ok(None) => {}
                    Err(e) => tracing::warn!(%key, error = %e, "resync with the store failed"),
                }
            }
        });
    }
}

impl TrackerInner {
    fn tap(&self, f: impl FnOnce(&dyn crate::tap::WebhookTap)) {
        if let Some(t) = &self.config.tap {
            f(t.as_ref());
        }
    }

    /// Records a completion, retrying a failing store (Redis restarting)
    /// for up to two minutes: the webhook has already answered Graph, so
    /// giving up loses the completion. Later notifications wait behind this
    /// one (the store is down for them too); the bounded queue fills and
    /// the webhook answers 503, so Graph retries those itself.
    async fn complete_with_retry(
        &self,
        key: &OperationKey,
        op: &RecordOperation,
    ) -> Result<Disposition> {
        const GIVE_UP_AFTER: Duration = Duration::from_secs(120);
        let started = Instant::now();
        let mut delay = Duration::from_millis(100);
        let mut attempt = 1u32;
        loop {
            match self.store.complete(key, op, self.config.early_ttl).await {
                Ok(d) => return Ok(d),
                Err(e) if started.elapsed() < GIVE_UP_AFTER => {
                    self.tap(|t| t.store_error());
                    tracing::warn!(%key, attempt, error = %e, "store failed to record a completion; retrying");
                    tokio::time::sleep(delay).await;
                    delay = (delay * 2).min(Duration::from_secs(2));
                    attempt += 1;
                }
                Err(e) => {
                    self.tap(|t| t.store_error());
                    return Err(e);
                }
            }
        }
    }

    /// Hands `op` to the local waiter of `key`; false if there is none.
    fn deliver_local(&self, key: &OperationKey, op: RecordOperation) -> bool {
        let waiter = self.lock_waiters().remove(key);
        match waiter {
            Some((tx, _)) => {
                let _ = tx.send(op);
                tracing::debug!(%key, "completion delivered");
                true
            }
            None => false,
        }
    }

    fn lock_waiters(&self) -> std::sync::MutexGuard<'_, HashMap<OperationKey, Waiter>> {
        // Each use is a single insert/remove, so a poisoned map is consistent.
        self.waiters.lock().unwrap_or_else(|p| p.into_inner())
    }

    async fn dispatch(&self, batch: CommsNotifications) {
        for n in &batch.value {
            let Some((key, mut op)) = n.record_completion() else {
                match n.recording_started() {
                    Some((key, op)) => {
                        match crate::limits::check_completion(&key, &op, "a notification") {
                            Ok(()) => self.started.deliver(key, &op),
                            Err(e) => {
                                tracing::warn!(error = %e, "recording-started notification refused")
                            }
                        }
                    }
                    None => {
                        tracing::trace!(resource = ?n.resource_path(), "ignoring unrelated notification")
                    }
                }
                continue;
            };
            // Refuse this one notification, not the batch: ids that could
            // name a path and oversized fields never reach the store.
            if let Err(e) = crate::limits::check_completion(&key, &op, "a notification") {
                tracing::warn!(error = %e, "completion notification refused");
                continue;
            }
            op.tenant_id.clone_from(&batch.tenant_id);
            match self.complete_with_retry(&key, &op).await {
                Ok(Disposition::Deliver) => {
                    if !self.deliver_local(&key, op) {
                        if self.store.is_shared() {
                            tracing::debug!(%key, "completion forwarded to the owning instance");
                        } else {
                            tracing::warn!(%key, "completion for an operation with no local waiter");
                        }
                    }
                }
                Ok(Disposition::Buffered) => {
                    tracing::debug!(%key, "completion buffered (no waiter yet)")
                }
                Ok(Disposition::Duplicate) => {
                    self.tap(|t| t.duplicate());
                    tracing::debug!(%key, "duplicate or late completion ignored")
                }
                Err(e) => tracing::error!(%key, error = %e, "store failed; completion dropped"),
            }
        }
    }
}

struct WaiterGuard<'a> {
    inner: &'a TrackerInner,
    key: &'a OperationKey,
}

impl Drop for WaiterGuard<'_> {
    fn drop(&mut self) {
        self.inner.lock_waiters().remove(self.key);
    }
}

struct HandleInfo {
    key: OperationKey,
    call_id: String,
    operation_id: String,
    client_context: Option<String>,
    deadline: Duration,
    started: Instant,
}

enum HandleState {
    Ready(Box<RecordOperation>),
    Waiting(oneshot::Receiver<RecordOperation>),
}

/// A started record operation. [`OperationHandle::completed`] consumes it, so
/// the result is read exactly once.
pub struct OperationHandle {
    info: HandleInfo,
    state: Option<HandleState>,
    inner: Arc<TrackerInner>,
}

/// An operation taken over from a dead instance, with its handle.
#[derive(Debug)]
pub struct AdoptedOperation {
    /// What the store had recorded (settings, previous owner, completion).
    pub orphan: OrphanedOperation,
    /// Resolves like any handle: completed, failed or lost.
    pub handle: OperationHandle,
}

impl AdoptedOperation {
    /// The request the original owner sent (timers and stop tones, for the
    /// completion check), if it was recorded.
    pub fn request(&self) -> Option<RecordResponseRequest> {
        serde_json::from_value(self.orphan.pending.settings.get("request")?.clone()).ok()
    }

    /// Whether the original owner held a recording permit for the call.
    pub fn permit_held(&self) -> bool {
        self.orphan
            .pending
            .settings
            .get("permitHeld")
            .and_then(serde_json::Value::as_bool)
            .unwrap_or(false)
    }

    /// The application's own settings ([`RecordOptions::app_settings`]).
    pub fn app_settings(&self) -> &serde_json::Value {
        self.orphan
            .pending
            .settings
            .get("app")
            .unwrap_or(&serde_json::Value::Null)
    }
}

impl std::fmt::Debug for OperationHandle {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("OperationHandle")
            .field("call_id", &self.info.call_id)
            .field("operation_id", &self.info.operation_id)
            .field("deadline", &self.info.deadline)
            .finish_non_exhaustive()
    }
}

impl OperationHandle {
    fn ready(info: HandleInfo, op: RecordOperation, inner: Arc<TrackerInner>) -> Self {
        OperationHandle {
            info,
            state: Some(HandleState::Ready(Box::new(op))),
            inner,
        }
    }

    /// The operation ID Graph assigned.
    pub fn operation_id(&self) -> &str {
        &self.info.operation_id
    }

    /// The call ID.
    pub fn call_id(&self) -> &str {
        &self.info.call_id
    }

    /// The client context sent with the request.
    pub fn client_context(&self) -> Option<&str> {
        self.info.client_context.as_deref()
    }

    /// Resolves when Graph announces where the recording can be read while
    /// it is still being made (legacy `record` with `streamWhileRecording`);
    /// never, otherwise: race it against [`OperationHandle::completed`].
    pub fn recording_started(&self) -> crate::started::RecordingStarted {
        self.inner
            .started
            .wait(self.info.key.clone(), &self.info.call_id)
    }

    /// Time allowed for the completion, counted from the POST response.
    pub fn deadline(&self) -> Duration {
        self.info.deadline
    }

    /// Waits for the outcome: the completion, or `Lost` at the deadline.
    ///
    /// A completed recording is returned only to the one caller, across all
    /// instances sharing the store, that wins the download claim; the others
    /// get `Lost` with [`LostOperation::taken_over_by`] set.
    pub async fn completed(mut self) -> RecordOutcome {
        let state = self.state.take();
        let inner = self.inner.clone();
        let outcome = match state {
            Some(HandleState::Ready(op)) => self.classify(*op),
            Some(HandleState::Waiting(mut rx)) => {
                let at = self.info.started + self.info.deadline;
                tokio::select! {
                    r = &mut rx => match r {
                        Ok(op) => self.classify(op),
                        Err(_) => self.lost(None),
                    },
                    _ = tokio::time::sleep_until(at) => {
                        let abandoned = inner.store.abandon(&self.info.key).await;
                        match abandoned {
                            Ok(Abandoned::Completed(Some(op))) => {
                                inner.lock_waiters().remove(&self.info.key);
                                self.classify(*op)
                            }
                            Ok(Abandoned::Completed(None)) => match rx.await {
                                // Delivered just as the deadline passed.
                                Ok(op) => self.classify(op),
                                Err(_) => self.lost(None),
                            },
                            Ok(Abandoned::TakenOver { by }) => {
                                inner.lock_waiters().remove(&self.info.key);
                                self.lost(Some(by))
                            }
                            Ok(Abandoned::Lost) => {
                                inner.lock_waiters().remove(&self.info.key);
                                self.lost(None)
                            }
                            Err(e) => {
                                tracing::error!(key = %self.info.key, error = %e,
                                    "store failed while giving up on the operation");
                                inner.lock_waiters().remove(&self.info.key);
                                self.lost(None)
                            }
                        }
                    }
                }
            }
            None => self.lost(None),
        };
        let RecordOutcome::Completed(rec) = outcome else {
            return outcome;
        };
        match inner.store.claim_download(&self.info.key).await {
            Ok(true) => RecordOutcome::Completed(rec),
            Ok(false) => {
                tracing::warn!(key = %self.info.key,
                    "another instance holds the download claim; not downloading here");
                self.lost(Some("another instance (download claim)".into()))
            }
            Err(e) => {
                // Losing a recording is worse than fetching it twice: without
                // the store's answer, download anyway.
                tracing::warn!(key = %self.info.key, error = %e,
                    "download claim failed; downloading without it");
                RecordOutcome::Completed(rec)
            }
        }
    }

    fn lost(&self, taken_over_by: Option<String>) -> RecordOutcome {
        match &taken_over_by {
            None => {
                tracing::warn!(key = %self.info.key, deadline_ms = self.info.deadline.as_millis() as u64,
                "no completion by the deadline: operation lost")
            }
            Some(by) => tracing::warn!(key = %self.info.key, %by,
                "operation taken over by another instance"),
        }
        RecordOutcome::Lost(LostOperation {
            call_id: self.info.call_id.clone(),
            operation_id: self.info.operation_id.clone(),
            client_context: self.info.client_context.clone(),
            deadline: self.info.deadline,
            taken_over_by,
        })
    }

    fn classify(&self, op: RecordOperation) -> RecordOutcome {
        let reason = op.effective_reason();
        let client_context = op
            .client_context
            .clone()
            .or_else(|| self.info.client_context.clone());
        let completed = op.status == Some(OperationStatus::Completed);
        match (completed, op.location()) {
            (true, Some(location)) => RecordOutcome::Completed(CompletedRecording {
                call_id: self.info.call_id.clone(),
                operation_id: self.info.operation_id.clone(),
                client_context,
                reason,
                result_info: op.result_info.clone(),
                location: location.to_string(),
                token: op.access_token().cloned(),
                tenant_id: op.tenant_id.clone(),
            }),
            // `completed` without a location (e.g. cancelled, 8508) leaves
            // nothing to download: report it as a failure with Graph's info.
            _ => RecordOutcome::Failed(FailedOperation {
                call_id: self.info.call_id.clone(),
                operation_id: self.info.operation_id.clone(),
                client_context,
                status: op.status.clone(),
                reason,
                result_info: op.result_info,
                tenant_id: op.tenant_id,
            }),
        }
    }
}

impl Drop for OperationHandle {
    fn drop(&mut self) {
        // A handle dropped unread: stop waiting. In memory the key becomes
        // "done" and a late completion is ignored instead of buffered; a
        // shared store hands the operation to the fleet instead.
        if let Some(HandleState::Waiting(_)) = self.state.take() {
            let inner = self.inner.clone();
            inner.lock_waiters().remove(&self.info.key);
            let key = self.info.key.clone();
            if let Ok(rt) = tokio::runtime::Handle::try_current() {
                rt.spawn(async move {
                    let _ = inner.store.release(&key).await;
                });
            }
        }
    }
}

/// How a record operation ended.
#[derive(Debug, Clone)]
pub enum RecordOutcome {
    /// Graph completed the recording; it can be downloaded.
    Completed(CompletedRecording),
    /// Graph reported a failure.
    Failed(FailedOperation),
    /// No completion arrived by the deadline.
    Lost(LostOperation),
}

impl RecordOutcome {
    /// `Ok` for a completed recording, else the matching [`CaptureError`].
    pub fn into_result(self) -> Result<CompletedRecording> {
        match self {
            RecordOutcome::Completed(c) => Ok(c),
            RecordOutcome::Failed(f) => Err(CaptureError::OperationFailed {
                call_id: f.call_id,
                operation_id: f.operation_id,
                result_info: f.result_info,
            }),
            RecordOutcome::Lost(l) => Err(CaptureError::OperationLost {
                call_id: l.call_id,
                operation_id: l.operation_id,
                deadline: l.deadline,
            }),
        }
    }
}

/// A completed recording, ready to download. `Debug` redacts the location
/// and the token.
#[derive(Clone)]
pub struct CompletedRecording {
    /// Call ID.
    pub call_id: String,
    /// Operation ID.
    pub operation_id: String,
    /// Client context.
    pub client_context: Option<String>,
    /// Why recording ended (beta reason or derived from the subcode).
    pub reason: Option<CompletionReason>,
    /// Graph's outcome code.
    pub result_info: Option<ResultInfo>,
    /// Where to download the recording.
    pub location: String,
    /// The recording access token (legacy notifications may omit it).
    pub token: Option<Secret>,
    /// The tenant of the verified notification that completed it (the
    /// JWT's `tid`); `None` when notifications are not verified by JWT.
    pub tenant_id: Option<String>,
}

/// A record operation Graph reported as failed.
#[derive(Debug, Clone)]
pub struct FailedOperation {
    /// Call ID.
    pub call_id: String,
    /// Operation ID.
    pub operation_id: String,
    /// Client context.
    pub client_context: Option<String>,
    /// The reported status.
    pub status: Option<OperationStatus>,
    /// Why it ended, if known.
    pub reason: Option<CompletionReason>,
    /// Graph's outcome code.
    pub result_info: Option<ResultInfo>,
    /// The tenant of the verified notification, as in
    /// [`CompletedRecording::tenant_id`].
    pub tenant_id: Option<String>,
}

/// A record operation with no completion by its deadline.
#[derive(Debug, Clone)]
pub struct LostOperation {
    /// Call ID.
    pub call_id: String,
    /// Operation ID.
    pub operation_id: String,
    /// Client context.
    pub client_context: Option<String>,
    /// The deadline that passed.
    pub deadline: Duration,
    /// Set when this instance gave the operation up because another one
    /// took it over (it was presumed dead) and handles it instead.
    pub taken_over_by: Option<String>,
}
