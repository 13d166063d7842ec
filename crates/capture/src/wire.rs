//! Microsoft Graph wire types for recording: request bodies, operations,
//! notifications and error bodies.
//!
//! Parsing is lenient (Graph and its docs disagree on casing, field names and
//! ID formats, see `shared/graph-spec.md`), sending is strict: every request
//! body goes through `validate()` before it leaves the process.
//!
//! Decision on seed 001: its legacy `record` request body has trailing commas,
//! which is not JSON. We do not accept non-JSON; the seed is a documentation
//! typo for a body that *we* send, never one we receive. Its notification and
//! response examples are valid JSON and parse verbatim.

use crate::secret::Secret;
use serde::{Deserialize, Deserializer, Serialize};
use std::fmt;

/// Smallest timeout Graph accepts, in seconds.
pub const MIN_TIMEOUT_SECONDS: u32 = 1;
/// Largest timeout (and record duration) Graph accepts, in seconds.
pub const MAX_TIMEOUT_SECONDS: u32 = 120;
/// Longest `clientContext` Graph accepts, in characters.
pub const MAX_CLIENT_CONTEXT_CHARS: usize = 256;
/// Largest number of prompts `recordResponse` accepts.
pub const MAX_PROMPTS: usize = 1;

/// An ID normalised for matching: dashes removed, lower-case.
///
/// Graph names the same operation `0fe0623f-d628-...` in one place and
/// `0FE0623FD628...` in another.
#[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct NormalizedId(String);

impl NormalizedId {
    /// Normalises `raw`.
    pub fn new(raw: &str) -> Self {
        NormalizedId(
            raw.trim()
                .chars()
                .filter(|c| *c != '-')
                .flat_map(char::to_lowercase)
                .collect(),
        )
    }

    /// The normalised form.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for NormalizedId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "NormalizedId({})", self.0)
    }
}

impl fmt::Display for NormalizedId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// A Graph validation failure for a request we were about to send.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid {field}: {reason}")]
pub struct ValidationError {
    /// The JSON field name at fault (`maxRecordDurationInSeconds`, ...).
    pub field: &'static str,
    /// Why the value is refused.
    pub reason: String,
}

fn invalid(field: &'static str, reason: impl Into<String>) -> ValidationError {
    ValidationError {
        field,
        reason: reason.into(),
    }
}

/// The media to play: `mediaInfo` (`Debug` redacts the URI: `secret.rs`).
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct MediaInfo {
    /// URI of a 16 kHz 16-bit mono WAV.
    pub uri: String,
    /// Optional cache key for the prompt. The legacy seed spells it `resourceid`.
    #[serde(default, alias = "resourceid", skip_serializing_if = "Option::is_none")]
    pub resource_id: Option<String>,
}

/// A `mediaPrompt`, the only prompt kind `recordResponse` takes.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct MediaPrompt {
    /// Always `#microsoft.graph.mediaPrompt`.
    #[serde(rename = "@odata.type", default = "media_prompt_type")]
    pub odata_type: String,
    /// What to play.
    pub media_info: MediaInfo,
}

fn media_prompt_type() -> String {
    "#microsoft.graph.mediaPrompt".to_string()
}

impl MediaPrompt {
    /// A prompt playing the WAV at `uri`.
    pub fn new(uri: impl Into<String>) -> Self {
        MediaPrompt {
            odata_type: media_prompt_type(),
            media_info: MediaInfo {
                uri: uri.into(),
                resource_id: None,
            },
        }
    }
}

/// The body of `POST .../recordResponse` (v1.0 and beta).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RecordResponseRequest {
    /// At most one prompt, played before recording.
    #[serde(default)]
    pub prompts: Vec<MediaPrompt>,
    /// Barge into queued or running record/playPrompt operations.
    #[serde(default)]
    pub barge_in_allowed: bool,
    /// Seconds of silence allowed before the caller starts speaking (1..=120).
    #[serde(default = "five")]
    pub initial_silence_timeout_in_seconds: u32,
    /// Seconds of pause allowed after speech started (1..=120).
    #[serde(default = "five")]
    pub max_silence_timeout_in_seconds: u32,
    /// Longest recording in seconds (1..=120).
    #[serde(default = "five")]
    pub max_record_duration_in_seconds: u32,
    /// Play a beep before recording.
    #[serde(default = "yes")]
    pub play_beep: bool,
    /// DTMF keys that stop the recording. Parsed leniently (the seed sends
    /// `"11"`), validated strictly before sending.
    #[serde(default)]
    pub stop_tones: Vec<String>,
    /// Unique client context (at most 256 characters).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub client_context: Option<String>,
    /// Beta and legacy only: get a location as soon as recording starts.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stream_while_recording: Option<bool>,
}

