//! voxcap-service: voxcap as a service for bots in any language. A private
//! HTTP API, on a listener of its own beside the Graph webhook, over a
//! [`voxcap_bot::Recorder`]: a bot asks it to record
//! (`POST /v1/calls/{callId}/recordResponse`) or hands it an operation it
//! placed itself (`POST /v1/recordings`), then reads the recording, its
//! report and audio (with Range), lists and deletes recordings.
//!
//! - [`keys`]: the API keys (`Authorization: Bearer`), several at once for
//!   rotation, kept as SHA-256 digests and compared in constant time;
//!   [`keys_reload`] reads a keys file again when it changes and on SIGHUP;
//! - [`model`]: the JSON (camelCase, like Graph) and its checks;
//! - [`problem`]: every error as `application/problem+json`;
//! - [`store`]: the recording records behind [`store::RecordingStore`]:
//!   [`store::InMemoryRecordings`] alone, [`redis_store::RedisRecordings`]
//!   in a fleet (beside the bot's Redis operation store);
//! - [`callbacks`] signs and sends callbacks; [`outbox`] keeps a fleet's
//!   pending deliveries in Redis, claimed by any instance;
//! - `api`: the handlers, each with its OpenAPI operation;
//! - [`metrics`] counts what `/metrics` shows; [`logging`] sets up the
//!   text or JSON log output;
//! - [`relay`]: `--relay-to`, every accepted notification forwarded
//!   unchanged to a bot's webhook, in order per call, and the webhook tap
//!   that counts notifications;
//! - [`openapi()`] builds the OpenAPI 3.1 document from the handlers.
//!
//! Invariants: every route, `/openapi.json` and `/metrics` included,
//! answers 401 to a request without a valid key, before anything else is
//! looked at; no error is a 5xx for anything a client sends; a key or a
//! recording token never appears in a log, an error or `Debug`; file names
//! come only from validated operation ids (via voxcap-bot) and a recording
//! id is 32 hex digits, so no network value names a path; every deletion
//! is one audit line (reason `api`) through voxcap-records.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use axum::extract::{DefaultBodyLimit, MatchedPath, Request, State};
use axum::http::header;
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use axum::Router;
use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::{Modify, OpenApi};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;
use voxcap_bot::Recorder;
use voxcap_capture::webhook::WebhookLimits;

mod api;
pub mod callbacks;
pub mod error;
pub mod keys;
pub mod keys_reload;
pub mod logging;
pub mod metrics;
pub mod model;
mod orphans;
pub mod outbox;
pub mod problem;
pub mod redis_store;
pub mod relay;
mod request;
pub mod store;
pub mod time;

pub use api::{ServiceState, MAX_PAGE};
pub use error::ServiceError;
pub use keys::{ApiKeys, KeyId};
pub use problem::Problem;
pub use request::{IDEMPOTENCY_KEY, IDEMPOTENT_REPLAYED};

/// The default API address: loopback only.
pub const DEFAULT_API_LISTEN: &str = "127.0.0.1:8090";

/// The largest request body accepted (a recordResponse body is well under
/// 4 KiB).
pub const DEFAULT_MAX_BODY_BYTES: usize = 64 * 1024;

