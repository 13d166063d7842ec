//! The JSON shapes the emulator reads and writes on the wire.
//!
//! The emulator defines its own types rather than sharing capture's because it
//! must *emit* the quirky and legacy forms (upper-case dashless ids, the
//! `resource`/`recordResourceLocation` names of the beta `record` action,
//! `completionReason: null` on beta) that a client only has to tolerate.
//! Requests are parsed leniently (unknown fields ignored) the way Graph does.

use serde::{Deserialize, Serialize};
use serde_json::Value;

/// The body of `recordResponse` and of the legacy `record` action.
///
/// Fields are optional so that defaults and validation live in one place
/// (the record routes), which reports a Graph-style 400 naming the field.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RecordRequest {
    /// Prompts; each is kept as raw JSON because the legacy form mixes
    /// `mediaPrompt` and `silencePrompt` entries.
    #[serde(default)]
    pub prompts: Vec<Value>,
    /// Whether the caller may barge in over the prompt.
    pub barge_in_allowed: Option<bool>,
    /// Seconds of silence allowed before any speech (1..=120).
    pub initial_silence_timeout_in_seconds: Option<i64>,
    /// Seconds of pause allowed after speech started (1..=120).
    pub max_silence_timeout_in_seconds: Option<i64>,
    /// Longest recording in seconds (1..=120; legacy `record` up to 1800).
    pub max_record_duration_in_seconds: Option<i64>,
    /// Whether a beep is played before recording.
    pub play_beep: Option<bool>,
    /// DTMF keys that end the recording.
    #[serde(default)]
    pub stop_tones: Vec<String>,
    /// The client's correlation string (at most 256 characters).
    pub client_context: Option<String>,
    /// Beta/legacy only: ask for a location as soon as recording starts.
    pub stream_while_recording: Option<bool>,
    /// Legacy only: the requested container (`wav`).
    pub recording_format: Option<String>,
}

/// The body of `updateRecordingStatus`.
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct UpdateRecordingStatusRequest {
    /// The client's correlation string.
    pub client_context: Option<String>,
    /// `notRecording`, `recording` or `failed`.
    pub status: Option<String>,
}

/// `resultInfo` as Graph writes it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ResultInfo {
    /// Always `#microsoft.graph.resultInfo`.
    #[serde(rename = "@odata.type")]
    pub odata_type: String,
    /// HTTP-like code: 200 for a normal end, 400 for a failure.
    pub code: u16,
    /// The Graph subcode (8509, 8510, 8514, ...).
    pub subcode: u32,
    /// Human text, e.g. `Action completed, max record duration reached.`
    pub message: String,
}

/// A `recordOperation` in the v1.0 and beta `recordResponse` form.
///
/// `completion_reason` is `None` on v1.0 (the field is absent) and
/// `Some(None)` on a running beta operation (serialised as `null`).
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct RecordOperation {
    /// Always `#microsoft.graph.recordOperation`.
    #[serde(rename = "@odata.type")]
    pub odata_type: &'static str,
    /// Present in notifications: the upper-case, dashless resource path.
    #[serde(rename = "@odata.id", skip_serializing_if = "Option::is_none")]
    pub odata_id: Option<String>,
    /// Present in notifications: a weak etag.
    #[serde(rename = "@odata.etag", skip_serializing_if = "Option::is_none")]
    pub odata_etag: Option<String>,
    /// The operation id, lower-case with dashes.
    pub id: String,
    /// `running`, `completed` or `failed`.
    pub status: &'static str,
    /// Beta only: the completion reason, `null` while running.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub completion_reason: Option<Option<String>>,
    /// `null` while running.
    pub result_info: Option<ResultInfo>,
    /// Where to download the recording; `null` while running or without one.
    pub recording_location: Option<String>,
    /// The bearer token for the download (notifications only).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub recording_access_token: Option<String>,
    /// Echo of the request's client context.
    pub client_context: Option<String>,
}

/// A `recordOperation` in the legacy beta `record` form.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct LegacyRecordOperation {
    /// Always `#microsoft.graph.recordOperation`.
    #[serde(rename = "@odata.type")]
    pub odata_type: &'static str,
    /// Present in notifications: the upper-case, dashless `/app/calls/...` path.
    #[serde(rename = "@odata.id", skip_serializing_if = "Option::is_none")]
    pub odata_id: Option<String>,
    /// Present in notifications: a weak etag.
    #[serde(rename = "@odata.etag", skip_serializing_if = "Option::is_none")]
    pub odata_etag: Option<String>,
    /// Present in the POST response only (the seed notification has none).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub id: Option<String>,
    /// `running`, `completed` or `failed`.
    pub status: &'static str,
    /// When the operation was created (RFC 3339, seconds).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub created_date_time: Option<String>,
    /// When the operation last changed.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub last_action_date_time: Option<String>,
    /// Echo of the request's client context.
    pub client_context: Option<String>,
    /// Legacy name of `recordingLocation`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub record_resource_location: Option<String>,
    /// Legacy name of `recordingAccessToken`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub record_resource_access_token: Option<String>,
    /// The completion reason (notifications only).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub completion_reason: Option<String>,
    /// Result of the operation (notifications only).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub result_info: Option<ResultInfo>,
}

