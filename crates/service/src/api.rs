//! The API's handlers, each with its OpenAPI operation (`#[utoipa::path]`),
//! and the state they share. A POST answers at once (`202`, the recording
//! `running`) and the operation goes on in a task that updates the record
//! when it ends; with an `Idempotency-Key` the first answer is stored with
//! a fingerprint of the request, and a retry gets that answer back without
//! placing anything again.

use std::path::{Path as FsPath, PathBuf};
use std::sync::{Arc, OnceLock, RwLock};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use axum::body::{Body, Bytes};
use axum::extract::rejection::{BytesRejection, PathRejection, QueryRejection};
use axum::extract::{Path, Query, Request, State};
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::{Extension, Json};
use serde::Deserialize;
use sha2::{Digest, Sha256};
use tower::ServiceExt;
use utoipa::IntoParams;
use voxcap_bot::{
    ApiKind, BotError, Outcome, OutcomeKind, RecordPlan, RecordSpec, Recorder, TrimPads,
};
use voxcap_capture::OperationId;
use voxcap_records::audit::{AuditLog, DeleteReason};
use voxcap_records::layout::{RecordingFiles, RECORDING_SUFFIXES};
use voxcap_records::time::rfc3339;

use crate::callbacks::{deliver, CallbackConfig, DeliveryOutcome};
use crate::keys::{ApiKeys, KeyId};
use crate::metrics::Metrics;
use crate::model::{
    check_call_id, ApiChoice, ExternalRecordingBody, OperationView, RecordResponseBody, Recording,
    RecordingLinks, RecordingPage, RecordingStatus, ResultInfoBody,
};
use crate::outbox::Outbox;
use crate::problem::Problem;
use crate::request::{accepted, bytes_problem, idempotency_key, parse_body, path_problem};
use crate::store::{IdempotentAnswer, ListQuery, RecordingRecord, RecordingStore};
use crate::time::parse_rfc3339_ms;

/// The longest page of `GET /v1/recordings`.
pub const MAX_PAGE: u32 = 100;

/// What every handler shares.
#[derive(Clone)]
pub struct ServiceState {
    pub(crate) inner: Arc<Shared>,
}

impl std::fmt::Debug for ServiceState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ServiceState")
            .field("out_dir", &self.inner.out_dir)
            .finish_non_exhaustive()
    }
}

pub(crate) struct Shared {
    pub(crate) recorder: Recorder,
    pub(crate) store: Arc<dyn RecordingStore>,
    pub(crate) keys: RwLock<ApiKeys>,
    pub(crate) out_dir: PathBuf,
    pub(crate) metrics: Arc<Metrics>,
    pub(crate) openapi: Bytes,
    pub(crate) callbacks: Option<CallbackConfig>,
    pub(crate) http: reqwest::Client,
    /// A fleet's callback outbox (Redis); unset: callbacks in memory.
    pub(crate) outbox: OnceLock<Arc<Outbox>>,
    /// Set when the service is aborted (a fleet test's killed instance):
    /// the operations it follows stop where they are.
    pub(crate) killed: tokio::sync::watch::Sender<bool>,
    /// The recordings this process follows (a task is running for each).
    pub(crate) following: std::sync::Mutex<std::collections::HashSet<String>>,
    /// Added to a recording's own deadline before it is presumed abandoned.
    pub(crate) orphan_grace: Duration,
}

impl ServiceState {
    /// State over `recorder` and `store`, accepting `keys`, files in
    /// `out_dir`, callbacks signed and retried as `callbacks` says (none
    /// without: a `callbackUrl` is then refused).
    pub fn new(
        recorder: Recorder,
        store: Arc<dyn RecordingStore>,
        keys: ApiKeys,
        out_dir: PathBuf,
        callbacks: Option<CallbackConfig>,
    ) -> ServiceState {
        let openapi = serde_json::to_vec(&crate::openapi()).unwrap_or_default();
        ServiceState {
            inner: Arc::new(Shared {
                recorder,
                store,
                keys: RwLock::new(keys),
                out_dir,
                metrics: Arc::new(Metrics::default()),
                openapi: Bytes::from(openapi),
                callbacks,
                http: reqwest::Client::new(),
                outbox: OnceLock::new(),
                killed: tokio::sync::watch::Sender::new(false),
                following: std::sync::Mutex::default(),
                orphan_grace: crate::DEFAULT_ORPHAN_GRACE,
            }),
        }
    }

    /// The state with `grace` added to a recording's deadline before the
    /// orphan sweep ends it. Call it on a state just made.
    pub(crate) fn with_orphan_grace(mut self, grace: Duration) -> ServiceState {
        if let Some(inner) = Arc::get_mut(&mut self.inner) {
            inner.orphan_grace = grace;
        }
        self
    }

