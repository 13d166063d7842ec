//! The notification webhook: an axum [`Router`] a bot mounts in its own app,
//! plus [`serve`] for a standalone listener.
//!
//! Each POST is authenticated (RS256 JWT checked against the keys published
//! in the OpenID configuration), parsed, queued on the tracker's bounded
//! channel and answered `202` at once; matching happens off the request path.
//! Unauthenticated posts get `401` and are never queued. An optional
//! [`WebhookTap`] hears of each answer: the raw bytes of every accepted
//! notification (a relay forwards them) and the reason of every refusal
//! (metrics count them).

use crate::error::{CaptureError, Result};
pub use crate::http_server::WebhookLimits;
use crate::secret::redact_url;
pub use crate::tap::{AcceptedNotification, RedactedHeader, Refusal, WebhookTap};
use crate::tracker::NotificationSink;
use crate::wire::CommsNotifications;
use axum::body::Body;
use axum::extract::{ConnectInfo, Request, State};
use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use axum::Router;
use jsonwebtoken::{Algorithm, DecodingKey, Validation};
use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

/// Default path of the callback URI.
pub const DEFAULT_CALLBACK_PATH: &str = "/api/calls";
/// Where Graph's calling platform publishes its signing keys.
pub const DEFAULT_OPENID_CONFIG_URL: &str =
    "https://api.aps.skype.com/v1/.well-known/OpenIdConfiguration";
/// Issuers Graph notifications are signed as (with and without `/`).
pub const DEFAULT_ISSUERS: [&str; 4] = [
    "https://graph.microsoft.com",
    "https://graph.microsoft.com/",
    "https://api.botframework.com",
    "https://api.botframework.com/",
];
/// Largest notification body accepted.
pub const MAX_BODY_BYTES: usize = 1 << 20;

/// Settings for JWT validation.
#[derive(Clone)]
pub struct JwtConfig {
    /// The OpenID configuration URL (its `jwks_uri` names the key set).
    pub openid_config_url: String,
    /// Expected `aud`: the bot's app ID.
    pub audience: String,
    /// Accepted `iss` values (exact match).
    pub issuers: Vec<String>,
    /// Clock skew allowed on `exp` and `nbf`.
    pub leeway: Duration,
    /// Keys older than this are refetched (Microsoft suggests about 2 h).
    pub key_max_age: Duration,
    /// An unknown `kid` triggers at most one refetch per this interval
    /// (counted from the last attempt, successful or not), so a stream of
    /// forged tokens cannot hammer the key endpoint. Default 60 s.
    pub min_refetch_interval: Duration,
    /// After a failed key fetch, the next waits this long, doubling with
    /// each further failure up to [`Self::key_fetch_max_backoff`]; tokens
    /// are meanwhile checked against the keys already held. Default 5 s.
    pub key_fetch_backoff: Duration,
    /// Longest wait between failing key fetches. Default 5 min.
    pub key_fetch_max_backoff: Duration,
    /// Tenants whose tokens are accepted (`tid`, compared ignoring case).
    /// Empty (the default): any tenant.
    pub allowed_tenants: Vec<String>,
}

impl std::fmt::Debug for JwtConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("JwtConfig")
            .field("openid_config_url", &redact_url(&self.openid_config_url))
            .field("audience", &self.audience)
            .field("issuers", &self.issuers)
            .field("leeway", &self.leeway)
            .field("key_max_age", &self.key_max_age)
            .field("min_refetch_interval", &self.min_refetch_interval)
            .field("key_fetch_backoff", &self.key_fetch_backoff)
            .field("key_fetch_max_backoff", &self.key_fetch_max_backoff)
            .field("allowed_tenants", &self.allowed_tenants)
            .finish()
    }
}

