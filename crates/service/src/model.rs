//! The API's JSON, camelCase like Graph: the request bodies (Graph's own
//! `recordResponse` body plus the `voxcap` object; a completed operation
//! another bot placed) and the recording resource. Each carries its
//! OpenAPI schema (utoipa). A body is checked here, before anything is
//! placed: the call id's form, every rule Graph documents for the request
//! (`RecordResponseRequest::validate`), a callback URL's scheme.

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use voxcap_capture::ids::is_call_id;
use voxcap_capture::tracker::CompletedRecording;
use voxcap_capture::wire::{
    CompletionReason, MediaInfo, MediaPrompt, RecordResponseRequest, ResultInfo,
};
use voxcap_capture::Secret;

use crate::problem::Problem;

/// A recording's status.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub enum RecordingStatus {
    /// Placed (or being downloaded and analysed); not final.
    Running,
    /// Recorded, downloaded, analysed and stored.
    Completed,
    /// Graph reported a failure, or the service could not finish it.
    Failed,
    /// No completion arrived by the operation's deadline.
    Lost,
}

impl RecordingStatus {
    /// Every status, in this order.
    pub const ALL: [RecordingStatus; 4] = [
        RecordingStatus::Running,
        RecordingStatus::Completed,
        RecordingStatus::Failed,
        RecordingStatus::Lost,
    ];

    /// The wire spelling.
    pub fn as_str(self) -> &'static str {
        match self {
            RecordingStatus::Running => "running",
            RecordingStatus::Completed => "completed",
            RecordingStatus::Failed => "failed",
            RecordingStatus::Lost => "lost",
        }
    }

    /// Parses the wire spelling.
    pub fn parse(s: &str) -> Option<RecordingStatus> {
        Self::ALL.into_iter().find(|v| v.as_str() == s)
    }
}

/// One DTMF key (`0`-`9`, `*`, `#`, `A`-`D`), for the schema of `stopTones`.
#[derive(ToSchema)]
#[schema(pattern = "^[0-9*#A-D]$")]
#[allow(dead_code)] // a schema only
pub struct DtmfKey(String);

/// A prompt's media (Graph's `mediaInfo`).
#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct MediaInfoBody {
    /// The WAV to play.
    #[schema(pattern = "\\S")]
    pub uri: String,
    /// Graph's optional resource id for caching.
    #[serde(default)]
    pub resource_id: Option<String>,
}

/// A prompt (Graph's `mediaPrompt`).
#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct PromptBody {
    /// `#microsoft.graph.mediaPrompt` (the only kind recordResponse takes).
    #[serde(rename = "@odata.type", default)]
    pub odata_type: Option<String>,
    /// What to play.
    #[serde(deserialize_with = "required_object")]
    pub media_info: MediaInfoBody,
}

/// Which Graph action starts the recording.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub enum ApiChoice {
    /// `recordResponse` (v1.0, or beta when the Graph URL is beta).
    #[default]
    RecordResponse,
    /// The legacy beta `record` action.
    LegacyRecord,
}

/// voxcap's additions to Graph's body.
#[derive(Debug, Clone, Default, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct VoxcapOptions {
    /// Where to POST the resource when it reaches a final status (stored
    /// and shown in phase 1; delivery is still to come, see docs/service.md).
    #[serde(default)]
    #[schema(pattern = "^[hH][tT][tT][pP][sS]?://[!-~]+$", max_length = 2048)]
    pub callback_url: Option<String>,
    /// Which Graph action to use. Default `recordResponse`.
    #[serde(default)]
    pub api: Option<ApiChoice>,
    /// The trimmed copy's pads. Default: the analysis's own (150 ms
    /// before the first speech, 300 ms after the last).
    #[serde(default, deserialize_with = "object")]
    pub trim: Option<TrimBody>,
    /// Delete this recording (its files and its record, one audit line)
    /// this many seconds after it ends. At most the deployment's
    /// retention (`--retain-days`); default: the deployment's, or kept.
    #[serde(default, deserialize_with = "whole_number")]
    #[schema(minimum = 1, maximum = 315_360_000)]
    pub retention_seconds: Option<u64>,
}

/// The longest pad a request may ask for, in ms.
pub const MAX_PAD_MS: u64 = 5_000;

/// The longest retention a request may ask for (ten years), in seconds.
pub const MAX_RETENTION_SECONDS: u64 = 315_360_000;