/// How the API is set up.
#[derive(Debug, Clone)]
pub struct ServiceConfig {
    /// Where the API listens (port 0 picks a free port).
    pub listen: SocketAddr,
    /// The accepted keys (at least one).
    pub keys: ApiKeys,
    /// Where recordings are written (the bot's output directory).
    pub out_dir: PathBuf,
    /// The largest request body, in bytes.
    pub max_body_bytes: usize,
    /// The listener's connection limits (the webhook server's).
    pub limits: WebhookLimits,
    /// How callbacks are signed and retried; `None`: no callbacks (a
    /// `callbackUrl` is refused).
    pub callbacks: Option<callbacks::CallbackConfig>,
    /// A fleet's records and callback outbox in Redis; `None`: in memory.
    pub redis: Option<redis_store::RedisRecordingsConfig>,
    /// What `/metrics` shows; share it with [`webhook_tap`] so that the
    /// webhook's notifications and the relay are counted there too.
    pub metrics: Arc<metrics::Metrics>,
    /// Pause between sweeps for recordings whose `voxcap.retentionSeconds`
    /// have passed, and for abandoned ones (see `orphan_grace`). Default
    /// [`DEFAULT_RETENTION_SWEEP`].
    pub retention_sweep: Duration,
    /// A recording still `running` past its operation's deadline plus this,
    /// whose instance is gone (or, on this instance, that no task follows),
    /// is ended `lost` (`failed` for `POST /v1/recordings`) and its
    /// callback sent. Default [`DEFAULT_ORPHAN_GRACE`].
    pub orphan_grace: Duration,
    /// A keys file to reload when it changes (and on SIGHUP); `None`: the
    /// keys stay as given.
    pub keys_file: Option<keys_reload::KeysFile>,
}

/// The default [`ServiceConfig::orphan_grace`]: a takeover has long ended
/// a registered operation by its deadline plus this.
pub const DEFAULT_ORPHAN_GRACE: Duration = Duration::from_secs(60);

/// The default pause between retention sweeps: a recording is deleted at
/// most this long after its time.
pub const DEFAULT_RETENTION_SWEEP: Duration = Duration::from_secs(5);

impl ServiceConfig {
    /// A config with the default body limit and connection limits.
    pub fn new(listen: SocketAddr, keys: ApiKeys, out_dir: impl Into<PathBuf>) -> Self {
        ServiceConfig {
            listen,
            keys,
            out_dir: out_dir.into(),
            max_body_bytes: DEFAULT_MAX_BODY_BYTES,
            limits: WebhookLimits::default(),
            callbacks: None,
            redis: None,
            metrics: Arc::default(),
            retention_sweep: DEFAULT_RETENTION_SWEEP,
            orphan_grace: DEFAULT_ORPHAN_GRACE,
            keys_file: None,
        }
    }
}

/// The webhook tap a bot gets (`BotConfig::webhook_tap`) for the service:
/// it counts notifications into `metrics` and, with `relay_to`, forwards
/// each accepted one there (checked by [`relay::parse_target`]).
pub fn webhook_tap(
    metrics: Arc<metrics::Metrics>,
    relay_to: Option<&str>,
) -> Result<Arc<dyn voxcap_capture::webhook::WebhookTap>, ServiceError> {
    let relay = match relay_to {
        Some(url) => Some(relay::Relay::new(
            relay::RelayConfig::new(relay::parse_target(url)?),
            metrics.clone(),
        )),
        None => None,
    };
    Ok(Arc::new(relay::NotificationTap::new(metrics, relay)))
}

/// The security scheme: `Authorization: Bearer <API key>`.
struct BearerScheme;

impl Modify for BearerScheme {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "bearer",
            SecurityScheme::Http(
                HttpBuilder::new()
                    .scheme(HttpAuthScheme::Bearer)
                    .description(Some(
                        "An API key of the deployment (VOXCAP_API_KEYS or --api-keys-file)",
                    ))
                    .build(),
            ),
        );
    }
}

#[derive(OpenApi)]
#[openapi(
    info(
        title = "voxcap service API",
        description = "Record a caller's answer through Microsoft Graph, verify it, and fetch the report and audio. Errors are application/problem+json (RFC 9457).",
    ),
    modifiers(&BearerScheme),
    security(("bearer" = [])),
    tags(
        (name = "recordings", description = "Recordings: placed, followed, downloaded, analysed, stored"),
        (name = "service", description = "The service itself"),
    ),
)]
struct ApiDoc;

fn routes() -> OpenApiRouter<ServiceState> {
    OpenApiRouter::with_openapi(ApiDoc::openapi())
        .routes(routes!(api::record_response))
        .routes(routes!(api::create_recording, api::list_recordings))
        .routes(routes!(api::get_recording, api::delete_recording))
        .routes(routes!(api::get_audio))
        .routes(routes!(api::get_trimmed))
        .routes(routes!(api::openapi_json))
        .routes(routes!(api::metrics))
}