    /// This instance's id in its fleet (`None` alone).
    pub(crate) fn instance(&self) -> Option<&str> {
        self.inner.recorder.redis().map(|r| r.instance_id())
    }

    /// Whether this process has a task following recording `id`.
    pub(crate) fn follows(&self, id: &str) -> bool {
        self.inner
            .following
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .contains(id)
    }

    fn set_following(&self, id: &str, on: bool) {
        let mut set = self
            .inner
            .following
            .lock()
            .unwrap_or_else(|p| p.into_inner());
        if on {
            set.insert(id.to_string());
        } else {
            set.remove(id);
        }
    }

    /// The state counting into `metrics` (shared with the webhook's tap and
    /// the relay) instead of its own. Call it on a state just made.
    pub(crate) fn with_metrics(mut self, metrics: Arc<Metrics>) -> ServiceState {
        if let Some(shared) = Arc::get_mut(&mut self.inner) {
            shared.metrics = metrics;
        }
        self
    }

    /// Replaces the accepted keys (rotation: a removed key is refused from
    /// the next request on).
    pub fn replace_keys(&self, keys: ApiKeys) {
        *self.inner.keys.write().unwrap_or_else(|p| p.into_inner()) = keys;
    }

    /// The fingerprint of `presented` when it is an accepted key.
    pub(crate) fn verify_key(&self, presented: &str) -> Option<KeyId> {
        self.inner
            .keys
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .verify(presented)
    }

    /// Sends callbacks through `outbox` (a fleet's, in Redis) from now on.
    pub(crate) fn set_outbox(&self, outbox: Arc<Outbox>) {
        let _ = self.inner.outbox.set(outbox);
    }

    pub(crate) fn outbox(&self) -> Option<&Arc<Outbox>> {
        self.inner.outbox.get()
    }

    /// Stops following operations at once, as a killed process would.
    pub(crate) fn kill(&self) {
        self.inner.killed.send_replace(true);
    }

    /// Ends the API's record of an operation another instance took over and
    /// finished (the fleet's takeover found it by its `clientContext`), and
    /// queues its callback. Nothing when no running record placed it.
    pub async fn follow_takeover(&self, outcome: Outcome) {
        let Some(context) = outcome.operation.client_context.clone() else {
            return;
        };
        let found = self.inner.store.find_by_context(&context).await;
        match found {
            Ok(Some(id)) => {
                tracing::info!(recording = %id, operation_id = %outcome.operation.id,
                    "a taken-over operation ends its recording");
                finish(self, &id, Ok(outcome)).await;
            }
            Ok(None) => {}
            Err(e) => tracing::error!(error = %e, operation_id = %outcome.operation.id,
                "could not look up the recording of a taken-over operation"),
        }
    }

    /// The deployment's retention (`--retain-days`), the longest a request
    /// may ask for.
    pub(crate) fn max_retention(&self) -> Option<Duration> {
        self.inner.recorder.stewardship().retain
    }

    pub(crate) fn metrics(&self) -> &Metrics {
        &self.inner.metrics
    }

    fn audit(&self) -> AuditLog {
        AuditLog::new(
            &self.inner.out_dir,
            self.inner.recorder.stewardship().instance.clone(),
        )
    }
}

fn store_problem(e: crate::store::StoreError) -> Problem {
    tracing::error!(error = %e, "recording store failed");
    Problem::new(
        StatusCode::SERVICE_UNAVAILABLE,
        "store-unavailable",
        "Store unavailable",
        e.to_string(),
    )
}

fn ms_since_epoch(t: SystemTime) -> u64 {
    t.duration_since(UNIX_EPOCH)
        .map(|d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
        .unwrap_or(0)
}

pub(crate) fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as u64)
}

fn links(id: &str, audio: bool) -> RecordingLinks {
    let base = format!("/v1/recordings/{id}");
    RecordingLinks {
        audio: audio.then(|| format!("{base}/audio")),
        trimmed: audio.then(|| format!("{base}/trimmed")),
        self_link: base,
    }
}

/// A new recording id: 128 random bits as 32 hex digits.
fn new_id() -> String {
    format!("{:032x}", rand::random::<u128>())
}

/// What a new recording runs once accepted.
enum Job {
    Record(String, Box<RecordPlan>),
    Ingest(
        Box<voxcap_capture::wire::RecordResponseRequest>,
        Option<TrimPads>,
        Box<voxcap_capture::tracker::CompletedRecording>,
    ),
}

/// A recording about to be accepted.
struct NewRecording {
    /// Its resource, `running`.
    resource: Recording,
    /// `voxcap.retentionSeconds`.
    retention_s: Option<u64>,
    /// The longest its operation can take (the orphan sweep's bound).
    deadline: Duration,
}

