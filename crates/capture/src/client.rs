//! `GraphClient`: typed, validated Graph calls over one shared reqwest client,
//! with token providers and a retry policy that never repeats a POST Graph may
//! already have acted on.
//!
//! Retry rules, and why:
//! - Connect errors: the request never reached the server, so any request may
//!   be retried (with exponential backoff, jitter and a cap).
//! - 429 and 503 (with or without `Retry-After`): Graph rejected the request
//!   before acting on it (throttling / unavailable), so a POST is safe to
//!   repeat. `Retry-After` is honoured, capped at `max_retry_after`.
//! - 401: Graph refused the request unread; the token is invalidated and the
//!   request repeated once with a fresh one.
//! - Other 5xx, resets and timeouts after the request was sent: Graph may have
//!   started a record operation. Repeating `recordResponse` could start a
//!   second one (or fail with "conflicting operation" 8519/8571) and the first
//!   one's completion would arrive for an operation nobody waits for. So POSTs
//!   surface these as errors; only idempotent GETs retry them.

use crate::error::{CaptureError, Result};
use crate::secret::{redact_url, Secret};
use crate::wire::{
    GraphErrorBody, LegacyRecordRequest, RecordOperation, RecordResponseRequest,
    UpdateRecordingStatusOperation, UpdateRecordingStatusRequest,
};
use futures_util::future::BoxFuture;
use reqwest::header::{HeaderMap, CONTENT_TYPE, LOCATION, RETRY_AFTER};
use reqwest::{Method, StatusCode};
use serde::Serialize;
use std::sync::Arc;
use std::time::{Duration, Instant};

/// Default Graph base URL (the global cloud, v1.0).
pub const DEFAULT_GRAPH_URL: &str = "https://graph.microsoft.com/v1.0";
/// Default Entra ID authority for client credentials.
pub const DEFAULT_AUTHORITY: &str = "https://login.microsoftonline.com";
/// Default scope for client credentials.
pub const DEFAULT_SCOPE: &str = "https://graph.microsoft.com/.default";

/// Supplies the Graph app token (`Authorization: Bearer ...`).
pub trait TokenProvider: Send + Sync + 'static {
    /// A currently valid token.
    fn token(&self) -> BoxFuture<'_, Result<Secret>>;

    /// Graph rejected `rejected` (401): drop it from any cache so the next
    /// [`TokenProvider::token`] fetches a new one. Default: nothing cached.
    fn invalidate<'a>(&'a self, rejected: &'a Secret) -> BoxFuture<'a, ()> {
        let _ = rejected;
        Box::pin(async {})
    }
}

/// A fixed bearer token (for tests, or tokens managed elsewhere).
#[derive(Debug, Clone)]
pub struct StaticToken(pub Secret);

impl TokenProvider for StaticToken {
    fn token(&self) -> BoxFuture<'_, Result<Secret>> {
        let t = self.0.clone();
        Box::pin(async move { Ok(t) })
    }
}

/// Settings for the OAuth2 client-credentials flow.
#[derive(Debug, Clone)]
pub struct ClientCredentialsConfig {
    /// Authority, default [`DEFAULT_AUTHORITY`] (national clouds differ).
    pub authority: String,
    /// Tenant ID or domain.
    pub tenant: String,
    /// Application (client) ID.
    pub client_id: String,
    /// Client secret.
    pub client_secret: Secret,
    /// Scope, default [`DEFAULT_SCOPE`].
    pub scope: String,
    /// Refresh this long before the token expires.
    pub refresh_margin: Duration,
}

impl ClientCredentialsConfig {
    /// Settings for the global cloud.
    pub fn new(tenant: impl Into<String>, client_id: impl Into<String>, secret: Secret) -> Self {
        ClientCredentialsConfig {
            authority: DEFAULT_AUTHORITY.to_string(),
            tenant: tenant.into(),
            client_id: client_id.into(),
            client_secret: secret,
            scope: DEFAULT_SCOPE.to_string(),
            refresh_margin: Duration::from_secs(300),
        }
    }

