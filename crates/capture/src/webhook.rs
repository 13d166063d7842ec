//! The notification webhook: an axum [`Router`] a bot mounts in its own app,
//! plus [`serve`] for a standalone listener.
//!
//! Each POST is authenticated (RS256 JWT checked against the keys published
//! in the OpenID configuration), parsed, queued on the tracker's bounded
//! channel and answered `202` at once; matching happens off the request path.
//! Unauthenticated posts get `401` and are never queued.

use crate::error::{CaptureError, Result};
use crate::secret::redact_url;
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
#[derive(Debug, Clone)]
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
    /// An unknown `kid` triggers at most one refetch per this interval, so a
    /// stream of forged tokens cannot hammer the key endpoint.
    pub min_refetch_interval: Duration,
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
}

#[derive(Default)]
struct KeySet {
    keys: HashMap<String, DecodingKey>,
    fetched_at: Option<Instant>,
}

/// Verifies notification JWTs against a cached JWKS.
pub struct JwtVerifier {
    http: reqwest::Client,
    config: JwtConfig,
    keys: tokio::sync::RwLock<KeySet>,
    // Serialises refetches: concurrent unknown-kid requests share one fetch.
    fetch_lock: tokio::sync::Mutex<()>,
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
        }
    }

    /// Checks signature, `exp`/`nbf` (with leeway), audience and issuer.
    pub async fn verify(&self, token: &str) -> std::result::Result<NotificationClaims, AuthError> {
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
        jsonwebtoken::decode::<NotificationClaims>(token, &key, &v)
            .map(|d| d.claims)
            .map_err(|e| AuthError::Rejected(e.to_string()))
    }

    async fn key_for(&self, kid: Option<&str>) -> std::result::Result<DecodingKey, AuthError> {
        let kid = kid.ok_or(AuthError::UnknownKey(None))?;
        {
            let ks = self.keys.read().await;
            let fresh = ks
                .fetched_at
                .is_some_and(|t| t.elapsed() < self.config.key_max_age);
            if let (true, Some(k)) = (fresh, ks.keys.get(kid)) {
                return Ok(k.clone());
            }
        }
        let _guard = self.fetch_lock.lock().await;
        {
            let ks = self.keys.read().await;
            let fresh = ks
                .fetched_at
                .is_some_and(|t| t.elapsed() < self.config.key_max_age);
            if let (true, Some(k)) = (fresh, ks.keys.get(kid)) {
                return Ok(k.clone());
            }
            let recently = ks
                .fetched_at
                .is_some_and(|t| t.elapsed() < self.config.min_refetch_interval);
            if fresh && recently {
                return Err(AuthError::UnknownKey(Some(kid.to_string())));
            }
        }
        match self.fetch_keys().await {
            Ok(keys) => {
                tracing::debug!(count = keys.len(), "fetched notification signing keys");
                let mut ks = self.keys.write().await;
                ks.keys = keys;
                ks.fetched_at = Some(Instant::now());
                ks.keys
                    .get(kid)
                    .cloned()
                    .ok_or_else(|| AuthError::UnknownKey(Some(kid.to_string())))
            }
            Err(e) => {
                // Keep serving with stale keys rather than refusing every
                // notification while the key endpoint is down.
                let ks = self.keys.read().await;
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
    /// `ConnectInfo<SocketAddr>`.
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
    ) -> std::result::Result<(), AuthError> {
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
                Ok(())
            }
            NotificationAuth::InsecureLoopbackOnly => match peer {
                Some(p) if p.ip().is_loopback() => Ok(()),
                other => Err(AuthError::NotLoopback(other)),
            },
        }
    }
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
}

impl WebhookState {
    /// State for the default path.
    pub fn new(auth: NotificationAuth, sink: NotificationSink) -> Self {
        WebhookState {
            path: DEFAULT_CALLBACK_PATH.to_string(),
            auth,
            sink,
        }
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
    let peer = req
        .extensions()
        .get::<ConnectInfo<SocketAddr>>()
        .map(|c| c.0);
    let (parts, body) = req.into_parts();
    if let Err(e) = state.auth.check(&parts.headers, peer).await {
        tracing::warn!(error = %e, "notification refused");
        return (
            StatusCode::UNAUTHORIZED,
            [(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"))],
        )
            .into_response();
    }
    let body = match axum::body::to_bytes(body, MAX_BODY_BYTES).await {
        Ok(b) => b,
        Err(e) => {
            tracing::warn!(error = %e, "notification body unreadable");
            return StatusCode::BAD_REQUEST.into_response();
        }
    };
    let batch: CommsNotifications = match serde_json::from_slice(&body) {
        Ok(b) => b,
        Err(e) => {
            tracing::warn!(error = %e, "notification body is not commsNotifications");
            return StatusCode::BAD_REQUEST.into_response();
        }
    };
    match state.sink.try_submit(batch) {
        Ok(()) => StatusCode::ACCEPTED.into_response(),
        Err(e) => {
            // Graph redelivers on 5xx; a full queue must not drop it silently.
            tracing::error!(error = %e, "notification queue full");
            Response::builder()
                .status(StatusCode::SERVICE_UNAVAILABLE)
                .header(header::RETRY_AFTER, "1")
                .body(Body::empty())
                .unwrap_or_else(|_| StatusCode::SERVICE_UNAVAILABLE.into_response())
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
    tracing::info!(%addr, path = %state.path, "notification webhook listening");
    axum::serve(
        listener,
        router(state)
            .merge(extra)
            .into_make_service_with_connect_info::<SocketAddr>(),
    )
    .with_graceful_shutdown(shutdown)
    .await
    .map_err(|e| CaptureError::Io {
        action: "serve webhook on",
        path: addr.to_string().into(),
        source: e,
    })
}
