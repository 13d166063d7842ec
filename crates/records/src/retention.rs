//! Deleting recordings: the retention sweep (older than N days) and
//! erasure on request (by age, call id or client context), each deletion
//! one audit line with its reason.
//!
//! A recording's age is that of its newest file ([`RecordingFiles::newest_write`]),
//! measured against the `now` the caller passes, so a test's clock can be
//! moved forward instead of waiting. Deletion removes every file of the
//! recording (audio, trimmed copy, encrypted forms), the report last.

use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime};

use crate::audit::{AuditEvent, AuditKind, AuditLog, DeleteReason};
use crate::error::{RecordsError, Result};
use crate::layout::{recordings, RecordingFiles};

/// Which recordings to select; every criterion given must hold.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Selection {
    /// Older than this.
    pub older_than: Option<Duration>,
    /// Of this call (compared without dashes, ignoring case, as Graph's
    /// two id forms require).
    pub call_id: Option<String>,
    /// With this client context (exactly).
    pub client_context: Option<String>,
}

fn normalise_id(id: &str) -> String {
    id.chars()
        .filter(|c| *c != '-' && *c != '{' && *c != '}')
        .flat_map(char::to_lowercase)
        .collect()
}

impl Selection {
    /// Whether `rec` is selected at `now`. A recording whose report cannot
    /// be read matches no call id or client context (it is left alone
    /// rather than guessed at), but can match an age.
    pub fn matches(&self, rec: &RecordingFiles, now: SystemTime) -> bool {
        if let Some(age) = self.older_than {
            let Some(written) = rec.newest_write() else {
                return false;
            };
            if now.duration_since(written).unwrap_or_default() <= age {
                return false;
            }
        }
        if self.call_id.is_none() && self.client_context.is_none() {
            return true;
        }
        let Some(report) = rec.report() else {
            return false;
        };
        let field = |name: &str| {
            report
                .pointer(&format!("/provenance/{name}"))
                .or_else(|| report.pointer(&format!("/operation/{name}")))
                .and_then(|v| v.as_str())
                .map(str::to_string)
        };
        if let Some(want) = &self.call_id {
            if field("callId").map(|c| normalise_id(&c)) != Some(normalise_id(want)) {
                return false;
            }
        }
        if let Some(want) = &self.client_context {
            if field("clientContext").as_deref() != Some(want.as_str()) {
                return false;
            }
        }
        true
    }
}

/// The recordings in `dir` that `selection` picks at `now`.
pub fn select(dir: &Path, selection: &Selection, now: SystemTime) -> Result<Vec<RecordingFiles>> {
    Ok(recordings(dir)?
        .into_iter()
        .filter(|r| selection.matches(r, now))
        .collect())
}

/// Deletes every file of each of `recs`, one `deleted` audit line each
/// (with `reason`). Returns the files deleted.
pub fn delete(
    recs: &[RecordingFiles],
    reason: DeleteReason,
    audit: &AuditLog,
    now: SystemTime,
) -> Result<Vec<PathBuf>> {
    let mut deleted = Vec::new();
    for rec in recs {
        let sha256 = rec.provenance().and_then(|p| p.sha256);
        for file in &rec.files {
            match std::fs::remove_file(file) {
                Ok(()) => deleted.push(file.clone()),
                // Another sweeper (a fleet sharing DIR) got there first.
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
                Err(e) => return Err(RecordsError::io("deleting", file)(e)),
            }
        }
        if let Some(dir) = rec.files.first().and_then(|f| f.parent()) {
            crate::atomic::sync_dir(dir);
        }
        let event = AuditEvent {
            kind: AuditKind::Deleted,
            id: rec.stem.clone(),
            sha256,
            reason: Some(reason_text(reason).to_string()),
        };
        audit.append(&event, now)?;
    }
    Ok(deleted)
}

fn reason_text(reason: DeleteReason) -> &'static str {
    match reason {
        DeleteReason::Retention => "retention",
        DeleteReason::Purge => "purge",
        DeleteReason::AfterAnalysis => "after-analysis",
        DeleteReason::Api => "api",
    }
}

/// The retention sweep: deletes the recordings in `dir` older than
/// `retain` at `now`. Returns the recordings deleted.
pub fn sweep(
    dir: &Path,
    retain: Duration,
    audit: &AuditLog,
    now: SystemTime,
) -> Result<Vec<RecordingFiles>> {
    let selection = Selection {
        older_than: Some(retain),
        ..Selection::default()
    };
    let expired = select(dir, &selection, now)?;
    delete(&expired, DeleteReason::Retention, audit, now)?;
    Ok(expired)
}

/// Erasure on request: the recordings `selection` picks, deleted unless
/// `dry_run` (which deletes nothing and writes no audit line, and returns
/// the same set).
pub fn purge(
    dir: &Path,
    selection: &Selection,
    dry_run: bool,
    audit: &AuditLog,
    now: SystemTime,
) -> Result<Vec<RecordingFiles>> {
    let chosen = select(dir, selection, now)?;
    if !dry_run {
        delete(&chosen, DeleteReason::Purge, audit, now)?;
    }
    Ok(chosen)
}