/// One `commsNotification`.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct CommsNotification {
    /// `#microsoft.graph.commsNotification` (absent in the legacy form).
    #[serde(rename = "@odata.type", skip_serializing_if = "Option::is_none")]
    pub odata_type: Option<&'static str>,
    /// `created`, `updated` or `deleted` (an operation that finished).
    pub change_type: &'static str,
    /// The v1.0/beta name of the resource path.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub resource_url: Option<String>,
    /// The legacy name of the resource path.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub resource: Option<String>,
    /// The resource itself (an operation or a call).
    pub resource_data: Value,
}

/// The body POSTed to a callback URI.
#[derive(Debug, Clone, Serialize)]
pub struct CommsNotifications {
    /// `#microsoft.graph.commsNotifications` (absent in the legacy form).
    #[serde(rename = "@odata.type", skip_serializing_if = "Option::is_none")]
    pub odata_type: Option<&'static str>,
    /// The notifications in this batch.
    pub value: Vec<CommsNotification>,
}

/// `innerError` of a Graph error body.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct InnerError {
    /// The request id, also sent as the `request-id` header.
    #[serde(rename = "request-id")]
    pub request_id: String,
    /// When the error happened (RFC 3339, seconds).
    pub date: String,
    /// Echo of the client's `client-request-id` header, if it sent one.
    #[serde(rename = "client-request-id", skip_serializing_if = "Option::is_none")]
    pub client_request_id: Option<String>,
}

/// `error` of a Graph error body.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct GraphErrorDetail {
    /// A short code such as `BadRequest` or `TooManyRequests`.
    pub code: String,
    /// Human text naming the input and the cause.
    pub message: String,
    /// Correlation data.
    pub inner_error: InnerError,
}

/// A Graph error body: `{"error": {...}}`.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct GraphError {
    /// The error.
    pub error: GraphErrorDetail,
}

/// The OAuth2 token endpoint's success body.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct TokenResponse {
    /// Always `Bearer`.
    pub token_type: String,
    /// Lifetime in seconds.
    pub expires_in: u64,
    /// Extended lifetime in seconds, as Azure AD sends it.
    pub ext_expires_in: u64,
    /// The app token to send to the Graph endpoints.
    pub access_token: String,
}

/// The OAuth2 token endpoint's error body (Azure AD style).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct TokenError {
    /// `invalid_client`, `invalid_request`, `unsupported_grant_type`, ...
    pub error: String,
    /// Human text starting with an `AADSTS` code.
    pub error_description: String,
}

/// One JSON Web Key (RSA public key).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Jwk {
    /// `RSA`.
    pub kty: String,
    /// `sig`.
    #[serde(rename = "use")]
    pub use_: String,
    /// The key id named in JWT headers.
    pub kid: String,
    /// `RS256`.
    pub alg: String,
    /// Modulus, base64url without padding.
    pub n: String,
    /// Public exponent, base64url without padding.
    pub e: String,
}

/// A JWKS document.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Jwks {
    /// The keys.
    pub keys: Vec<Jwk>,
}

/// Formats seconds since the Unix epoch as `YYYY-MM-DDTHH:MM:SSZ`.
///
/// Written by hand (days-to-civil from Howard Hinnant) to avoid a date crate
/// for one format.
pub fn rfc3339(unix_seconds: u64) -> String {
    let days = (unix_seconds / 86_400) as i64;
    let secs = unix_seconds % 86_400;
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    format!(
        "{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}Z",
        secs / 3600,
        (secs / 60) % 60,
        secs % 60
    )
}

/// Seconds since the Unix epoch, now.
pub fn unix_now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

/// The upper-case, dashless form of an id, as Graph writes it in resource paths.
pub fn upper_dashless(id: &str) -> String {
    id.chars()
        .filter(|c| *c != '-')
        .map(|c| c.to_ascii_uppercase())
        .collect()
}

/// Removes commas that directly precede `}` or `]` (outside strings), so the
/// legacy `record` example, which has trailing commas, parses.
pub fn strip_trailing_commas(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let chars: Vec<char> = text.chars().collect();
    let mut in_string = false;
    let mut escaped = false;
    for (i, &c) in chars.iter().enumerate() {
        if in_string {
            out.push(c);
            if escaped {
                escaped = false;
            } else if c == '\\' {
                escaped = true;
            } else if c == '"' {
                in_string = false;
            }
            continue;
        }
        if c == '"' {
            in_string = true;
        } else if c == ',' {
            let next = chars[i + 1..].iter().find(|c| !c.is_whitespace());
            if matches!(next, Some('}') | Some(']')) {
                continue;
            }
        }
        out.push(c);
    }
    out
}

/// Why a recording ended, with Graph's wire name, subcode and code.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum CompletionReason {
    /// 8508.
    OperationCanceled,
    /// 8514.
    StopToneDetected,
    /// 8515.
    MaxRecordDurationReached,
    /// 8510.
    InitialSilenceTimeout,
    /// 8509.
    MaxSilenceTimeout,
    /// 8511.
    PlayPromptFailed,
    /// 8512.
    PlayBeepFailed,
    /// 8513.
    MediaReceiveTimeout,
    /// Anything else.
    UnspecifiedError,
}