/// The OpenAPI 3.1 document of the API, generated from the handlers and
/// their schemas.
pub fn openapi() -> utoipa::openapi::OpenApi {
    routes().split_for_parts().1
}

/// The API as a router (for tests: drive it with `oneshot`).
pub fn app(state: ServiceState, max_body_bytes: usize) -> Router {
    let (router, _) = routes().split_for_parts();
    router
        .fallback(|| async { Problem::not_found("no such route") })
        .method_not_allowed_fallback(|| async {
            Problem::new(
                axum::http::StatusCode::METHOD_NOT_ALLOWED,
                "method-not-allowed",
                "Method not allowed",
                "this route does not take that method",
            )
        })
        .layer(DefaultBodyLimit::max(max_body_bytes))
        .layer(axum::middleware::from_fn_with_state(
            state.clone(),
            authorize,
        ))
        .layer(axum::middleware::from_fn_with_state(state.clone(), count))
        .with_state(state)
}

/// Refuses a request without a valid key (401), before routing to any
/// handler; a valid key's fingerprint goes on in the request's extensions.
async fn authorize(State(state): State<ServiceState>, mut req: Request, next: Next) -> Response {
    let presented = req
        .headers()
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| {
            let (scheme, key) = v.split_once(' ')?;
            scheme.eq_ignore_ascii_case("bearer").then(|| key.trim())
        });
    let Some(presented) = presented else {
        return Problem::unauthorized("an API key is required: Authorization: Bearer <key>")
            .into_response();
    };
    match state.verify_key(presented) {
        Some(id) => {
            req.extensions_mut().insert(id);
            next.run(req).await
        }
        None => {
            Problem::unauthorized("the API key is not valid for this deployment").into_response()
        }
    }
}

/// Counts each request by route template, method and status.
async fn count(State(state): State<ServiceState>, req: Request, next: Next) -> Response {
    let route = req
        .extensions()
        .get::<MatchedPath>()
        .map_or_else(|| "unmatched".to_string(), |m| m.as_str().to_string());
    let method = req.method().as_str().to_string();
    let response = next.run(req).await;
    state
        .metrics()
        .request(&route, &method, response.status().as_u16());
    response
}

/// Starts the API beside a bot, as `voxcap serve` does, when it is asked
/// for: `listen` or `keys_file` given. The keys are those of `keys_file`
/// plus those of [`keys::API_KEYS_ENV`]; the address `listen`, by default
/// [`DEFAULT_API_LISTEN`] (loopback); callbacks are signed with
/// [`callbacks::CALLBACK_SECRET_ENV`] when it is set (else refused);
/// `/metrics` shows `metrics` (the one the bot's [`webhook_tap`] counts
/// into). `None` when neither is given.
pub async fn start_beside(
    recorder: Recorder,
    listen: Option<SocketAddr>,
    keys_file: Option<&std::path::Path>,
    out_dir: &std::path::Path,
    metrics: Arc<metrics::Metrics>,
) -> Result<Option<RunningService>, ServiceError> {
    if listen.is_none() && keys_file.is_none() {
        return Ok(None);
    }
    let mut keys = match std::env::var(keys::API_KEYS_ENV) {
        Ok(list) => ApiKeys::from_list(&list)?,
        Err(_) => ApiKeys::default(),
    };
    // The file is watched: a change, or SIGHUP, reloads it (env keys kept).
    let mut watched = None;
    if let Some(file) = keys_file {
        let (all, file) = keys_reload::KeysFile::open(file, keys.clone())?;
        keys = all;
        watched = Some(file);
    }
    let listen = listen.unwrap_or_else(|| {
        DEFAULT_API_LISTEN
            .parse()
            .unwrap_or(SocketAddr::from(([127, 0, 0, 1], 8090)))
    });
    let mut config = ServiceConfig::new(listen, keys, out_dir);
    // In a fleet the records and the callback outbox are shared, beside
    // the bot's operation store.
    config.redis = recorder
        .redis()
        .map(|r| redis_store::RedisRecordingsConfig::beside(r.config()));
    config.metrics = metrics;
    config.keys_file = watched;
    if let Ok(secret) = std::env::var(callbacks::CALLBACK_SECRET_ENV) {
        if secret.len() < keys::MIN_KEY_CHARS {
            return Err(ServiceError::BadCallbackSecret {
                var: callbacks::CALLBACK_SECRET_ENV,
                reason: format!("shorter than {} characters", keys::MIN_KEY_CHARS),
            });
        }
        let secret = voxcap_capture::Secret::new(secret);
        config.callbacks = Some(callbacks::CallbackConfig::new(secret));
    }
    RunningService::start(config, recorder).await.map(Some)
}