    /// `{authority}/{tenant}/oauth2/v2.0/token`.
    pub fn token_url(&self) -> String {
        format!(
            "{}/{}/oauth2/v2.0/token",
            self.authority.trim_end_matches('/'),
            self.tenant
        )
    }
}

/// OAuth2 client credentials with a cached token, refreshed shortly before it
/// expires. Concurrent callers share one refresh (the cache lock is held while
/// fetching), so 100 operations starting at once cause one token request.
pub struct ClientCredentials {
    http: reqwest::Client,
    config: ClientCredentialsConfig,
    cache: tokio::sync::Mutex<Option<(Secret, Instant)>>,
}

impl std::fmt::Debug for ClientCredentials {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ClientCredentials")
            .field("token_url", &self.config.token_url())
            .field("client_id", &self.config.client_id)
            .finish_non_exhaustive()
    }
}

#[derive(serde::Deserialize)]
struct TokenResponse {
    access_token: Secret,
    #[serde(default)]
    expires_in: Option<serde_json::Value>,
}

#[derive(serde::Deserialize)]
struct TokenErrorBody {
    #[serde(default)]
    error: Option<String>,
    #[serde(default)]
    error_description: Option<String>,
}

impl ClientCredentials {
    /// A provider using `http` for token requests.
    pub fn new(http: reqwest::Client, config: ClientCredentialsConfig) -> Self {
        ClientCredentials {
            http,
            config,
            cache: tokio::sync::Mutex::new(None),
        }
    }

    async fn fetch(&self) -> Result<(Secret, Duration)> {
        let url = self.config.token_url();
        let err = |reason: String| CaptureError::Token {
            url: redact_url(&url),
            reason,
        };
        let form = [
            ("grant_type", "client_credentials"),
            ("client_id", self.config.client_id.as_str()),
            ("client_secret", self.config.client_secret.expose()),
            ("scope", self.config.scope.as_str()),
        ];
        let body = form
            .iter()
            .map(|(k, v)| format!("{k}={}", form_encode(v)))
            .collect::<Vec<_>>()
            .join("&");
        let resp = self
            .http
            .post(&url)
            .header(CONTENT_TYPE, "application/x-www-form-urlencoded")
            .body(body)
            .send()
            .await
            .map_err(|e| err(e.without_url().to_string()))?;
        let status = resp.status();
        let bytes = resp
            .bytes()
            .await
            .map_err(|e| err(e.without_url().to_string()))?;
        if !status.is_success() {
            let detail = serde_json::from_slice::<TokenErrorBody>(&bytes)
                .ok()
                .map(|b| {
                    format!(
                        "{}: {}",
                        b.error.unwrap_or_default(),
                        b.error_description.unwrap_or_default()
                    )
                })
                .unwrap_or_default();
            return Err(err(format!("HTTP {} {detail}", status.as_u16())));
        }
        let parsed: TokenResponse = serde_json::from_slice(&bytes)
            .map_err(|e| err(format!("token response is not the expected JSON: {e}")))?;
        // AAD sends expires_in as a number; some proxies send a string.
        let secs = match parsed.expires_in {
            Some(serde_json::Value::Number(n)) => n.as_u64(),
            Some(serde_json::Value::String(s)) => s.parse().ok(),
            _ => None,
        }
        .unwrap_or(3600);
        Ok((parsed.access_token, Duration::from_secs(secs)))
    }
}

fn form_encode(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                out.push(b as char)
            }
            _ => out.push_str(&format!("%{b:02X}")),
        }
    }
    out
}