/// Stores a new recording, or replays the first answer for its
/// `Idempotency-Key`, then starts `job`.
async fn start(
    state: &ServiceState,
    headers: &HeaderMap,
    route: &str,
    body: &[u8],
    new: NewRecording,
    job: Job,
) -> Result<Response, Problem> {
    let NewRecording {
        resource,
        retention_s,
        deadline,
    } = new;
    let key = idempotency_key(headers)?;
    if resource.callback_url.is_some() && state.inner.callbacks.is_none() {
        return Err(Problem::invalid(
            "voxcap.callbackUrl: this deployment has no callback secret (VOXCAP_CALLBACK_SECRET), so it sends no callbacks",
        ));
    }
    let store = &state.inner.store;
    let answer = serde_json::to_value(&resource).map_err(|e| Problem::internal(e.to_string()))?;
    let created_ms = now_ms();
    let stale = deadline.saturating_add(state.inner.orphan_grace);
    let record = RecordingRecord {
        seq: 0,
        created_ms,
        resource,
        stem: None,
        retention_s,
        expires_ms: None,
        owner: state.instance().map(str::to_string),
        stale_ms: Some(
            created_ms.saturating_add(u64::try_from(stale.as_millis()).unwrap_or(u64::MAX)),
        ),
    };
    let id = record.resource.id.clone();
    // Stored before the answer, so a replayed answer names a recording that
    // exists; removed again if the key turns out to be taken.
    store.insert(record).await.map_err(store_problem)?;
    if let Some(key) = key {
        let mut h = Sha256::new();
        h.update(route.as_bytes());
        h.update([0]);
        h.update(body);
        let fingerprint: String = h.finalize().iter().map(|b| format!("{b:02x}")).collect();
        let first = IdempotentAnswer {
            fingerprint: fingerprint.clone(),
            status: StatusCode::ACCEPTED.as_u16(),
            body: answer.clone(),
            stored_at: SystemTime::now(),
        };
        let existing = store.put_answer_if_absent(&key, first).await;
        let existing = match existing {
            Ok(x) => x,
            Err(e) => {
                let _ = store.remove(&id).await;
                return Err(store_problem(e));
            }
        };
        if let Some(existing) = existing {
            let _ = store.remove(&id).await;
            if existing.fingerprint != fingerprint {
                return Err(Problem::invalid(
                    "Idempotency-Key: already used with a different request",
                ));
            }
            state.metrics().replayed();
            return Ok(accepted(existing.status, &existing.body, true));
        }
    }
    state.set_following(&id, true);
    let task_state = state.clone();
    let task_id = id.clone();
    let mut killed = state.inner.killed.subscribe();
    let span = tracing::info_span!("recording", recording_id = %id);
    let task = async move {
        let recorder = task_state.inner.recorder.clone();
        let out_dir = task_state.inner.out_dir.clone();
        let job = async {
            match job {
                Job::Record(call_id, plan) => recorder.record(&call_id, &plan).await,
                Job::Ingest(request, trim, completed) => {
                    recorder.ingest(&request, trim, *completed, &out_dir).await
                }
            }
        };
        let stop = async move {
            let _ = killed.wait_for(|k| *k).await.is_ok();
        };
        tokio::select! {
            result = job => {
                finish(&task_state, &task_id, result).await;
                task_state.set_following(&task_id, false);
            }
            // Dropped mid-way: in a fleet the takeover finishes it.
            () = stop => {}
        }
    };
    tokio::spawn(tracing::Instrument::instrument(task, span));
    Ok(accepted(StatusCode::ACCEPTED.as_u16(), &answer, false))
}

/// Records how a recording's operation ended.
async fn finish(state: &ServiceState, id: &str, result: Result<Outcome, BotError>) {
    let store = &state.inner.store;
    let Ok(Some(mut record)) = store.get(id).await else {
        tracing::warn!(
            recording = id,
            "recording record gone before its operation ended"
        );
        return;
    };
    if record.resource.status != RecordingStatus::Running {
        // Already ended (a takeover's outcome and the original instance's
        // both arrived): the first final status stands, one callback.
        return;
    }
    let r = &mut record.resource;
    let mut verdict = None;
    let mut download = None;
    match result {
        Ok(o) => {
            r.status = match o.kind {
                OutcomeKind::Recorded => RecordingStatus::Completed,
                OutcomeKind::Failed => RecordingStatus::Failed,
                OutcomeKind::Lost => RecordingStatus::Lost,
            };
            r.operation = Some(OperationView {
                id: o.operation.id.clone(),
                status: o.operation.status.clone(),
                completion_reason: o.operation.completion_reason.clone(),
                result_info: ResultInfoBody {
                    code: o.operation.result_info.code,
                    subcode: o.operation.result_info.subcode,
                    message: o.operation.result_info.message.clone(),
                },
            });
            if r.client_context.is_none() {
                r.client_context = o.operation.client_context.clone();
            }
            record.stem = OperationId::parse(&o.operation.id, "the bot's outcome")
                .ok()
                .map(|op| op.file_stem().to_string());
            if o.report.is_some() {
                verdict = o
                    .json
                    .pointer("/completion/verdict")
                    .and_then(|v| v.as_str())
                    .map(str::to_string);
                r.report = Some(o.json);
            }
            download = o.download.map(|d| (d.bytes, d.elapsed.as_secs_f64()));
            if let Some(a) = o.analysis {
                state.metrics().analysed(a.as_secs_f64());
            }
            r.links = links(&r.id, o.files.is_some());
        }
        Err(e) => {
            tracing::warn!(recording = id, call_id = %r.call_id, error = %e, "recording failed");
            r.status = RecordingStatus::Failed;
            r.error = Some(voxcap_bot::error::error_chain(&e));
        }
    }
    settle(state, id, record, verdict.as_deref(), download).await;
}

