//! The record flow shared by `voxcap record`, `voxcap demo` and the tests: a
//! [`Bot`] owns one Graph client, one operation tracker and one verified
//! notification webhook; [`Bot::record`] runs one operation end to end
//! (status permit, recordResponse, completion, streaming download into the
//! analysis, trimmed copy, JSON report), writing every file atomically.
//!
//! A `Bot` handles many operations at once: each [`Bot::record`] call is
//! independent and the tracker pairs notifications by call and operation id.

use std::io::Read;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{bail, Context};
use serde::Serialize;
use voxcap_capture::redis_store::{RedisStore, RedisStoreConfig};
use voxcap_capture::store::OperationStore;
use voxcap_capture::webhook::{self, DEFAULT_CALLBACK_PATH};
use voxcap_capture::wire::{RecordResponseRequest, ResultInfo};
use voxcap_capture::{
    AdoptedOperation, ClientCredentialsConfig, DownloadInfo, GraphClient, JwtConfig,
    NotificationAuth, OperationTracker, RecordApi, RecordOptions, RecordOutcome, RecordingEnd,
    RecordingPermit, Secret, TrackerConfig, WebhookState,
};
use voxcap_dsp::verify::{RecordSettings, ReportedOutcome};
use voxcap_dsp::{analyze_reader, AnalysisConfig, Report};

use crate::trim_out;

/// How the bot gets its Graph app token.
#[derive(Debug, Clone)]
pub enum TokenSource {
    /// A bearer token obtained elsewhere.
    Static(Secret),
    /// OAuth2 client credentials, cached and refreshed.
    ClientCredentials(ClientCredentialsConfig),
}

/// How notifications are authenticated.
#[derive(Debug, Clone)]
pub enum NotificationAuthMode {
    /// Verify each notification's JWT: audience = the bot's app id, keys from
    /// `openid_config` (Graph's calling platform when `None`).
    Jwt {
        /// Expected `aud`.
        audience: String,
        /// OpenID configuration URL.
        openid_config: Option<String>,
    },
    /// No verification; only loopback peers are accepted (local testing).
    InsecureLoopbackOnly,
}

/// Settings of a [`Bot`].
#[derive(Debug, Clone)]
pub struct BotConfig {
    /// Graph base URL, e.g. `https://graph.microsoft.com/v1.0`.
    pub graph_url: String,
    /// The app token source.
    pub token: TokenSource,
    /// Where the webhook listens (port 0 picks a free port).
    pub listen: SocketAddr,
    /// The webhook path, e.g. `/api/calls`.
    pub callback_path: String,
    /// Notification authentication.
    pub auth: NotificationAuthMode,
    /// Added to prompt + initial silence + max record to form the deadline.
    pub deadline_margin: Duration,
    /// Where pending operations live: this process, or Redis for a fleet.
    pub store: StoreChoice,
}

/// Where a bot keeps its pending operations.
#[derive(Debug, Clone, Default)]
pub enum StoreChoice {
    /// In this process (one instance receives all its notifications).
    #[default]
    InMemory,
    /// In Redis, shared by a fleet of instances behind one callback URL.
    Redis(RedisStoreConfig),
}

impl BotConfig {
    /// A config with the default callback path and deadline margin.
    pub fn new(graph_url: impl Into<String>, token: TokenSource, listen: SocketAddr) -> Self {
        BotConfig {
            graph_url: graph_url.into(),
            token,
            listen,
            callback_path: DEFAULT_CALLBACK_PATH.to_string(),
            auth: NotificationAuthMode::InsecureLoopbackOnly,
            deadline_margin: Duration::from_secs(15),
            store: StoreChoice::InMemory,
        }
    }
}

/// Which Graph action starts the recording.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum ApiKind {
    /// `recordResponse` (v1.0, or beta when the Graph URL ends in `/beta`).
    #[default]
    RecordResponse,
    /// The legacy beta `record` action.
    LegacyRecord,
}

