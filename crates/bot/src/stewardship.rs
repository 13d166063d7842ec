//! What a bot does to be a careful keeper of caller audio: the
//! [`Stewardship`] settings (encryption at rest, deleting the audio after
//! analysis, retention), the provenance block each report carries, the
//! audit lines of each recording, and the periodic retention sweep
//! ([`start_retention`]) that `record`, `serve` and a future service API
//! run the same way. The rules and the files are in voxcap-records.

use std::io::{self, Read};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime};

use voxcap_capture::StoredRecording;
use voxcap_records::audit::{AuditEvent, AuditKind, AuditLog, DeleteReason};
use voxcap_records::crypt::Recipients;
use voxcap_records::digest::{sha256_hex, FileDigest};
use voxcap_records::provenance::{Provenance, StatusCall, StoredFile, VOXCAP_VERSION};
use voxcap_records::time::rfc3339;
use voxcap_records::RecordsError;

/// How a bot stores what it records, and for how long.
#[derive(Debug, Clone, Default)]
pub struct Stewardship {
    /// Encrypt the audio to these age recipients (`.wav.age`,
    /// `.trimmed.wav.age`); plaintext then never reaches the disk.
    pub encrypt_to: Option<Recipients>,
    /// Delete the audio (original and trimmed) once the report is written.
    pub delete_audio_after_analysis: bool,
    /// Delete recordings older than this (checked at start-up and every
    /// [`Stewardship::sweep_interval`]).
    pub retain: Option<Duration>,
    /// Pause between retention sweeps. Default (zero): one hour, or the
    /// retention period when shorter.
    pub sweep_interval: Duration,
    /// The name written into provenance and audit lines. Default (empty):
    /// the fleet instance id, or a generated one.
    pub instance: String,
}

impl Stewardship {
    /// The stored name of `stem`'s audio file of `kind` (`wav`,
    /// `trimmed.wav`), `.age` when encrypted.
    pub(crate) fn audio_name(&self, stem: &str, kind: &str) -> String {
        match self.encrypt_to {
            Some(_) => format!("{stem}.{kind}.age"),
            None => format!("{stem}.{kind}"),
        }
    }

    /// The sweep interval in force.
    pub fn effective_interval(&self) -> Duration {
        if !self.sweep_interval.is_zero() {
            return self.sweep_interval;
        }
        let hour = Duration::from_secs(3600);
        self.retain
            .map_or(hour, |r| r.min(hour).max(Duration::from_secs(1)))
    }
}

/// Writes `bytes` (plaintext audio) to `dest` atomically, encrypted to
/// `encrypt_to` when given; returns the hash of what is on disk.
pub(crate) fn store_audio(
    dest: &Path,
    bytes: &[u8],
    encrypt_to: Option<&Recipients>,
) -> io::Result<FileDigest> {
    let on_disk = match encrypt_to {
        Some(r) => r.encrypt_bytes(bytes)?,
        None => bytes.to_vec(),
    };
    voxcap_records::atomic::write_atomically(dest, |f| io::Write::write_all(f, &on_disk))?;
    Ok(FileDigest {
        sha256: sha256_hex(&on_disk),
        bytes: on_disk.len() as u64,
    })
}

/// A reader that keeps a copy of what passes, when asked to: with
/// encryption the trimmed copy is cut from memory, since the stored file
/// is ciphertext the bot has no key for. Clones share the reader and the
/// copy, so the bot can drain what the analysis did not read.
pub(crate) struct KeepingReader<R> {
    inner: Arc<Mutex<R>>,
    kept: Option<Arc<Mutex<Vec<u8>>>>,
}

impl<R> Clone for KeepingReader<R> {
    fn clone(&self) -> Self {
        KeepingReader {
            inner: self.inner.clone(),
            kept: self.kept.clone(),
        }
    }
}

impl<R: Read> KeepingReader<R> {
    pub(crate) fn new(inner: R, keep: bool) -> Self {
        KeepingReader {
            inner: Arc::new(Mutex::new(inner)),
            kept: keep.then(Arc::default),
        }
    }