fn five() -> u32 {
    5
}
fn yes() -> bool {
    true
}

impl Default for RecordResponseRequest {
    /// Graph's documented defaults: no prompt, 5 s timeouts, beep, no stop tones.
    fn default() -> Self {
        RecordResponseRequest {
            prompts: Vec::new(),
            barge_in_allowed: false,
            initial_silence_timeout_in_seconds: 5,
            max_silence_timeout_in_seconds: 5,
            max_record_duration_in_seconds: 5,
            play_beep: true,
            stop_tones: Vec::new(),
            client_context: None,
            stream_while_recording: None,
        }
    }
}

/// Parses a compact stop-tone string such as `"#*"` into single-key tones,
/// rejecting anything that is not a DTMF key.
pub fn parse_stop_tones(keys: &str) -> Result<Vec<String>, ValidationError> {
    keys.chars()
        .filter(|c| !c.is_whitespace() && *c != ',')
        .map(|c| {
            let up = c.to_ascii_uppercase();
            if is_dtmf_key(up) {
                Ok(up.to_string())
            } else {
                Err(invalid(
                    "stopTones",
                    format!("{c:?} is not a DTMF key (allowed: 0-9 * # A-D)"),
                ))
            }
        })
        .collect()
}

fn is_dtmf_key(c: char) -> bool {
    c.is_ascii_digit() || matches!(c, '*' | '#' | 'A'..='D')
}

fn check_timeout(field: &'static str, v: u32) -> Result<(), ValidationError> {
    if (MIN_TIMEOUT_SECONDS..=MAX_TIMEOUT_SECONDS).contains(&v) {
        Ok(())
    } else {
        Err(invalid(
            field,
            format!("{v} s is outside {MIN_TIMEOUT_SECONDS}..={MAX_TIMEOUT_SECONDS} s"),
        ))
    }
}

fn check_common(
    initial: u32,
    max_silence: u32,
    max_record: u32,
    stop_tones: &[String],
    client_context: Option<&str>,
) -> Result<(), ValidationError> {
    check_timeout("initialSilenceTimeoutInSeconds", initial)?;
    check_timeout("maxSilenceTimeoutInSeconds", max_silence)?;
    check_timeout("maxRecordDurationInSeconds", max_record)?;
    for tone in stop_tones {
        let mut chars = tone.chars();
        match (chars.next(), chars.next()) {
            (Some(c), None) if is_dtmf_key(c) => {}
            _ => {
                return Err(invalid(
                    "stopTones",
                    format!("{tone:?} is not a single DTMF key (0-9 * # A-D)"),
                ))
            }
        }
    }
    if let Some(ctx) = client_context {
        let n = ctx.chars().count();
        if n > MAX_CLIENT_CONTEXT_CHARS {
            return Err(invalid(
                "clientContext",
                format!("{n} characters, at most {MAX_CLIENT_CONTEXT_CHARS} allowed"),
            ));
        }
    }
    Ok(())
}

impl RecordResponseRequest {
    /// Checks every rule Graph documents, so a bad value fails here with a
    /// clear message instead of as an opaque 400 from Graph.
    pub fn validate(&self) -> Result<(), ValidationError> {
        if self.prompts.len() > MAX_PROMPTS {
            return Err(invalid(
                "prompts",
                format!(
                    "{} prompts, at most {MAX_PROMPTS} allowed",
                    self.prompts.len()
                ),
            ));
        }
        for p in &self.prompts {
            if p.media_info.uri.trim().is_empty() {
                return Err(invalid("prompts.mediaInfo.uri", "the prompt URI is empty"));
            }
        }
        check_common(
            self.initial_silence_timeout_in_seconds,
            self.max_silence_timeout_in_seconds,
            self.max_record_duration_in_seconds,
            &self.stop_tones,
            self.client_context.as_deref(),
        )
    }