/// What one record operation asks for and where its files go.
#[derive(Debug, Clone)]
pub struct RecordPlan {
    /// Which action to call.
    pub api: ApiKind,
    /// The request body (prompt, timers, stop tones, client context).
    pub request: RecordResponseRequest,
    /// Call `updateRecordingStatus` and persist; when false nothing is
    /// downloaded or written, since persisting media without a successful
    /// `updateRecordingStatus(recording)` breaks Graph's terms.
    pub recording_status: bool,
    /// Expected prompt length (extends the deadline).
    pub prompt_duration: Duration,
    /// Output directory.
    pub out_dir: PathBuf,
}

/// How an operation ended, for the exit code.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum OutcomeKind {
    /// Recorded and analysed.
    Recorded,
    /// Graph reported a failure.
    Failed,
    /// No completion arrived by the deadline.
    Lost,
}

/// `resultInfo` as written in the report.
#[derive(Debug, Clone, Default, Serialize, PartialEq, Eq)]
pub struct ResultInfoReport {
    /// HTTP-like code.
    pub code: Option<i64>,
    /// Graph subcode.
    pub subcode: Option<i64>,
    /// Graph's message.
    pub message: Option<String>,
}

impl From<Option<&ResultInfo>> for ResultInfoReport {
    fn from(r: Option<&ResultInfo>) -> Self {
        r.map(|r| ResultInfoReport {
            code: r.code,
            subcode: r.subcode,
            message: r.message.clone(),
        })
        .unwrap_or_default()
    }
}

/// The `operation` object of the report.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct OperationReport {
    /// Graph's operation id.
    pub id: String,
    /// The client context sent (or echoed).
    pub client_context: Option<String>,
    /// `completed`, `failed` or `lost`.
    pub status: String,
    /// The reported completion reason (beta field, or from the subcode).
    pub completion_reason: Option<String>,
    /// Graph's `resultInfo`.
    pub result_info: ResultInfoReport,
}

/// The files an operation wrote.
#[derive(Debug, Clone)]
pub struct OutputFiles {
    /// The original recording.
    pub wav: PathBuf,
    /// The trimmed copy.
    pub trimmed: PathBuf,
}

/// The result of [`Bot::record`].
#[derive(Debug, Clone)]
pub struct Outcome {
    /// How it ended.
    pub kind: OutcomeKind,
    /// The operation's identity and what Graph reported.
    pub operation: OperationReport,
    /// The analysis, when a recording was downloaded.
    pub report: Option<Report>,
    /// The full JSON report (analysis + `operation`), as written.
    pub json: serde_json::Value,
    /// `DIR/<operationId>.json`, when written.
    pub json_path: Option<PathBuf>,
    /// The audio files, when written.
    pub files: Option<OutputFiles>,
    /// Download statistics, when downloaded.
    pub download: Option<DownloadInfo>,
    /// From the completion reaching the bot to the report being written.
    pub notification_to_report: Option<Duration>,
}

/// A running bot: Graph client, operation tracker and notification webhook.
pub struct Bot {
    core: Arc<Core>,
    callback_url: String,
    shutdown: Option<tokio::sync::oneshot::Sender<()>>,
    server: tokio::task::JoinHandle<voxcap_capture::Result<()>>,
}

/// What record and takeover tasks share.
struct Core {
    client: GraphClient,
    tracker: OperationTracker,
    beta: bool,
    redis: Option<Arc<RedisStore>>,
}

impl std::fmt::Debug for Bot {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Bot")
            .field("callback_url", &self.callback_url)
            .finish_non_exhaustive()
    }
}

