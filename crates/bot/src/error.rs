//! [`BotError`]: why a bot could not start, or an operation produced no
//! outcome. Messages name the input (call id, operation id, file) and the
//! cause in the library's own words; they never name a command-line flag.
//! The command line maps variants to its flags ([`BotError::setting`]).

use std::net::SocketAddr;
use std::path::PathBuf;

use voxcap_capture::CaptureError;
use voxcap_dsp::AnalysisError;

/// Which part of a [`crate::BotConfig`] or [`crate::RecordPlan`] an error
/// is about, so a front end can point at its own name for it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum Setting {
    /// `BotConfig::callback_path`.
    CallbackPath,
    /// `BotConfig::listen`.
    Listen,
    /// `BotConfig::store`.
    Store,
    /// `RecordPlan::out_dir`, or the takeover's output directory.
    OutDir,
    /// `BotConfig::allowed_tenants`.
    Tenants,
    /// `RecordingDownloads::allowed_hosts`: a location's host is not on it.
    RecordingHosts,
    /// `RecordingDownloads::allow_http`: a location is `http://`.
    AllowHttp,
    /// `RecordingDownloads::max_bytes` (or the operation's
    /// `maxRecordDurationInSeconds`, from which the cap is derived).
    MaxRecordingBytes,
}

impl Setting {
    /// The `voxcap record` / `serve` flag that sets it.
    pub fn cli_flag(self) -> &'static str {
        match self {
            Setting::CallbackPath => "--callback-path",
            Setting::Listen => "--listen",
            Setting::Store => "--redis",
            Setting::OutDir => "--out",
            Setting::Tenants => "--tenant-id",
            Setting::RecordingHosts => "--recording-host",
            Setting::AllowHttp => "--allow-http-recordings",
            Setting::MaxRecordingBytes => "--max-recording-bytes",
        }
    }
}

