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
            reason: Some(reason.as_str().to_string()),
        };
        audit.append(&event, now)?;
    }
    Ok(deleted)
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::audit::verify_chain;

    const DAY: Duration = Duration::from_secs(86_400);

    /// A recording `stem` of `call` written `age` before `now`, with all its
    /// file kinds.
    fn recording(dir: &Path, stem: &str, call: &str, context: &str, written: SystemTime) {
        let report = serde_json::json!({
            "provenance": {"callId": call, "clientContext": context, "sha256": "ab".repeat(32)}
        });
        for suffix in [".wav", ".trimmed.wav", ".json"] {
            let path = dir.join(format!("{stem}{suffix}"));
            let body = if suffix == ".json" {
                report.to_string()
            } else {
                "RIFF".into()
            };
            std::fs::write(&path, body).unwrap();
            let f = std::fs::File::options().write(true).open(&path).unwrap();
            f.set_modified(written).unwrap();
        }
    }

    fn stem(i: u8) -> String {
        format!("{i:x}").repeat(32)
    }

    fn remaining(dir: &Path) -> Vec<String> {
        let mut names: Vec<String> = std::fs::read_dir(dir)
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        names.sort();
        names
    }

    #[test]
    fn the_sweep_deletes_only_expired_recordings_each_with_an_audit_line() {
        let dir = tempfile::tempdir().unwrap();
        let now = SystemTime::now();
        // (stem, age): 29 days and 30 days minus a minute are kept; 31 days go.
        let ages = [
            (1, 29 * DAY),
            (2, 30 * DAY - Duration::from_secs(60)),
            (3, 31 * DAY),
            (4, 400 * DAY),
        ];
        for (i, age) in ages {
            recording(dir.path(), &stem(i), "call", "ctx", now - age);
        }
        std::fs::write(dir.path().join("notes.txt"), "operator's file").unwrap();
        let log = AuditLog::new(dir.path(), "test");
        let gone = sweep(dir.path(), 30 * DAY, &log, now).unwrap();
        let gone: Vec<&str> = gone.iter().map(|r| r.stem.as_str()).collect();
        assert_eq!(gone, [stem(3), stem(4)]);
        let left = remaining(dir.path());
        assert!(
            left.iter()
                .all(|n| !n.starts_with(&stem(3)) && !n.starts_with(&stem(4))),
            "{left:?}"
        );
        assert_eq!(left.len(), 2 * 3 + 2, "{left:?}");
        let audit = std::fs::read_to_string(log.path()).unwrap();
        let lines: Vec<&str> = audit.lines().collect();
        assert_eq!(lines.len(), 2);
        assert!(
            lines
                .iter()
                .all(|l| l.contains("\"event\":\"deleted\"")
                    && l.contains("\"reason\":\"retention\""))
        );
        assert_eq!(verify_chain(log.path()).unwrap().1, vec![]);
        // The clock moved on a day: the 30-day-minus-a-minute one goes now.
        let gone = sweep(dir.path(), 30 * DAY, &log, now + DAY).unwrap();
        assert_eq!(gone.len(), 1);
        assert_eq!(gone[0].stem, stem(2));
    }

    #[test]
    fn purge_picks_by_call_id_in_either_form_or_context_and_a_dry_run_deletes_nothing() {
        let dir = tempfile::tempdir().unwrap();
        let now = SystemTime::now();
        recording(
            dir.path(),
            &stem(1),
            "0fe0623f-d628-42ed-b4f2-ea2e2d5b9b6f",
            "alice",
            now,
        );
        recording(
            dir.path(),
            &stem(2),
            "11111111-2222-3333-4444-555555555555",
            "bob",
            now,
        );
        let log = AuditLog::new(dir.path(), "test");
        let by_call = Selection {
            call_id: Some("0FE0623FD62842EDB4F2EA2E2D5B9B6F".into()),
            ..Selection::default()
        };
        let before = remaining(dir.path());
        let listed = purge(dir.path(), &by_call, true, &log, now).unwrap();
        assert_eq!(remaining(dir.path()), before);
        let deleted = purge(dir.path(), &by_call, false, &log, now).unwrap();
        assert_eq!(listed, deleted);
        assert_eq!(deleted.len(), 1);
        assert_eq!(deleted[0].files.len(), 3);
        let left = remaining(dir.path());
        assert!(
            left.iter().filter(|n| n.starts_with(&stem(2))).count() == 3,
            "{left:?}"
        );
        assert!(!left.iter().any(|n| n.starts_with(&stem(1))), "{left:?}");
        let by_context = Selection {
            client_context: Some("bob".into()),
            older_than: Some(DAY),
            ..Selection::default()
        };
        // Both criteria must hold: bob's recording is not a day old yet.
        assert!(purge(dir.path(), &by_context, false, &log, now)
            .unwrap()
            .is_empty());
        assert_eq!(
            purge(dir.path(), &by_context, false, &log, now + 2 * DAY)
                .unwrap()
                .len(),
            1
        );
    }
}