impl Bot {
    /// Builds the client and tracker (connecting to the shared store when
    /// one is configured) and starts the webhook on `config.listen`, with
    /// `/healthz` and `/readyz` beside it.
    pub async fn start(config: BotConfig) -> anyhow::Result<Bot> {
        let path = &config.callback_path;
        if !path.starts_with('/') || path.contains(['?', '#', ' ']) {
            bail!("--callback-path {path:?}: must be a URL path starting with '/'");
        }
        if matches!(path.as_str(), "/healthz" | "/readyz") {
            bail!("--callback-path {path:?}: reserved for the health endpoints");
        }
        let builder = GraphClient::builder().base_url(config.graph_url.trim_end_matches('/'));
        let builder = match config.token {
            TokenSource::Static(t) => builder.static_token(t),
            TokenSource::ClientCredentials(c) => builder.client_credentials(c),
        };
        let client = builder.build().context("Graph client")?;
        let tracker_config = TrackerConfig {
            deadline_margin: config.deadline_margin,
            ..TrackerConfig::default()
        };
        let (tracker, redis) = match config.store {
            StoreChoice::InMemory => (OperationTracker::new(client.clone(), tracker_config), None),
            StoreChoice::Redis(rc) => {
                let store = RedisStore::connect(rc)
                    .await
                    .context("--redis: the shared operation store is unusable")?;
                let tracker = OperationTracker::with_store(
                    client.clone(),
                    tracker_config,
                    store.clone() as Arc<dyn OperationStore>,
                );
                (tracker, Some(store))
            }
        };
        let auth = match config.auth {
            NotificationAuthMode::Jwt {
                audience,
                openid_config,
            } => {
                let mut jwt = JwtConfig::new(audience);
                if let Some(url) = openid_config {
                    jwt.openid_config_url = url;
                }
                NotificationAuth::jwt(client.http().clone(), jwt)
            }
            NotificationAuthMode::InsecureLoopbackOnly => {
                if !config.listen.ip().is_loopback() {
                    bail!(
                        "--listen {}: notification auth can only be disabled on a loopback address",
                        config.listen
                    );
                }
                NotificationAuth::InsecureLoopbackOnly
            }
        };
        let state = WebhookState::new(auth, tracker.notification_sink()).with_path(path.clone());
        let listener = tokio::net::TcpListener::bind(config.listen)
            .await
            .with_context(|| format!("--listen {}: cannot bind the webhook", config.listen))?;
        let addr = listener.local_addr().context("webhook local address")?;
        let callback_url = format!("http://{addr}{path}");
        let (tx, rx) = tokio::sync::oneshot::channel::<()>();
        let health = health_routes(redis.clone());
        let server = tokio::spawn(webhook::serve_with(listener, state, health, async move {
            let _ = rx.await;
        }));
        Ok(Bot {
            core: Arc::new(Core {
                beta: client.base_url().ends_with("/beta"),
                client,
                tracker,
                redis,
            }),
            callback_url,
            shutdown: Some(tx),
            server,
        })
    }

    /// The webhook's URL (`http://ADDR/PATH`), the call's `callbackUri`.
    pub fn callback_url(&self) -> &str {
        &self.callback_url
    }

    /// The Graph client.
    pub fn client(&self) -> &GraphClient {
        &self.core.client
    }

    /// The shared store, when the bot runs in a fleet.
    pub fn redis(&self) -> Option<&Arc<RedisStore>> {
        self.core.redis.as_ref()
    }

    /// Stops the webhook; with a shared store, also deletes this instance's
    /// heartbeat so the fleet takes over anything it leaves unfinished.
    pub async fn stop(mut self) {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
        let _ = (&mut self.server).await;
        if let Some(r) = &self.core.redis {
            r.shutdown().await;
        }
    }

    /// Runs one record operation on `call_id` end to end.
    ///
    /// Graph-reported failures and lost operations are `Ok` outcomes (their
    /// JSON is still written); `Err` is anything else (HTTP, download, I/O).
    pub async fn record(&self, call_id: &str, plan: &RecordPlan) -> anyhow::Result<Outcome> {
        self.core.record(call_id, plan).await
    }

    /// Takes over the operations of dead fleet instances (a no-op without a
    /// shared store) and finishes each in its own task: completed ones are
    /// downloaded and analysed into `out_dir`, pending ones are awaited until
    /// their original deadline, expired ones are reported `lost`.
    pub async fn take_over(
        &self,
        out_dir: &Path,
    ) -> anyhow::Result<Vec<tokio::task::JoinHandle<anyhow::Result<Outcome>>>> {
        let adopted = self
            .core
            .tracker
            .adopt_orphans()
            .await
            .context("taking over operations of dead instances")?;
        Ok(adopted
            .into_iter()
            .map(|a| {
                let core = self.core.clone();
                let dir = out_dir.to_path_buf();
                tokio::spawn(async move { core.finish_adopted(a, &dir).await })
            })
            .collect())
    }
}

