//! The request log: every request the emulator received (method, path,
//! selected headers, the credential it carried, the body as JSON, the time)
//! and every notification POST it made, so tests can assert what a client
//! sent and what its webhook answered.
//!
//! Invariants: no secret is kept. `Authorization` values are never stored,
//! only what kind of credential they were ([`Credential`]: an app token by
//! its serial number, a recording token by its recording id); the query
//! string is dropped; body fields named like secrets (`client_secret`,
//! `access_token`, ...) are replaced by `"<redacted>"`. Both logs are bounded
//! to the most recent [`LOG_CAPACITY`] entries.

use std::collections::VecDeque;
use std::sync::Mutex;
use std::time::SystemTime;

use axum::http::{HeaderMap, Method};
use serde::Serialize;
use serde_json::{Map, Value};

/// How many entries each log keeps (the oldest are dropped first).
pub const LOG_CAPACITY: usize = 10_000;

/// The headers the log keeps, by lower-case name; none carries a secret.
const KEPT_HEADERS: [&str; 7] = [
    "content-type",
    "accept",
    "range",
    "user-agent",
    "client-request-id",
    "return-client-request-id",
    "x-voxcap-scenario",
];

/// Body fields (compared case-insensitively) whose values are never logged.
const SECRET_FIELDS: [&str; 8] = [
    "client_secret",
    "client_assertion",
    "access_token",
    "refresh_token",
    "password",
    "token",
    "recordingaccesstoken",
    "recordresourceaccesstoken",
];

/// The credential a request carried, without its value.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase", tag = "kind")]
pub enum Credential {
    /// No `Authorization` header.
    None,
    /// An app token this emulator issued; `serial` counts tokens from 1 in
    /// issue order, so two requests with different serials used different
    /// tokens. Expired or revoked tokens keep their serial.
    AppToken {
        /// Issue order of the token.
        serial: u64,
    },
    /// The access token of recording `recording`.
    RecordingToken {
        /// The recording id.
        recording: String,
    },
    /// A bearer token this emulator never issued.
    Unrecognised,
    /// An `Authorization` header that is not `Bearer <token>`.
    OtherScheme,
}

/// One request the emulator received.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct LoggedRequest {
    /// When it arrived.
    pub at: SystemTime,
    /// `GET`, `POST`, ...
    pub method: String,
    /// The path, without the query string.
    pub path: String,
    /// The kept headers (lower-case names), in arrival order.
    pub headers: Vec<(String, String)>,
    /// The credential presented.
    pub credential: Credential,
    /// The body as JSON (legacy trailing commas tolerated; a form body
    /// becomes an object of its fields), secrets redacted; `None` when the
    /// body is empty or neither JSON nor a form.
    pub body: Option<Value>,
    /// Body length in bytes.
    pub body_len: usize,
}

impl LoggedRequest {
    /// The kept header `name` (case-insensitive), if sent.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    /// Whether this is a `method` request whose path ends with `suffix`.
    pub fn is(&self, method: &str, suffix: &str) -> bool {
        self.method.eq_ignore_ascii_case(method) && self.path.ends_with(suffix)
    }
}

/// Where a notification POST went.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub enum DeliveryTarget {
    /// The call's callbackUri (or the URL given to
    /// `EmulatorState::send_notification`).
    Callback,
    /// The notification fallback with this index.
    Fallback(usize),
}

/// One notification POST the emulator made.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Delivery {
    /// When the POST started.
    pub at: SystemTime,
    /// Where it went.
    pub target: DeliveryTarget,
    /// The HTTP status of the answer; `None` when there was no answer.
    pub status: Option<u16>,
    /// The `@odata.type` of each notification's `resourceData`, in order
    /// (for example `#microsoft.graph.recordOperation`).
    pub resources: Vec<String>,
}

impl Delivery {
    /// Whether the batch carried a record operation (a completion).
    pub fn has_record_operation(&self) -> bool {
        self.resources
            .iter()
            .any(|r| r == "#microsoft.graph.recordOperation")
    }
}

/// A bounded, thread-safe log.
#[derive(Debug)]
pub(crate) struct Bounded<T> {
    entries: Mutex<VecDeque<T>>,
}