    /// The same request as a legacy beta `record` body.
    pub fn to_legacy(&self) -> LegacyRecordRequest {
        LegacyRecordRequest {
            prompts: self
                .prompts
                .iter()
                .map(|p| LegacyPrompt::Media {
                    media_info: p.media_info.clone(),
                    r#loop: None,
                })
                .collect(),
            barge_in_allowed: self.barge_in_allowed,
            initial_silence_timeout_in_seconds: self.initial_silence_timeout_in_seconds,
            max_silence_timeout_in_seconds: self.max_silence_timeout_in_seconds,
            max_record_duration_in_seconds: self.max_record_duration_in_seconds,
            play_beep: self.play_beep,
            stream_while_recording: self.stream_while_recording,
            stop_tones: self.stop_tones.clone(),
            client_context: self.client_context.clone(),
            recording_format: None,
        }
    }
}

/// A prompt in the legacy `record` body: a media file or a silence.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "@odata.type")]
pub enum LegacyPrompt {
    /// `#microsoft.graph.mediaPrompt`.
    #[serde(rename = "#microsoft.graph.mediaPrompt", rename_all = "camelCase")]
    Media {
        /// What to play.
        media_info: MediaInfo,
        /// How many times to play it.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        r#loop: Option<u32>,
    },
    /// `#microsoft.graph.silencePrompt`.
    #[serde(rename = "#microsoft.graph.silencePrompt")]
    Silence {
        /// Silence length in milliseconds.
        duration: u32,
    },
}

/// The body of the legacy beta `POST /app/calls/{id}/record`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct LegacyRecordRequest {
    /// Prompts played before recording.
    #[serde(default)]
    pub prompts: Vec<LegacyPrompt>,
    /// Allow input before the prompt finishes.
    #[serde(default)]
    pub barge_in_allowed: bool,
    /// Seconds of initial silence allowed (1..=120).
    #[serde(default = "five")]
    pub initial_silence_timeout_in_seconds: u32,
    /// Seconds of pause allowed after speech (1..=120).
    #[serde(default = "five")]
    pub max_silence_timeout_in_seconds: u32,
    /// Longest recording in seconds. The old docs show 1800; the service now
    /// caps recordings at 2 minutes, so we validate 1..=120 here too.
    #[serde(default = "five")]
    pub max_record_duration_in_seconds: u32,
    /// Play a beep before recording.
    #[serde(default = "yes")]
    pub play_beep: bool,
    /// Get a location as soon as recording starts.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stream_while_recording: Option<bool>,
    /// DTMF keys that stop the recording.
    #[serde(default)]
    pub stop_tones: Vec<String>,
    /// Client context (at most 256 characters).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub client_context: Option<String>,
    /// Recording format; the docs only show `wav`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub recording_format: Option<String>,
}

impl LegacyRecordRequest {
    /// Checks the same rules as [`RecordResponseRequest::validate`], except
    /// that the legacy API allows several prompts.
    pub fn validate(&self) -> Result<(), ValidationError> {
        check_common(
            self.initial_silence_timeout_in_seconds,
            self.max_silence_timeout_in_seconds,
            self.max_record_duration_in_seconds,
            &self.stop_tones,
            self.client_context.as_deref(),
        )
    }
}

/// `status` of a comms operation, parsed case-insensitively.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum OperationStatus {
    /// `notStarted`.
    NotStarted,
    /// `running`.
    Running,
    /// `completed`.
    Completed,
    /// `failed`.
    Failed,
    /// Anything else, kept verbatim.
    Unknown(String),
}

impl OperationStatus {
    /// Parses a status in any casing.
    pub fn parse(s: &str) -> Self {
        match s.to_ascii_lowercase().as_str() {
            "notstarted" => Self::NotStarted,
            "running" => Self::Running,
            "completed" => Self::Completed,
            "failed" => Self::Failed,
            _ => Self::Unknown(s.to_string()),
        }
    }

    /// `completed` or `failed`: no further change will come.
    pub fn is_terminal(&self) -> bool {
        matches!(self, Self::Completed | Self::Failed)
    }