impl JwtConfig {
    /// Defaults for the global cloud with the given app ID as audience.
    pub fn new(audience: impl Into<String>) -> Self {
        JwtConfig {
            openid_config_url: DEFAULT_OPENID_CONFIG_URL.to_string(),
            audience: audience.into(),
            issuers: DEFAULT_ISSUERS.iter().map(|s| s.to_string()).collect(),
            leeway: Duration::from_secs(60),
            key_max_age: Duration::from_secs(2 * 3600),
            min_refetch_interval: Duration::from_secs(60),
            key_fetch_backoff: Duration::from_secs(5),
            key_fetch_max_backoff: Duration::from_secs(300),
            allowed_tenants: Vec::new(),
        }
    }
}

/// Why a notification was refused (logged, never sent to the caller).
#[derive(Debug, thiserror::Error)]
pub enum AuthError {
    /// No `Authorization: Bearer` header.
    #[error("missing bearer token")]
    Missing,
    /// Header or token malformed, or the algorithm is not RS256.
    #[error("malformed token: {0}")]
    Malformed(String),
    /// No key with this `kid` (even after a refetch).
    #[error("unknown signing key {0:?}")]
    UnknownKey(Option<String>),
    /// Signature, expiry, audience or issuer check failed.
    #[error("token rejected: {0}")]
    Rejected(String),
    /// The key set could not be fetched.
    #[error("cannot fetch signing keys: {0}")]
    Keys(String),
    /// Auth is disabled and the peer is not on loopback.
    #[error("notification auth is disabled and the peer {0:?} is not loopback")]
    NotLoopback(Option<SocketAddr>),
    /// Auth is disabled and the request came through a proxy or tunnel
    /// (it carries `Forwarded`, `X-Forwarded-For` or `X-Real-IP`): a
    /// loopback peer proves nothing then.
    #[error("notification auth is disabled and the request carries a {0} header (a proxy or tunnel fronts the port)")]
    Proxied(&'static str),
    /// The token's tenant is not on the allow-list.
    #[error("tenant {0:?} is not allowed")]
    Tenant(Option<String>),
}

#[derive(Default)]
struct KeySet {
    keys: HashMap<String, DecodingKey>,
    fetched_at: Option<Instant>,
    /// The last fetch attempt, successful or not.
    attempted_at: Option<Instant>,
    /// Failed attempts in a row.
    failures: u32,
}

impl KeySet {
    /// No fetch may start before this (rate limit and failure backoff).
    fn next_fetch_at(&self, config: &JwtConfig) -> Option<Instant> {
        let at = self.attempted_at?;
        let wait = if self.failures == 0 {
            config.min_refetch_interval
        } else {
            config
                .key_fetch_backoff
                .saturating_mul(1 << (self.failures - 1).min(16))
                .min(config.key_fetch_max_backoff)
        };
        Some(at + wait)
    }

    fn may_fetch(&self, config: &JwtConfig, now: Instant) -> bool {
        self.next_fetch_at(config).is_none_or(|t| now >= t)
    }
}

/// Verifies notification JWTs against a cached JWKS.
pub struct JwtVerifier {
    http: reqwest::Client,
    config: JwtConfig,
    keys: tokio::sync::RwLock<KeySet>,
    // Serialises refetches: concurrent unknown-kid requests share one fetch.
    // Tokens whose key is held never wait for it.
    fetch_lock: tokio::sync::Mutex<()>,
    fetches: std::sync::atomic::AtomicU64,
}

impl std::fmt::Debug for JwtVerifier {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("JwtVerifier")
            .field("config", &self.config)
            .finish_non_exhaustive()
    }
}

/// Claims read from a verified notification token.
#[derive(Debug, Clone, serde::Deserialize)]
pub struct NotificationClaims {
    /// Tenant ID.
    #[serde(default)]
    pub tid: Option<String>,
    /// Issuer.
    #[serde(default)]
    pub iss: Option<String>,
}

#[derive(serde::Deserialize)]
struct OpenIdConfig {
    jwks_uri: String,
}

#[derive(serde::Deserialize)]
struct RawJwks {
    keys: Vec<serde_json::Value>,
}

