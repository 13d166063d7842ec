//! [`Problem`]: every error the API answers, as RFC 9457
//! `application/problem+json` (`type`, `title`, `status`, `detail`). The
//! `type` is a relative URI naming the kind (`/problems/not-found`), stable
//! for clients to branch on; `detail` says what was wrong with this request,
//! in words that name the input and never quote a key or a token.

use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

/// The media type of every error.
pub const PROBLEM_JSON: &str = "application/problem+json";

/// An RFC 9457 problem document.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct Problem {
    /// The kind of problem, a relative URI (`/problems/unauthorized`).
    #[serde(rename = "type")]
    pub kind: String,
    /// A short summary of the kind.
    pub title: String,
    /// The HTTP status code.
    #[schema(minimum = 400, maximum = 599)]
    pub status: u16,
    /// What was wrong with this request.
    pub detail: String,
}

impl Problem {
    /// A problem of `kind` (the last segment of its type URI).
    pub fn new(status: StatusCode, kind: &str, title: &str, detail: impl Into<String>) -> Self {
        Problem {
            kind: format!("/problems/{kind}"),
            title: title.to_string(),
            status: status.as_u16(),
            detail: detail.into(),
        }
    }

    /// 401: no key, or not one of the deployment's keys.
    pub fn unauthorized(detail: impl Into<String>) -> Self {
        Self::new(
            StatusCode::UNAUTHORIZED,
            "unauthorized",
            "Unauthorized",
            detail,
        )
    }

    /// 404: no such recording (or route).
    pub fn not_found(detail: impl Into<String>) -> Self {
        Self::new(StatusCode::NOT_FOUND, "not-found", "Not found", detail)
    }

    /// 400: the request cannot be read (query, cursor, JSON syntax).
    pub fn bad_request(detail: impl Into<String>) -> Self {
        Self::new(
            StatusCode::BAD_REQUEST,
            "bad-request",
            "Bad request",
            detail,
        )
    }

    /// 422: the request reads, but a value breaks a rule.
    pub fn invalid(detail: impl Into<String>) -> Self {
        Self::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            "invalid-request",
            "Invalid request",
            detail,
        )
    }

    /// 409: the recording's state does not allow this now.
    pub fn conflict(detail: impl Into<String>) -> Self {
        Self::new(StatusCode::CONFLICT, "conflict", "Conflict", detail)
    }

    /// 500: a fault of the service itself (the detail says which).
    pub fn internal(detail: impl Into<String>) -> Self {
        Self::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            "internal",
            "Internal error",
            detail,
        )
    }
}

impl IntoResponse for Problem {
    fn into_response(self) -> Response {
        let status = StatusCode::from_u16(self.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
        let body = serde_json::to_vec(&self).unwrap_or_default();
        let mut response = (status, body).into_response();
        response
            .headers_mut()
            .insert(header::CONTENT_TYPE, HeaderValue::from_static(PROBLEM_JSON));
        if status == StatusCode::UNAUTHORIZED {
            response.headers_mut().insert(
                header::WWW_AUTHENTICATE,
                HeaderValue::from_static("Bearer realm=\"voxcap\""),
            );
        }
        response
    }
}

/// A JSON body's rejection as a problem: 413 for a body over the limit,
/// 415 without a JSON content type, 400 for bad syntax, 422 for a value of
/// the wrong shape; never a 5xx.
pub fn json_rejection(r: &axum::extract::rejection::JsonRejection) -> Problem {
    let status = r.status();
    let (kind, title) = match status {
        StatusCode::PAYLOAD_TOO_LARGE => ("too-large", "Payload too large"),
        StatusCode::UNSUPPORTED_MEDIA_TYPE => ("unsupported-media-type", "Unsupported media type"),
        StatusCode::UNPROCESSABLE_ENTITY => ("invalid-request", "Invalid request"),
        _ => ("bad-request", "Bad request"),
    };
    let status = if status.is_server_error() {
        StatusCode::BAD_REQUEST
    } else {
        status
    };
    Problem::new(status, kind, title, r.body_text())
}
