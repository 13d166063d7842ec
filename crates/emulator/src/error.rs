//! The emulator's errors: [`StateError`] for building the state, and the
//! Graph error bodies (and Azure AD's, on the token endpoint) every client
//! sees, each naming the input and the cause.

use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;

use crate::wire::{self, GraphError, GraphErrorDetail, InnerError, TokenError};

tokio::task_local! {
    /// The ids of the request being answered, set by the router's layer so
    /// that an error body echoes what the response headers say.
    pub(crate) static REQUEST_IDS: RequestIds;
}

/// Graph's per-request ids: `request-id` (made here) and the client's own
/// `client-request-id`, echoed back.
#[derive(Debug, Clone)]
pub(crate) struct RequestIds {
    pub(crate) request_id: String,
    pub(crate) client_request_id: Option<String>,
}

impl RequestIds {
    /// Ids for a request whose `client-request-id` header is `client`
    /// (kept only when it is a sane header value of at most 256 bytes).
    pub(crate) fn new(client: Option<&HeaderValue>) -> Self {
        RequestIds {
            request_id: uuid::Uuid::new_v4().to_string(),
            client_request_id: client
                .filter(|v| v.len() <= 256)
                .and_then(|v| v.to_str().ok())
                .map(str::to_string),
        }
    }

    /// The ids of the request in scope, or fresh ones outside any.
    pub(crate) fn current() -> Self {
        REQUEST_IDS
            .try_with(Clone::clone)
            .unwrap_or_else(|_| Self::new(None))
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

pub(crate) fn call_not_found(id: &str) -> ApiError {
    ApiError::new(
        StatusCode::NOT_FOUND,
        "8522",
        format!("Call {id} was not found (unknown or already terminated)."),
    )
}

/// A Graph error response.
#[derive(Debug)]
pub(crate) struct ApiError {
    pub(crate) status: StatusCode,
    pub(crate) code: String,
    pub(crate) message: String,
    pub(crate) retry_after: Option<u32>,
}

impl ApiError {
    pub(crate) fn new(status: StatusCode, code: &str, message: impl Into<String>) -> Self {
        ApiError {
            status,
            code: code.into(),
            message: message.into(),
            retry_after: None,
        }
    }

    pub(crate) fn bad_request(message: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, "BadRequest", message)
    }

    /// The answer of the `record_error_status` fault.
    pub(crate) fn injected(status: u16) -> Self {
        let status = StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
        let code = if status.is_server_error() {
            "InternalServerError"
        } else {
            "BadRequest"
        };
        Self::new(
            status,
            code,
            format!("Injected fault: the record request is answered with {status}."),
        )
    }

    pub(crate) fn throttled(status: u16, retry_after_s: u32) -> Self {
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
        let ids = RequestIds::current();
        let request_id = ids.request_id;
        let body = GraphError {
            error: GraphErrorDetail {
                code: self.code,
                message: self.message,
                inner_error: InnerError {
                    request_id: request_id.clone(),
                    date: wire::rfc3339(wire::unix_now()),
                    client_request_id: ids.client_request_id,
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

pub(crate) fn parse_json<T: serde::de::DeserializeOwned>(
    body: &[u8],
    what: &str,
) -> Result<T, ApiError> {
    serde_json::from_slice(body).map_err(|e| {
        ApiError::bad_request(format!(
            "{what}: the body is not valid JSON for this request: {e}"
        ))
    })
}

pub(crate) fn internal(message: String) -> ApiError {
    ApiError::new(
        StatusCode::INTERNAL_SERVER_ERROR,
        "InternalServerError",
        message,
    )
}

pub(crate) fn token_error(status: StatusCode, error: &str, description: String) -> Response {
    (
        status,
        Json(TokenError {
            error: error.into(),
            error_description: description,
        }),
    )
        .into_response()
}

/// Builds a Graph error response (used by the recording host).
pub(crate) fn graph_error(status: StatusCode, code: &str, message: String) -> Response {
    ApiError::new(status, code, message).into_response()
}