impl TokenProvider for ClientCredentials {
    fn token(&self) -> BoxFuture<'_, Result<Secret>> {
        Box::pin(async move {
            let mut cache = self.cache.lock().await;
            if let Some((tok, refresh_at)) = cache.as_ref() {
                if Instant::now() < *refresh_at {
                    return Ok(tok.clone());
                }
            }
            let (tok, lifetime) = self.fetch().await?;
            // Never refresh later than half the lifetime, so short-lived test
            // tokens are refreshed too.
            let margin = self.config.refresh_margin.min(lifetime / 2);
            tracing::debug!(lifetime_s = lifetime.as_secs(), "fetched app token");
            *cache = Some((tok.clone(), Instant::now() + lifetime - margin));
            Ok(tok)
        })
    }

    fn invalidate<'a>(&'a self, rejected: &'a Secret) -> BoxFuture<'a, ()> {
        Box::pin(async move {
            let mut cache = self.cache.lock().await;
            // Only drop the rejected token: a concurrent caller may already
            // have replaced it with a fresh one.
            if cache.as_ref().is_some_and(|(t, _)| t == rejected) {
                *cache = None;
            }
        })
    }
}

/// How requests are retried.
#[derive(Debug, Clone)]
pub struct RetryPolicy {
    /// Total attempts including the first.
    pub max_attempts: u32,
    /// Backoff before the second attempt; doubles each time.
    pub base_backoff: Duration,
    /// Longest backoff.
    pub max_backoff: Duration,
    /// Longest `Retry-After` honoured; longer values are cut to this.
    pub max_retry_after: Duration,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        RetryPolicy {
            max_attempts: 5,
            base_backoff: Duration::from_millis(200),
            max_backoff: Duration::from_secs(10),
            max_retry_after: Duration::from_secs(60),
        }
    }
}

impl RetryPolicy {
    /// Exponential backoff with "full jitter" for attempt `n` (1-based), so
    /// 100 throttled operations do not come back in lockstep.
    pub fn backoff(&self, attempt: u32) -> Duration {
        let exp = self
            .base_backoff
            .saturating_mul(1u32 << attempt.saturating_sub(1).min(16));
        let cap = exp.min(self.max_backoff);
        let ms = cap.as_millis() as u64;
        Duration::from_millis(ms / 2 + rand::random_range(0..=ms / 2))
    }
}

/// Parses `Retry-After` as delta-seconds. (HTTP-dates are not used by Graph;
/// for them the caller falls back to backoff.)
pub fn parse_retry_after(headers: &HeaderMap) -> Option<Duration> {
    let v = headers.get(RETRY_AFTER)?.to_str().ok()?.trim();
    v.parse::<u64>().ok().map(Duration::from_secs)
}

/// Which Graph version a `recordResponse` goes to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum GraphVersion {
    /// `/v1.0` (current).
    #[default]
    V1,
    /// `/beta` (adds `completionReason`).
    Beta,
}

/// What Graph answered to a record request.
#[derive(Debug, Clone)]
pub struct RecordAccepted {
    /// The operation ID, from the body or else from `Location`.
    pub operation_id: String,
    /// The operation as returned (empty for a legacy `202` with no body).
    pub operation: RecordOperation,
    /// The `Location` header, if any.
    pub location: Option<String>,
    /// The HTTP status (200 or 202).
    pub status: u16,
}

/// A Graph client for the calling APIs. Cheap to clone; clones share one
/// connection pool and token cache.
#[derive(Clone)]
pub struct GraphClient {
    inner: Arc<ClientInner>,
}

struct ClientInner {
    http: reqwest::Client,
    base: String,
    beta_base: String,
    tokens: Arc<dyn TokenProvider>,
    retry: RetryPolicy,
    download: crate::download_policy::DownloadOptions,
}

impl std::fmt::Debug for GraphClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("GraphClient")
            .field("base", &redact_url(&self.inner.base))
            .field("beta_base", &redact_url(&self.inner.beta_base))
            .finish_non_exhaustive()
    }
}

enum TokenConfig {
    Static(Secret),
    ClientCredentials(ClientCredentialsConfig),
    Custom(Arc<dyn TokenProvider>),
}

/// Builds a [`GraphClient`].
pub struct GraphClientBuilder {
    base: String,
    beta_base: Option<String>,
    token: Option<TokenConfig>,
    retry: RetryPolicy,
    timeout: Duration,
    http: Option<reqwest::Client>,
    download: crate::download_policy::DownloadOptions,
}