/// Stores a recording that reached its final status (the time, its
/// expiry), counts it, and queues its callback.
pub(crate) async fn settle(
    state: &ServiceState,
    id: &str,
    mut record: RecordingRecord,
    verdict: Option<&str>,
    download: Option<(u64, f64)>,
) {
    let store = &state.inner.store;
    let now = SystemTime::now();
    record.resource.updated_at = rfc3339(now);
    state
        .metrics()
        .finished(record.resource.status, verdict, download);
    if let Some(keep) = record.retention_s {
        let at = now + Duration::from_secs(keep);
        record.expires_ms = Some(ms_since_epoch(at));
        record.resource.expires_at = Some(rfc3339(at));
    }
    let callback = record.resource.callback_url.clone();
    let body = serde_json::to_vec(&record.resource).unwrap_or_default();
    if let Err(e) = store.update(record).await {
        tracing::error!(recording = id, error = %e, "could not store the recording's outcome");
    }
    if let (Some(url), Some(outbox)) = (&callback, state.outbox()) {
        match outbox.enqueue(url, &body).await {
            Ok(delivery) => {
                tracing::debug!(recording = id, delivery, "callback queued in the outbox");
                return;
            }
            // Sent from this process instead (at least once while it lives).
            Err(e) => tracing::error!(recording = id, error = %e,
                "could not queue the callback in Redis; sending it from this instance"),
        }
    }
    if let (Some(url), Some(config)) = (callback, state.inner.callbacks.clone()) {
        let state = state.clone();
        tokio::spawn(async move {
            let delivery = new_id();
            let metrics = state.metrics();
            let http = &state.inner.http;
            let on_attempt = |ok| metrics.callback_attempt(ok);
            if let DeliveryOutcome::GaveUp(_) =
                deliver(http, &config, &url, &delivery, body, on_attempt).await
            {
                metrics.callback_given_up();
            }
        });
    }
}

fn new_resource(
    call_id: &str,
    source: &str,
    client_context: Option<String>,
    callback: Option<String>,
) -> Recording {
    let id = new_id();
    let now = rfc3339(SystemTime::now());
    Recording {
        links: links(&id, false),
        id,
        status: RecordingStatus::Running,
        call_id: call_id.to_string(),
        source: source.to_string(),
        created_at: now.clone(),
        updated_at: now,
        client_context,
        callback_url: callback,
        expires_at: None,
        operation: None,
        report: None,
        error: None,
    }
}