    /// Reads the rest, and returns the copy (when kept).
    pub(crate) fn finish(mut self) -> Option<Vec<u8>> {
        let drained = io::copy(&mut self, &mut io::sink());
        let kept = self.kept.take()?;
        let bytes = std::mem::take(&mut *kept.lock().unwrap_or_else(|p| p.into_inner()));
        drained.ok().map(|_| bytes)
    }
}

impl<R: Read> Read for KeepingReader<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self
            .inner
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .read(buf)?;
        if let Some(k) = &self.kept {
            k.lock()
                .unwrap_or_else(|p| p.into_inner())
                .extend_from_slice(&buf[..n]);
        }
        Ok(n)
    }
}

/// The identity part of a provenance block (no audio yet).
pub(crate) struct ProvenanceBase<'a> {
    pub(crate) call_id: &'a str,
    pub(crate) operation_id: &'a str,
    pub(crate) client_context: Option<String>,
    pub(crate) notified_at: SystemTime,
    pub(crate) location: Option<&'a str>,
    pub(crate) status_calls: Vec<StatusCall>,
    pub(crate) settings_sha256: Option<String>,
    pub(crate) instance: &'a str,
}

impl ProvenanceBase<'_> {
    /// The provenance block; with `stored`, its hashes and times.
    pub(crate) fn build(
        self,
        stored: Option<&StoredRecording>,
        files: Vec<StoredFile>,
        audio_deleted: bool,
    ) -> Provenance {
        Provenance {
            sha256: stored.map(|s| s.served.sha256.clone()),
            bytes: stored.map(|s| s.served.bytes),
            encrypted: stored.is_some_and(|s| s.encrypted),
            stored: files,
            call_id: self.call_id.to_string(),
            operation_id: self.operation_id.to_string(),
            client_context: self.client_context,
            // The verified tid does not travel from the webhook to the
            // tracker yet (docs/compliance.md).
            tenant_id: None,
            notified_at: Some(rfc3339(self.notified_at)),
            download_started_at: stored.map(|s| rfc3339(s.started_at)),
            download_finished_at: stored.map(|s| rfc3339(s.finished_at)),
            recording_host: self.location.and_then(voxcap_records::provenance::url_host),
            recording_status_calls: self.status_calls,
            voxcap_version: VOXCAP_VERSION.to_string(),
            settings_sha256: self.settings_sha256,
            instance: Some(self.instance.to_string()),
            audio_deleted: audio_deleted.then(|| DeleteReason::AfterAnalysis.as_str().to_string()),
        }
    }
}

/// A `StatusCall` for `status` answered now.
pub(crate) fn status_call(status: &str, result: std::result::Result<(), String>) -> StatusCall {
    StatusCall {
        status: status.to_string(),
        at: rfc3339(SystemTime::now()),
        result: result.err().unwrap_or_else(|| "ok".to_string()),
    }
}

/// Adds `provenance` to a report's JSON.
pub(crate) fn attach(json: &mut serde_json::Value, provenance: &Provenance) {
    if let (Some(obj), Ok(v)) = (json.as_object_mut(), serde_json::to_value(provenance)) {
        obj.insert("provenance".into(), v);
    }
}

/// Appends an audit line for `stem` (a failure is logged).
pub(crate) fn audit(
    log: &AuditLog,
    kind: AuditKind,
    stem: &str,
    sha256: Option<&str>,
    reason: Option<DeleteReason>,
) {
    log.record(AuditEvent {
        kind,
        id: stem.to_string(),
        sha256: sha256.map(str::to_string),
        reason: reason.map(|r| r.as_str().to_string()),
    });
}