impl GraphClient {
    /// A builder with the global-cloud defaults.
    pub fn builder() -> GraphClientBuilder {
        GraphClientBuilder {
            base: DEFAULT_GRAPH_URL.to_string(),
            beta_base: None,
            token: None,
            retry: RetryPolicy::default(),
            timeout: Duration::from_secs(30),
            http: None,
            download: crate::download_policy::DownloadOptions::default(),
        }
    }

    /// Options for recording downloads through this client
    /// ([`crate::tracker::CompletedRecording::download_and_analyze`]): the
    /// builder's, with the Graph base URL's origin trusted by the policy.
    pub fn download_options(&self) -> &crate::download_policy::DownloadOptions {
        &self.inner.download
    }

    /// The shared HTTP client (also used for downloads, without app token).
    pub fn http(&self) -> &reqwest::Client {
        &self.inner.http
    }

    /// The configured v1.0 base URL.
    pub fn base_url(&self) -> &str {
        &self.inner.base
    }

    /// The retry policy.
    pub fn retry_policy(&self) -> &RetryPolicy {
        &self.inner.retry
    }

    fn version_base(&self, v: GraphVersion) -> &str {
        match v {
            GraphVersion::V1 => &self.inner.base,
            GraphVersion::Beta => &self.inner.beta_base,
        }
    }

    /// `POST {base}/communications/calls/{id}/recordResponse`, after validation.
    pub async fn record_response(
        &self,
        call_id: &str,
        body: &RecordResponseRequest,
        version: GraphVersion,
    ) -> Result<RecordAccepted> {
        let action = format!("recordResponse for call {call_id}");
        check_call_id(call_id)?;
        body.validate()
            .map_err(|source| CaptureError::InvalidRequest {
                action: action.clone(),
                source,
            })?;
        let url = format!(
            "{}/communications/calls/{call_id}/recordResponse",
            self.version_base(version)
        );
        self.post_record(&action, &url, body).await
    }

    /// Legacy beta `POST {beta}/app/calls/{id}/record`; 200 with a body and
    /// 202 with only `Location` are both accepted.
    pub async fn record_legacy(
        &self,
        call_id: &str,
        body: &LegacyRecordRequest,
    ) -> Result<RecordAccepted> {
        let action = format!("record (legacy) for call {call_id}");
        check_call_id(call_id)?;
        body.validate()
            .map_err(|source| CaptureError::InvalidRequest {
                action: action.clone(),
                source,
            })?;
        let url = format!("{}/app/calls/{call_id}/record", self.inner.beta_base);
        self.post_record(&action, &url, body).await
    }

    async fn post_record<B: Serialize>(
        &self,
        action: &str,
        url: &str,
        body: &B,
    ) -> Result<RecordAccepted> {
        let (status, headers, bytes) = self.send(action, Method::POST, url, Some(body)).await?;
        let location = headers
            .get(LOCATION)
            .and_then(|v| v.to_str().ok())
            .map(str::to_string);
        let operation: RecordOperation = if bytes.iter().all(u8::is_ascii_whitespace) {
            RecordOperation::default()
        } else {
            serde_json::from_slice(&bytes).map_err(|e| CaptureError::Protocol {
                action: action.to_string(),
                reason: format!("body is not a recordOperation: {e}"),
            })?
        };
        let operation_id = operation
            .id
            .clone()
            .filter(|s| !s.is_empty())
            .or_else(|| {
                location.as_deref().and_then(|l| {
                    crate::wire::OperationKey::from_resource(l)
                        .map(|_| l.rsplit('/').next().unwrap_or_default().to_string())
                })
            })
            .ok_or_else(|| CaptureError::Protocol {
                action: action.to_string(),
                reason: "no operation id in the body or the Location header".into(),
            })?;
        // The id names files later: refuse anything but a GUID right here.
        crate::ids::OperationId::parse(&operation_id, &format!("the answer to {action}"))?;
        crate::limits::check_operation_fields(&operation, &format!("the answer to {action}"))?;
        tracing::debug!(%action, operation_id, status = status.as_u16(), "record accepted");
        Ok(RecordAccepted {
            operation_id,
            operation,
            location,
            status: status.as_u16(),
        })
    }