/// `/healthz` (the process serves) and `/readyz` (it can do its job: the
/// shared store answers and its heartbeat is fresh).
fn health_routes(redis: Option<Arc<RedisStore>>) -> axum::Router {
    use axum::http::StatusCode;
    use axum::routing::get;
    axum::Router::new()
        .route("/healthz", get(|| async { (StatusCode::OK, "ok\n") }))
        .route(
            "/readyz",
            get(move || {
                let redis = redis.clone();
                async move {
                    match redis {
                        None => (StatusCode::OK, "ready\n".to_string()),
                        Some(r) if r.is_healthy() => match r.ping().await {
                            Ok(()) => (StatusCode::OK, "ready\n".to_string()),
                            Err(e) => {
                                (StatusCode::SERVICE_UNAVAILABLE, format!("not ready: {e}\n"))
                            }
                        },
                        Some(_) => (
                            StatusCode::SERVICE_UNAVAILABLE,
                            "not ready: the shared store's heartbeat or subscription is down\n"
                                .to_string(),
                        ),
                    }
                }
            }),
        )
}

impl Core {
    async fn record(&self, call_id: &str, plan: &RecordPlan) -> anyhow::Result<Outcome> {
        let dir = &plan.out_dir;
        std::fs::create_dir_all(dir).with_context(|| format!("--out {}", dir.display()))?;
        let mut request = plan.request.clone();
        let context = request
            .client_context
            .get_or_insert_with(|| format!("{:032x}", rand_u128()))
            .clone();
        // Set the status before recording starts, so the compliance UI shows
        // it while the caller speaks; and so the permit is at hand the moment
        // the completion arrives.
        let permit = if plan.recording_status {
            Some(
                RecordingPermit::acquire(&self.client, call_id, context.clone())
                    .await
                    .with_context(|| format!("call {call_id}: updateRecordingStatus(recording)"))?,
            )
        } else {
            None
        };
        let options = RecordOptions {
            api: match (plan.api, self.beta) {
                (ApiKind::LegacyRecord, _) => RecordApi::LegacyRecord,
                (ApiKind::RecordResponse, true) => RecordApi::RecordResponseBeta,
                (ApiKind::RecordResponse, false) => RecordApi::RecordResponseV1,
            },
            prompt_duration: plan.prompt_duration,
            deadline_margin: None,
            app_settings: serde_json::json!({ "outDir": plan.out_dir }),
            permit_held: permit.is_some(),
        };
        let handle = match self.tracker.record(call_id, &request, &options).await {
            Ok(h) => h,
            Err(e) => {
                release(&self.client, permit, RecordingEnd::Finished).await;
                return Err(e).with_context(|| format!("call {call_id}: starting the recording"));
            }
        };
        let op_id = handle.operation_id().to_string();
        let outcome = handle.completed().await;
        let result = self
            .conclude(
                call_id,
                &op_id,
                &request,
                outcome,
                permit,
                dir,
                plan.recording_status,
            )
            .await;
        self.record_finish(call_id, &op_id, &result).await;
        result
    }

    /// Finishes an operation taken over from a dead instance.
    async fn finish_adopted(
        &self,
        adopted: AdoptedOperation,
        dir: &Path,
    ) -> anyhow::Result<Outcome> {
        let call_id = adopted.orphan.pending.call_id.clone();
        let op_id = adopted.orphan.pending.operation_id.clone();
        let from = adopted.orphan.previous_owner.clone();
        let request = adopted.request().unwrap_or_default();
        let permit = RecordingPermit::inherit(&adopted);
        let persist = permit.is_some();
        if !persist {
            tracing::warn!(%call_id, operation_id = %op_id,
                "taken-over operation had no recording permit: the outcome is reported, nothing is persisted");
        }
        std::fs::create_dir_all(dir).with_context(|| format!("--out {}", dir.display()))?;
        let outcome = adopted.handle.completed().await;
        let mut result = self
            .conclude(&call_id, &op_id, &request, outcome, permit, dir, persist)
            .await;
        if let Ok(o) = &mut result {
            let me = self.redis.as_ref().map(|r| r.instance_id().to_string());
            if let Some(obj) = o.json.as_object_mut() {
                obj.insert(
                    "takeover".into(),
                    serde_json::json!({ "from": from, "by": me }),
                );
            }
        }
        self.record_finish(&call_id, &op_id, &result).await;
        result
    }