/// Hands the fleet takeover's outcomes to the API (see
/// [`RunningService::takeover_follower`]).
#[derive(Debug, Clone)]
pub struct TakeoverFollower {
    state: ServiceState,
}

impl TakeoverFollower {
    /// Follows `outcome` in a task of its own (call it from the serve
    /// loop's event handler, inside the runtime).
    pub fn taken_over(&self, outcome: &voxcap_bot::Outcome) {
        let state = self.state.clone();
        let outcome = outcome.clone();
        tokio::spawn(async move { state.follow_takeover(outcome).await });
    }

    /// [`Self::taken_over`] for a serve loop's event, when it is a
    /// finished takeover; anything else is not the API's business.
    pub fn on_event(&self, event: &voxcap_bot::serve::ServeEvent) {
        if let voxcap_bot::serve::ServeEvent::TakenOver(o) = event {
            self.taken_over(o);
        }
    }
}

/// A running API.
#[derive(Debug)]
pub struct RunningService {
    addr: SocketAddr,
    state: ServiceState,
    shutdown: Option<tokio::sync::oneshot::Sender<()>>,
    task: tokio::task::JoinHandle<()>,
    outbox_loop: Option<tokio::task::JoinHandle<()>>,
    sweeper: tokio::task::JoinHandle<()>,
    keys_reload: Option<tokio::task::JoinHandle<()>>,
}

impl RunningService {
    /// Binds `config.listen` and serves the API over `recorder` with the
    /// in-memory store, or with `config.redis` the Redis store and its
    /// callback outbox (whose delivery loop this instance then runs).
    pub async fn start(
        mut config: ServiceConfig,
        recorder: Recorder,
    ) -> Result<Self, ServiceError> {
        let Some(redis) = config.redis.take() else {
            let store = Arc::new(store::InMemoryRecordings::default());
            return Self::start_with_store(config, recorder, store).await;
        };
        let store = Arc::new(redis_store::RedisRecordings::connect(&redis).await?);
        let outbox = config.callbacks.clone().map(|c| {
            let oc = outbox::OutboxConfig::for_callbacks(&c);
            let instance = &recorder.stewardship().instance;
            Arc::new(outbox::Outbox::beside(&store, instance, c, oc))
        });
        let mut running = Self::start_with_store(config, recorder, store).await?;
        if let Some(outbox) = outbox {
            let state = running.state.clone();
            let report = Arc::new(move |r: outbox::AttemptReport| match r {
                outbox::AttemptReport::Attempt(ok) => state.metrics().callback_attempt(ok),
                outbox::AttemptReport::GaveUp => state.metrics().callback_given_up(),
            });
            running.state.set_outbox(outbox.clone());
            running.outbox_loop = Some(tokio::spawn(outbox.run(report)));
        }
        Ok(running)
    }

