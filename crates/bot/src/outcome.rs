//! How an operation ended ([`Outcome`]) and the report objects written
//! beside the analysis.

use std::path::PathBuf;
use std::time::Duration;

use serde::Serialize;
use voxcap_capture::wire::ResultInfo;
use voxcap_capture::DownloadInfo;
use voxcap_dsp::Report;

use crate::error::{BotError, Result};

/// How an operation ended, for the exit code.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum OutcomeKind {
    /// Recorded and analysed.
    Recorded,
    /// Graph reported a failure.
    Failed,
    /// No completion arrived by the deadline.
    Lost,
}

/// `resultInfo` as written in the report.
#[derive(Debug, Clone, Default, Serialize, PartialEq, Eq)]
pub struct ResultInfoReport {
    /// HTTP-like code.
    pub code: Option<i64>,
    /// Graph subcode.
    pub subcode: Option<i64>,
    /// Graph's message.
    pub message: Option<String>,
}

impl From<Option<&ResultInfo>> for ResultInfoReport {
    fn from(r: Option<&ResultInfo>) -> Self {
        r.map(|r| ResultInfoReport {
            code: r.code,
            subcode: r.subcode,
            message: r.message.clone(),
        })
        .unwrap_or_default()
    }
}

/// The `operation` object of the report.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct OperationReport {
    /// Graph's operation id.
    pub id: String,
    /// The client context sent (or echoed).
    pub client_context: Option<String>,
    /// `completed`, `failed` or `lost`.
    pub status: String,
    /// The reported completion reason (beta field, or from the subcode).
    pub completion_reason: Option<String>,
    /// Graph's `resultInfo`.
    pub result_info: ResultInfoReport,
}

/// The files an operation wrote.
#[derive(Debug, Clone)]
pub struct OutputFiles {
    /// The original recording.
    pub wav: PathBuf,
    /// The trimmed copy.
    pub trimmed: PathBuf,
}

/// The result of [`Bot::record`](crate::Bot::record).
#[derive(Debug, Clone)]
pub struct Outcome {
    /// How it ended.
    pub kind: OutcomeKind,
    /// The operation's identity and what Graph reported.
    pub operation: OperationReport,
    /// The analysis, when a recording was downloaded.
    pub report: Option<Report>,
    /// The full JSON report (analysis + `operation`), as written.
    pub json: serde_json::Value,
    /// `DIR/<operationId>.json`, when written.
    pub json_path: Option<PathBuf>,
    /// The audio files, when written.
    pub files: Option<OutputFiles>,
    /// Download statistics, when downloaded.
    pub download: Option<DownloadInfo>,
    /// From the completion reaching the bot to the report being written.
    pub notification_to_report: Option<Duration>,
    /// The analysis's wall time, from its first read (it reads the
    /// download as it arrives) to its findings; `None` without audio.
    pub analysis: Option<Duration>,
    /// The analysed copy was read while the recording was being made
    /// (`streamWhileRecording`), not downloaded after the completion.
    pub streamed: bool,
}

impl Outcome {
    /// The instance that took this operation over, when this one gave it up.
    pub fn taken_over_by(&self) -> Option<&str> {
        self.json.get("takenOverBy").and_then(|v| v.as_str())
    }
}

/// An outcome with no recording to analyse: the JSON holds only `operation`.
pub(crate) fn no_audio_outcome(kind: OutcomeKind, operation: OperationReport) -> Outcome {
    let json = serde_json::json!({ "file": null, "operation": operation });
    Outcome {
        kind,
        operation,
        report: None,
        json,
        json_path: None,
        files: None,
        download: None,
        notification_to_report: None,
        analysis: None,
        streamed: false,
    }
}

/// The analysis report with the `operation` object added.
pub(crate) fn report_json(
    report: &Report,
    operation: &OperationReport,
) -> Result<serde_json::Value> {
    let serialising = |e: serde_json::Error| {
        BotError::Write(std::io::Error::other(format!(
            "operation {}: serialising the report: {e}",
            operation.id
        )))
    };
    let mut v = serde_json::to_value(report).map_err(serialising)?;
    if let Some(obj) = v.as_object_mut() {
        obj.insert(
            "operation".into(),
            serde_json::to_value(operation).map_err(serialising)?,
        );
    }
    Ok(v)
}
