//! Reading a request and shaping the answers the POSTs share: the JSON
//! body (an object, with a JSON content type), the `Idempotency-Key`
//! header, the 202 with its `Location`, and the problems of a body or a
//! path that could not be read.

use axum::extract::rejection::{BytesRejection, PathRejection};
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;

use crate::problem::Problem;

/// The header of an idempotent POST.
pub const IDEMPOTENCY_KEY: &str = "idempotency-key";

/// The header set on an answer replayed for an `Idempotency-Key`.
pub const IDEMPOTENT_REPLAYED: &str = "idempotent-replayed";

/// A JSON body read from `bytes`: 415 without a JSON content type, 400 for
/// bad syntax, 422 for a value of the wrong shape.
pub(crate) fn parse_body<T: serde::de::DeserializeOwned>(
    headers: &HeaderMap,
    bytes: &[u8],
) -> Result<T, Problem> {
    let json_type = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .map(|v| {
            v.split(';')
                .next()
                .unwrap_or("")
                .trim()
                .to_ascii_lowercase()
        })
        .is_some_and(|t| t == "application/json" || t.ends_with("+json"));
    if !json_type {
        return Err(Problem::new(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "unsupported-media-type",
            "Unsupported media type",
            "the body must be JSON (Content-Type: application/json)",
        ));
    }
    let value: serde_json::Value = serde_json::from_slice(bytes)
        .map_err(|e| Problem::bad_request(format!("body is not JSON: {e}")))?;
    if !value.is_object() {
        return Err(Problem::invalid("body: expected a JSON object"));
    }
    // The path of the value that is wrong leads the message
    // (`body: voxcap.trim.padEndMs: ...`).
    serde_path_to_error::deserialize(value).map_err(|e| {
        use serde_json::error::Category;
        let at = e.path().to_string();
        let at = if at == "." {
            String::new()
        } else {
            format!("{at}: ")
        };
        let inner = e.into_inner();
        match inner.classify() {
            Category::Data => Problem::invalid(format!("body: {at}{inner}")),
            _ => Problem::bad_request(format!("body is not JSON: {at}{inner}")),
        }
    })
}

/// The `Idempotency-Key` header, checked: 1-255 visible ASCII characters.
pub(crate) fn idempotency_key(headers: &HeaderMap) -> Result<Option<String>, Problem> {
    let Some(v) = headers.get(IDEMPOTENCY_KEY) else {
        return Ok(None);
    };
    match v.to_str() {
        Ok(k) if !k.is_empty() && k.len() <= 255 && k.bytes().all(|b| b.is_ascii_graphic()) => {
            Ok(Some(k.to_string()))
        }
        _ => Err(Problem::bad_request(
            "Idempotency-Key: 1-255 visible ASCII characters",
        )),
    }
}

/// The answer to a POST that starts a recording: 202 with the resource and
/// its `Location`.
pub(crate) fn accepted(status: u16, body: &serde_json::Value, replayed: bool) -> Response {
    let status = StatusCode::from_u16(status).unwrap_or(StatusCode::ACCEPTED);
    let mut response = (status, Json(body.clone())).into_response();
    if let Some(loc) = body
        .pointer("/links/self")
        .and_then(|v| v.as_str())
        .and_then(|s| HeaderValue::from_str(s).ok())
    {
        response.headers_mut().insert(header::LOCATION, loc);
    }
    if replayed {
        response
            .headers_mut()
            .insert(IDEMPOTENT_REPLAYED, HeaderValue::from_static("true"));
    }
    response
}

/// A body that could not be read: 413 over the limit, else 400.
pub(crate) fn bytes_problem(r: &BytesRejection) -> Problem {
    if r.status() == StatusCode::PAYLOAD_TOO_LARGE {
        Problem::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            "too-large",
            "Payload too large",
            format!("body: {}", r.body_text()),
        )
    } else {
        Problem::bad_request(format!("body: {}", r.body_text()))
    }
}

pub(crate) fn path_problem(r: &PathRejection) -> Problem {
    Problem::bad_request(format!("path: {}", r.body_text()))
}