    /// Like [`RunningService::start`] with another store.
    pub async fn start_with_store(
        config: ServiceConfig,
        recorder: Recorder,
        store: Arc<dyn store::RecordingStore>,
    ) -> Result<Self, ServiceError> {
        if config.keys.is_empty() {
            return Err(ServiceError::NoKeys);
        }
        std::fs::create_dir_all(&config.out_dir).map_err(|source| ServiceError::OutDir {
            path: config.out_dir.clone(),
            source,
        })?;
        let bind = |source| ServiceError::Bind {
            addr: config.listen,
            source,
        };
        let listener = tokio::net::TcpListener::bind(config.listen)
            .await
            .map_err(bind)?;
        let addr = listener.local_addr().map_err(bind)?;
        let state = ServiceState::new(
            recorder,
            store,
            config.keys,
            config.out_dir,
            config.callbacks,
        )
        .with_metrics(config.metrics)
        .with_orphan_grace(config.orphan_grace);
        let keys_reload = config
            .keys_file
            .map(|f| keys_reload::spawn(f, state.clone()));
        let app = app(state.clone(), config.max_body_bytes);
        let sweeper = tokio::spawn(retention_loop(
            state.clone(),
            config.retention_sweep.max(Duration::from_millis(50)),
        ));
        let (tx, rx) = tokio::sync::oneshot::channel::<()>();
        tracing::info!(%addr, "service API listening");
        let task = tokio::spawn(voxcap_capture::webhook::serve_app(
            listener,
            app,
            config.limits,
            async move {
                let _ = rx.await;
            },
        ));
        Ok(RunningService {
            addr,
            state,
            shutdown: Some(tx),
            task,
            outbox_loop: None,
            sweeper,
            keys_reload,
        })
    }

    /// The bound address.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// `http://ADDR`.
    pub fn base_url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// Replaces the accepted keys (a removed key is refused at once).
    pub fn replace_keys(&self, keys: ApiKeys) {
        self.state.replace_keys(keys);
    }

    /// Stops accepting, lets requests in progress finish, and returns (a
    /// fleet's callbacks in flight are left to the outbox: their lease
    /// runs out and another instance sends them).
    pub async fn stop(mut self) {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
        let _ = (&mut self.task).await;
        if let Some(l) = self.outbox_loop.take() {
            l.abort();
        }
        self.sweeper.abort();
        if let Some(k) = &self.keys_reload {
            k.abort();
        }
    }

    /// Stops at once, as a killed process would: the listener, the outbox
    /// loop and the operations the API follows are dropped mid-way (for
    /// fleet tests: the rest of the fleet takes them over).
    pub fn abort(mut self) {
        self.state.kill();
        self.task.abort();
        self.sweeper.abort();
        if let Some(l) = self.outbox_loop.take() {
            l.abort();
        }
        if let Some(k) = &self.keys_reload {
            k.abort();
        }
    }

    /// What `voxcap serve`'s loop calls with each operation its takeover
    /// finished: the API's record of it (placed through any instance's API)
    /// ends and its callback is queued.
    pub fn takeover_follower(&self) -> TakeoverFollower {
        TakeoverFollower {
            state: self.state.clone(),
        }
    }

    /// The outbox of a fleet's callbacks, when there is one.
    pub fn outbox(&self) -> Option<Arc<outbox::Outbox>> {
        self.state.outbox().cloned()
    }

    /// The store's failed commands so far (Redis errors, for `/metrics`).
    pub fn store_errors(&self) -> u64 {
        self.state.inner.store.errors()
    }
}

/// Every `pause`: deletes the recordings whose own retention has passed,
/// and ends the abandoned ones ([`orphans`]); a failed sweep is logged and
/// the next one tries again.
async fn retention_loop(state: ServiceState, pause: Duration) {
    loop {
        tokio::time::sleep(pause).await;
        if let Err(p) = api::sweep_expired(&state).await {
            tracing::warn!(error = %p.detail, "retention sweep failed; trying again at the next one");
        }
        if let Err(p) = orphans::sweep_orphans(&state).await {
            tracing::warn!(error = %p.detail, "orphan sweep failed; trying again at the next one");
        }
    }
}

impl Drop for RunningService {
    fn drop(&mut self) {
        self.task.abort();
        self.sweeper.abort();
        if let Some(l) = &self.outbox_loop {
            l.abort();
        }
        if let Some(k) = &self.keys_reload {
            k.abort();
        }
    }
}