    /// `POST {base}/communications/calls/{id}/updateRecordingStatus`.
    ///
    /// Prefer [`crate::compliance::RecordingPermit::acquire`], which turns the
    /// success into the permit that persisting requires.
    pub async fn update_recording_status(
        &self,
        call_id: &str,
        body: &UpdateRecordingStatusRequest,
    ) -> Result<UpdateRecordingStatusOperation> {
        let action = format!(
            "updateRecordingStatus({:?}) for call {call_id}",
            body.status
        );
        check_call_id(call_id)?;
        body.validate()
            .map_err(|source| CaptureError::InvalidRequest {
                action: action.clone(),
                source,
            })?;
        let url = format!(
            "{}/communications/calls/{call_id}/updateRecordingStatus",
            self.inner.base
        );
        let (_, _, bytes) = self.send(&action, Method::POST, &url, Some(body)).await?;
        if bytes.iter().all(u8::is_ascii_whitespace) {
            return Ok(UpdateRecordingStatusOperation::default());
        }
        serde_json::from_slice(&bytes).map_err(|e| CaptureError::Protocol {
            action,
            reason: format!("body is not an updateRecordingStatusOperation: {e}"),
        })
    }

    /// Sends one Graph request with the app token, retrying per the policy.
    async fn send<B: Serialize>(
        &self,
        action: &str,
        method: Method,
        url: &str,
        body: Option<&B>,
    ) -> Result<(StatusCode, HeaderMap, bytes::Bytes)> {
        let idempotent = method == Method::GET;
        let payload =
            body.map(serde_json::to_vec)
                .transpose()
                .map_err(|e| CaptureError::Protocol {
                    action: action.to_string(),
                    reason: format!("cannot serialise request: {e}"),
                })?;
        let policy = &self.inner.retry;
        let max = policy.max_attempts.max(1);
        let mut attempt = 0;
        let mut reauthenticated = false;
        loop {
            attempt += 1;
            let token = self.inner.tokens.token().await?;
            let mut req = self
                .inner
                .http
                .request(method.clone(), url)
                .bearer_auth(token.expose());
            if let Some(p) = &payload {
                req = req.header(CONTENT_TYPE, "application/json").body(p.clone());
            }
            let transport_err = |e: reqwest::Error, attempts| CaptureError::Transport {
                action: action.to_string(),
                url: redact_url(url),
                attempts,
                source: e.without_url(),
            };
            let resp = match req.send().await {
                Ok(r) => r,
                Err(e) => {
                    // A connect error proves the request was never sent.
                    let retryable = e.is_connect() || idempotent;
                    if retryable && attempt < max {
                        let wait = policy.backoff(attempt);
                        tracing::warn!(%action, attempt, wait_ms = wait.as_millis() as u64,
                            error = %e.without_url(), "transport error, retrying");
                        tokio::time::sleep(wait).await;
                        continue;
                    }
                    return Err(transport_err(e, attempt));
                }
            };
            let status = resp.status();
            let headers = resp.headers().clone();
            let throttled = status == StatusCode::TOO_MANY_REQUESTS
                || status == StatusCode::SERVICE_UNAVAILABLE;
            let retryable = throttled || (idempotent && status.is_server_error());
            if retryable && attempt < max {
                let wait = match parse_retry_after(&headers) {
                    Some(d) => d.min(policy.max_retry_after),
                    None => policy.backoff(attempt),
                };
                // Drain so the connection returns to the pool.
                let _ = resp.bytes().await;
                tracing::warn!(%action, attempt, status = status.as_u16(),
                    wait_ms = wait.as_millis() as u64, "Graph asked us to retry");
                tokio::time::sleep(wait).await;
                continue;
            }
            // A 401 means Graph refused the request unread, so even a POST
            // may be repeated once with a fresh token (e.g. revoked early).
            if status == StatusCode::UNAUTHORIZED && !reauthenticated {
                reauthenticated = true;
                let _ = resp.bytes().await;
                self.inner.tokens.invalidate(&token).await;
                tracing::warn!(%action, "Graph rejected the app token; fetching a new one");
                continue;
            }
            let bytes = resp.bytes().await.map_err(|e| transport_err(e, attempt))?;
            if status.is_success() {
                return Ok((status, headers, bytes));
            }
            return Err(graph_error(action, status, &headers, &bytes));
        }
    }
}