/// Records the caller's answer on a call.
///
/// The body is Graph's own `recordResponse` body (prompts, bargeInAllowed,
/// the three timeouts, playBeep, stopTones, clientContext) with an optional
/// `voxcap` object. voxcap sets the recording status, places the operation,
/// follows it to the end, downloads, analyses and stores the recording;
/// the answer comes at once, the recording `running`.
#[utoipa::path(
    post,
    path = "/v1/calls/{callId}/recordResponse",
    tag = "recordings",
    params(
        ("callId" = String, Path, pattern = "^[A-Za-z0-9-]{1,128}$", description = "The call (1-128 letters, digits or dashes)"),
        ("Idempotency-Key" = Option<String>, Header, pattern = "^[!-~]{1,255}$", description = "A retried POST with the same key and body gets the first answer and places nothing again (kept 24 h)"),
    ),
    request_body(content = RecordResponseBody, content_type = "application/json"),
    responses(
        (status = 202, description = "Placed; the recording is running", body = Recording,
            headers(("Location" = String, description = "The recording"))),
        (status = 400, description = "Unreadable request", body = Problem, content_type = "application/problem+json"),
        (status = 401, description = "No valid API key", body = Problem, content_type = "application/problem+json"),
        (status = 413, description = "Body too large", body = Problem, content_type = "application/problem+json"),
        (status = 415, description = "Not JSON", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "A value breaks a rule", body = Problem, content_type = "application/problem+json"),
    ),
)]
pub(crate) async fn record_response(
    State(state): State<ServiceState>,
    call_id: Result<Path<String>, PathRejection>,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Result<Response, Problem> {
    let body = body.map_err(|r| bytes_problem(&r))?;
    let Path(call_id) = call_id.map_err(|r| path_problem(&r))?;
    check_call_id(&call_id, "path callId")?;
    let parsed: RecordResponseBody = parse_body(&headers, &body)?;
    let mut request = parsed.request()?;
    let options = parsed.voxcap.clone().unwrap_or_default();
    options.check(state.max_retention())?;
    let api = options.api.unwrap_or_default();
    let context = request
        .client_context
        .get_or_insert_with(|| format!("{:032x}", rand::random::<u128>()))
        .clone();
    let (kind, source) = match api {
        ApiChoice::RecordResponse => (ApiKind::RecordResponse, "recordResponse"),
        ApiChoice::LegacyRecord => (ApiKind::LegacyRecord, "legacyRecord"),
    };
    let mut plan = RecordPlan::new(kind, &RecordSpec::default(), state.inner.out_dir.clone());
    // The longest the operation can run: the tracker's deadline (initial
    // silence + max record + its margin).
    let deadline = Duration::from_secs(
        u64::from(request.initial_silence_timeout_in_seconds)
            + u64::from(request.max_record_duration_in_seconds),
    ) + state.inner.recorder.deadline_margin();
    plan.request = request;
    plan.trim = options.trim_pads();
    let retention = options.retention_seconds;
    let resource = new_resource(&call_id, source, Some(context), options.callback_url);
    let route = format!("POST /v1/calls/{call_id}/recordResponse");
    start(
        &state,
        &headers,
        &route,
        &body,
        NewRecording {
            resource,
            retention_s: retention,
            deadline,
        },
        Job::Record(call_id, Box::new(plan)),
    )
    .await
}

/// The longest an external recording's download and analysis is given
/// before the orphan sweep may end it (its instance gone).
const INGEST_DEADLINE: Duration = Duration::from_secs(120);

/// Downloads, analyses and stores a recording another bot placed.
///
/// For bots that place `recordResponse` themselves with their own SDK: the
/// body is the call id, the completed `recordOperation` their webhook
/// received (location and token), the settings they sent, and what Graph
/// reported. voxcap sets the recording status, downloads, analyses, stores
/// and ends the status; the answer comes at once, the recording `running`.
#[utoipa::path(
    post,
    path = "/v1/recordings",
    tag = "recordings",
    params(
        ("Idempotency-Key" = Option<String>, Header, pattern = "^[!-~]{1,255}$", description = "A retried POST with the same key and body gets the first answer and downloads nothing again (kept 24 h)"),
    ),
    request_body(content = ExternalRecordingBody, content_type = "application/json"),
    responses(
        (status = 202, description = "Accepted; the download is running", body = Recording,
            headers(("Location" = String, description = "The recording"))),
        (status = 400, description = "Unreadable request", body = Problem, content_type = "application/problem+json"),
        (status = 401, description = "No valid API key", body = Problem, content_type = "application/problem+json"),
        (status = 413, description = "Body too large", body = Problem, content_type = "application/problem+json"),
        (status = 415, description = "Not JSON", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "A value breaks a rule", body = Problem, content_type = "application/problem+json"),
    ),
)]
pub(crate) async fn create_recording(
    State(state): State<ServiceState>,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Result<Response, Problem> {
    let body = body.map_err(|r| bytes_problem(&r))?;
    let parsed: ExternalRecordingBody = parse_body(&headers, &body)?;
    let (request, completed) = parsed.parts()?;
    let options = parsed.voxcap.clone().unwrap_or_default();
    options.check(state.max_retention())?;
    let callback = options.callback_url.clone();
    let resource = new_resource(
        &parsed.call_id,
        "external",
        completed.client_context.clone(),
        callback,
    );
    start(
        &state,
        &headers,
        "POST /v1/recordings",
        &body,
        NewRecording {
            resource,
            retention_s: options.retention_seconds,
            deadline: INGEST_DEADLINE,
        },
        Job::Ingest(Box::new(request), options.trim_pads(), Box::new(completed)),
    )
    .await
}

/// A recording id from the path: 32 hex digits, else no such recording.
fn recording_id(id: Result<Path<String>, PathRejection>) -> Result<String, Problem> {
    let Path(id) = id.map_err(|r| path_problem(&r))?;
    if voxcap_records::layout::is_stem(&id) {
        Ok(id)
    } else {
        Err(Problem::not_found("no such recording"))
    }
}

async fn load(state: &ServiceState, id: &str) -> Result<RecordingRecord, Problem> {
    state
        .inner
        .store
        .get(id)
        .await
        .map_err(store_problem)?
        .ok_or_else(|| Problem::not_found(format!("no recording {id}")))
}

/// One recording: its status, the operation, the report and links.
#[utoipa::path(
    get,
    path = "/v1/recordings/{id}",
    tag = "recordings",
    params(("id" = String, Path, description = "The recording id (32 hex digits)")),
    responses(
        (status = 200, description = "The recording", body = Recording),
        (status = 401, description = "No valid API key", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such recording", body = Problem, content_type = "application/problem+json"),
    ),
)]
pub(crate) async fn get_recording(
    State(state): State<ServiceState>,
    id: Result<Path<String>, PathRejection>,
) -> Result<Json<Recording>, Problem> {
    let id = recording_id(id)?;
    Ok(Json(load(&state, &id).await?.resource))
}