impl<T: Clone> Bounded<T> {
    pub(crate) fn new() -> Self {
        Bounded {
            entries: Mutex::new(VecDeque::new()),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, VecDeque<T>> {
        self.entries.lock().unwrap_or_else(|p| p.into_inner())
    }

    pub(crate) fn push(&self, entry: T) {
        let mut e = self.lock();
        if e.len() == LOG_CAPACITY {
            e.pop_front();
        }
        e.push_back(entry);
    }

    pub(crate) fn snapshot(&self) -> Vec<T> {
        self.lock().iter().cloned().collect()
    }

    pub(crate) fn clear(&self) {
        self.lock().clear();
    }
}

/// Builds a log entry; `credential` was classified by the caller.
pub(crate) fn entry(
    method: &Method,
    path: &str,
    headers: &HeaderMap,
    credential: Credential,
    body: &[u8],
) -> LoggedRequest {
    let kept = headers
        .iter()
        .filter(|(n, _)| KEPT_HEADERS.contains(&n.as_str()))
        .filter_map(|(n, v)| Some((n.as_str().to_string(), v.to_str().ok()?.to_string())))
        .collect();
    let is_form = headers
        .get(axum::http::header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("application/x-www-form-urlencoded"));
    LoggedRequest {
        at: SystemTime::now(),
        method: method.as_str().to_string(),
        path: path.to_string(),
        headers: kept,
        credential,
        body: parse_body(body, is_form).map(redact),
        body_len: body.len(),
    }
}

fn parse_body(body: &[u8], is_form: bool) -> Option<Value> {
    if body.is_empty() {
        return None;
    }
    if is_form {
        let text = std::str::from_utf8(body).ok()?;
        let url = reqwest::Url::parse(&format!("http://form.invalid/?{text}")).ok()?;
        let fields: Map<String, Value> = url
            .query_pairs()
            .map(|(k, v)| (k.into_owned(), Value::String(v.into_owned())))
            .collect();
        return Some(Value::Object(fields));
    }
    serde_json::from_slice(body).ok().or_else(|| {
        let text = std::str::from_utf8(body).ok()?;
        serde_json::from_str(&crate::wire::strip_trailing_commas(text)).ok()
    })
}

/// Replaces the value of every secret-named field, at any depth.
fn redact(v: Value) -> Value {
    match v {
        Value::Object(m) => Value::Object(
            m.into_iter()
                .map(|(k, v)| {
                    let secret = SECRET_FIELDS.iter().any(|s| k.eq_ignore_ascii_case(s));
                    let v = if secret {
                        Value::String("<redacted>".into())
                    } else {
                        redact(v)
                    };
                    (k, v)
                })
                .collect(),
        ),
        Value::Array(a) => Value::Array(a.into_iter().map(redact).collect()),
        other => other,
    }
}

/// The `@odata.type` of each `value[].resourceData` of a notification batch.
pub(crate) fn resource_types(batch: &[u8]) -> Vec<String> {
    let Ok(v) = serde_json::from_slice::<Value>(batch) else {
        return Vec::new();
    };
    v.get("value")
        .and_then(Value::as_array)
        .map(|items| {
            items
                .iter()
                .map(|n| {
                    n.pointer("/resourceData/@odata.type")
                        .and_then(Value::as_str)
                        .unwrap_or("")
                        .to_string()
                })
                .collect()
        })
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secrets_are_redacted_and_forms_parsed() {
        let mut h = HeaderMap::new();
        h.insert(
            "content-type",
            "application/x-www-form-urlencoded".parse().unwrap(),
        );
        h.insert("authorization", "Bearer top-secret".parse().unwrap());
        let e = entry(
            &Method::POST,
            "/t/oauth2/v2.0/token",
            &h,
            Credential::Unrecognised,
            b"grant_type=client_credentials&client_secret=s%2Fx",
        );
        let body = e.body.clone().unwrap();
        assert_eq!(body["grant_type"], "client_credentials");
        assert_eq!(body["client_secret"], "<redacted>");
        assert!(e.header("authorization").is_none());
        assert!(!format!("{:?}", e.headers).contains("top-secret"));
        let nested = redact(serde_json::json!({"a": [{"recordingAccessToken": "x"}]}));
        assert_eq!(nested["a"][0]["recordingAccessToken"], "<redacted>");
    }

    #[test]
    fn the_log_is_bounded() {
        let log = Bounded::new();
        for i in 0..LOG_CAPACITY + 5 {
            log.push(i);
        }
        let s = log.snapshot();
        assert_eq!(s.len(), LOG_CAPACITY);
        assert_eq!(s[0], 5);
    }
}