fn graph_error(action: &str, status: StatusCode, headers: &HeaderMap, body: &[u8]) -> CaptureError {
    let parsed = serde_json::from_slice::<GraphErrorBody>(body).ok();
    let detail = parsed.map(|b| b.error);
    let header_id = headers
        .get("request-id")
        .and_then(|v| v.to_str().ok())
        .map(str::to_string);
    CaptureError::Graph {
        action: action.to_string(),
        status: status.as_u16(),
        code: detail.as_ref().and_then(|d| d.code.clone()),
        message: detail.as_ref().and_then(|d| d.message.clone()),
        request_id: detail
            .and_then(|d| d.inner_error)
            .and_then(|i| i.request_id)
            .or(header_id),
    }
}

/// Call IDs go into URL paths, so only letters, digits and dashes are
/// allowed (see [`crate::ids`]).
fn check_call_id(call_id: &str) -> Result<()> {
    crate::ids::check_call_id(call_id, "the caller")
}

/// The redirect policy of the client [`GraphClient::builder`] builds: at
/// most 3 redirects, each to the same origin (scheme, host and port) as the
/// first request, so no `Authorization` header (the app token, a recording
/// token) ever follows a redirect to another host or from https to http.
/// Any other redirect is not followed; the 3xx is returned, and callers
/// treat it as an error.
pub fn same_origin_redirects() -> reqwest::redirect::Policy {
    reqwest::redirect::Policy::custom(|attempt| {
        let first = attempt
            .previous()
            .first()
            .map(crate::download_policy::origin);
        let next = crate::download_policy::origin(attempt.url());
        if attempt.previous().len() > 3 || first.as_deref() != Some(next.as_str()) {
            attempt.stop()
        } else {
            attempt.follow()
        }
    })
}

impl GraphClientBuilder {
    /// The v1.0 base URL (national clouds: `https://graph.microsoft.us/v1.0`, ...).
    pub fn base_url(mut self, url: impl Into<String>) -> Self {
        self.base = url.into().trim_end_matches('/').to_string();
        self
    }

    /// The beta base URL. Default: the base with a trailing `/v1.0` replaced
    /// by `/beta` (or the base itself if it has no `/v1.0` suffix).
    pub fn beta_base_url(mut self, url: impl Into<String>) -> Self {
        self.beta_base = Some(url.into().trim_end_matches('/').to_string());
        self
    }

    /// Use a fixed bearer token.
    pub fn static_token(mut self, token: Secret) -> Self {
        self.token = Some(TokenConfig::Static(token));
        self
    }

    /// Use OAuth2 client credentials.
    pub fn client_credentials(mut self, config: ClientCredentialsConfig) -> Self {
        self.token = Some(TokenConfig::ClientCredentials(config));
        self
    }

    /// Use a custom token provider.
    pub fn token_provider(mut self, provider: Arc<dyn TokenProvider>) -> Self {
        self.token = Some(TokenConfig::Custom(provider));
        self
    }

    /// The retry policy.
    pub fn retry_policy(mut self, policy: RetryPolicy) -> Self {
        self.retry = policy;
        self
    }

    /// Per-request timeout (default 30 s). Downloads stream, so this bounds
    /// one whole response; 2-minute recordings are a few MB.
    pub fn timeout(mut self, timeout: Duration) -> Self {
        self.timeout = timeout;
        self
    }