/// The list's query.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub(crate) struct ListParams {
    /// Only recordings in this status (`running`, `completed`, `failed`, `lost`).
    #[param(pattern = "^(running|completed|failed|lost)$")]
    status: Option<String>,
    /// Only recordings created at or after this time (RFC 3339).
    #[param(format = DateTime)]
    since: Option<String>,
    /// The `nextCursor` of the previous page.
    #[param(pattern = "^c[0-9]{1,19}$")]
    cursor: Option<String>,
    /// Page size, 1..=100 (default 50).
    #[param(minimum = 1, maximum = 100)]
    limit: Option<u32>,
}

/// Recordings, oldest first, a page at a time.
#[utoipa::path(
    get,
    path = "/v1/recordings",
    tag = "recordings",
    params(ListParams),
    responses(
        (status = 200, description = "A page", body = RecordingPage),
        (status = 400, description = "A bad query", body = Problem, content_type = "application/problem+json"),
        (status = 401, description = "No valid API key", body = Problem, content_type = "application/problem+json"),
    ),
)]
pub(crate) async fn list_recordings(
    State(state): State<ServiceState>,
    query: Result<Query<ListParams>, QueryRejection>,
) -> Result<Json<RecordingPage>, Problem> {
    let Query(q) = query.map_err(|r| Problem::bad_request(format!("query: {}", r.body_text())))?;
    let status = match q.status.as_deref() {
        None => None,
        Some(s) => Some(RecordingStatus::parse(s).ok_or_else(|| {
            Problem::bad_request("status: one of running, completed, failed, lost")
        })?),
    };
    let since_ms = match q.since.as_deref() {
        None => None,
        Some(s) => Some(parse_rfc3339_ms(s).ok_or_else(|| {
            Problem::bad_request("since: an RFC 3339 time, e.g. 2026-12-06T21:00:00Z")
        })?),
    };
    let after_seq = match q.cursor.as_deref() {
        None => None,
        Some(c) => Some(
            c.strip_prefix('c')
                .and_then(|n| n.parse::<u64>().ok())
                .ok_or_else(|| Problem::bad_request("cursor: not a cursor this service gave"))?,
        ),
    };
    let limit = q.limit.unwrap_or(50);
    if !(1..=MAX_PAGE).contains(&limit) {
        return Err(Problem::bad_request(format!("limit: 1..={MAX_PAGE}")));
    }
    let (page, more) = state
        .inner
        .store
        .list(ListQuery {
            status,
            since_ms,
            after_seq,
            limit: limit as usize,
        })
        .await
        .map_err(store_problem)?;
    let next_cursor = more
        .then(|| page.last().map(|r| format!("c{}", r.seq)))
        .flatten();
    let next = next_cursor.as_ref().map(|c| {
        let mut url = format!("/v1/recordings?cursor={c}&limit={limit}");
        if let Some(s) = status {
            url.push_str(&format!("&status={}", s.as_str()));
        }
        if let Some(s) = since_ms {
            url.push_str(&format!(
                "&since={}",
                rfc3339(UNIX_EPOCH + std::time::Duration::from_millis(s))
            ));
        }
        url
    });
    Ok(Json(RecordingPage {
        items: page.into_iter().map(|r| r.resource).collect(),
        next_cursor,
        next,
    }))
}