    /// The wire form (`notStarted`, `running`, ...).
    pub fn as_str(&self) -> &str {
        match self {
            Self::NotStarted => "notStarted",
            Self::Running => "running",
            Self::Completed => "completed",
            Self::Failed => "failed",
            Self::Unknown(s) => s,
        }
    }
}

impl<'de> Deserialize<'de> for OperationStatus {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        String::deserialize(d).map(|s| Self::parse(&s))
    }
}

impl Serialize for OperationStatus {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.as_str())
    }
}

/// Why a record operation ended (beta `completionReason`, or derived from
/// `resultInfo.subcode` on v1.0). One table serves the wire and the
/// verifier: parsed case-insensitively, unknown values kept verbatim.
pub use voxcap_dsp::verify::CompletionReason;

/// `resultInfo`: Graph's outcome code for an operation.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct ResultInfo {
    /// HTTP-like code (200, 400, 429, ...).
    #[serde(default)]
    pub code: Option<i64>,
    /// Graph subcode (8515, ...).
    #[serde(default)]
    pub subcode: Option<i64>,
    /// Human-readable message.
    #[serde(default)]
    pub message: Option<String>,
}

impl fmt::Display for ResultInfo {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let code = self.code.map_or("-".to_string(), |c| c.to_string());
        let sub = self.subcode.map_or("-".to_string(), |c| c.to_string());
        write!(f, "code {code}, subcode {sub}")?;
        if let Some(m) = &self.message {
            write!(f, ": {m}")?;
        }
        Ok(())
    }
}

/// A `recordOperation` as Graph returns it from the POST or in a notification.
///
/// Accepts v1.0 fields, beta `completionReason`, and the legacy names
/// `recordResourceLocation` / `recordResourceAccessToken`. `Debug` redacts
/// the location (`secret.rs`).
#[derive(Clone, PartialEq, Eq, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RecordOperation {
    /// `@odata.type`, e.g. `#microsoft.graph.recordOperation`.
    #[serde(rename = "@odata.type", default)]
    pub odata_type: Option<String>,
    /// `@odata.id`, the operation's resource path (legacy notifications).
    #[serde(rename = "@odata.id", default)]
    pub odata_id: Option<String>,
    /// Operation ID, in either ID form.
    #[serde(default)]
    pub id: Option<String>,
    /// The client context sent with the request.
    #[serde(default)]
    pub client_context: Option<String>,
    /// Operation status.
    #[serde(default)]
    pub status: Option<OperationStatus>,
    /// Outcome code.
    #[serde(default)]
    pub result_info: Option<ResultInfo>,
    /// Where to download the recording.
    #[serde(default, alias = "recordResourceLocation")]
    pub recording_location: Option<String>,
    /// The token for the download (and only for it).
    #[serde(default, alias = "recordResourceAccessToken")]
    pub recording_access_token: Option<Secret>,
    /// Beta: why recording ended.
    #[serde(default)]
    pub completion_reason: Option<CompletionReason>,
    /// Legacy: creation time.
    #[serde(default)]
    pub created_date_time: Option<String>,
    /// Legacy: time of the last change.
    #[serde(default)]
    pub last_action_date_time: Option<String>,
}

impl RecordOperation {
    /// The recording location, treating Graph's `""` (cancelled operation)
    /// as absent.
    pub fn location(&self) -> Option<&str> {
        self.recording_location
            .as_deref()
            .filter(|s| !s.trim().is_empty())
    }

    /// The download token, treating `""` as absent.
    pub fn access_token(&self) -> Option<&Secret> {
        self.recording_access_token
            .as_ref()
            .filter(|s| !s.is_empty())
    }

    /// `completionReason` if Graph sent one, else the reason implied by the
    /// subcode.
    pub fn effective_reason(&self) -> Option<CompletionReason> {
        self.completion_reason.clone().or_else(|| {
            self.result_info
                .as_ref()
                .and_then(|r| r.subcode)
                .and_then(|code| u32::try_from(code).ok())
                .map(CompletionReason::from_subcode)
                // Subcodes that are not completion reasons (8519 conflict,
                // 8523 invalid argument...) imply no reason.
                .filter(|r| !matches!(r, CompletionReason::Unknown(_)))
        })
    }
}

