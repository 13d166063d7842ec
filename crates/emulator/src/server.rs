//! The axum app: Graph endpoints, the recording host, the token and OpenID
//! endpoints, and a small `/_emulator` control surface.
//!
//! Invariants: handlers never hold a lock across an `.await`; every error a
//! client sees is a Graph error body (or Azure AD's, on the token endpoint)
//! naming the input and the cause; simulated time is scaled by
//! `time_scale` so tests run in milliseconds.

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::atomic::{AtomicU32, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use axum::body::Bytes;
use axum::extract::rejection::FormRejection;
use axum::extract::{Form, Path, State};
use axum::http::{header, HeaderMap, HeaderValue, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use serde_json::{json, Value};

use crate::download::DownloadCount;
use crate::faults::Faults;
use crate::scenario::{CompletionReason, Outcome, PreparedScenario, RecordParams, Scenario};
use crate::signing::{AppTokenClaims, EmulatorKey, NotificationClaims};
use crate::wire::{
    self, CommsNotification, CommsNotifications, GraphError, GraphErrorDetail, InnerError,
    LegacyRecordOperation, RecordOperation, RecordRequest, ResultInfo, TokenError, TokenResponse,
    UpdateRecordingStatusRequest,
};

/// The issuer of notification JWTs.
pub const NOTIFICATION_ISSUER: &str = "https://graph.microsoft.com";

/// Header that attaches a scenario (a registered name or inline JSON) to a
/// call creation or a single recordResponse.
pub const SCENARIO_HEADER: &str = "x-voxcap-scenario";

/// Lifetime of app tokens, as Azure AD issues them.
const APP_TOKEN_LIFETIME_S: u64 = 3599;

/// Settings of one emulator instance.
#[derive(Debug, Clone)]
pub struct EmulatorConfig {
    /// Public base URL (`http://127.0.0.1:PORT`), used in `Location` headers,
    /// recording locations and the OpenID configuration.
    pub base_url: String,
    /// The test tenant id.
    pub tenant_id: String,
    /// The test app's client id (the audience of notification JWTs).
    pub client_id: String,
    /// The test app's client secret (a fixed, public test value).
    pub client_secret: String,
    /// Real seconds per simulated second (1.0 = real time).
    pub time_scale: f64,
    /// Where relative WAV paths in scenarios are resolved.
    pub asset_root: PathBuf,
    /// The scenario of calls that do not name one.
    pub default_scenario: Scenario,
    /// Named scenarios callers can pick with `x-voxcap-scenario: NAME`.
    pub scenarios: Vec<Scenario>,
    /// Server-wide faults.
    pub faults: Faults,
    /// The signing key; `None` uses the process-wide key.
    pub key: Option<EmulatorKey>,
}

/// The test tenant's id.
pub const TEST_TENANT_ID: &str = "5e1e0000-7e57-4e57-8e57-000000000001";
/// The test app's client id.
pub const TEST_CLIENT_ID: &str = "b07b0700-7e57-4e57-8e57-000000000002";
/// The test app's client secret; a public test value, not a credential.
pub const TEST_CLIENT_SECRET: &str = "voxcap-emulator-test-secret";

impl Default for EmulatorConfig {
    fn default() -> Self {
        EmulatorConfig {
            base_url: "http://127.0.0.1".into(),
            tenant_id: TEST_TENANT_ID.into(),
            client_id: TEST_CLIENT_ID.into(),
            client_secret: TEST_CLIENT_SECRET.into(),
            time_scale: 0.01,
            asset_root: PathBuf::from("."),
            default_scenario: default_scenario(),
            scenarios: Vec::new(),
            faults: Faults::default(),
            key: None,
        }
    }
}

/// The scenario used when none is given: the caller speaks for 1.5 s and
/// then stays silent (a max-silence completion with default timeouts).
pub fn default_scenario() -> Scenario {
    Scenario {
        name: Some("default".into()),
        description: Some("speaks for 1.5 s, then stays silent".into()),
        seed: 1,
        steps: vec![
            crate::scenario::Step::Pause { ms: 400 },
            crate::scenario::Step::Voice {
                ms: 1500,
                pitch_hz: 140.0,
                level_dbfs: -20.0,
            },
            crate::scenario::Step::Silence { ms: None },
        ],
        ..Scenario::default()
    }
}

/// A failure to build the emulator state.
#[derive(Debug, thiserror::Error)]
pub enum StateError {
    /// A configured scenario is invalid.
    #[error(transparent)]
    Scenario(#[from] crate::scenario::ScenarioError),
    /// The signing key could not be made.
    #[error(transparent)]
    Key(#[from] crate::signing::KeyError),
    /// The HTTP client for notifications could not be built.
    #[error("building the notification HTTP client failed: {0}")]
    Http(#[source] reqwest::Error),
    /// A configured value is out of range.
    #[error("emulator config: {0}")]
    Config(String),
    /// A notification fallback URL is unusable.
    #[error("notification fallback {url:?}: {cause}")]
    Fallback {
        /// The URL as given.
        url: String,
        /// Why it was refused.
        cause: String,
    },
}

/// Shared state of the app; cheap to clone.
#[derive(Clone)]
pub struct EmulatorState {
    inner: Arc<Inner>,
}

struct Script {
    scenario: Scenario,
    prepared: PreparedScenario,
}

struct ServerFaults {
    faults: Faults,
    throttle_left: u32,
}

struct CallEntry {
    id: String,
    callback_uri: String,
    script: Arc<Script>,
    throttle_left: u32,
    ended: bool,
    recording_status: Vec<String>,
    operations: HashMap<String, OpEntry>,
    recordings: Vec<String>,
}

struct OpEntry {
    kind: &'static str,
    flavor: Flavor,
    client_context: Option<String>,
    running: bool,
    body: Value,
    /// The id of the recording this operation produced, once it completed.
    recording: Option<String>,
}

struct Recording {
    bytes: Bytes,
    token: String,
    token_expired: bool,
    discard_at: Mutex<Option<Instant>>,
    faults: Faults,
    drops_left: AtomicU32,
}

struct Inner {
    config: EmulatorConfig,
    /// Signing keys, current first; the previous one stays published after
    /// a rotation so in-flight tokens still verify.
    keys: std::sync::RwLock<Vec<EmulatorKey>>,
    http: reqwest::Client,
    default_script: Arc<Script>,
    scenarios: Mutex<HashMap<String, Arc<Script>>>,
    faults: Mutex<ServerFaults>,
    calls: Mutex<HashMap<String, CallEntry>>,
    recordings: Mutex<HashMap<String, Arc<Recording>>>,
    app_tokens: Mutex<HashMap<String, Instant>>,
    delivered: AtomicU64,
    failed: AtomicU64,
    /// Deliveries the callbackUri could not take (no connection) that a
    /// fallback accepted.
    rerouted: AtomicU64,
    /// Where a batch goes when its callbackUri cannot be reached, in order.
    fallbacks: Mutex<Vec<String>>,
    /// Authorised downloads per recording id.
    downloads: Mutex<HashMap<String, DownloadCount>>,
}

/// Locks a mutex, recovering from poisoning: a panicked handler must not
/// take the whole emulator down with it.
fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

/// Ids are matched as Graph clients must match them: dashes stripped, case ignored.
fn norm(id: &str) -> String {
    wire::upper_dashless(id)
}

impl EmulatorState {
    /// Builds the state, validating every configured scenario.
    pub fn new(config: EmulatorConfig) -> Result<Self, StateError> {
        if !(config.time_scale.is_finite() && config.time_scale >= 0.0) {
            return Err(StateError::Config(format!(
                "time_scale must be a non-negative number, got {}",
                config.time_scale
            )));
        }
        config
            .faults
            .validate()
            .map_err(|m| StateError::Config(format!("server faults: {m}")))?;
        let key = match &config.key {
            Some(k) => k.clone(),
            None => EmulatorKey::shared()?,
        };
        let http = reqwest::Client::builder()
            .timeout(Duration::from_secs(10))
            .build()
            .map_err(StateError::Http)?;
        let prepare = |s: &Scenario| -> Result<Arc<Script>, StateError> {
            Ok(Arc::new(Script {
                prepared: s.prepare(&config.asset_root)?,
                scenario: s.clone(),
            }))
        };
        let default_script = prepare(&config.default_scenario)?;
        let mut scenarios = HashMap::new();
        for s in &config.scenarios {
            let name = s.name.clone().ok_or_else(|| {
                StateError::Config("a named scenario in the config has no name".into())
            })?;
            scenarios.insert(name, prepare(s)?);
        }
        let throttle_left = config.faults.throttle.as_ref().map_or(0, |t| t.count);
        Ok(EmulatorState {
            inner: Arc::new(Inner {
                faults: Mutex::new(ServerFaults {
                    faults: config.faults.clone(),
                    throttle_left,
                }),
                config,
                keys: std::sync::RwLock::new(vec![key]),
                http,
                default_script,
                scenarios: Mutex::new(scenarios),
                calls: Mutex::new(HashMap::new()),
                recordings: Mutex::new(HashMap::new()),
                app_tokens: Mutex::new(HashMap::new()),
                delivered: AtomicU64::new(0),
                failed: AtomicU64::new(0),
                rerouted: AtomicU64::new(0),
                fallbacks: Mutex::new(Vec::new()),
                downloads: Mutex::new(HashMap::new()),
            }),
        })
    }

    /// The configuration this state was built with.
    pub fn config(&self) -> &EmulatorConfig {
        &self.inner.config
    }

    /// The signing key (its JWKS is served at `/v1/.well-known/keys`).
    pub fn key(&self) -> EmulatorKey {
        self.inner.keys.read().unwrap_or_else(|p| p.into_inner())[0].clone()
    }

    /// The JWKS: the current key, then the previous one after a rotation.
    pub fn jwks(&self) -> wire::Jwks {
        let keys = self.inner.keys.read().unwrap_or_else(|p| p.into_inner());
        wire::Jwks {
            keys: keys.iter().flat_map(|k| k.jwks().keys).collect(),
        }
    }

    /// Signs with a freshly generated key from now on (the `kid` changes),
    /// keeping the previous key in the JWKS. Returns the new `kid`.
    pub fn rotate_key(&self) -> Result<String, crate::signing::KeyError> {
        let new = EmulatorKey::generate()?;
        let kid = new.kid().to_string();
        let mut keys = self.inner.keys.write().unwrap_or_else(|p| p.into_inner());
        keys.insert(0, new);
        keys.truncate(2);
        Ok(kid)
    }

    /// The token endpoint URL for the test tenant.
    pub fn token_url(&self) -> String {
        format!(
            "{}/{}/oauth2/v2.0/token",
            self.inner.config.base_url, self.inner.config.tenant_id
        )
    }

    /// The OpenID configuration URL (the Skype-style path form).
    pub fn openid_config_url(&self) -> String {
        format!(
            "{}/v1/.well-known/OpenIdConfiguration",
            self.inner.config.base_url
        )
    }

    /// The JWKS URL.
    pub fn jwks_url(&self) -> String {
        format!("{}/v1/.well-known/keys", self.inner.config.base_url)
    }

    fn scaled(&self, simulated_s: f64) -> Duration {
        Duration::from_secs_f64((simulated_s * self.inner.config.time_scale).max(0.0))
    }

    fn issue_app_token(&self) -> String {
        let now = wire::unix_now();
        let c = &self.inner.config;
        let token = self.key().sign(&AppTokenClaims {
            aud: "https://graph.microsoft.com".into(),
            iss: format!("https://sts.windows.net/{}/", c.tenant_id),
            tid: c.tenant_id.clone(),
            appid: c.client_id.clone(),
            roles: vec!["Calls.AccessMedia.All".into(), "Calls.Initiate.All".into()],
            iat: now,
            nbf: now.saturating_sub(300),
            exp: now + APP_TOKEN_LIFETIME_S,
            jti: uuid::Uuid::new_v4().to_string(),
        });
        lock(&self.inner.app_tokens).insert(
            token.clone(),
            Instant::now() + Duration::from_secs(APP_TOKEN_LIFETIME_S),
        );
        token
    }

    /// Auth, then (for a call) existence, then throttling, as Graph orders them.
    fn gate(&self, headers: &HeaderMap, call: Option<&str>) -> Result<(), ApiError> {
        let token = bearer(headers).ok_or_else(|| {
            ApiError::new(
                StatusCode::UNAUTHORIZED,
                "InvalidAuthenticationToken",
                "Access token is empty: send Authorization: Bearer <app token> from the token endpoint.",
            )
        })?;
        let valid = lock(&self.inner.app_tokens)
            .get(token)
            .is_some_and(|exp| *exp > Instant::now());
        if !valid {
            return Err(ApiError::new(
                StatusCode::UNAUTHORIZED,
                "InvalidAuthenticationToken",
                "Access token validation failure: the token was not issued by this emulator or has expired.",
            ));
        }
        if let Some(id) = call {
            let mut calls = lock(&self.inner.calls);
            let entry = calls
                .get_mut(&norm(id))
                .filter(|c| !c.ended)
                .ok_or_else(|| call_not_found(id))?;
            if entry.throttle_left > 0 {
                entry.throttle_left -= 1;
                let t = entry
                    .script
                    .scenario
                    .faults
                    .as_ref()
                    .and_then(|f| f.throttle.clone());
                if let Some(t) = t {
                    return Err(ApiError::throttled(t.status, t.retry_after_s));
                }
            }
        }
        let mut sf = lock(&self.inner.faults);
        if sf.throttle_left > 0 {
            if let Some(t) = sf.faults.throttle.clone() {
                sf.throttle_left -= 1;
                return Err(ApiError::throttled(t.status, t.retry_after_s));
            }
        }
        Ok(())
    }

    fn resolve_script(&self, spec: Option<&Value>) -> Result<Option<Arc<Script>>, ApiError> {
        let bad = |m: String| ApiError::bad_request(m);
        let scenario = match spec {
            None | Some(Value::Null) => return Ok(None),
            Some(Value::String(s)) if s.trim_start().starts_with('{') => {
                Scenario::from_json(s, SCENARIO_HEADER).map_err(|e| bad(e.to_string()))?
            }
            Some(Value::String(name)) => {
                return lock(&self.inner.scenarios)
                    .get(name)
                    .cloned()
                    .map(Some)
                    .ok_or_else(|| bad(format!("scenario {name:?} is not registered")));
            }
            Some(v) => serde_json::from_value::<Scenario>(v.clone())
                .map_err(|e| bad(format!("voxcapScenario: {e}")))?,
        };
        let prepared = scenario
            .prepare(&self.inner.config.asset_root)
            .map_err(|e| bad(e.to_string()))?;
        Ok(Some(Arc::new(Script { scenario, prepared })))
    }

    fn call_faults(&self, script: &Script) -> Faults {
        script
            .scenario
            .faults
            .clone()
            .unwrap_or_else(|| lock(&self.inner.faults).faults.clone())
    }

    async fn deliver<T: serde::Serialize>(&self, callback: &str, body: &T) {
        self.deliver_as(None, callback, body).await;
    }

    /// Delivers a notification batch; `issuer` overrides the JWT `iss`.
    /// When the callbackUri cannot be reached at all, the same JWT and body
    /// go to each notification fallback in turn, as a load balancer routes
    /// around a dead instance; an HTTP error status is an answer, so it is
    /// never rerouted.
    async fn deliver_as<T: serde::Serialize>(
        &self,
        issuer: Option<&str>,
        callback: &str,
        body: &T,
    ) {
        let c = &self.inner.config;
        let now = wire::unix_now();
        let jwt = self.key().sign(&NotificationClaims {
            aud: c.client_id.clone(),
            iss: issuer.unwrap_or(NOTIFICATION_ISSUER).into(),
            tid: c.tenant_id.clone(),
            iat: now,
            nbf: now.saturating_sub(300),
            exp: now + 3600,
            appid: "00000003-0000-0000-c000-000000000000".into(),
        });
        tracing::debug!(callback = %callback.split('?').next().unwrap_or(""), "delivering a notification batch");
        // Serialised once so that every target gets byte-identical bodies.
        let body = match serde_json::to_vec(body) {
            Ok(b) => Bytes::from(b),
            Err(e) => {
                self.inner.failed.fetch_add(1, Ordering::Relaxed);
                tracing::warn!(error = %e, "notification batch could not be serialised");
                return;
            }
        };
        match self.post_notification(callback, &jwt, &body).await {
            Attempt::Accepted => {
                self.inner.delivered.fetch_add(1, Ordering::Relaxed);
            }
            Attempt::Refused(status) => {
                self.inner.failed.fetch_add(1, Ordering::Relaxed);
                tracing::warn!(%status, "notification to the callback was refused");
            }
            // No response at all: a refused or failed connect, a timeout, or
            // a pooled connection to an instance that died. A load balancer
            // would retry elsewhere; receivers must drop the duplicate that
            // results if the dead peer had processed it (Graph does retry).
            Attempt::Unreachable(e) | Attempt::Broken(e) => {
                tracing::warn!(error = %e.without_url(), "callback unreachable; trying the notification fallbacks");
                let fallbacks = lock(&self.inner.fallbacks).clone();
                for (i, url) in fallbacks.iter().enumerate() {
                    match self.post_notification(url, &jwt, &body).await {
                        Attempt::Accepted => {
                            self.inner.delivered.fetch_add(1, Ordering::Relaxed);
                            self.inner.rerouted.fetch_add(1, Ordering::Relaxed);
                            return;
                        }
                        Attempt::Refused(status) => {
                            tracing::warn!(fallback = i, %status, "notification fallback refused the batch");
                        }
                        Attempt::Unreachable(e) | Attempt::Broken(e) => {
                            tracing::warn!(fallback = i, error = %e.without_url(), "notification fallback failed");
                        }
                    }
                }
                self.inner.failed.fetch_add(1, Ordering::Relaxed);
            }
        }
    }

    /// One POST of a signed notification batch to `url`.
    async fn post_notification(&self, url: &str, jwt: &str, body: &Bytes) -> Attempt {
        let result = self
            .inner
            .http
            .post(url)
            .bearer_auth(jwt)
            .header(header::CONTENT_TYPE, "application/json")
            .body(body.clone())
            .send()
            .await;
        match result {
            Ok(r) if r.status().is_success() => Attempt::Accepted,
            Ok(r) => Attempt::Refused(r.status()),
            // `send` returns once the status line is in, so a timeout here
            // means no response at all.
            Err(e) if e.is_connect() || e.is_timeout() => Attempt::Unreachable(e),
            Err(e) => Attempt::Broken(e),
        }
    }

    /// Sets the notification fallbacks: when a notification batch gets no
    /// response from its call's callbackUri (connection refused, connect
    /// error, a timeout, or a connection that broke before any response,
    /// such as a pooled one to a process that died; never an HTTP error
    /// status), the same
    /// JWT and body are POSTed to each of `urls` in order until one answers
    /// 2xx, and `notificationsRerouted` in `/_emulator/stats` counts it.
    /// An empty list (the default) turns rerouting off. Each URL must be an
    /// absolute `http` or `https` URL; otherwise nothing changes and the
    /// error names the URL. Also `PUT /_emulator/fallbacks`.
    pub fn set_notification_fallbacks(&self, urls: Vec<String>) -> Result<(), StateError> {
        for url in &urls {
            check_fallback(url).map_err(|cause| StateError::Fallback {
                url: url.clone(),
                cause,
            })?;
        }
        *lock(&self.inner.fallbacks) = urls;
        Ok(())
    }

    /// The notification fallbacks, in the order they are tried.
    pub fn notification_fallbacks(&self) -> Vec<String> {
        lock(&self.inner.fallbacks).clone()
    }

    /// Authorised downloads per recording id (the last path segment of a
    /// completion's `recordingLocation`, which is always
    /// `{base_url}/recordings/{id}`; see also [`Self::recording_id_of`]).
    /// A download counts once its request passed authorisation and a body
    /// is being sent: `fromStart` when it starts at byte 0 (no `Range`, a
    /// `Range` from 0, or any `Range` while ranges are disabled), `resumed`
    /// when it starts later. Refused (`401`/`403`/`404`/`416`) requests do
    /// not count. A recording nobody downloaded has no entry. Also in
    /// `/_emulator/stats` as `downloads`.
    pub fn download_counts(&self) -> HashMap<String, DownloadCount> {
        lock(&self.inner.downloads).clone()
    }

    /// The recording id of a finished recordResponse (or legacy record)
    /// operation, by operation id (dashes and case ignored); `None` while it
    /// runs, when it produced no recording, or when the id is unknown. It
    /// equals the last path segment of the operation's `recordingLocation`
    /// (`recordResourceLocation` in the legacy form), so a test holding that
    /// URL can take the segment instead.
    pub fn recording_id_of(&self, operation_id: &str) -> Option<String> {
        let want = norm(operation_id);
        lock(&self.inner.calls)
            .values()
            .find_map(|c| c.operations.get(&want))
            .and_then(|o| o.recording.clone())
    }

    /// Counts one authorised download of recording `id` starting at `start`.
    pub(crate) fn count_download(&self, id: &str, start: u64) {
        let mut downloads = lock(&self.inner.downloads);
        let n = downloads.entry(id.to_string()).or_default();
        if start == 0 {
            n.from_start += 1;
        } else {
            n.resumed += 1;
        }
    }
}

/// What one POST of a notification batch came to.
enum Attempt {
    /// A 2xx answer.
    Accepted,
    /// An answer with another status.
    Refused(StatusCode),
    /// No answer: the target cannot be reached (refused, connect error, or a
    /// timeout before the status line). Only this is rerouted.
    Unreachable(reqwest::Error),
    /// Any other failure (for example the connection closed mid-request).
    Broken(reqwest::Error),
}

/// Why `url` cannot be a notification fallback, if it cannot.
fn check_fallback(url: &str) -> Result<(), String> {
    let parsed = reqwest::Url::parse(url).map_err(|e| format!("not an absolute URL: {e}"))?;
    if !matches!(parsed.scheme(), "http" | "https") {
        return Err(format!(
            "the scheme must be http or https, got {:?}",
            parsed.scheme()
        ));
    }
    if parsed.host_str().is_none_or(str::is_empty) {
        return Err("the URL has no host".into());
    }
    Ok(())
}

fn bearer(headers: &HeaderMap) -> Option<&str> {
    let v = headers.get(header::AUTHORIZATION)?.to_str().ok()?;
    let (scheme, token) = v.split_once(' ')?;
    scheme
        .eq_ignore_ascii_case("bearer")
        .then_some(token.trim())
}

fn call_not_found(id: &str) -> ApiError {
    ApiError::new(
        StatusCode::NOT_FOUND,
        "8522",
        format!("Call {id} was not found (unknown or already terminated)."),
    )
}

/// A Graph error response.
#[derive(Debug)]
pub(crate) struct ApiError {
    status: StatusCode,
    code: String,
    message: String,
    retry_after: Option<u32>,
}

impl ApiError {
    fn new(status: StatusCode, code: &str, message: impl Into<String>) -> Self {
        ApiError {
            status,
            code: code.into(),
            message: message.into(),
            retry_after: None,
        }
    }

    fn bad_request(message: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, "BadRequest", message)
    }

    fn throttled(status: u16, retry_after_s: u32) -> Self {
        let (status, code, msg) = if status == 503 {
            (
                StatusCode::SERVICE_UNAVAILABLE,
                "ServiceUnavailable",
                "Service unavailable (injected fault); retry after the Retry-After delay.",
            )
        } else {
            (
                StatusCode::TOO_MANY_REQUESTS,
                "TooManyRequests",
                "Too many requests (injected fault); retry after the Retry-After delay.",
            )
        };
        ApiError {
            retry_after: Some(retry_after_s),
            ..Self::new(status, code, msg)
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let request_id = uuid::Uuid::new_v4().to_string();
        let body = GraphError {
            error: GraphErrorDetail {
                code: self.code,
                message: self.message,
                inner_error: InnerError {
                    request_id: request_id.clone(),
                    date: wire::rfc3339(wire::unix_now()),
                    client_request_id: None,
                },
            },
        };
        let mut resp = (self.status, Json(body)).into_response();
        let h = resp.headers_mut();
        if let Ok(v) = HeaderValue::from_str(&request_id) {
            h.insert("request-id", v);
        }
        if let Some(s) = self.retry_after {
            h.insert(header::RETRY_AFTER, HeaderValue::from(s));
        }
        resp
    }
}

/// Which API surface a request came through; it decides the wire form.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Flavor {
    /// `/v1.0/communications/calls/{id}/recordResponse`.
    V1,
    /// `/beta/communications/calls/{id}/recordResponse`: adds `completionReason`.
    Beta,
    /// The deprecated `/app/calls/{id}/recordResponse` path.
    AppPath { beta: bool },
    /// Legacy beta `record`: `202`, `resource`, `recordResource*` names.
    Legacy,
}

impl Flavor {
    fn of(uri: &Uri) -> Self {
        let p = uri.path();
        let beta = p.starts_with("/beta/");
        if p.ends_with("/record") {
            Flavor::Legacy
        } else if p.contains("/app/calls/") {
            Flavor::AppPath { beta }
        } else if beta {
            Flavor::Beta
        } else {
            Flavor::V1
        }
    }

    fn beta(self) -> bool {
        matches!(
            self,
            Flavor::Beta | Flavor::AppPath { beta: true } | Flavor::Legacy
        )
    }

    fn version(self) -> &'static str {
        if self.beta() {
            "beta"
        } else {
            "v1.0"
        }
    }

    fn resource_prefix(self) -> &'static str {
        match self {
            Flavor::V1 | Flavor::Beta => "/communications/calls/",
            Flavor::AppPath { .. } | Flavor::Legacy => "/app/calls/",
        }
    }
}

/// Builds the router over `state`. Routes:
/// - `/v1.0` and `/beta`: `POST /communications/calls`, `GET|DELETE
///   /communications/calls/{id}`, `POST .../{id}/recordResponse`, `POST
///   .../{id}/updateRecordingStatus`, `GET .../{id}/operations/{op}`, and
///   the deprecated `/app/calls/{id}/...` forms;
/// - `/beta` only: legacy `POST /app/calls/{id}/record` and
///   `/applications/{app}/calls/{id}/record`;
/// - `GET /recordings/{id}`: the recording host;
/// - `POST /{tenant}/oauth2/v2.0/token`;
/// - `GET /.well-known/openid-configuration`,
///   `/v1/.well-known/OpenIdConfiguration`, `/v1/.well-known/keys`;
/// - `/_emulator/faults` (GET, PUT), `/_emulator/scenarios/{name}` (PUT),
///   `/_emulator/calls/{id}` (GET), `/_emulator/stats` (GET),
///   `/_emulator/fallbacks` (GET, PUT), `/_emulator/rotate-key` (POST).
pub fn app(state: EmulatorState) -> Router {
    let mut r = Router::new();
    for v in ["/v1.0", "/beta"] {
        r = r
            .route(&format!("{v}/communications/calls"), post(create_call))
            .route(
                &format!("{v}/communications/calls/{{id}}"),
                get(get_call).delete(delete_call),
            )
            .route(
                &format!("{v}/communications/calls/{{id}}/recordResponse"),
                post(record_response),
            )
            .route(
                &format!("{v}/app/calls/{{id}}/recordResponse"),
                post(record_response),
            )
            .route(
                &format!("{v}/communications/calls/{{id}}/updateRecordingStatus"),
                post(update_recording_status),
            )
            .route(
                &format!("{v}/app/calls/{{id}}/updateRecordingStatus"),
                post(update_recording_status),
            )
            .route(
                &format!("{v}/communications/calls/{{id}}/operations/{{op}}"),
                get(get_operation),
            )
            .route(
                &format!("{v}/app/calls/{{id}}/operations/{{op}}"),
                get(get_operation),
            );
    }
    r.route("/beta/app/calls/{id}/record", post(record_response))
        .route(
            "/beta/applications/{app}/calls/{id}/record",
            post(legacy_record_by_app),
        )
        .route("/recordings/{id}", get(crate::download::download))
        .route("/{tenant}/oauth2/v2.0/token", post(token))
        .route("/.well-known/openid-configuration", get(openid_config))
        .route("/v1/.well-known/OpenIdConfiguration", get(openid_config))
        .route("/v1/.well-known/keys", get(jwks))
        .route("/_emulator/faults", get(get_faults).put(put_faults))
        .route(
            "/_emulator/scenarios/{name}",
            axum::routing::put(put_scenario),
        )
        .route("/_emulator/calls/{id}", get(inspect_call))
        .route("/_emulator/stats", get(stats))
        .route(
            "/_emulator/fallbacks",
            get(get_fallbacks).put(put_fallbacks),
        )
        .route("/_emulator/rotate-key", post(rotate_key))
        .fallback(|uri: Uri| async move {
            ApiError::new(
                StatusCode::NOT_FOUND,
                "UnknownRoute",
                format!("No emulated Graph endpoint at {}", uri.path()),
            )
        })
        .with_state(state)
}

fn parse_json<T: serde::de::DeserializeOwned>(body: &[u8], what: &str) -> Result<T, ApiError> {
    serde_json::from_slice(body).map_err(|e| {
        ApiError::bad_request(format!(
            "{what}: the body is not valid JSON for this request: {e}"
        ))
    })
}

fn location(st: &EmulatorState, flavor: Flavor, call: &str, op: &str) -> String {
    let prefix = match flavor {
        Flavor::AppPath { .. } | Flavor::Legacy => "app/calls",
        _ => "communications/calls",
    };
    format!(
        "{}/{}/{prefix}/{call}/operations/{op}",
        st.inner.config.base_url,
        flavor.version()
    )
}

async fn create_call(
    State(st): State<EmulatorState>,
    headers: HeaderMap,
    uri: Uri,
    body: Bytes,
) -> Result<Response, ApiError> {
    st.gate(&headers, None)?;
    let v: Value = parse_json(&body, "create call")?;
    let callback = v
        .get("callbackUri")
        .and_then(Value::as_str)
        .ok_or_else(|| ApiError::bad_request("create call: callbackUri is required"))?
        .to_string();
    match reqwest::Url::parse(&callback) {
        Ok(u) if u.scheme() == "https" || u.scheme() == "http" => {}
        _ => {
            return Err(ApiError::bad_request(format!(
                "create call: callbackUri {callback:?} is not an http(s) URL"
            )))
        }
    }
    let header_spec = headers
        .get(SCENARIO_HEADER)
        .and_then(|h| h.to_str().ok())
        .map(|s| Value::String(s.to_string()));
    let script = st
        .resolve_script(header_spec.as_ref().or(v.get("voxcapScenario")))?
        .unwrap_or_else(|| st.inner.default_script.clone());
    let id = uuid::Uuid::new_v4().to_string();
    let throttle_left = script
        .scenario
        .faults
        .as_ref()
        .and_then(|f| f.throttle.as_ref())
        .map_or(0, |t| t.count);
    lock(&st.inner.calls).insert(
        norm(&id),
        CallEntry {
            id: id.clone(),
            callback_uri: callback.clone(),
            script,
            throttle_left,
            ended: false,
            recording_status: Vec::new(),
            operations: HashMap::new(),
            recordings: Vec::new(),
        },
    );
    let version = if uri.path().starts_with("/beta/") {
        "beta"
    } else {
        "v1.0"
    };
    let call = json!({
        "@odata.type": "#microsoft.graph.call",
        "id": id,
        "state": "establishing",
        "direction": "outgoing",
        "callbackUri": callback,
        "requestedModalities": v.get("requestedModalities").cloned().unwrap_or(json!(["audio"])),
        "mediaConfig": v.get("mediaConfig").cloned().unwrap_or(json!({"@odata.type": "#microsoft.graph.serviceHostedMediaConfig"})),
        "targets": v.get("targets").cloned().unwrap_or(json!([])),
        "tenantId": st.inner.config.tenant_id,
        "myParticipantId": uuid::Uuid::new_v4().to_string(),
    });
    // Graph announces the established call asynchronously, as a real one does.
    let st2 = st.clone();
    let id2 = id.clone();
    tokio::spawn(async move {
        tokio::time::sleep(st2.scaled(0.5)).await;
        let n = call_state_notification(&id2, "established");
        st2.deliver(&callback, &batch(vec![n], false)).await;
    });
    let loc = format!(
        "{}/{version}/communications/calls/{id}",
        st.inner.config.base_url
    );
    Ok((StatusCode::CREATED, [(header::LOCATION, loc)], Json(call)).into_response())
}

async fn get_call(
    State(st): State<EmulatorState>,
    Path(id): Path<String>,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    st.gate(&headers, Some(&id))?;
    let calls = lock(&st.inner.calls);
    let c = calls.get(&norm(&id)).ok_or_else(|| call_not_found(&id))?;
    Ok(Json(json!({
        "@odata.type": "#microsoft.graph.call",
        "id": c.id,
        "state": "established",
        "callbackUri": c.callback_uri,
        "tenantId": st.inner.config.tenant_id,
    }))
    .into_response())
}

async fn delete_call(
    State(st): State<EmulatorState>,
    Path(id): Path<String>,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    st.gate(&headers, Some(&id))?;
    let (callback, canceled, recordings) = {
        let mut calls = lock(&st.inner.calls);
        let c = calls
            .get_mut(&norm(&id))
            .ok_or_else(|| call_not_found(&id))?;
        c.ended = true;
        let mut canceled = Vec::new();
        for (op_id, op) in c.operations.iter_mut() {
            if op.running && op.kind == "record" {
                op.running = false;
                canceled.push((op_id.clone(), op.flavor, op.client_context.clone()));
            }
        }
        (c.callback_uri.clone(), canceled, c.recordings.clone())
    };
    start_discard_timers(&st, &recordings, None);
    let call_id = id.clone();
    tokio::spawn(async move {
        let mut value = Vec::new();
        for (op_id, flavor, ctx) in canceled {
            // Graph reports canceled operations with empty-string location
            // and token, which clients must not mistake for a recording.
            let data = completed_resource(
                flavor,
                &call_id,
                &op_id,
                ctx,
                CompletionReason::OperationCanceled,
                Some((String::new(), String::new())),
            );
            value.push(operation_notification(flavor, &call_id, &op_id, data));
        }
        value.push(call_state_notification(&call_id, "terminated"));
        st.deliver(&callback, &batch(value, false)).await;
    });
    Ok(StatusCode::NO_CONTENT.into_response())
}

async fn legacy_record_by_app(
    State(st): State<EmulatorState>,
    Path((_app, id)): Path<(String, String)>,
    headers: HeaderMap,
    uri: Uri,
    body: Bytes,
) -> Result<Response, ApiError> {
    record_response(State(st), Path(id), headers, uri, body).await
}

/// Allowed range of a timeout, by surface.
fn check_seconds(name: &str, v: Option<i64>, max: i64) -> Result<u32, ApiError> {
    let v = v.unwrap_or(5);
    if !(1..=max).contains(&v) {
        return Err(ApiError::bad_request(format!(
            "{name} must be between 1 and {max} seconds, got {v}"
        )));
    }
    Ok(v as u32)
}

fn check_client_context(ctx: Option<&str>) -> Result<(), ApiError> {
    if let Some(c) = ctx {
        let n = c.chars().count();
        if n > 256 {
            return Err(ApiError::bad_request(format!(
                "clientContext is {n} characters; the limit is 256"
            )));
        }
    }
    Ok(())
}

/// Validates a record request into timer parameters.
///
/// Stop tones: `recordResponse` takes exactly one DTMF key per entry
/// (`0`-`9`, `*`, `#`, `A`-`D`, any case). The legacy `record` action is
/// lenient, because its documented example sends `"11"`: each entry may be
/// several keys and every key in it is a stop tone (`"11"` means `1`).
fn validate(req: &RecordRequest, flavor: Flavor) -> Result<RecordParams, ApiError> {
    let legacy = flavor == Flavor::Legacy;
    if !legacy {
        if req.prompts.len() > 1 {
            return Err(ApiError::bad_request(format!(
                "prompts: at most 1 mediaPrompt is supported, got {}",
                req.prompts.len()
            )));
        }
        for p in &req.prompts {
            let uri = p.pointer("/mediaInfo/uri").and_then(Value::as_str);
            if uri.is_none_or(str::is_empty) {
                return Err(ApiError::bad_request(
                    "prompts[0].mediaInfo.uri is required (a 16 kHz 16-bit mono WAV URL)",
                ));
            }
        }
    }
    let initial_silence_s = check_seconds(
        "initialSilenceTimeoutInSeconds",
        req.initial_silence_timeout_in_seconds,
        120,
    )?;
    let max_silence_s = check_seconds(
        "maxSilenceTimeoutInSeconds",
        req.max_silence_timeout_in_seconds,
        120,
    )?;
    // The legacy action predates the 2-minute cap; its example asks for 1800 s.
    let max_duration_s = check_seconds(
        "maxRecordDurationInSeconds",
        req.max_record_duration_in_seconds,
        if legacy { 1800 } else { 120 },
    )?;
    check_client_context(req.client_context.as_deref())?;
    let mut stop_tones = Vec::new();
    for (i, t) in req.stop_tones.iter().enumerate() {
        let keys: Vec<char> = t.chars().map(|c| c.to_ascii_uppercase()).collect();
        let all_dtmf = !keys.is_empty()
            && keys
                .iter()
                .all(|c| voxcap_dsp::synth::dtmf_frequencies(*c).is_some());
        if !all_dtmf || (!legacy && keys.len() != 1) {
            return Err(ApiError::bad_request(format!(
                "stopTones[{i}] = {t:?} is not a DTMF key (one of 0-9, *, #, A-D)"
            )));
        }
        stop_tones.extend(keys);
    }
    Ok(RecordParams {
        has_prompt: !req.prompts.is_empty(),
        play_beep: req.play_beep.unwrap_or(true),
        initial_silence_s,
        max_silence_s,
        max_duration_s,
        stop_tones,
    })
}

async fn record_response(
    State(st): State<EmulatorState>,
    Path(id): Path<String>,
    headers: HeaderMap,
    uri: Uri,
    body: Bytes,
) -> Result<Response, ApiError> {
    let flavor = Flavor::of(&uri);
    st.gate(&headers, Some(&id))?;
    let req: RecordRequest = if flavor == Flavor::Legacy {
        let text = String::from_utf8_lossy(&body);
        parse_json(wire::strip_trailing_commas(&text).as_bytes(), "record")?
    } else {
        parse_json(&body, "recordResponse")?
    };
    let params = validate(&req, flavor)?;
    let header_spec = headers
        .get(SCENARIO_HEADER)
        .and_then(|h| h.to_str().ok())
        .map(|s| Value::String(s.to_string()));
    let override_script = st.resolve_script(header_spec.as_ref())?;
    let op_id = uuid::Uuid::new_v4().to_string();
    let now = wire::rfc3339(wire::unix_now());
    let running = match flavor {
        Flavor::Legacy => serde_json::to_value(LegacyRecordOperation {
            odata_type: "#microsoft.graph.recordOperation",
            odata_id: None,
            odata_etag: None,
            id: Some(op_id.clone()),
            status: "running",
            created_date_time: Some(now.clone()),
            last_action_date_time: Some(now),
            client_context: req.client_context.clone(),
            record_resource_location: None,
            record_resource_access_token: None,
            completion_reason: None,
            result_info: None,
        }),
        _ => serde_json::to_value(RecordOperation {
            odata_type: "#microsoft.graph.recordOperation",
            odata_id: None,
            odata_etag: None,
            id: op_id.clone(),
            status: "running",
            completion_reason: flavor.beta().then_some(None),
            result_info: None,
            recording_location: None,
            recording_access_token: None,
            client_context: req.client_context.clone(),
        }),
    }
    .unwrap_or(Value::Null);
    let (call_id, callback, script) = {
        let mut calls = lock(&st.inner.calls);
        let c = calls
            .get_mut(&norm(&id))
            .ok_or_else(|| call_not_found(&id))?;
        c.operations.insert(
            norm(&op_id),
            OpEntry {
                kind: "record",
                flavor,
                client_context: req.client_context.clone(),
                running: true,
                body: running.clone(),
                recording: None,
            },
        );
        (
            c.id.clone(),
            c.callback_uri.clone(),
            override_script.unwrap_or_else(|| c.script.clone()),
        )
    };
    let faults = st.call_faults(&script);
    let job = run_operation(
        st.clone(),
        OpContext {
            call_id: call_id.clone(),
            op_id: op_id.clone(),
            callback,
            flavor,
            client_context: req.client_context.clone(),
        },
        script,
        params,
        faults.clone(),
    );
    let mut body = running;
    if faults.completed_in_response {
        // Graph sometimes answers with the finished operation; then no
        // notification follows.
        if let Some(done) = job.await {
            body = done;
        }
    } else if faults.completion_before_response {
        job.await;
    } else {
        tokio::spawn(job);
    }
    let status = if flavor == Flavor::Legacy {
        StatusCode::ACCEPTED
    } else {
        StatusCode::OK
    };
    Ok((
        status,
        [(header::LOCATION, location(&st, flavor, &call_id, &op_id))],
        Json(body),
    )
        .into_response())
}

struct OpContext {
    call_id: String,
    op_id: String,
    callback: String,
    flavor: Flavor,
    client_context: Option<String>,
}

fn result_info(reason: CompletionReason) -> ResultInfo {
    ResultInfo {
        odata_type: "#microsoft.graph.resultInfo".into(),
        code: reason.code(),
        subcode: reason.subcode(),
        message: reason.message().into(),
    }
}

/// The finished operation as it appears in `resourceData`.
fn completed_resource(
    flavor: Flavor,
    call_id: &str,
    op_id: &str,
    client_context: Option<String>,
    reason: CompletionReason,
    recording: Option<(String, String)>,
) -> Value {
    let path = format!(
        "{}{}/operations/{}",
        flavor.resource_prefix(),
        wire::upper_dashless(call_id),
        wire::upper_dashless(op_id)
    );
    let etag = Some(format!("W/\"{}\"", 50_000 + (wire::unix_now() % 10_000)));
    let (loc, token) = match recording {
        Some((l, t)) => (Some(l), Some(t)),
        None => (None, None),
    };
    let v = match flavor {
        Flavor::Legacy => serde_json::to_value(LegacyRecordOperation {
            odata_type: "#microsoft.graph.recordOperation",
            odata_id: Some(path),
            odata_etag: etag,
            id: None,
            status: reason.status(),
            created_date_time: None,
            last_action_date_time: None,
            client_context,
            record_resource_location: loc,
            record_resource_access_token: token,
            completion_reason: Some(reason.wire_name().into()),
            result_info: Some(result_info(reason)),
        }),
        _ => serde_json::to_value(RecordOperation {
            odata_type: "#microsoft.graph.recordOperation",
            odata_id: Some(path),
            odata_etag: etag,
            id: op_id.to_string(),
            status: reason.status(),
            completion_reason: flavor.beta().then(|| Some(reason.wire_name().into())),
            result_info: Some(result_info(reason)),
            recording_location: loc,
            recording_access_token: token,
            client_context,
        }),
    };
    v.unwrap_or(Value::Null)
}

fn operation_notification(
    flavor: Flavor,
    call_id: &str,
    op_id: &str,
    data: Value,
) -> CommsNotification {
    let path = format!(
        "{}{}/operations/{}",
        flavor.resource_prefix(),
        wire::upper_dashless(call_id),
        wire::upper_dashless(op_id)
    );
    let legacy = flavor == Flavor::Legacy;
    CommsNotification {
        odata_type: (!legacy).then_some("#microsoft.graph.commsNotification"),
        change_type: "deleted",
        resource_url: (!legacy).then(|| path.clone()),
        resource: legacy.then_some(path),
        resource_data: data,
    }
}

fn call_state_notification(call_id: &str, state: &str) -> CommsNotification {
    CommsNotification {
        odata_type: Some("#microsoft.graph.commsNotification"),
        change_type: if state == "terminated" {
            "deleted"
        } else {
            "updated"
        },
        resource_url: Some(format!("/communications/calls/{call_id}")),
        resource: None,
        resource_data: json!({
            "@odata.type": "#microsoft.graph.call",
            "@odata.id": format!("/communications/calls/{call_id}"),
            "id": call_id,
            "state": state,
        }),
    }
}

fn batch(value: Vec<CommsNotification>, legacy: bool) -> CommsNotifications {
    CommsNotifications {
        odata_type: (!legacy).then_some("#microsoft.graph.commsNotifications"),
        value,
    }
}

/// Runs one recording in simulated time, then reports it as the faults say.
async fn run_operation(
    st: EmulatorState,
    ctx: OpContext,
    script: Arc<Script>,
    params: RecordParams,
    faults: Faults,
) -> Option<Value> {
    let plan = script.prepared.plan(&params);
    tokio::time::sleep(st.scaled(plan.total_s)).await;
    let still_running = {
        let calls = lock(&st.inner.calls);
        calls
            .get(&norm(&ctx.call_id))
            .and_then(|c| c.operations.get(&norm(&ctx.op_id)))
            .is_some_and(|o| o.running)
    };
    if !still_running {
        return None;
    }
    let (reason, recorded) = match plan.outcome {
        Outcome::HungUp { .. } => {
            // The caller hung up: the operation never completes and no
            // notification is sent (a known field report).
            if let Some(c) = lock(&st.inner.calls).get_mut(&norm(&ctx.call_id)) {
                c.ended = true;
            }
            return None;
        }
        Outcome::Completed { reason, recorded } => (reason, recorded),
    };
    let recording = if recorded > 0 {
        let script2 = script.clone();
        let wav = tokio::task::spawn_blocking(move || script2.prepared.render_wav(recorded))
            .await
            .unwrap_or_default();
        let rec_id = uuid::Uuid::new_v4().to_string();
        let token = format!(
            "{}{}",
            uuid::Uuid::new_v4().simple(),
            uuid::Uuid::new_v4().simple()
        );
        lock(&st.inner.recordings).insert(
            rec_id.clone(),
            Arc::new(Recording {
                bytes: Bytes::from(wav),
                token: token.clone(),
                token_expired: faults.expired_download_token,
                discard_at: Mutex::new(None),
                drops_left: AtomicU32::new(if faults.drop_after_bytes.is_some() {
                    faults.drop_times.unwrap_or(1)
                } else {
                    0
                }),
                faults: faults.clone(),
            }),
        );
        Some((rec_id, token))
    } else {
        None
    };
    let reported = faults.lie_completion_reason.unwrap_or(reason);
    let location = recording.as_ref().map(|(id, t)| {
        (
            format!("{}/recordings/{id}", st.inner.config.base_url),
            t.clone(),
        )
    });
    let mut data = completed_resource(
        ctx.flavor,
        &ctx.call_id,
        &ctx.op_id,
        ctx.client_context.clone(),
        reported,
        location,
    );
    if faults.pascal_case_status {
        // The schema's spelling, which some payloads use.
        data["status"] = json!(if reported.code() == 200 {
            "Completed"
        } else {
            "Failed"
        });
    }
    {
        let mut calls = lock(&st.inner.calls);
        if let Some(c) = calls.get_mut(&norm(&ctx.call_id)) {
            if let Some((rid, _)) = &recording {
                c.recordings.push(rid.clone());
            }
            if let Some(op) = c.operations.get_mut(&norm(&ctx.op_id)) {
                op.running = false;
                op.body = data.clone();
                op.recording = recording.as_ref().map(|(rid, _)| rid.clone());
            }
        }
    }
    if let Some((rid, _)) = &recording {
        start_discard_timers(&st, std::slice::from_ref(rid), Some(&faults));
    }
    if faults.completed_in_response {
        return Some(data);
    }
    let issuer = faults.notification_issuer.as_deref();
    let legacy = ctx.flavor == Flavor::Legacy;
    let completion = operation_notification(ctx.flavor, &ctx.call_id, &ctx.op_id, data);
    if faults.interleave_unrelated {
        let prompt_op = uuid::Uuid::new_v4().to_string();
        let prompt = CommsNotification {
            odata_type: Some("#microsoft.graph.commsNotification"),
            change_type: "deleted",
            resource_url: Some(format!(
                "/communications/calls/{}/operations/{}",
                wire::upper_dashless(&ctx.call_id),
                wire::upper_dashless(&prompt_op)
            )),
            resource: None,
            // Same clientContext on purpose: a client must pair by type and
            // operation id, not by clientContext alone.
            resource_data: json!({
                "@odata.type": "#microsoft.graph.playPromptOperation",
                "id": prompt_op,
                "status": "completed",
                "clientContext": ctx.client_context,
                "resultInfo": {"@odata.type": "#microsoft.graph.resultInfo", "code": 200, "subcode": 0, "message": "Action completed."},
            }),
        };
        st.deliver_as(issuer, &ctx.callback, &batch(vec![prompt], false))
            .await;
        let mut value = vec![call_state_notification(&ctx.call_id, "established")];
        if !faults.suppress_completion {
            value.push(completion.clone());
        }
        st.deliver_as(issuer, &ctx.callback, &batch(value, false))
            .await;
        st.deliver_as(
            issuer,
            &ctx.callback,
            &batch(
                vec![call_state_notification(&ctx.call_id, "established")],
                false,
            ),
        )
        .await;
    } else if !faults.suppress_completion {
        st.deliver_as(
            issuer,
            &ctx.callback,
            &batch(vec![completion.clone()], legacy),
        )
        .await;
    }
    if faults.duplicate_completion && !faults.suppress_completion {
        st.deliver_as(issuer, &ctx.callback, &batch(vec![completion], legacy))
            .await;
    }
    None
}

/// Starts the discard clock of recordings whose call ended. `faults` is the
/// call's faults when known; otherwise each recording's own are used.
fn start_discard_timers(st: &EmulatorState, ids: &[String], faults: Option<&Faults>) {
    let recs = lock(&st.inner.recordings);
    for id in ids {
        if let Some(r) = recs.get(id) {
            let f = faults.unwrap_or(&r.faults);
            if let Some(d) = f.discard_after_s {
                let at = Instant::now() + st.scaled(d);
                let mut slot = lock(&r.discard_at);
                *slot = Some(slot.map_or(at, |old| old.min(at)));
            }
        }
    }
}

async fn get_operation(
    State(st): State<EmulatorState>,
    Path((id, op)): Path<(String, String)>,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    st.gate(&headers, Some(&id))?;
    let calls = lock(&st.inner.calls);
    let c = calls.get(&norm(&id)).ok_or_else(|| call_not_found(&id))?;
    let o = c.operations.get(&norm(&op)).ok_or_else(|| {
        ApiError::new(
            StatusCode::NOT_FOUND,
            "8522",
            format!("Operation {op} of call {id} was not found."),
        )
    })?;
    Ok(Json(o.body.clone()).into_response())
}

async fn update_recording_status(
    State(st): State<EmulatorState>,
    Path(id): Path<String>,
    headers: HeaderMap,
    uri: Uri,
    body: Bytes,
) -> Result<Response, ApiError> {
    st.gate(&headers, Some(&id))?;
    let req: UpdateRecordingStatusRequest = parse_json(&body, "updateRecordingStatus")?;
    check_client_context(req.client_context.as_deref())?;
    let status = match req
        .status
        .as_deref()
        .map(str::to_ascii_lowercase)
        .as_deref()
    {
        Some("notrecording") => "notRecording",
        Some("recording") => "recording",
        Some("failed") => "failed",
        other => {
            return Err(ApiError::bad_request(format!(
                "updateRecordingStatus: status must be notRecording, recording or failed, got {}",
                other.map_or("nothing".to_string(), |s| format!("{s:?}"))
            )))
        }
    };
    let flavor = if uri.path().contains("/app/calls/") {
        Flavor::AppPath {
            beta: uri.path().starts_with("/beta/"),
        }
    } else if uri.path().starts_with("/beta/") {
        Flavor::Beta
    } else {
        Flavor::V1
    };
    let op_id = uuid::Uuid::new_v4().to_string();
    let body = json!({
        "@odata.type": "#microsoft.graph.updateRecordingStatusOperation",
        "clientContext": req.client_context,
        "id": op_id,
        "resultInfo": null,
        "status": "completed",
    });
    let call_id = {
        let mut calls = lock(&st.inner.calls);
        let c = calls
            .get_mut(&norm(&id))
            .ok_or_else(|| call_not_found(&id))?;
        c.recording_status.push(status.to_string());
        c.operations.insert(
            norm(&op_id),
            OpEntry {
                kind: "updateRecordingStatus",
                flavor,
                client_context: req.client_context.clone(),
                running: false,
                body: body.clone(),
                recording: None,
            },
        );
        c.id.clone()
    };
    Ok((
        StatusCode::OK,
        [(header::LOCATION, location(&st, flavor, &call_id, &op_id))],
        Json(body),
    )
        .into_response())
}

fn token_error(status: StatusCode, error: &str, description: String) -> Response {
    (
        status,
        Json(TokenError {
            error: error.into(),
            error_description: description,
        }),
    )
        .into_response()
}

async fn token(
    State(st): State<EmulatorState>,
    Path(tenant): Path<String>,
    form: Result<Form<HashMap<String, String>>, FormRejection>,
) -> Response {
    let c = &st.inner.config;
    let Ok(Form(f)) = form else {
        return token_error(
            StatusCode::BAD_REQUEST,
            "invalid_request",
            "AADSTS900144: the request body must be application/x-www-form-urlencoded".into(),
        );
    };
    if tenant != c.tenant_id {
        return token_error(
            StatusCode::BAD_REQUEST,
            "invalid_request",
            format!(
                "AADSTS90002: Tenant '{tenant}' not found; the emulator's test tenant is {}",
                c.tenant_id
            ),
        );
    }
    let field = |k: &str| f.get(k).map(String::as_str);
    if field("grant_type") != Some("client_credentials") {
        return token_error(
            StatusCode::BAD_REQUEST,
            "unsupported_grant_type",
            format!(
                "AADSTS70003: grant_type must be client_credentials, got {:?}",
                field("grant_type").unwrap_or("")
            ),
        );
    }
    if field("client_id") != Some(c.client_id.as_str()) {
        return token_error(
            StatusCode::BAD_REQUEST,
            "unauthorized_client",
            format!(
                "AADSTS700016: Application with identifier '{}' was not found in tenant {}",
                field("client_id").unwrap_or(""),
                c.tenant_id
            ),
        );
    }
    if field("client_secret") != Some(c.client_secret.as_str()) {
        return token_error(
            StatusCode::UNAUTHORIZED,
            "invalid_client",
            "AADSTS7000215: Invalid client secret provided.".into(),
        );
    }
    if !field("scope").is_some_and(|s| s.ends_with("/.default")) {
        return token_error(
            StatusCode::BAD_REQUEST,
            "invalid_scope",
            format!(
                "AADSTS1002012: scope must be https://graph.microsoft.com/.default, got {:?}",
                field("scope").unwrap_or("")
            ),
        );
    }
    Json(TokenResponse {
        token_type: "Bearer".into(),
        expires_in: APP_TOKEN_LIFETIME_S,
        ext_expires_in: APP_TOKEN_LIFETIME_S,
        access_token: st.issue_app_token(),
    })
    .into_response()
}

async fn openid_config(State(st): State<EmulatorState>) -> Response {
    Json(json!({
        "issuer": NOTIFICATION_ISSUER,
        "jwks_uri": st.jwks_url(),
        "token_endpoint": st.token_url(),
        "id_token_signing_alg_values_supported": ["RS256"],
        "token_endpoint_auth_methods_supported": ["client_secret_post"],
    }))
    .into_response()
}

async fn jwks(State(st): State<EmulatorState>) -> Response {
    Json(st.jwks()).into_response()
}

async fn get_faults(State(st): State<EmulatorState>) -> Response {
    Json(lock(&st.inner.faults).faults.clone()).into_response()
}

async fn put_faults(State(st): State<EmulatorState>, body: Bytes) -> Result<Response, ApiError> {
    let f: Faults = parse_json(&body, "faults")?;
    f.validate().map_err(ApiError::bad_request)?;
    let mut sf = lock(&st.inner.faults);
    sf.throttle_left = f.throttle.as_ref().map_or(0, |t| t.count);
    sf.faults = f;
    Ok(StatusCode::NO_CONTENT.into_response())
}

async fn put_scenario(
    State(st): State<EmulatorState>,
    Path(name): Path<String>,
    body: Bytes,
) -> Result<Response, ApiError> {
    let mut scenario: Scenario = parse_json(&body, "scenario")?;
    scenario.name = Some(name.clone());
    let prepared = scenario
        .prepare(&st.inner.config.asset_root)
        .map_err(|e| ApiError::bad_request(e.to_string()))?;
    lock(&st.inner.scenarios).insert(name, Arc::new(Script { scenario, prepared }));
    Ok(StatusCode::NO_CONTENT.into_response())
}

async fn inspect_call(
    State(st): State<EmulatorState>,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    let calls = lock(&st.inner.calls);
    let c = calls.get(&norm(&id)).ok_or_else(|| call_not_found(&id))?;
    let ops: Vec<Value> = c
        .operations
        .values()
        .map(|o| json!({"kind": o.kind, "running": o.running, "body": o.body}))
        .collect();
    Ok(Json(json!({
        "id": c.id,
        "ended": c.ended,
        "scenario": c.script.scenario.name,
        "recordingStatus": c.recording_status,
        "operations": ops,
    }))
    .into_response())
}

async fn rotate_key(State(st): State<EmulatorState>) -> Result<Response, ApiError> {
    let st2 = st.clone();
    let kid = tokio::task::spawn_blocking(move || st2.rotate_key())
        .await
        .map_err(|e| internal(format!("key rotation task failed: {e}")))?
        .map_err(|e| internal(e.to_string()))?;
    Ok(Json(json!({"kid": kid})).into_response())
}

fn internal(message: String) -> ApiError {
    ApiError::new(
        StatusCode::INTERNAL_SERVER_ERROR,
        "InternalServerError",
        message,
    )
}

async fn stats(State(st): State<EmulatorState>) -> Response {
    Json(json!({
        "notificationsDelivered": st.inner.delivered.load(Ordering::Relaxed),
        "notificationsFailed": st.inner.failed.load(Ordering::Relaxed),
        "notificationsRerouted": st.inner.rerouted.load(Ordering::Relaxed),
        "downloads": st.download_counts(),
    }))
    .into_response()
}

async fn get_fallbacks(State(st): State<EmulatorState>) -> Response {
    Json(st.notification_fallbacks()).into_response()
}

async fn put_fallbacks(State(st): State<EmulatorState>, body: Bytes) -> Result<Response, ApiError> {
    let urls: Vec<String> = parse_json(&body, "fallbacks (a JSON array of URLs)")?;
    st.set_notification_fallbacks(urls)
        .map_err(|e| ApiError::bad_request(e.to_string()))?;
    Ok(StatusCode::NO_CONTENT.into_response())
}

/// What the recording host needs to know about one recording.
pub(crate) struct RecordingView {
    pub(crate) bytes: Bytes,
    pub(crate) token: String,
    pub(crate) token_expired: bool,
    pub(crate) range_disabled: bool,
    pub(crate) bytes_per_sec: Option<u64>,
    pub(crate) drop_after: Option<u64>,
}

/// Why a recording cannot be served.
pub(crate) enum RecordingLookup {
    Found(RecordingView),
    Missing,
    Discarded,
}

impl EmulatorState {
    /// Looks a recording up for one download, consuming one injected drop.
    pub(crate) fn recording_for_download(&self, id: &str) -> RecordingLookup {
        let mut recs = lock(&self.inner.recordings);
        let Some(r) = recs.get(id).cloned() else {
            return RecordingLookup::Missing;
        };
        if lock(&r.discard_at).is_some_and(|at| Instant::now() >= at) {
            recs.remove(id);
            return RecordingLookup::Discarded;
        }
        drop(recs);
        let drop_after = r.faults.drop_after_bytes.filter(|_| {
            r.drops_left
                .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| n.checked_sub(1))
                .is_ok()
        });
        RecordingLookup::Found(RecordingView {
            bytes: r.bytes.clone(),
            token: r.token.clone(),
            token_expired: r.token_expired,
            range_disabled: r.faults.range_disabled,
            bytes_per_sec: r.faults.download_bytes_per_sec,
            drop_after,
        })
    }
}

/// Builds a Graph error response (used by the recording host).
pub(crate) fn graph_error(status: StatusCode, code: &str, message: String) -> Response {
    ApiError::new(status, code, message).into_response()
}