/// The trimmed copy's pads (`voxcap.trim`).
#[derive(Debug, Clone, Default, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct TrimBody {
    /// Kept before the first speech, 0-5000 ms. Default 150.
    #[serde(default, deserialize_with = "whole_number")]
    #[schema(minimum = 0, maximum = 5000)]
    pub pad_start_ms: Option<u64>,
    /// Kept after the last speech, 0-5000 ms (shortened by a decay the trim
    /// followed, to half at least). Default 300.
    #[serde(default, deserialize_with = "whole_number")]
    #[schema(minimum = 0, maximum = 5000)]
    pub pad_end_ms: Option<u64>,
}

impl VoxcapOptions {
    /// Checks the options: the callback URL's form, the pads' and the
    /// retention's ranges (`max_retention`: the deployment's, if any).
    pub fn check(&self, max_retention: Option<std::time::Duration>) -> Result<(), Problem> {
        if let Some(url) = self.callback_url.as_deref() {
            check_callback_url(url)?;
        }
        if let Some(t) = &self.trim {
            for (name, v) in [("padStartMs", t.pad_start_ms), ("padEndMs", t.pad_end_ms)] {
                if v.is_some_and(|v| v > MAX_PAD_MS) {
                    return Err(Problem::invalid(format!(
                        "voxcap.trim.{name}: at most {MAX_PAD_MS} ms"
                    )));
                }
            }
        }
        if let Some(r) = self.retention_seconds {
            if r == 0 || r > MAX_RETENTION_SECONDS {
                return Err(Problem::invalid(format!(
                    "voxcap.retentionSeconds: 1 to {MAX_RETENTION_SECONDS}"
                )));
            }
            if let Some(max) = max_retention.filter(|m| r > m.as_secs()) {
                return Err(Problem::invalid(format!(
                    "voxcap.retentionSeconds: {r} is longer than this deployment keeps recordings ({} s, --retain-days)",
                    max.as_secs()
                )));
            }
        }
        Ok(())
    }

    /// The pads asked for, the analysis's defaults filling a pad left out;
    /// `None` when no `trim` was given. Call after [`VoxcapOptions::check`].
    pub fn trim_pads(&self) -> Option<voxcap_bot::TrimPads> {
        let t = self.trim.as_ref()?;
        let d = voxcap_bot::TrimPads::default();
        let ms = |v: Option<u64>, default: u32| {
            v.map_or(default, |v| {
                u32::try_from(v.min(MAX_PAD_MS)).unwrap_or(default)
            })
        };
        Some(voxcap_bot::TrimPads {
            pad_start_ms: ms(t.pad_start_ms, d.pad_start_ms),
            pad_end_ms: ms(t.pad_end_ms, d.pad_end_ms),
        })
    }
}

/// The body of `POST /v1/calls/{callId}/recordResponse`: Graph's own
/// `recordResponse` body, each field with Graph's default, plus `voxcap`.
#[derive(Debug, Clone, Default, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct RecordResponseBody {
    /// At most one prompt, played before the beep.
    #[serde(default, deserialize_with = "objects")]
    #[schema(max_items = 1)]
    pub prompts: Vec<PromptBody>,
    /// Barge into queued or running operations. Default false.
    #[serde(default)]
    pub barge_in_allowed: Option<bool>,
    /// 1..=120 s. Default 5.
    #[serde(default, deserialize_with = "whole_seconds")]
    #[schema(minimum = 1, maximum = 120)]
    pub initial_silence_timeout_in_seconds: Option<u32>,
    /// 1..=120 s. Default 5.
    #[serde(default, deserialize_with = "whole_seconds")]
    #[schema(minimum = 1, maximum = 120)]
    pub max_silence_timeout_in_seconds: Option<u32>,
    /// 1..=120 s. Default 5.
    #[serde(default, deserialize_with = "whole_seconds")]
    #[schema(minimum = 1, maximum = 120)]
    pub max_record_duration_in_seconds: Option<u32>,
    /// Play a beep before recording. Default true.
    #[serde(default)]
    pub play_beep: Option<bool>,
    /// DTMF keys that stop the recording, one key per entry.
    #[serde(default)]
    #[schema(inline, value_type = Option<Vec<DtmfKey>>)]
    pub stop_tones: Option<Vec<String>>,
    /// At most 256 characters; generated when absent.
    #[serde(default)]
    #[schema(max_length = 256)]
    pub client_context: Option<String>,
    /// voxcap's additions.
    #[serde(default, deserialize_with = "object")]
    pub voxcap: Option<VoxcapOptions>,
}