/// Deletes the audio files `paths` (after analysis) and logs it.
pub(crate) fn delete_audio(log: &AuditLog, stem: &str, sha256: Option<&str>, paths: &[PathBuf]) {
    for p in paths {
        if let Err(e) = std::fs::remove_file(p) {
            tracing::error!(file = %p.display(), error = %e, "could not delete the audio after analysis");
        }
    }
    audit(
        log,
        AuditKind::Deleted,
        stem,
        sha256,
        Some(DeleteReason::AfterAnalysis),
    );
}

/// Starts retention for `dir`: one sweep now (its error is returned, so a
/// misconfigured directory fails at start-up), then one every
/// [`Stewardship::effective_interval`] in a task that runs until aborted.
/// `None` without [`Stewardship::retain`]. Each deletion is an audit line
/// with reason `retention`; a failed periodic sweep is logged and retried
/// at the next. `record`, `serve` and a service call this the same way.
pub async fn start_retention(
    dir: &Path,
    stewardship: &Stewardship,
) -> Result<Option<tokio::task::JoinHandle<()>>, RecordsError> {
    let Some(retain) = stewardship.retain else {
        return Ok(None);
    };
    std::fs::create_dir_all(dir).map_err(RecordsError::io("creating", dir))?;
    let log = AuditLog::new(dir, stewardship.instance.clone());
    let dir = dir.to_path_buf();
    sweep_blocking(dir.clone(), retain, log.clone()).await?;
    let every = stewardship.effective_interval();
    Ok(Some(tokio::spawn(async move {
        let mut tick = tokio::time::interval_at(tokio::time::Instant::now() + every, every);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tick.tick().await;
            if let Err(e) = sweep_blocking(dir.clone(), retain, log.clone()).await {
                tracing::warn!(error = %e, "retention sweep failed; retrying at the next one");
            }
        }
    })))
}

async fn sweep_blocking(dir: PathBuf, retain: Duration, log: AuditLog) -> Result<(), RecordsError> {
    let swept = tokio::task::spawn_blocking(move || {
        voxcap_records::retention::sweep(&dir, retain, &log, SystemTime::now())
    })
    .await
    .map_err(|e| RecordsError::Io {
        action: "sweeping",
        path: PathBuf::new(),
        source: io::Error::other(e.to_string()),
    })??;
    if !swept.is_empty() {
        tracing::info!(
            recordings = swept.len(),
            "retention sweep deleted expired recordings"
        );
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn set_written(path: &Path, ago: Duration) {
        let f = std::fs::File::options().write(true).open(path).unwrap();
        f.set_modified(SystemTime::now() - ago).unwrap();
    }

    #[tokio::test]
    async fn retention_sweeps_at_start_up_and_then_periodically() {
        let dir = tempfile::tempdir().unwrap();
        let (old, young) = (
            dir.path().join(format!("{}.json", "a".repeat(32))),
            dir.path().join(format!("{}.json", "b".repeat(32))),
        );
        for p in [&old, &young] {
            std::fs::write(p, "{}").unwrap();
        }
        set_written(&old, Duration::from_secs(120));
        set_written(&young, Duration::from_secs(30));
        let st = Stewardship {
            retain: Some(Duration::from_secs(60)),
            sweep_interval: Duration::from_millis(20),
            instance: "test".into(),
            ..Stewardship::default()
        };
        let task = start_retention(dir.path(), &st)
            .await
            .unwrap()
            .expect("a sweeper");
        // The start-up sweep is done when start_retention returns.
        assert!(!old.exists() && young.exists());
        // Age the young one past the limit: a later sweep takes it.
        set_written(&young, Duration::from_secs(120));
        let young_gone = || async { !young.exists() };
        voxcap_testkit::wait_until_async("a periodic sweep", Duration::from_secs(10), young_gone)
            .await;
        task.abort();
        let trail = std::fs::read_to_string(dir.path().join("audit.ndjson")).unwrap();
        assert_eq!(
            trail.matches("\"reason\":\"retention\"").count(),
            2,
            "{trail}"
        );
        // Without a retention period there is no sweeper.
        assert!(start_retention(dir.path(), &Stewardship::default())
            .await
            .unwrap()
            .is_none());
    }
}