    /// Tells the shared store how the operation ended (so it leaves the
    /// pending set); a failure there is logged, the outcome stands.
    async fn record_finish(&self, call_id: &str, op_id: &str, result: &anyhow::Result<Outcome>) {
        if self.redis.is_none() {
            return;
        }
        let (state, summary) = match result {
            Ok(o) if o.taken_over_by().is_some() => return,
            Ok(o) => (
                match o.kind {
                    OutcomeKind::Recorded => "done",
                    OutcomeKind::Failed => "failed",
                    OutcomeKind::Lost => "lost",
                },
                serde_json::json!({
                    "status": o.operation.status,
                    "completionReason": o.operation.completion_reason,
                    "report": o.json_path,
                    "verdict": o.report.as_ref().map(|r| &r.completion),
                }),
            ),
            Err(e) => (
                "failed",
                serde_json::json!({ "status": "error", "error": format!("{e:#}") }),
            ),
        };
        if let Err(e) = self.tracker.finish(call_id, op_id, state, &summary).await {
            tracing::warn!(call_id, operation_id = op_id, error = %e,
                "could not record the outcome in the shared store");
        }
    }

    /// Turns a resolved handle into an [`Outcome`]: downloads, analyses and
    /// writes the files for a completed recording (when `persist`), writes
    /// the JSON of a failure or a loss.
    #[allow(clippy::too_many_arguments)]
    async fn conclude(
        &self,
        call_id: &str,
        op_id: &str,
        request: &RecordResponseRequest,
        outcome: RecordOutcome,
        permit: Option<RecordingPermit>,
        dir: &Path,
        persist: bool,
    ) -> anyhow::Result<Outcome> {
        let notified = Instant::now();
        let op_id = op_id.to_string();
        match outcome {
            RecordOutcome::Completed(rec) => {
                let operation = OperationReport {
                    id: op_id.clone(),
                    client_context: rec.client_context.clone(),
                    status: "completed".into(),
                    completion_reason: rec.reason.as_ref().map(|r| r.as_str().to_string()),
                    result_info: rec.result_info.as_ref().into(),
                };
                let Some(permit) = permit else {
                    let json = serde_json::json!({ "file": null, "operation": operation,
                        "note": "not downloaded: --no-recording-status forbids persisting media" });
                    return Ok(Outcome {
                        kind: OutcomeKind::Recorded,
                        operation,
                        report: None,
                        json,
                        json_path: None,
                        files: None,
                        download: None,
                        notification_to_report: None,
                    });
                };
                let config = analysis_config(request, &rec);
                let name = format!("{op_id}.wav");
                let wav = dir.join(&name);
                let downloaded = rec
                    .download_and_analyze(&self.client, &wav, &permit, move |r| {
                        analyze_stream(&name, r, &config)
                    })
                    .await;
                let (analysed, info) = match downloaded {
                    Ok(x) => x,
                    Err(e) => {
                        release(&self.client, Some(permit), RecordingEnd::Failed).await;
                        return Err(e).with_context(|| {
                            format!("call {call_id}, operation {op_id}: downloading the recording")
                        });
                    }
                };
                let finish = async {
                    let report =
                        analysed.with_context(|| format!("{}: analysing", wav.display()))?;
                    let trimmed = dir.join(format!("{op_id}.trimmed.wav"));
                    let (src, dst, span) = (wav.clone(), trimmed.clone(), report.trim_span);
                    tokio::task::spawn_blocking(move || {
                        trim_out::write_trimmed_file(&src, span, &dst, false)
                    })
                    .await
                    .context("trimmed-copy task")??;
                    let json = report_json(&report, &operation)?;
                    let json_path = write_json_atomically(dir, &op_id, &json)?;
                    anyhow::Ok((report, json, json_path, trimmed))
                };
                let (report, json, json_path, trimmed) = match finish.await {
                    Ok(x) => x,
                    Err(e) => {
                        release(&self.client, Some(permit), RecordingEnd::Failed).await;
                        return Err(e);
                    }
                };
                let latency = notified.elapsed();
                tracing::debug!(operation_id = %op_id, latency_us = latency.as_micros() as u64,
                    "report written");
                release(&self.client, Some(permit), RecordingEnd::Finished).await;
                Ok(Outcome {
                    kind: OutcomeKind::Recorded,
                    operation,
                    report: Some(report),
                    json,
                    json_path: Some(json_path),
                    files: Some(OutputFiles { wav, trimmed }),
                    download: Some(info),
                    notification_to_report: Some(latency),
                })
            }
            RecordOutcome::Failed(f) => {
                release(&self.client, permit, RecordingEnd::Finished).await;
                let operation = OperationReport {
                    id: op_id.clone(),
                    client_context: f.client_context.clone(),
                    status: "failed".into(),
                    completion_reason: f.reason.as_ref().map(|r| r.as_str().to_string()),
                    result_info: f.result_info.as_ref().into(),
                };
                write_if(
                    no_audio_outcome(OutcomeKind::Failed, operation),
                    dir,
                    persist,
                )
            }
            RecordOutcome::Lost(l) => {
                release(&self.client, permit, RecordingEnd::Finished).await;
                let message = match &l.taken_over_by {
                    Some(by) => format!("taken over by {by}, which finishes it"),
                    None => format!(
                        "no completion notification within {:.1} s",
                        l.deadline.as_secs_f64()
                    ),
                };
                let operation = OperationReport {
                    id: op_id.clone(),
                    client_context: l.client_context.clone(),
                    status: "lost".into(),
                    completion_reason: None,
                    result_info: ResultInfoReport {
                        message: Some(message),
                        ..ResultInfoReport::default()
                    },
                };
                let mut o = no_audio_outcome(OutcomeKind::Lost, operation);
                if let (Some(by), Some(obj)) = (&l.taken_over_by, o.json.as_object_mut()) {
                    obj.insert("takenOverBy".into(), serde_json::json!(by));
                    // The instance that took it over writes the report.
                    return Ok(o);
                }
                write_if(o, dir, persist)
            }
        }
    }
}