impl RecordResponseBody {
    /// Graph's request this body describes, checked against Graph's rules.
    pub fn request(&self) -> Result<RecordResponseRequest, Problem> {
        let graph = RecordResponseRequest::default();
        let request = RecordResponseRequest {
            prompts: self
                .prompts
                .iter()
                .map(|p| MediaPrompt {
                    media_info: MediaInfo {
                        uri: p.media_info.uri.clone(),
                        resource_id: p.media_info.resource_id.clone(),
                    },
                    ..MediaPrompt::new("")
                })
                .collect(),
            barge_in_allowed: self.barge_in_allowed.unwrap_or(graph.barge_in_allowed),
            initial_silence_timeout_in_seconds: self
                .initial_silence_timeout_in_seconds
                .unwrap_or(graph.initial_silence_timeout_in_seconds),
            max_silence_timeout_in_seconds: self
                .max_silence_timeout_in_seconds
                .unwrap_or(graph.max_silence_timeout_in_seconds),
            max_record_duration_in_seconds: self
                .max_record_duration_in_seconds
                .unwrap_or(graph.max_record_duration_in_seconds),
            play_beep: self.play_beep.unwrap_or(graph.play_beep),
            stop_tones: self.stop_tones.clone().unwrap_or_default(),
            client_context: self.client_context.clone(),
            stream_while_recording: None,
        };
        request
            .validate()
            .map_err(|e| Problem::invalid(format!("{}: {}", e.field, e.reason)))?;
        Ok(request)
    }
}

/// A JSON object (or `null`) as `T`: serde would also build a struct from
/// an array of its fields in order, which the schema does not allow.
fn object<'de, D, T>(d: D) -> Result<Option<T>, D::Error>
where
    D: serde::Deserializer<'de>,
    T: serde::de::DeserializeOwned,
{
    use serde::de::Error;
    match serde_json::Value::deserialize(d)? {
        serde_json::Value::Null => Ok(None),
        v @ serde_json::Value::Object(_) => serde_path_to_error::deserialize(v)
            .map(Some)
            .map_err(|e| D::Error::custom(with_path(&e))),
        _ => Err(D::Error::custom("expected an object")),
    }
}

/// An error inside a nested object, led by the path to the value.
fn with_path(e: &serde_path_to_error::Error<serde_json::Error>) -> String {
    match e.path().to_string() {
        p if p == "." => e.inner().to_string(),
        p => format!("{p}: {}", e.inner()),
    }
}

/// A required JSON object as `T` (see [`object`]).
fn required_object<'de, D, T>(d: D) -> Result<T, D::Error>
where
    D: serde::Deserializer<'de>,
    T: serde::de::DeserializeOwned,
{
    use serde::de::Error;
    object(d)?.ok_or_else(|| D::Error::custom("expected an object, not null"))
}

/// A list of JSON objects as `T`s (see [`object`]).
fn objects<'de, D, T>(d: D) -> Result<Vec<T>, D::Error>
where
    D: serde::Deserializer<'de>,
    T: serde::de::DeserializeOwned,
{
    use serde::de::Error;
    let items = Vec::<serde_json::Value>::deserialize(d)?;
    items
        .into_iter()
        .map(|v| match v {
            v @ serde_json::Value::Object(_) => {
                serde_path_to_error::deserialize(v).map_err(|e| D::Error::custom(with_path(&e)))
            }
            _ => Err(D::Error::custom("expected a list of objects")),
        })
        .collect()
}

/// A number of seconds: a JSON integer, or a number with no fraction
/// (`5.0`, which JSON Schema counts as an integer too).
fn whole_seconds<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Option<u32>, D::Error> {
    use serde::de::Error;
    let Some(n) = Option::<serde_json::Number>::deserialize(d)? else {
        return Ok(None);
    };
    match whole(&n).and_then(|v| u32::try_from(v).ok()) {
        Some(v) => Ok(Some(v)),
        None => Err(D::Error::custom(format!(
            "{n} is not a whole number of seconds"
        ))),
    }
}

