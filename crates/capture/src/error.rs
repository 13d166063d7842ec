//! The crate's error type.
//!
//! Every variant names what it was doing (the Graph action and call ID, the
//! file, the operation) and why it failed. No variant ever holds a token: URLs
//! are passed through [`crate::secret::redact_url`] and reqwest errors are
//! stripped of their URL before they are stored.

use crate::wire::{ResultInfo, ValidationError};
use std::path::PathBuf;
use std::time::Duration;

/// Anything that can go wrong while talking to Graph or downloading a recording.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum CaptureError {
    /// A request failed validation before it was sent.
    #[error("{action}: {source}")]
    InvalidRequest {
        /// What was being sent, e.g. `recordResponse for call 57da...`.
        action: String,
        /// The rule that failed.
        #[source]
        source: ValidationError,
    },
    /// The shared operation store (Redis) failed or is unreachable.
    #[error("operation store {store}: {action}: {reason}")]
    Store {
        /// The store, e.g. `redis://127.0.0.1:6379/` (password removed).
        store: String,
        /// What was being done.
        action: String,
        /// Why it failed.
        reason: String,
    },
    /// A caller-supplied value (call ID, URL, path) is unusable.
    #[error("invalid {what}: {reason}")]
    InvalidInput {
        /// The input at fault.
        what: String,
        /// Why.
        reason: String,
    },
    /// Graph answered with an error status.
    #[error("{action}: Graph returned HTTP {status}{}{}{}",
        code.as_ref().map(|c| format!(" {c}")).unwrap_or_default(),
        message.as_ref().map(|m| format!(": {m}")).unwrap_or_default(),
        request_id.as_ref().map(|r| format!(" (request-id {r})")).unwrap_or_default())]
    Graph {
        /// What was being done.
        action: String,
        /// HTTP status.
        status: u16,
        /// Graph error code.
        code: Option<String>,
        /// Graph error message.
        message: Option<String>,
        /// `request-id` for Microsoft support.
        request_id: Option<String>,
    },
    /// The HTTP exchange itself failed (connect, reset, timeout).
    #[error("{action}: HTTP request to {url} failed after {attempts} attempt(s)")]
    Transport {
        /// What was being done.
        action: String,
        /// The URL, without query string.
        url: String,
        /// How many attempts were made.
        attempts: u32,
        /// The underlying error (its URL removed).
        #[source]
        source: reqwest::Error,
    },
    /// Getting an app token failed.
    #[error("token request to {url} failed: {reason}")]
    Token {
        /// Token endpoint, without query string.
        url: String,
        /// Why (AAD error code and description, never the secret).
        reason: String,
    },
    /// Graph answered 2xx but with a body or headers we cannot use.
    #[error("{action}: unexpected response: {reason}")]
    Protocol {
        /// What was being done.
        action: String,
        /// What was wrong.
        reason: String,
    },
    /// Graph reported that the record operation failed.
    #[error("record operation {operation_id} on call {call_id} failed as Graph reported: {}",
        result_info.as_ref().map(|r| r.to_string()).unwrap_or_else(|| "no resultInfo".into()))]
    OperationFailed {
        /// Call ID.
        call_id: String,
        /// Operation ID.
        operation_id: String,
        /// Graph's outcome code.
        result_info: Option<ResultInfo>,
    },
    /// No completion arrived before the deadline (distinct from a failure).
    #[error("record operation {operation_id} on call {call_id} lost: no completion notification within {deadline:?}")]
    OperationLost {
        /// Call ID.
        call_id: String,
        /// Operation ID.
        operation_id: String,
        /// The deadline that passed.
        deadline: Duration,
    },
    /// The recording host refused the recording access token.
    #[error("download of {url}: recording access token rejected (HTTP {status}); it has probably expired: download recordings promptly after the completion notification")]
    DownloadTokenRejected {
        /// Recording URL, without query string.
        url: String,
        /// 401 or 403.
        status: u16,
    },
    /// The recording is gone (404/410): Graph discards recordings after the call.
    #[error("download of {url}: recording not found (HTTP {status}); Graph discards recordings shortly after the call ends")]
    RecordingGone {
        /// Recording URL, without query string.
        url: String,
        /// 404 or 410.
        status: u16,
    },
    /// The download could not be completed; no file was kept.
    #[error("download of {url} incomplete after {attempts} attempt(s), {received} bytes received: {reason}")]
    DownloadIncomplete {
        /// Recording URL, without query string.
        url: String,
        /// Attempts made.
        attempts: u32,
        /// Bytes received before giving up.
        received: u64,
        /// Last failure.
        reason: String,
    },
    /// The recording is larger than the download policy's size cap; nothing
    /// was kept.
    #[error("download of {url} refused: {}, more than the {limit}-byte cap (DownloadPolicy::max_bytes); no file was kept",
        announced.map(|a| format!("the server announced {a} bytes"))
            .unwrap_or_else(|| format!("the body went past the cap after {received} bytes")))]
    DownloadTooLarge {
        /// Recording URL, without query string.
        url: String,
        /// The cap, in bytes.
        limit: u64,
        /// The size the server announced (`Content-Length`, `Content-Range`).
        announced: Option<u64>,
        /// Bytes kept before the refusal (all deleted).
        received: u64,
    },
    /// A file operation failed.
    #[error("{action} {path}: {source}")]
    Io {
        /// What was being done (`create temp file in`, `rename to`, ...).
        action: &'static str,
        /// The file or directory.
        path: PathBuf,
        /// The OS error.
        #[source]
        source: std::io::Error,
    },
    /// The analysis closure panicked or its thread was cancelled.
    #[error("analysis of {path} did not finish: {reason}")]
    Analysis {
        /// File being analysed.
        path: PathBuf,
        /// Why.
        reason: String,
    },
}

/// Shorthand for results in this crate.
pub type Result<T, E = CaptureError> = std::result::Result<T, E>;