impl JwtVerifier {
    /// A verifier fetching keys with `http`.
    pub fn new(http: reqwest::Client, config: JwtConfig) -> Self {
        JwtVerifier {
            http,
            config,
            keys: tokio::sync::RwLock::new(KeySet::default()),
            fetch_lock: tokio::sync::Mutex::new(()),
            fetches: std::sync::atomic::AtomicU64::new(0),
        }
    }

    /// Key-set fetches attempted so far (successful or not).
    pub fn key_fetches(&self) -> u64 {
        self.fetches.load(std::sync::atomic::Ordering::Relaxed)
    }

    /// Checks the size, signature, `exp`/`nbf` (with leeway), audience,
    /// issuer and, when [`JwtConfig::allowed_tenants`] is set, the tenant.
    pub async fn verify(&self, token: &str) -> std::result::Result<NotificationClaims, AuthError> {
        if token.len() > crate::limits::MAX_TOKEN_BYTES {
            return Err(AuthError::Malformed(format!(
                "{} bytes, more than the {} allowed",
                token.len(),
                crate::limits::MAX_TOKEN_BYTES
            )));
        }
        let header =
            jsonwebtoken::decode_header(token).map_err(|e| AuthError::Malformed(e.to_string()))?;
        if header.alg != Algorithm::RS256 {
            return Err(AuthError::Malformed(format!("algorithm {:?}", header.alg)));
        }
        let key = self.key_for(header.kid.as_deref()).await?;
        let mut v = Validation::new(Algorithm::RS256);
        v.leeway = self.config.leeway.as_secs();
        v.validate_nbf = true;
        v.validate_exp = true;
        v.set_audience(&[self.config.audience.as_str()]);
        v.set_issuer(&self.config.issuers);
        v.set_required_spec_claims(&["exp", "aud", "iss"]);
        let claims = jsonwebtoken::decode::<NotificationClaims>(token, &key, &v)
            .map(|d| d.claims)
            .map_err(|e| AuthError::Rejected(e.to_string()))?;
        let allowed = &self.config.allowed_tenants;
        if !allowed.is_empty()
            && !claims
                .tid
                .as_deref()
                .is_some_and(|t| allowed.iter().any(|a| a.eq_ignore_ascii_case(t.trim())))
        {
            return Err(AuthError::Tenant(claims.tid));
        }
        Ok(claims)
    }

    async fn key_for(&self, kid: Option<&str>) -> std::result::Result<DecodingKey, AuthError> {
        let kid = kid.ok_or(AuthError::UnknownKey(None))?;
        let unknown = || AuthError::UnknownKey(Some(kid.to_string()));
        let held = {
            let ks = self.keys.read().await;
            let now = Instant::now();
            let fresh = ks
                .fetched_at
                .is_some_and(|t| now.duration_since(t) < self.config.key_max_age);
            match ks.keys.get(kid) {
                Some(k) if fresh || !ks.may_fetch(&self.config, now) => return Ok(k.clone()),
                Some(k) => Some(k.clone()),
                // Unknown kid inside the rate limit or the failure backoff:
                // refused at once, without touching the lock or the network.
                None if !ks.may_fetch(&self.config, now) => return Err(unknown()),
                None => None,
            }
        };
        // A stale but known key: refresh if nobody else is, else use it now.
        let _guard = match (&held, self.fetch_lock.try_lock()) {
            (_, Ok(g)) => g,
            (Some(k), Err(_)) => return Ok(k.clone()),
            (None, Err(_)) => self.fetch_lock.lock().await,
        };
        {
            // Another task may have fetched while we waited for the lock.
            let ks = self.keys.read().await;
            if !ks.may_fetch(&self.config, Instant::now()) {
                return ks.keys.get(kid).cloned().ok_or_else(unknown);
            }
        }
        self.fetches
            .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let fetched = self.fetch_keys().await;
        let mut ks = self.keys.write().await;
        ks.attempted_at = Some(Instant::now());
        match fetched {
            Ok(keys) => {
                tracing::debug!(count = keys.len(), "fetched notification signing keys");
                ks.keys = keys;
                ks.fetched_at = ks.attempted_at;
                ks.failures = 0;
                ks.keys.get(kid).cloned().ok_or_else(unknown)
            }
            Err(e) => {
                ks.failures = ks.failures.saturating_add(1);
                tracing::warn!(error = %e, failures = ks.failures,
                    "notification signing keys unavailable; backing off");
                // Keep serving with stale keys rather than refusing every
                // notification while the key endpoint is down.
                ks.keys.get(kid).cloned().ok_or(e)
            }
        }
    }