/// A whole number, as [`whole_seconds`] reads one, up to `u64::MAX`.
fn whole_number<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Option<u64>, D::Error> {
    use serde::de::Error;
    let Some(n) = Option::<serde_json::Number>::deserialize(d)? else {
        return Ok(None);
    };
    whole(&n)
        .map(Some)
        .ok_or_else(|| D::Error::custom(format!("{n} is not a whole number")))
}

fn whole(n: &serde_json::Number) -> Option<u64> {
    n.as_u64().or_else(|| {
        n.as_f64()
            .filter(|f| f.fract() == 0.0 && *f >= 0.0 && *f < 1.8e19)
            .map(|f| f as u64)
    })
}

/// Checks a callback URL: http(s), at most 2,048 characters.
fn check_callback_url(url: &str) -> Result<(), Problem> {
    let lower = url.get(..8).unwrap_or(url).to_ascii_lowercase();
    let ok = (lower.starts_with("https://") || lower.starts_with("http://"))
        && url.len() <= 2048
        && !url.chars().any(|c| c.is_whitespace() || c.is_control());
    if ok {
        Ok(())
    } else {
        Err(Problem::invalid(
            "voxcap.callbackUrl: must be an http(s) URL of at most 2048 characters",
        ))
    }
}

/// Checks a call id from the path or a body: 1-128 letters, digits or
/// dashes (so it can never name a path or a query).
pub fn check_call_id(call_id: &str, origin: &str) -> Result<(), Problem> {
    if is_call_id(call_id) {
        Ok(())
    } else {
        let shown: String = call_id.chars().take(80).collect();
        Err(Problem::invalid(format!(
            "{origin}: {shown:?} is not a call id (1-128 ASCII letters, digits or dashes)"
        )))
    }
}

/// Graph's `resultInfo`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct ResultInfoBody {
    /// HTTP-like code.
    #[serde(default)]
    pub code: Option<i64>,
    /// Graph's subcode (8514 stop tone, 8515 max duration, ...).
    #[serde(default)]
    pub subcode: Option<i64>,
    /// Graph's message.
    #[serde(default)]
    pub message: Option<String>,
}

/// The completed `recordOperation` a bot's own webhook received.
#[derive(Clone, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct CompletedOperationBody {
    /// The operation id (a GUID, either form).
    #[schema(
        pattern = "^([0-9a-fA-F]{32}|[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12})$"
    )]
    pub id: String,
    /// Must be `completed` (a failed operation has nothing to download).
    #[serde(default)]
    #[schema(pattern = "^[cC][oO][mM][pP][lL][eE][tT][eE][dD]$")]
    pub status: Option<String>,
    /// The client context the bot sent.
    #[serde(default)]
    pub client_context: Option<String>,
    /// Where Graph put the recording (`recordResourceLocation` accepted).
    #[serde(alias = "recordResourceLocation")]
    #[schema(pattern = "\\S")]
    pub recording_location: String,
    /// The recording's access token (`recordResourceAccessToken`
    /// accepted); sent only to the recording host, never stored or shown.
    #[serde(default, alias = "recordResourceAccessToken")]
    #[schema(value_type = Option<String>)]
    pub recording_access_token: Option<Secret>,
    /// Beta: why recording ended.
    #[serde(default)]
    pub completion_reason: Option<String>,
    /// Graph's outcome.
    #[serde(default, deserialize_with = "object")]
    pub result_info: Option<ResultInfoBody>,
}

impl std::fmt::Debug for CompletedOperationBody {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CompletedOperationBody")
            .field("id", &self.id)
            .field("status", &self.status)
            .finish_non_exhaustive()
    }
}

/// The body of `POST /v1/recordings`: an operation a bot placed itself
/// (with its own SDK) and saw complete; voxcap downloads, analyses and
/// stores it.
#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct ExternalRecordingBody {
    /// The call the operation ran on (1-128 letters, digits or dashes).
    #[schema(pattern = "^[A-Za-z0-9-]{1,128}$")]
    pub call_id: String,
    /// The completed `recordOperation`, as the bot's webhook received it.
    #[serde(deserialize_with = "required_object")]
    pub record_operation: CompletedOperationBody,
    /// The `recordResponse` body the bot sent (timers, stop tones), for the
    /// completion check; Graph's defaults when absent.
    #[serde(default, deserialize_with = "object")]
    pub settings: Option<RecordResponseBody>,
    /// voxcap's additions (`callbackUrl`).
    #[serde(default, deserialize_with = "object")]
    pub voxcap: Option<VoxcapOptions>,
}