impl Outcome {
    /// The instance that took this operation over, when this one gave it up.
    pub fn taken_over_by(&self) -> Option<&str> {
        self.json.get("takenOverBy").and_then(|v| v.as_str())
    }
}

/// An outcome with no recording to analyse: the JSON holds only `operation`.
fn no_audio_outcome(kind: OutcomeKind, operation: OperationReport) -> Outcome {
    let json = serde_json::json!({ "file": null, "operation": operation });
    Outcome {
        kind,
        operation,
        report: None,
        json,
        json_path: None,
        files: None,
        download: None,
        notification_to_report: None,
    }
}

impl Drop for Bot {
    fn drop(&mut self) {
        self.server.abort();
    }
}

/// Writes the JSON of an outcome without audio, when persisting is allowed.
fn write_if(mut o: Outcome, dir: &Path, persist: bool) -> anyhow::Result<Outcome> {
    if persist {
        o.json_path = Some(write_json_atomically(dir, &o.operation.id, &o.json)?);
    }
    Ok(o)
}

async fn release(client: &GraphClient, permit: Option<RecordingPermit>, end: RecordingEnd) {
    if let Some(p) = permit {
        let call = p.call_id().to_string();
        if let Err(e) = p.release(client, end).await {
            // The recording itself is fine; the status stays "recording" in
            // Graph's UI, which the user must hear about but not fail on.
            tracing::warn!(call_id = %call, error = %e, "updateRecordingStatus at the end failed");
            eprintln!("voxcap: warning: call {call}: updateRecordingStatus at the end failed: {e}");
        }
    }
}

fn rand_u128() -> u128 {
    // Enough uniqueness for a client context; no crypto needed.
    use std::hash::{BuildHasher, Hasher};
    let s = std::collections::hash_map::RandomState::new();
    let mut h = s.build_hasher();
    h.write_u128(
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_nanos()),
    );
    let a = h.finish();
    let mut h2 = s.build_hasher();
    h2.write_u64(a);
    (u128::from(a) << 64) | u128::from(h2.finish())
}