    async fn fetch_keys(&self) -> std::result::Result<HashMap<String, DecodingKey>, AuthError> {
        let get_json = |url: String| async move {
            let resp = self.http.get(&url).send().await.map_err(|e| {
                AuthError::Keys(format!("{}: {}", redact_url(&url), e.without_url()))
            })?;
            if !resp.status().is_success() {
                return Err(AuthError::Keys(format!(
                    "{}: HTTP {}",
                    redact_url(&url),
                    resp.status().as_u16()
                )));
            }
            resp.bytes()
                .await
                .map_err(|e| AuthError::Keys(format!("{}: {}", redact_url(&url), e.without_url())))
        };
        let cfg = get_json(self.config.openid_config_url.clone()).await?;
        let cfg: OpenIdConfig = serde_json::from_slice(&cfg)
            .map_err(|e| AuthError::Keys(format!("OpenID configuration: {e}")))?;
        let jwks = get_json(cfg.jwks_uri).await?;
        let jwks: RawJwks =
            serde_json::from_slice(&jwks).map_err(|e| AuthError::Keys(format!("JWKS: {e}")))?;
        // Parse key by key: one unsupported key type must not hide the others.
        let mut out = HashMap::new();
        for raw in jwks.keys {
            let Ok(jwk) = serde_json::from_value::<jsonwebtoken::jwk::Jwk>(raw) else {
                continue;
            };
            let (Some(kid), Ok(key)) = (jwk.common.key_id.clone(), DecodingKey::from_jwk(&jwk))
            else {
                continue;
            };
            out.insert(kid, key);
        }
        Ok(out)
    }
}

/// How notifications are authenticated.
#[derive(Debug, Clone)]
pub enum NotificationAuth {
    /// Verify the bearer JWT.
    Jwt(Arc<JwtVerifier>),
    /// No verification; only peers on loopback are accepted (for local tests
    /// and the emulator). Fails closed if the server does not provide
    /// `ConnectInfo<SocketAddr>`, and refuses any request carrying
    /// `Forwarded`, `X-Forwarded-For` or `X-Real-IP`: behind a tunnel or a
    /// reverse proxy on the same machine every peer is loopback, so the
    /// address proves nothing.
    InsecureLoopbackOnly,
}

impl NotificationAuth {
    /// JWT verification with `config`, fetching keys through `http`.
    pub fn jwt(http: reqwest::Client, config: JwtConfig) -> Self {
        NotificationAuth::Jwt(Arc::new(JwtVerifier::new(http, config)))
    }

    async fn check(
        &self,
        headers: &axum::http::HeaderMap,
        peer: Option<SocketAddr>,
    ) -> std::result::Result<Option<String>, AuthError> {
        match self {
            NotificationAuth::Jwt(v) => {
                let token = headers
                    .get(header::AUTHORIZATION)
                    .and_then(|h| h.to_str().ok())
                    .and_then(|h| {
                        h.strip_prefix("Bearer ")
                            .or_else(|| h.strip_prefix("bearer "))
                    })
                    .map(str::trim)
                    .ok_or(AuthError::Missing)?;
                let claims = v.verify(token).await?;
                tracing::trace!(tid = ?claims.tid, "notification token verified");
                Ok(claims.tid.and_then(tenant_of))
            }
            NotificationAuth::InsecureLoopbackOnly => {
                for name in ["forwarded", "x-forwarded-for", "x-real-ip"] {
                    if headers.contains_key(name) {
                        return Err(AuthError::Proxied(name));
                    }
                }
                match peer {
                    Some(p) if p.ip().is_loopback() => Ok(None),
                    other => Err(AuthError::NotLoopback(other)),
                }
            }
        }
    }
}