/// `recordingStatus` for `updateRecordingStatus`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum RecordingStatus {
    /// The application is not recording.
    NotRecording,
    /// The application is recording (persisting media).
    Recording,
    /// Recording failed.
    Failed,
}

/// Body of `POST .../updateRecordingStatus`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct UpdateRecordingStatusRequest {
    /// Unique client context (at most 256 characters).
    pub client_context: String,
    /// The new status.
    pub status: RecordingStatus,
}

impl UpdateRecordingStatusRequest {
    /// Checks the client context length.
    pub fn validate(&self) -> Result<(), ValidationError> {
        let n = self.client_context.chars().count();
        if n > MAX_CLIENT_CONTEXT_CHARS {
            return Err(invalid(
                "clientContext",
                format!("{n} characters, at most {MAX_CLIENT_CONTEXT_CHARS} allowed"),
            ));
        }
        Ok(())
    }
}

/// The `updateRecordingStatusOperation` Graph answers with.
#[derive(Debug, Clone, PartialEq, Eq, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct UpdateRecordingStatusOperation {
    /// Operation ID.
    #[serde(default)]
    pub id: Option<String>,
    /// Echoed client context.
    #[serde(default)]
    pub client_context: Option<String>,
    /// Status; `completed` on success.
    #[serde(default)]
    pub status: Option<OperationStatus>,
    /// Outcome code.
    #[serde(default)]
    pub result_info: Option<ResultInfo>,
}

/// `commsNotifications`: what Graph POSTs to the callback URI.
#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct CommsNotifications {
    /// The notifications in this batch.
    pub value: Vec<CommsNotification>,
}

/// One `commsNotification`. `Debug` leaves out `resourceData`, which holds
/// the recording location and token (`secret.rs`).
#[derive(Clone, PartialEq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct CommsNotification {
    /// `created`, `updated` or `deleted` (`deleted`: the operation finished).
    #[serde(default)]
    pub change_type: Option<String>,
    /// v1.0 resource path.
    #[serde(default)]
    pub resource_url: Option<String>,
    /// Legacy resource path.
    #[serde(default)]
    pub resource: Option<String>,
    /// The resource; kept raw because call and participant notifications
    /// carry other shapes (even arrays) on the same endpoint.
    #[serde(default)]
    pub resource_data: Option<serde_json::Value>,
}

/// Call and operation named by an operation resource path.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct OperationKey {
    /// Normalised call ID.
    pub call_id: NormalizedId,
    /// Normalised operation ID.
    pub operation_id: NormalizedId,
}

impl OperationKey {
    /// Builds a key from raw IDs in either form.
    pub fn new(call_id: &str, operation_id: &str) -> Self {
        OperationKey {
            call_id: NormalizedId::new(call_id),
            operation_id: NormalizedId::new(operation_id),
        }
    }

    /// Parses `.../calls/{callId}/operations/{opId}` in any of Graph's path
    /// forms (`/communications/...`, `/app/...`, `/applications/{id}/...`,
    /// or a full URL).
    pub fn from_resource(path: &str) -> Option<Self> {
        let path = path.split(['?', '#']).next().unwrap_or("");
        let segs: Vec<&str> = path.split('/').filter(|s| !s.is_empty()).collect();
        let call = segs.windows(2).position(|w| w[0] == "calls")?;
        let call_id = segs.get(call + 1)?;
        if segs.get(call + 2) != Some(&"operations") {
            return None;
        }
        let op_id = segs.get(call + 3)?;
        Some(Self::new(call_id, op_id))
    }
}

impl fmt::Display for OperationKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "call {} operation {}", self.call_id, self.operation_id)
    }
}

impl CommsNotification {
    /// The resource path, from `resourceUrl` or legacy `resource`.
    pub fn resource_path(&self) -> Option<&str> {
        self.resource_url.as_deref().or(self.resource.as_deref())
    }