/// Serves one of a recording's audio files with Range support.
async fn serve_audio(
    state: &ServiceState,
    id: Result<Path<String>, PathRejection>,
    kind: &str,
    key: Option<KeyId>,
    req: Request,
) -> Result<Response, Problem> {
    let id = recording_id(id)?;
    let record = load(state, &id).await?;
    let Some(stem) = record
        .stem
        .filter(|_| record.resource.status == RecordingStatus::Completed)
    else {
        return Err(Problem::conflict(format!(
            "recording {id} is {}: there is no audio to serve",
            record.resource.status.as_str()
        )));
    };
    let dir = &state.inner.out_dir;
    let plain = dir.join(format!("{stem}.{kind}"));
    if !plain.is_file() {
        if dir.join(format!("{stem}.{kind}.age")).is_file() {
            return Err(Problem::conflict(format!(
                "recording {id} is stored encrypted at rest (age); the service holds no key to serve it"
            )));
        }
        return Err(Problem::new(
            StatusCode::GONE,
            "gone",
            "Gone",
            format!("recording {id}: the audio was deleted (after analysis, or by retention)"),
        ));
    }
    let sha = record
        .resource
        .report
        .as_ref()
        .and_then(|r| r.pointer("/provenance/sha256"))
        .and_then(|v| v.as_str())
        .map(str::to_string);
    let response = tower_http::services::ServeFile::new(&plain)
        .oneshot(req)
        .await
        .map_err(|e| Problem::internal(format!("recording {id}: reading the audio: {e}")))?;
    if response.status().is_success() {
        let log = state.audit();
        let who = format!("api:{}", key.map_or_else(|| "unknown".to_string(), |k| k.0));
        let stem = stem.clone();
        let _ = tokio::task::spawn_blocking(move || {
            if let Err(e) = log.read(&stem, sha.as_deref(), &who) {
                tracing::error!(error = %e, "could not append the read to the audit trail");
            }
        })
        .await;
    }
    Ok(response.map(Body::new))
}

/// The recording as downloaded (`audio/wav`), with Range.
#[utoipa::path(
    get,
    path = "/v1/recordings/{id}/audio",
    tag = "recordings",
    params(
        ("id" = String, Path, description = "The recording id (32 hex digits)"),
        ("Range" = Option<String>, Header, description = "A byte range, e.g. bytes=0-1023"),
    ),
    responses(
        (status = 200, description = "The whole file", content_type = "audio/wav", body = Vec<u8>),
        (status = 206, description = "The range asked for", content_type = "audio/wav", body = Vec<u8>),
        (status = 401, description = "No valid API key", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such recording", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "Not completed, or stored encrypted", body = Problem, content_type = "application/problem+json"),
        (status = 410, description = "The audio was deleted", body = Problem, content_type = "application/problem+json"),
        (status = 416, description = "The range is outside the file"),
    ),
)]
pub(crate) async fn get_audio(
    State(state): State<ServiceState>,
    id: Result<Path<String>, PathRejection>,
    key: Option<Extension<KeyId>>,
    req: Request,
) -> Result<Response, Problem> {
    serve_audio(&state, id, "wav", key.map(|k| k.0), req).await
}

/// The trimmed copy (`audio/wav`), with Range.
#[utoipa::path(
    get,
    path = "/v1/recordings/{id}/trimmed",
    tag = "recordings",
    params(
        ("id" = String, Path, description = "The recording id (32 hex digits)"),
        ("Range" = Option<String>, Header, description = "A byte range, e.g. bytes=0-1023"),
    ),
    responses(
        (status = 200, description = "The whole file", content_type = "audio/wav", body = Vec<u8>),
        (status = 206, description = "The range asked for", content_type = "audio/wav", body = Vec<u8>),
        (status = 401, description = "No valid API key", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such recording", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "Not completed, or stored encrypted", body = Problem, content_type = "application/problem+json"),
        (status = 410, description = "The audio was deleted", body = Problem, content_type = "application/problem+json"),
        (status = 416, description = "The range is outside the file"),
    ),
)]
pub(crate) async fn get_trimmed(
    State(state): State<ServiceState>,
    id: Result<Path<String>, PathRejection>,
    key: Option<Extension<KeyId>>,
    req: Request,
) -> Result<Response, Problem> {
    serve_audio(&state, id, "trimmed.wav", key.map(|k| k.0), req).await
}

/// Deletes a recording: every file of it, then the record; one audit line
/// (reason `api`).
#[utoipa::path(
    delete,
    path = "/v1/recordings/{id}",
    tag = "recordings",
    params(("id" = String, Path, description = "The recording id (32 hex digits)")),
    responses(
        (status = 204, description = "Deleted"),
        (status = 401, description = "No valid API key", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such recording", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "Still running", body = Problem, content_type = "application/problem+json"),
    ),
)]
pub(crate) async fn delete_recording(
    State(state): State<ServiceState>,
    id: Result<Path<String>, PathRejection>,
) -> Result<StatusCode, Problem> {
    let id = recording_id(id)?;
    let record = load(&state, &id).await?;
    if record.resource.status == RecordingStatus::Running {
        return Err(Problem::conflict(format!(
            "recording {id} is still running; delete it once it has ended"
        )));
    }
    if let Some(stem) = record.stem.clone() {
        let dir = state.inner.out_dir.clone();
        let log = state.audit();
        let deleted =
            tokio::task::spawn_blocking(move || delete_files(&dir, &stem, &log, DeleteReason::Api))
                .await
                .map_err(|e| Problem::internal(format!("recording {id}: deleting: {e}")))?;
        deleted.map_err(|e| Problem::internal(format!("recording {id}: {e}")))?;
    }
    state.inner.store.remove(&id).await.map_err(store_problem)?;
    Ok(StatusCode::NO_CONTENT)
}