/// A verified `tid` as reports carry it: trimmed, and only when it looks
/// like a tenant id (a GUID or a domain name, at most 128 characters).
fn tenant_of(tid: String) -> Option<String> {
    let t = tid.trim();
    let ok = !t.is_empty()
        && t.len() <= 128
        && t.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"-._".contains(&b));
    ok.then(|| t.to_string())
}

/// Why the webhook refused a notification, in [`Refusal`]'s words.
fn refusal_of(e: &AuthError) -> Refusal {
    match e {
        AuthError::Missing => Refusal::MissingToken,
        AuthError::Malformed(_) | AuthError::UnknownKey(_) | AuthError::Rejected(_) => {
            Refusal::BadToken
        }
        AuthError::Keys(_) => Refusal::KeysUnavailable,
        AuthError::Tenant(_) => Refusal::Tenant,
        AuthError::NotLoopback(_) | AuthError::Proxied(_) => Refusal::NotLoopback,
    }
}

/// The call id a notification's resource path names, as written.
fn call_id_of(batch: &CommsNotifications) -> Option<String> {
    let path = batch.value.first()?.resource_path()?;
    let path = path.split(['?', '#']).next().unwrap_or("");
    let mut segs = path.split('/').filter(|s| !s.is_empty());
    segs.by_ref().find(|s| *s == "calls")?;
    segs.next().map(str::to_string)
}

/// Everything the webhook handler needs.
#[derive(Debug, Clone)]
pub struct WebhookState {
    /// Path to mount at (default [`DEFAULT_CALLBACK_PATH`]).
    pub path: String,
    /// Authentication.
    pub auth: NotificationAuth,
    /// Where verified notifications go.
    pub sink: NotificationSink,
    /// Connection limits of [`serve`] (not used by [`router`]).
    pub limits: WebhookLimits,
    /// Told of every answer (a relay, metrics); `None` by default.
    pub tap: Option<Arc<dyn WebhookTap>>,
}

impl WebhookState {
    /// State for the default path.
    pub fn new(auth: NotificationAuth, sink: NotificationSink) -> Self {
        WebhookState {
            path: DEFAULT_CALLBACK_PATH.to_string(),
            auth,
            sink,
            limits: WebhookLimits::default(),
            tap: None,
        }
    }

    /// Tell `tap` of every answer.
    pub fn with_tap(mut self, tap: Option<Arc<dyn WebhookTap>>) -> Self {
        self.tap = tap;
        self
    }

    /// Serve with `limits` instead of the defaults.
    pub fn with_limits(mut self, limits: WebhookLimits) -> Self {
        self.limits = limits;
        self
    }

    /// Mount at `path` instead.
    pub fn with_path(mut self, path: impl Into<String>) -> Self {
        self.path = path.into();
        self
    }
}

/// A router with the webhook at `state.path`, to merge into a bot's app.
pub fn router(state: WebhookState) -> Router {
    let path = state.path.clone();
    Router::new()
        .route(&path, post(handle_notification))
        .with_state(state)
}

async fn handle_notification(State(state): State<WebhookState>, req: Request) -> Response {
    let (response, tapped) = answer_notification(&state, req).await;
    if let Some(tap) = &state.tap {
        match tapped {
            Ok(Some(accepted)) => tap.accepted(&accepted),
            Ok(None) => {}
            Err(reason) => tap.refused(reason),
        }
    }
    response
}

/// What the tap hears of an answer (`Ok(None)`: accepted, and no tap).
type Tapped = std::result::Result<Option<AcceptedNotification>, Refusal>;