    /// Options for recording downloads (default
    /// [`crate::download_policy::DownloadOptions::default`]: https only, the Graph
    /// recording hosts, a 7.4 MiB cap). The Graph base URL's origin is added
    /// to the policy's trusted origins at [`Self::build`].
    pub fn download_options(mut self, options: crate::download_policy::DownloadOptions) -> Self {
        self.download = options;
        self
    }

    /// Reuse an existing reqwest client (it must not set default auth
    /// headers, and should follow no redirect to another origin, as the
    /// client built by default does: see [`same_origin_redirects`]).
    pub fn http_client(mut self, client: reqwest::Client) -> Self {
        self.http = Some(client);
        self
    }

    /// Builds the client.
    pub fn build(self) -> Result<GraphClient> {
        let invalid_base = |reason: &str| CaptureError::InvalidInput {
            what: format!("Graph base URL {}", redact_url(&self.base)),
            reason: reason.to_string(),
        };
        if !(self.base.starts_with("https://") || self.base.starts_with("http://")) {
            return Err(invalid_base("must start with https:// or http://"));
        }
        if self.base.contains(['?', '#']) {
            return Err(invalid_base("must not contain a query or fragment"));
        }
        let http = match self.http {
            Some(h) => h,
            None => reqwest::Client::builder()
                .timeout(self.timeout)
                .connect_timeout(Duration::from_secs(10))
                .redirect(same_origin_redirects())
                .build()
                .map_err(|e| invalid_base(&format!("cannot build HTTP client: {e}")))?,
        };
        let tokens: Arc<dyn TokenProvider> = match self.token {
            Some(TokenConfig::Static(t)) => Arc::new(StaticToken(t)),
            Some(TokenConfig::ClientCredentials(c)) => {
                Arc::new(ClientCredentials::new(http.clone(), c))
            }
            Some(TokenConfig::Custom(p)) => p,
            None => {
                return Err(CaptureError::InvalidInput {
                    what: "Graph token".into(),
                    reason: "no token provider configured (static token or client credentials)"
                        .into(),
                })
            }
        };
        let beta_base = self.beta_base.unwrap_or_else(|| {
            self.base
                .strip_suffix("/v1.0")
                .map(|b| format!("{b}/beta"))
                .unwrap_or_else(|| self.base.clone())
        });
        let mut download = self.download;
        download.policy = download.policy.trusting_origin_of(&self.base);
        Ok(GraphClient {
            inner: Arc::new(ClientInner {
                http,
                base: self.base,
                beta_base,
                tokens,
                retry: self.retry,
                download,
            }),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_is_capped_and_jittered() {
        let p = RetryPolicy {
            base_backoff: Duration::from_millis(100),
            max_backoff: Duration::from_millis(1000),
            ..RetryPolicy::default()
        };
        for attempt in 1..40 {
            let b = p.backoff(attempt);
            assert!(b <= Duration::from_millis(1000), "{attempt}: {b:?}");
        }
        assert!(p.backoff(1) >= Duration::from_millis(50));
    }

    #[test]
    fn call_ids_are_checked() {
        assert!(check_call_id("57dab8b1-894c-409a-b240-bd8beae78896").is_ok());
        for bad in ["", "a/b", "a?b", "../x", &"x".repeat(129)] {
            assert!(check_call_id(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn beta_base_is_derived_from_v1() {
        let c = GraphClient::builder()
            .base_url("https://graph.microsoft.us/v1.0/")
            .static_token(Secret::new("t"))
            .build()
            .unwrap();
        assert_eq!(c.inner.beta_base, "https://graph.microsoft.us/beta");
        assert!(GraphClient::builder().build().is_err());
    }

    #[test]
    fn form_encoding_escapes_reserved_bytes() {
        assert_eq!(form_encode("a b&c=d/é"), "a%20b%26c%3Dd%2F%C3%A9");
    }
}