/// Deletes the recording `stem`'s files in `dir`, one audit line with
/// `reason`. A sweep finding none (another instance's sweep was first)
/// writes no line.
fn delete_files(
    dir: &FsPath,
    stem: &str,
    log: &AuditLog,
    reason: DeleteReason,
) -> Result<(), voxcap_records::RecordsError> {
    let files: Vec<PathBuf> = RECORDING_SUFFIXES
        .iter()
        .map(|s| dir.join(format!("{stem}{s}")))
        .filter(|p| p.exists())
        .collect();
    if files.is_empty() && reason == DeleteReason::Retention {
        return Ok(());
    }
    let rec = RecordingFiles {
        stem: stem.to_string(),
        files,
    };
    voxcap_records::retention::delete(&[rec], reason, log, SystemTime::now())?;
    Ok(())
}

/// How many expired recordings one sweep deletes at most.
const SWEEP_BATCH: usize = 100;

/// Deletes the recordings whose `voxcap.retentionSeconds` have passed:
/// their files (one audit line, reason `retention`), then their records.
/// Returns how many were deleted; a recording that could not be deleted
/// stays due and is tried again by the next sweep.
pub(crate) async fn sweep_expired(state: &ServiceState) -> Result<usize, Problem> {
    let store = &state.inner.store;
    let mut deleted = 0;
    loop {
        let ids = store
            .expired(now_ms(), SWEEP_BATCH)
            .await
            .map_err(store_problem)?;
        let batch = ids.len();
        for id in ids {
            let Some(record) = store.get(&id).await.map_err(store_problem)? else {
                continue;
            };
            if let Some(stem) = record.stem.clone() {
                let (dir, log) = (state.inner.out_dir.clone(), state.audit());
                let done = tokio::task::spawn_blocking(move || {
                    delete_files(&dir, &stem, &log, DeleteReason::Retention)
                })
                .await;
                match done {
                    Ok(Ok(())) => {}
                    Ok(Err(e)) => {
                        tracing::error!(recording = %id, error = %e,
                            "retention: could not delete the recording's files; trying again at the next sweep");
                        continue;
                    }
                    Err(e) => {
                        tracing::error!(recording = %id, error = %e, "retention: the deleting task failed");
                        continue;
                    }
                }
            }
            if store.remove(&id).await.map_err(store_problem)?.is_some() {
                deleted += 1;
                state.metrics().expired();
                tracing::info!(recording = %id, "retention: recording deleted");
            }
        }
        if batch < SWEEP_BATCH {
            return Ok(deleted);
        }
    }
}

/// This API's OpenAPI 3.1 document.
#[utoipa::path(
    get,
    path = "/openapi.json",
    tag = "service",
    responses(
        (status = 200, description = "The OpenAPI document", content_type = "application/json", body = Object),
        (status = 401, description = "No valid API key", body = Problem, content_type = "application/problem+json"),
    ),
)]
pub(crate) async fn openapi_json(State(state): State<ServiceState>) -> Response {
    let mut r = state.inner.openapi.clone().into_response();
    r.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    r
}

/// The service's metrics (the Prometheus text format).
#[utoipa::path(
    get,
    path = "/metrics",
    tag = "service",
    responses(
        (status = 200, description = "The metrics", content_type = "text/plain", body = String),
        (status = 401, description = "No valid API key", body = Problem, content_type = "application/problem+json"),
    ),
)]
pub(crate) async fn metrics(State(state): State<ServiceState>) -> Result<Response, Problem> {
    // Metrics matter most when the store is down: without its counts the
    // recordings gauges keep their last values, and the store's errors
    // (counted by the store) show why.
    let counts = state
        .inner
        .store
        .count_by_status()
        .await
        .unwrap_or_default();
    let metrics = state.metrics();
    metrics.set_pending(state.inner.recorder.pending_operations());
    let outbox_pending = match state.outbox() {
        Some(outbox) => outbox.pending().await.ok(),
        None => None,
    };
    metrics.observe_store(state.inner.store.errors(), outbox_pending);
    if let Some(redis) = state.inner.recorder.redis() {
        metrics.observe_fleet_store(redis.errors());
    }
    let text = metrics.render(&counts);
    let mut r = text.into_response();
    r.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static(crate::metrics::PROMETHEUS_TEXT),
    );
    Ok(r)
}