/// The answer, and what the tap hears of it.
async fn answer_notification(state: &WebhookState, req: Request) -> (Response, Tapped) {
    let peer = req
        .extensions()
        .get::<ConnectInfo<SocketAddr>>()
        .map(|c| c.0);
    let (parts, body) = req.into_parts();
    let tenant_id = match state.auth.check(&parts.headers, peer).await {
        Ok(t) => t,
        Err(e) => {
            tracing::warn!(error = %e, "notification refused");
            let response = (
                StatusCode::UNAUTHORIZED,
                [(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"))],
            )
                .into_response();
            return (response, Err(refusal_of(&e)));
        }
    };
    let body = match axum::body::to_bytes(body, MAX_BODY_BYTES).await {
        Ok(b) => b,
        Err(e) => {
            tracing::warn!(error = %e, "notification body unreadable");
            return (
                StatusCode::BAD_REQUEST.into_response(),
                Err(Refusal::UnreadableBody),
            );
        }
    };
    let batch: CommsNotifications = match serde_json::from_slice(&body) {
        Ok(b) => CommsNotifications { tenant_id, ..b },
        Err(e) => {
            tracing::warn!(error = %e, "notification body is not commsNotifications");
            return (
                StatusCode::BAD_REQUEST.into_response(),
                Err(Refusal::NotNotifications),
            );
        }
    };
    let accepted = state.tap.as_ref().map(|_| AcceptedNotification {
        call_id: call_id_of(&batch),
        body,
        authorization: parts
            .headers
            .get(header::AUTHORIZATION)
            .cloned()
            .map(RedactedHeader),
        content_type: parts.headers.get(header::CONTENT_TYPE).cloned(),
    });
    match state.sink.try_submit(batch) {
        Ok(()) => (StatusCode::ACCEPTED.into_response(), Ok(accepted)),
        Err(e) => {
            // Graph redelivers on 5xx; a full queue must not drop it silently.
            tracing::error!(error = %e, "notification queue full");
            let response = Response::builder()
                .status(StatusCode::SERVICE_UNAVAILABLE)
                .header(header::RETRY_AFTER, "1")
                .body(Body::empty())
                .unwrap_or_else(|_| StatusCode::SERVICE_UNAVAILABLE.into_response());
            (response, Err(Refusal::QueueFull))
        }
    }
}

/// Serves `app` (e.g. [`router`]) on `listener` until `shutdown` resolves,
/// with peer addresses available to the handler.
///
/// Refuses to start on a non-loopback address when `auth` is
/// [`NotificationAuth::InsecureLoopbackOnly`].
pub async fn serve(
    listener: tokio::net::TcpListener,
    state: WebhookState,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) -> Result<()> {
    serve_with(listener, state, Router::new(), shutdown).await
}

/// Serves any axum `app` on `listener` with the webhook server's
/// connection limits (header-read, request and idle timeouts, a connection
/// cap) until `shutdown` resolves: for a service's own API beside the
/// webhook, which `axum::serve` (no timers) would leave open to slow clients.
pub async fn serve_app(
    listener: tokio::net::TcpListener,
    app: Router,
    limits: WebhookLimits,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) {
    crate::http_server::serve_router(listener, app, limits, shutdown).await;
}

/// Like [`serve`], with `extra` routes (health, readiness) on the same
/// listener.
pub async fn serve_with(
    listener: tokio::net::TcpListener,
    state: WebhookState,
    extra: Router,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) -> Result<()> {
    let addr = listener.local_addr().map_err(|e| CaptureError::Io {
        action: "read local address of",
        path: "webhook listener".into(),
        source: e,
    })?;
    if matches!(state.auth, NotificationAuth::InsecureLoopbackOnly) && !addr.ip().is_loopback() {
        return Err(CaptureError::InvalidInput {
            what: format!("webhook listen address {addr}"),
            reason: "notification auth can only be disabled on a loopback address".into(),
        });
    }
    tracing::info!(%addr, path = %state.path, limits = ?state.limits, "notification webhook listening");
    let limits = state.limits;
    crate::http_server::serve_router(listener, router(state).merge(extra), limits, shutdown).await;
    Ok(())
}