/// The analysis settings for a recording made with `request` that Graph
/// reported as `rec`, so the completion verdict checks the real claim.
fn analysis_config(
    request: &RecordResponseRequest,
    rec: &voxcap_capture::tracker::CompletedRecording,
) -> AnalysisConfig {
    AnalysisConfig {
        settings: RecordSettings {
            stop_tones: request
                .stop_tones
                .iter()
                .flat_map(|t| t.chars())
                .map(|c| c.to_ascii_uppercase())
                .collect(),
            initial_silence_s: f64::from(request.initial_silence_timeout_in_seconds),
            max_silence_s: f64::from(request.max_silence_timeout_in_seconds),
            max_record_s: f64::from(request.max_record_duration_in_seconds),
        },
        reported: ReportedOutcome {
            completion_reason: rec.reason.as_ref().map(|r| r.as_str().to_string()),
            subcode: rec
                .result_info
                .as_ref()
                .and_then(|r| r.subcode)
                .and_then(|s| u32::try_from(s).ok()),
        },
        ..AnalysisConfig::default()
    }
}

/// Runs [`analyze_reader`] on the borrowed reader that
/// `download_and_analyze` hands its closure. The decoder wants an owned
/// `'static` reader, so the analysis runs on a scoped thread fed through a
/// small bounded channel while this thread keeps pulling from `r`.
pub fn analyze_stream(
    name: &str,
    r: &mut dyn Read,
    config: &AnalysisConfig,
) -> anyhow::Result<Report> {
    let (tx, rx) = std::sync::mpsc::sync_channel::<std::io::Result<Vec<u8>>>(4);
    std::thread::scope(|s| {
        let analysis = s.spawn(move || {
            analyze_reader(
                name,
                ChunkReader {
                    rx,
                    buf: Vec::new(),
                    pos: 0,
                },
                config,
            )
        });
        loop {
            let mut chunk = vec![0u8; 32 * 1024];
            match r.read(&mut chunk) {
                Ok(0) => break,
                Ok(n) => {
                    chunk.truncate(n);
                    if tx.send(Ok(chunk)).is_err() {
                        break; // the analysis stopped early (it has its answer or an error)
                    }
                }
                Err(e) => {
                    let _ = tx.send(Err(e));
                    break;
                }
            }
        }
        drop(tx);
        let result = analysis
            .join()
            .map_err(|_| anyhow::anyhow!("{name}: the analysis thread panicked"))?;
        // Drain so the download side never blocks on a full channel.
        let mut sink = [0u8; 32 * 1024];
        while matches!(r.read(&mut sink), Ok(n) if n > 0) {}
        result.with_context(|| format!("{name}: analysis"))
    })
}

struct ChunkReader {
    rx: std::sync::mpsc::Receiver<std::io::Result<Vec<u8>>>,
    buf: Vec<u8>,
    pos: usize,
}

impl Read for ChunkReader {
    fn read(&mut self, out: &mut [u8]) -> std::io::Result<usize> {
        if out.is_empty() {
            return Ok(0);
        }
        while self.pos == self.buf.len() {
            match self.rx.recv() {
                Ok(Ok(b)) => {
                    self.buf = b;
                    self.pos = 0;
                }
                Ok(Err(e)) => return Err(e),
                Err(_) => return Ok(0),
            }
        }
        let n = out.len().min(self.buf.len() - self.pos);
        out[..n].copy_from_slice(&self.buf[self.pos..self.pos + n]);
        self.pos += n;
        Ok(n)
    }
}

/// The analysis report with the `operation` object added.
fn report_json(report: &Report, operation: &OperationReport) -> anyhow::Result<serde_json::Value> {
    let mut v = serde_json::to_value(report).context("serialising the report")?;
    if let Some(obj) = v.as_object_mut() {
        obj.insert(
            "operation".into(),
            serde_json::to_value(operation).context("serialising the operation")?,
        );
    }
    Ok(v)
}

/// Writes `DIR/<operationId>.json` through a temp file and a rename.
fn write_json_atomically(
    dir: &Path,
    op_id: &str,
    json: &serde_json::Value,
) -> anyhow::Result<PathBuf> {
    let dest = dir.join(format!("{op_id}.json"));
    crate::trim_out::write_json_atomically(&dest, json)?;
    Ok(dest)
}
