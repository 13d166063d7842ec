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
        self.record_operation()
            .filter(|(_, op)| op.status.as_ref().is_some_and(OperationStatus::is_terminal))
    }

    /// If this notification announces a record operation's recording
    /// location while it is still `running` (`streamWhileRecording`: "a
    /// resource location will be provided as soon as the recording
    /// starts"), its key and operation. A completion gives `None`.
    pub fn recording_started(&self) -> Option<(OperationKey, RecordOperation)> {
        self.record_operation().filter(|(_, op)| {
            op.status == Some(OperationStatus::Running) && op.location().is_some()
        })
    }

    /// The record operation this notification carries, in any status.
    fn record_operation(&self) -> Option<(OperationKey, RecordOperation)> {
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
mod tests;