/// Why a bot operation failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum BotError {
    /// The callback path is not a usable URL path.
    #[error("callback path {path:?}: {reason}")]
    CallbackPath {
        /// The path as configured.
        path: String,
        /// What is wrong with it.
        reason: &'static str,
    },
    /// Notification auth is off on an address other hosts can reach.
    #[error(
        "webhook address {addr}: notification auth can only be disabled on a loopback address"
    )]
    UnverifiedNonLoopback {
        /// The configured address.
        addr: SocketAddr,
    },
    /// A tenant allow-list was given without notification verification
    /// (there is no verified `tid` to check).
    #[error("tenant allow-list: tenants can only be checked on verified notifications (JWT)")]
    TenantsWithoutVerification,
    /// The webhook could not listen.
    #[error("webhook address {addr}: cannot bind: {source}")]
    Bind {
        /// The configured address.
        addr: SocketAddr,
        /// Why.
        #[source]
        source: std::io::Error,
    },
    /// The Graph client could not be built.
    #[error("Graph client: {0}")]
    Client(#[source] Box<CaptureError>),
    /// The shared operation store is unusable.
    #[error("the shared operation store is unusable: {0}")]
    Store(#[source] Box<CaptureError>),
    /// The output directory could not be created.
    #[error("output directory {}: {source}", path.display())]
    OutDir {
        /// The directory.
        path: PathBuf,
        /// Why.
        #[source]
        source: std::io::Error,
    },
    /// A Graph step of an operation failed.
    #[error("call {call_id}{}: {step}: {source}", operation_id.as_deref().map(|o| format!(", operation {o}")).unwrap_or_default())]
    Graph {
        /// The call.
        call_id: String,
        /// The operation, once Graph named it.
        operation_id: Option<String>,
        /// What was being done.
        step: &'static str,
        /// Why it failed.
        #[source]
        source: Box<CaptureError>,
    },
    /// The completion's `recordingLocation` is not allowed by the download
    /// policy; nothing was requested or written.
    #[error("call {call_id}, operation {operation_id}: recording not downloaded: {source}")]
    RecordingLocation {
        /// The call.
        call_id: String,
        /// The operation.
        operation_id: String,
        /// The rule it broke (allowed hosts, or https only).
        setting: Setting,
        /// The refusal, naming the (redacted) location and its host.
        #[source]
        source: Box<CaptureError>,
    },
    /// The recording was larger than the size cap; no file was kept.
    #[error("call {call_id}, operation {operation_id}: {source}")]
    RecordingTooLarge {
        /// The call.
        call_id: String,
        /// The operation.
        operation_id: String,
        /// The cap, the size announced or received, the location.
        #[source]
        source: Box<CaptureError>,
    },
    /// An id that would name a file is not a GUID (it came from Graph or
    /// the shared store); nothing was written.
    #[error("refused: {0}; nothing was written")]
    InvalidId(#[source] Box<CaptureError>),
    /// The downloaded recording could not be analysed.
    #[error("{}: analysing: {source}", path.display())]
    Analysis {
        /// The recording.
        path: PathBuf,
        /// Why.
        #[source]
        source: Box<AnalysisError>,
    },
    /// The trimmed copy could not be decoded or written.
    #[error("{}: {step}: {reason}", path.display())]
    Trim {
        /// The file being read or written.
        path: PathBuf,
        /// What was being done.
        step: &'static str,
        /// Why it failed.
        reason: String,
    },
    /// A file (report, output) could not be written.
    #[error("{0}")]
    Write(#[source] std::io::Error),
    /// Taking over the operations of dead instances failed.
    #[error("taking over operations of dead instances: {0}")]
    Takeover(#[source] Box<CaptureError>),
    /// A background task ended without an answer.
    #[error("{what}: the task failed: {reason}")]
    Task {
        /// The task.
        what: &'static str,
        /// Why (panicked or cancelled).
        reason: String,
    },
}

impl BotError {
    /// The setting this error is about, when it is about one.
    pub fn setting(&self) -> Option<Setting> {
        match self {
            BotError::CallbackPath { .. } => Some(Setting::CallbackPath),
            BotError::UnverifiedNonLoopback { .. } | BotError::Bind { .. } => Some(Setting::Listen),
            BotError::Store(_) => Some(Setting::Store),
            BotError::OutDir { .. } => Some(Setting::OutDir),
            BotError::TenantsWithoutVerification => Some(Setting::Tenants),
            BotError::RecordingLocation { setting, .. } => Some(*setting),
            BotError::RecordingTooLarge { .. } => Some(Setting::MaxRecordingBytes),
            _ => None,
        }
    }
}

/// The result of bot operations.
pub type Result<T> = std::result::Result<T, BotError>;

/// An error with its causes, as one line: each cause that its parent's
/// text does not already contain, joined with `: `.
pub fn error_chain(e: &dyn std::error::Error) -> String {
    let mut text = e.to_string();
    let mut cause = e.source();
    while let Some(c) = cause {
        let more = c.to_string();
        if !text.contains(&more) {
            text.push_str(": ");
            text.push_str(&more);
        }
        cause = c.source();
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn messages_name_inputs_and_no_flags() {
        let errors = [
            BotError::CallbackPath {
                path: "api".into(),
                reason: "must be a URL path starting with '/'",
            },
            BotError::UnverifiedNonLoopback {
                addr: ([10, 0, 0, 1], 80).into(),
            },
            BotError::OutDir {
                path: "/x/out".into(),
                source: std::io::Error::other("denied"),
            },
            BotError::TenantsWithoutVerification,
        ];
        for e in &errors {
            let text = e.to_string();
            assert!(!text.contains("--"), "{text}");
            assert!(e.setting().is_some(), "{text}");
        }
        assert!(errors[2].to_string().contains("/x/out"));
        assert_eq!(errors[3].setting(), Some(Setting::Tenants));
    }
}