impl CompletionReason {
    /// The camelCase name Graph writes.
    pub fn wire_name(self) -> &'static str {
        match self {
            Self::OperationCanceled => "operationCanceled",
            Self::StopToneDetected => "stopToneDetected",
            Self::MaxRecordDurationReached => "maxRecordDurationReached",
            Self::InitialSilenceTimeout => "initialSilenceTimeout",
            Self::MaxSilenceTimeout => "maxSilenceTimeout",
            Self::PlayPromptFailed => "playPromptFailed",
            Self::PlayBeepFailed => "playBeepFailed",
            Self::MediaReceiveTimeout => "mediaReceiveTimeout",
            Self::UnspecifiedError => "unspecifiedError",
        }
    }

    /// `resultInfo.subcode`.
    pub fn subcode(self) -> u32 {
        match self {
            Self::OperationCanceled => 8508,
            Self::MaxSilenceTimeout => 8509,
            Self::InitialSilenceTimeout => 8510,
            Self::PlayPromptFailed => 8511,
            Self::PlayBeepFailed => 8512,
            Self::MediaReceiveTimeout => 8513,
            Self::StopToneDetected => 8514,
            Self::MaxRecordDurationReached => 8515,
            Self::UnspecifiedError => 8500,
        }
    }

    /// `resultInfo.code`: 200 for a normal end, 400 for a failure.
    pub fn code(self) -> u16 {
        match self {
            Self::StopToneDetected | Self::MaxRecordDurationReached | Self::MaxSilenceTimeout => {
                200
            }
            _ => 400,
        }
    }

    /// `resultInfo.message`.
    pub fn message(self) -> &'static str {
        match self {
            Self::OperationCanceled => "Action failed, operation canceled.",
            Self::StopToneDetected => "Action completed, stop tone detected.",
            Self::MaxRecordDurationReached => "Action completed, max record duration reached.",
            Self::InitialSilenceTimeout => "Action failed, initial silence timeout.",
            Self::MaxSilenceTimeout => "Action completed, max silence timeout.",
            Self::PlayPromptFailed => "Action failed, play prompt failed.",
            Self::PlayBeepFailed => "Action failed, play beep failed.",
            Self::MediaReceiveTimeout => "Action failed, media receive timeout.",
            Self::UnspecifiedError => "Action failed, unspecified error.",
        }
    }

    /// The operation status that goes with this reason.
    pub fn status(self) -> &'static str {
        if self.code() == 200 {
            "completed"
        } else {
            "failed"
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rfc3339_formats_known_instants() {
        assert_eq!(rfc3339(0), "1970-01-01T00:00:00Z");
        assert_eq!(rfc3339(1_547_689_597), "2019-01-17T01:46:37Z");
        assert_eq!(rfc3339(951_782_400), "2000-02-29T00:00:00Z");
    }

    #[test]
    fn ids_upper_dashless() {
        assert_eq!(
            upper_dashless("0fe0623f-d628-42ed-b4bd-8ac290072cc5"),
            "0FE0623FD62842EDB4BD8AC290072CC5"
        );
    }

    #[test]
    fn trailing_commas_removed_outside_strings_only() {
        let cases = [
            ("{\"a\": [1, 2,], }", "{\"a\": [1, 2] }"),
            ("{\"a\": \",}\"}", "{\"a\": \",}\"}"),
            ("{\"a\": \"\\\",]\",\n}", "{\"a\": \"\\\",]\"\n}"),
            ("[1,2]", "[1,2]"),
        ];
        for (input, want) in cases {
            assert_eq!(strip_trailing_commas(input), want, "input {input:?}");
        }
    }

    proptest::proptest! {
        #[test]
        fn stripping_only_ever_removes_commas(text in "[\\[\\]{}\",: a\\\\]{0,64}") {
            let out = strip_trailing_commas(&text);
            // `out` is `text` with some commas taken out, nothing else.
            let mut rest = out.chars().peekable();
            for c in text.chars() {
                if rest.peek() == Some(&c) {
                    rest.next();
                } else {
                    proptest::prop_assert_eq!(c, ',');
                }
            }
            proptest::prop_assert!(rest.next().is_none());
        }

        #[test]
        fn trailing_commas_added_anywhere_are_removed(
            items in proptest::collection::vec(("[a-z,\\]}]{0,6}", 0u32..1000), 1..6),
        ) {
            let map: serde_json::Map<String, Value> = items
                .iter()
                .map(|(k, v)| (k.clone(), serde_json::json!([v, {"k": k}])))
                .collect();
            let value = Value::Object(map);
            let strict = serde_json::to_string_pretty(&value).unwrap();
            // Add a trailing comma before every closing bracket on its own line.
            let loose = strict.replace("\n}", ",\n}").replace("\n]", ",\n]");
            let back: Value = serde_json::from_str(&strip_trailing_commas(&loose)).unwrap();
            proptest::prop_assert_eq!(back, value);
        }
    }
}