    /// If this notification reports a record operation reaching `completed`
    /// or `failed`, its key and operation. Everything else (call state,
    /// participants, playPrompt, running updates) gives `None`.
    pub fn record_completion(&self) -> Option<(OperationKey, RecordOperation)> {
        let data = self.resource_data.as_ref()?;
        if !data.is_object() {
            return None;
        }
        if let Some(t) = data.get("@odata.type").and_then(|t| t.as_str()) {
            if !t.to_ascii_lowercase().ends_with("recordoperation") {
                return None;
            }
        }
        let op: RecordOperation = serde_json::from_value(data.clone()).ok()?;
        if !op.status.as_ref().is_some_and(OperationStatus::is_terminal) {
            return None;
        }
        let key = self
            .resource_path()
            .and_then(OperationKey::from_resource)
            .or_else(|| op.odata_id.as_deref().and_then(OperationKey::from_resource))?;
        Some((key, op))
    }
}

/// Graph's error body `{ "error": { code, message, innerError } }`.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct GraphErrorBody {
    /// The error.
    pub error: GraphErrorDetail,
}

/// The `error` object of a Graph error body.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct GraphErrorDetail {
    /// Error code, e.g. `TooManyRequests`.
    #[serde(default)]
    pub code: Option<String>,
    /// Message.
    #[serde(default)]
    pub message: Option<String>,
    /// Request correlation data.
    #[serde(default, alias = "innererror")]
    pub inner_error: Option<InnerError>,
}