impl ExternalRecordingBody {
    /// The request the recording was made with, and the completion as the
    /// bot recorder takes it; checked.
    pub fn parts(&self) -> Result<(RecordResponseRequest, CompletedRecording), Problem> {
        check_call_id(&self.call_id, "callId")?;
        let op = &self.record_operation;
        if !voxcap_capture::ids::is_guid(&op.id) {
            return Err(Problem::invalid(
                "recordOperation.id: not an operation id (a GUID, with or without dashes)",
            ));
        }
        if let Some(s) = op
            .status
            .as_deref()
            .filter(|s| !s.eq_ignore_ascii_case("completed"))
        {
            let shown: String = s.chars().take(40).collect();
            return Err(Problem::invalid(format!(
                "recordOperation.status: {shown:?}: only a completed operation has a recording"
            )));
        }
        if op.recording_location.trim().is_empty() {
            return Err(Problem::invalid("recordOperation.recordingLocation: empty"));
        }
        let request = self.settings.clone().unwrap_or_default().request()?;
        let result_info = op.result_info.clone().map(|r| ResultInfo {
            code: r.code,
            subcode: r.subcode,
            message: r.message,
        });
        let reason = op
            .completion_reason
            .as_deref()
            .map(CompletionReason::parse)
            .or_else(|| {
                result_info
                    .as_ref()
                    .and_then(|r| r.subcode)
                    .and_then(|c| u32::try_from(c).ok())
                    .map(CompletionReason::from_subcode)
                    .filter(|r| !matches!(r, CompletionReason::Unknown(_)))
            });
        let completed = CompletedRecording {
            call_id: self.call_id.clone(),
            operation_id: op.id.clone(),
            client_context: op.client_context.clone(),
            reason,
            result_info,
            location: op.recording_location.trim().to_string(),
            token: op.recording_access_token.clone().filter(|t| !t.is_empty()),
            // The bot's own webhook verified this notification, not voxcap:
            // no tenant is claimed for it.
            tenant_id: None,
        };
        Ok((request, completed))
    }
}

/// The Graph operation behind a recording, as far as it is known.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct OperationView {
    /// Graph's operation id.
    pub id: String,
    /// `completed`, `failed` or `lost`.
    pub status: String,
    /// The reported completion reason.
    pub completion_reason: Option<String>,
    /// Graph's `resultInfo`.
    pub result_info: ResultInfoBody,
}

/// Links of a recording.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct RecordingLinks {
    /// The resource.
    #[serde(rename = "self")]
    pub self_link: String,
    /// The recording (`audio/wav`), once stored.
    pub audio: Option<String>,
    /// The trimmed copy (`audio/wav`), once stored.
    pub trimmed: Option<String>,
}

/// A recording: one operation the service placed or was handed.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct Recording {
    /// The service's id for it (32 hex digits).
    pub id: String,
    /// Where it is.
    pub status: RecordingStatus,
    /// The call.
    pub call_id: String,
    /// `recordResponse`, `legacyRecord` or `external` (`POST /v1/recordings`).
    pub source: String,
    /// When the service accepted it (RFC 3339, UTC).
    pub created_at: String,
    /// When its status last changed.
    pub updated_at: String,
    /// The client context sent to Graph (generated when none was given).
    pub client_context: Option<String>,
    /// The callback URL given in `voxcap.callbackUrl`.
    pub callback_url: Option<String>,
    /// When the service deletes it (RFC 3339, UTC): set when it ends, from
    /// `voxcap.retentionSeconds`.
    #[serde(default)]
    pub expires_at: Option<String>,
    /// The Graph operation, once it ended.
    pub operation: Option<OperationView>,
    /// The report: the same JSON as `voxcap analyze --format json`, with
    /// `operation` and `provenance`; when completed.
    #[schema(value_type = Option<Object>)]
    pub report: Option<serde_json::Value>,
    /// Why it failed, when the service (not Graph) could not finish it.
    pub error: Option<String>,
    /// Links.
    pub links: RecordingLinks,
}

/// A page of recordings.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct RecordingPage {
    /// The recordings, oldest first.
    pub items: Vec<Recording>,
    /// The cursor of the next page, when there is one.
    pub next_cursor: Option<String>,
    /// The next page's URL, when there is one.
    pub next: Option<String>,
}