/// `innerError` of a Graph error: the IDs support needs.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct InnerError {
    /// `request-id`.
    #[serde(rename = "request-id", default)]
    pub request_id: Option<String>,
    /// `date`.
    #[serde(default)]
    pub date: Option<String>,
    /// `client-request-id`.
    #[serde(rename = "client-request-id", default)]
    pub client_request_id: Option<String>,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn seed(name: &str) -> String {
        let path = format!("{}/testdata/seeds/{name}", env!("CARGO_MANIFEST_DIR"));
        std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{path}: {e}"))
    }

    #[test]
    fn seed_request_bodies_parse_and_fail_validation_only_on_the_bad_tone() {
        for name in ["002_v1_request.json", "003_beta_request.json"] {
            let req: RecordResponseRequest = serde_json::from_str(&seed(name)).unwrap();
            assert_eq!(req.prompts.len(), 1, "{name}");
            assert_eq!(req.max_record_duration_in_seconds, 10);
            assert_eq!(req.stop_tones, ["#", "1", "*"]);
            req.validate().unwrap();
        }
    }

    #[test]
    fn seed_001_legacy_request_has_trailing_commas_and_is_rejected_as_json() {
        let raw = seed("001_legacy_record_request.json");
        assert!(serde_json::from_str::<LegacyRecordRequest>(&raw).is_err());
        // With the typo fixed it parses; validation then names the out-of-range
        // duration and, once fixed, the two-digit stop tone.
        let fixed = raw
            .replace(",\n      }", "\n      }")
            .replace(",\n}", "\n}");
        let mut req: LegacyRecordRequest = serde_json::from_str(&fixed).unwrap();
        assert_eq!(req.prompts.len(), 2);
        assert_eq!(req.prompts[0], LegacyPrompt::Silence { duration: 5000 });
        assert_eq!(req.stop_tones, ["#", "11", "*"]);
        assert_eq!(
            req.validate().unwrap_err().field,
            "maxRecordDurationInSeconds"
        );
        req.max_record_duration_in_seconds = 120;
        let err = req.validate().unwrap_err();
        assert_eq!(err.field, "stopTones");
        assert!(err.to_string().contains("\"11\""), "{err}");
    }

    #[test]
    fn seed_responses_parse() {
        let v1: RecordOperation = serde_json::from_str(&seed("002_v1_response.json")).unwrap();
        assert_eq!(v1.status, Some(OperationStatus::Running));
        assert_eq!(v1.location(), None);
        let beta: RecordOperation = serde_json::from_str(&seed("003_beta_response.json")).unwrap();
        assert_eq!(beta.completion_reason, None);
        let legacy: RecordOperation =
            serde_json::from_str(&seed("001_legacy_record_response.json")).unwrap();
        assert_eq!(
            legacy.created_date_time.as_deref(),
            Some("2018-09-06T15:58:41Z")
        );
        let upd: UpdateRecordingStatusOperation =
            serde_json::from_str(&seed("004_update_recording_status_response.json")).unwrap();
        assert_eq!(upd.status, Some(OperationStatus::Completed));
        // The 004 request example shows the three values joined by " | ":
        // a placeholder, so it must not parse as a status.
        assert!(serde_json::from_str::<UpdateRecordingStatusRequest>(&seed(
            "004_update_recording_status_request.json"
        ))
        .is_err());
    }

    #[test]
    fn seed_notifications_parse_and_match_the_post_response_id() {
        let post_id = NormalizedId::new("0fe0623f-d628-42ed-b4bd-8ac290072cc5");
        let call_id = NormalizedId::new("57dab8b1-894c-409a-b240-bd8beae78896");
        let cases = [
            (
                "001_legacy_notification.json",
                Some(CompletionReason::StopToneDetected),
                false,
            ),
            (
                "002_v1_notification.json",
                Some(CompletionReason::MaxRecordDurationReached),
                true,
            ),
            (
                "003_beta_notification.json",
                Some(CompletionReason::StopToneDetected),
                true,
            ),
        ];
        for (name, reason, has_token) in cases {
            let n: CommsNotifications = serde_json::from_str(&seed(name)).unwrap();
            let (key, op) = n.value[0].record_completion().expect(name);
            assert_eq!(key.operation_id, post_id, "{name}");
            assert_eq!(key.call_id, call_id, "{name}");
            assert_eq!(op.effective_reason(), reason, "{name}");
            assert!(op.location().unwrap().starts_with("https://file.location/"));
            assert_eq!(op.access_token().is_some(), has_token, "{name}");
        }
    }

    #[test]
    fn status_and_reason_parse_case_insensitively_and_keep_unknowns() {
        for s in ["Completed", "completed", "COMPLETED"] {
            assert_eq!(OperationStatus::parse(s), OperationStatus::Completed);
        }
        assert_eq!(
            OperationStatus::parse("NotStarted"),
            OperationStatus::NotStarted
        );
        assert_eq!(
            OperationStatus::parse("paused"),
            OperationStatus::Unknown("paused".into())
        );
        assert_eq!(
            CompletionReason::parse("StopToneDetected"),
            CompletionReason::StopToneDetected
        );
        let op: RecordOperation =
            serde_json::from_str(r#"{"status":"Failed","completionReason":"callerSneezed"}"#)
                .unwrap();
        assert_eq!(
            op.completion_reason,
            Some(CompletionReason::Unknown("callerSneezed".into()))
        );
    }

    #[test]
    fn normalized_ids_match_across_forms() {
        assert_eq!(
            NormalizedId::new("0fe0623f-d628-42ed-b4bd-8ac290072cc5"),
            NormalizedId::new("0FE0623FD62842EDB4BD8AC290072CC5")
        );
    }

    #[test]
    fn resource_paths_in_every_form() {
        let want = OperationKey::new("abc", "def");
        for p in [
            "/communications/calls/ABC/operations/DEF",
            "/app/calls/abc/operations/def",
            "/applications/x/calls/abc/operations/def",
            "https://graph.microsoft.com/v1.0/communications/calls/abc/operations/def?x=1",
        ] {
            assert_eq!(OperationKey::from_resource(p), Some(want.clone()), "{p}");
        }
        for p in [
            "/communications/calls/abc",
            "/communications/calls/abc/participants/x",
            "",
        ] {
            assert_eq!(OperationKey::from_resource(p), None, "{p}");
        }
    }

    #[test]
    fn unrelated_notifications_are_not_completions() {
        let body = r##"{"value":[
          {"changeType":"updated","resourceUrl":"/communications/calls/abc","resourceData":{"@odata.type":"#microsoft.graph.call","state":"established"}},
          {"changeType":"updated","resourceUrl":"/communications/calls/abc/participants","resourceData":[{"id":"p"}]},
          {"changeType":"deleted","resourceUrl":"/communications/calls/abc/operations/x","resourceData":{"@odata.type":"#microsoft.graph.playPromptOperation","status":"completed"}},
          {"changeType":"updated","resourceUrl":"/communications/calls/abc/operations/y","resourceData":{"@odata.type":"#microsoft.graph.recordOperation","status":"running"}},
          {"changeType":"deleted"}
        ]}"##;
        let n: CommsNotifications = serde_json::from_str(body).unwrap();
        assert!(n.value.iter().all(|v| v.record_completion().is_none()));
    }

    #[test]
    fn validation_table() {
        let ok = RecordResponseRequest::default();
        ok.validate().unwrap();
        type Edit = fn(&mut RecordResponseRequest);
        let cases: [(&str, Edit); 8] = [
            ("initialSilenceTimeoutInSeconds", |r| {
                r.initial_silence_timeout_in_seconds = 0
            }),
            ("maxSilenceTimeoutInSeconds", |r| {
                r.max_silence_timeout_in_seconds = 121
            }),
            ("maxRecordDurationInSeconds", |r| {
                r.max_record_duration_in_seconds = 1800
            }),
            ("prompts", |r| {
                r.prompts = vec![MediaPrompt::new("a"), MediaPrompt::new("b")]
            }),
            ("prompts.mediaInfo.uri", |r| {
                r.prompts = vec![MediaPrompt::new(" ")]
            }),
            ("stopTones", |r| r.stop_tones = vec!["11".into()]),
            ("stopTones", |r| r.stop_tones = vec!["E".into()]),
            ("clientContext", |r| {
                r.client_context = Some("x".repeat(257))
            }),
        ];
        for (field, edit) in cases {
            let mut r = ok.clone();
            edit(&mut r);
            assert_eq!(r.validate().unwrap_err().field, field);
        }
        let mut r = ok.clone();
        r.client_context = Some("é".repeat(256));
        r.initial_silence_timeout_in_seconds = 120;
        r.stop_tones = parse_stop_tones("#*0D").unwrap();
        r.validate().unwrap();
        assert!(parse_stop_tones("#x").is_err());
    }

    #[test]
    fn graph_error_body_parses() {
        let body = r#"{"error":{"code":"TooManyRequests","message":"slow down","innerError":{"request-id":"r-1","date":"2024-01-01T00:00:00","client-request-id":"c-1"}}}"#;
        let e: GraphErrorBody = serde_json::from_str(body).unwrap();
        assert_eq!(e.error.code.as_deref(), Some("TooManyRequests"));
        assert_eq!(
            e.error.inner_error.unwrap().request_id.as_deref(),
            Some("r-1")
        );
    }

    #[test]
    fn request_serialises_with_graph_field_names() {
        let mut r = RecordResponseRequest::default();
        r.prompts.push(MediaPrompt::new("https://x/p.wav"));
        let v = serde_json::to_value(&r).unwrap();
        assert_eq!(
            v["prompts"][0]["@odata.type"],
            "#microsoft.graph.mediaPrompt"
        );
        assert_eq!(v["initialSilenceTimeoutInSeconds"], 5);
        assert!(v.get("clientContext").is_none());
        let legacy = serde_json::to_value(r.to_legacy()).unwrap();
        assert_eq!(legacy["prompts"][0]["mediaInfo"]["uri"], "https://x/p.wav");
    }

    mod prop {
        use super::super::*;
        use proptest::prelude::*;

        proptest! {
            #[test]
            fn notification_parsing_never_panics(body in ".{0,400}") {
                if let Ok(n) = serde_json::from_str::<CommsNotifications>(&body) {
                    for v in &n.value {
                        let _ = v.record_completion();
                    }
                }
                let _ = OperationKey::from_resource(&body);
            }

            #[test]
            fn normalisation_is_idempotent_and_ignores_case_and_dashes(id in "[0-9a-fA-F-]{0,40}") {
                let once = NormalizedId::new(&id);
                prop_assert_eq!(NormalizedId::new(once.as_str()), once.clone());
                prop_assert_eq!(NormalizedId::new(&id.to_uppercase().replace('-', "")), once);
            }

            #[test]
            fn record_operation_fields_survive_any_json_values(
                status in "[A-Za-z]{0,12}", reason in "[A-Za-z]{0,24}", sub in any::<i64>()
            ) {
                let v = serde_json::json!({"status": status, "completionReason": reason,
                    "resultInfo": {"code": 200, "subcode": sub}});
                let op: RecordOperation = serde_json::from_value(v).unwrap();
                prop_assert_eq!(op.status.unwrap().as_str().to_ascii_lowercase(), status.to_ascii_lowercase());
                prop_assert_eq!(op.completion_reason.unwrap().as_str().to_ascii_lowercase(), reason.to_ascii_lowercase());
            }
        }
    }
}
