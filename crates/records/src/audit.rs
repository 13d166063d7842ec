//! The audit trail, `DIR/audit.ndjson`: one JSON line per event (stored,
//! analysed, read, deleted and why), appended and fsynced line by line.
//!
//! Tampering is evident: each line ends with `"hash"`, the SHA-256 of the
//! line's text before that field, and that text holds `"prev"`, the hash of
//! the line before (64 zeros on the first line). An edited line no longer
//! matches its own hash; a removed or reordered line breaks the next
//! line's `prev`. [`verify_chain`] checks both. (Whoever can rewrite the
//! whole file can forge a new chain: ship the lines off the host, e.g. to
//! a log store, for protection against that.)
//!
//! Writers: within one process a mutex keeps lines whole and in chain
//! order; across processes each append holds an exclusive advisory lock
//! on the file (`flock`), and reads the last line's hash under it, so
//! several instances may share one DIR and still form one chain. A line
//! never holds a token or audio: ids, hashes, times, reasons.

use std::fs::{File, OpenOptions};
use std::io::{self, BufRead, Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::time::SystemTime;

use serde::Serialize;

use crate::digest::sha256_hex;
use crate::error::{RecordsError, Result};
use crate::time::rfc3339;

/// The audit trail's file name in an output directory.
pub const AUDIT_FILE: &str = "audit.ndjson";

/// `prev` of the first line.
pub const GENESIS: &str = "0000000000000000000000000000000000000000000000000000000000000000";

/// Serialises appends within the process (the file lock covers the rest).
static APPEND: Mutex<()> = Mutex::new(());

/// What happened.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub enum AuditKind {
    /// A recording was stored.
    Stored,
    /// It was analysed and its report written.
    Analysed,
    /// It was read (through a service API).
    Read,
    /// Its files were deleted.
    Deleted,
}

/// Why files were deleted.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum DeleteReason {
    /// Older than the retention period.
    Retention,
    /// Erased on request (`voxcap purge`).
    Purge,
    /// The audio, once its report was written
    /// (`--delete-audio-after-analysis`).
    AfterAnalysis,
    /// Through a service API.
    Api,
}

impl DeleteReason {
    /// The reason as audit lines write it.
    pub fn as_str(self) -> &'static str {
        match self {
            DeleteReason::Retention => "retention",
            DeleteReason::Purge => "purge",
            DeleteReason::AfterAnalysis => "after-analysis",
            DeleteReason::Api => "api",
        }
    }
}

/// One event, before the trail adds time, instance and chain.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuditEvent {
    /// What happened.
    pub kind: AuditKind,
    /// The recording (its file stem, the normalised operation id).
    pub id: String,
    /// SHA-256 of the recording as served, when known.
    pub sha256: Option<String>,
    /// Why (for deletions), or who read it.
    pub reason: Option<String>,
}

#[derive(Serialize)]
struct Line<'a> {
    time: String,
    event: AuditKind,
    id: &'a str,
    sha256: Option<&'a str>,
    instance: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    reason: Option<&'a str>,
    prev: &'a str,
}

/// The audit trail of one output directory, written as `instance`.
#[derive(Debug, Clone)]
pub struct AuditLog {
    path: PathBuf,
    instance: String,
}

impl AuditLog {
    /// The trail in `dir` (created on the first append).
    pub fn new(dir: &Path, instance: impl Into<String>) -> AuditLog {
        AuditLog {
            path: dir.join(AUDIT_FILE),
            instance: instance.into(),
        }
    }

    /// The file.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Appends `event` at `now`: one line, fsynced before this returns.
    pub fn append(&self, event: &AuditEvent, now: SystemTime) -> Result<()> {
        let _guard = APPEND.lock().unwrap_or_else(|p| p.into_inner());
        let io = |action| RecordsError::io(action, &self.path);
        let mut file = OpenOptions::new()
            .read(true)
            .append(true)
            .create(true)
            .open(&self.path)
            .map_err(io("opening"))?;
        file.lock().map_err(io("locking"))?;
        let result = (|| {
            let prev = last_hash(&mut file).map_err(io("reading"))?;
            let reason = event.reason.as_deref();
            let line = Line {
                time: rfc3339(now),
                event: event.kind,
                id: &event.id,
                sha256: event.sha256.as_deref(),
                instance: &self.instance,
                reason,
                prev: &prev,
            };
            let text = serde_json::to_string(&line).map_err(|e| io("serialising")(e.into()))?;
            let body = text.strip_suffix('}').unwrap_or(&text);
            let hash = sha256_hex(body.as_bytes());
            let full = format!("{body},\"hash\":\"{hash}\"}}\n");
            // One write call per line: with O_APPEND and the lock held it
            // lands whole at the end.
            file.write_all(full.as_bytes()).map_err(io("appending"))?;
            file.sync_data().map_err(io("fsync"))
        })();
        let _ = file.unlock();
        result
    }

    /// Appends `event` now; a failure is logged, not returned (the
    /// recording flow must not stop on it, and the log says so).
    pub fn record(&self, event: AuditEvent) {
        if let Err(e) = self.append(&event, SystemTime::now()) {
            tracing::error!(error = %e, id = %event.id, "could not append to the audit trail");
        }
    }

    /// Records a read through a service API by `who`.
    pub fn read(&self, id: &str, sha256: Option<&str>, who: &str) -> Result<()> {
        let event = AuditEvent {
            kind: AuditKind::Read,
            id: id.to_string(),
            sha256: sha256.map(str::to_string),
            reason: Some(who.to_string()),
        };
        self.append(&event, SystemTime::now())
    }
}

/// The `hash` of the last line of `file`, or [`GENESIS`] when it is empty.
fn last_hash(file: &mut File) -> io::Result<String> {
    let len = file.seek(SeekFrom::End(0))?;
    if len == 0 {
        return Ok(GENESIS.to_string());
    }
    // Lines are a few hundred bytes; the tail holds the last whole one.
    let start = len.saturating_sub(8192);
    file.seek(SeekFrom::Start(start))?;
    let mut tail = String::new();
    file.read_to_string(&mut tail)?;
    let last = tail
        .trim_end_matches('\n')
        .rsplit('\n')
        .next()
        .unwrap_or("");
    line_hash_field(last).map(str::to_string).ok_or_else(|| {
        io::Error::new(
            io::ErrorKind::InvalidData,
            "the last line has no hash; the trail is damaged (see voxcap verify-provenance)",
        )
    })
}

/// The 64-hex `hash` field at the end of a line.
fn line_hash_field(line: &str) -> Option<&str> {
    let rest = line.strip_suffix("\"}")?;
    let (_, hash) = rest.rsplit_once(",\"hash\":\"")?;
    (hash.len() == 64 && hash.bytes().all(|b| b.is_ascii_hexdigit())).then_some(hash)
}

/// A place where the chain does not hold.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChainBreak {
    /// 1-based line number.
    pub line: usize,
    /// What is wrong.
    pub reason: String,
}

/// Checks every line of the trail at `path`: its own hash, and its `prev`
/// against the line before. Returns the number of lines and the breaks.
pub fn verify_chain(path: &Path) -> Result<(usize, Vec<ChainBreak>)> {
    let file = File::open(path).map_err(RecordsError::io("opening", path))?;
    let mut breaks = Vec::new();
    let mut prev = GENESIS.to_string();
    let mut count = 0;
    for (i, line) in io::BufReader::new(file).lines().enumerate() {
        let line = line.map_err(RecordsError::io("reading", path))?;
        count += 1;
        let n = i + 1;
        let mut brk = |reason: String| breaks.push(ChainBreak { line: n, reason });
        let Some(hash) = line_hash_field(&line) else {
            brk("no hash field at the end of the line".into());
            prev = String::new();
            continue;
        };
        let body = &line[..line.len() - hash.len() - ",\"hash\":\"\"}".len()];
        if sha256_hex(body.as_bytes()) != hash {
            brk("the line was changed: its text no longer matches its hash".into());
        }
        let claimed = serde_json::from_str::<serde_json::Value>(&line)
            .ok()
            .and_then(|v| v.get("prev").and_then(|p| p.as_str()).map(str::to_string));
        match claimed {
            Some(p) if p == prev => {}
            Some(_) => brk(
                "prev does not match the line before (a line was removed, added or reordered)"
                    .into(),
            ),
            None => brk("not a JSON line with a prev field".into()),
        }
        prev = hash.to_string();
    }
    Ok((count, breaks))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::{Duration, UNIX_EPOCH};

    fn event(kind: AuditKind, id: &str) -> AuditEvent {
        AuditEvent {
            kind,
            id: id.into(),
            sha256: Some("ab".repeat(32)),
            reason: None,
        }
    }

    #[test]
    fn a_chain_verifies_and_any_one_character_edit_breaks_it() {
        let dir = tempfile::tempdir().unwrap();
        let log = AuditLog::new(dir.path(), "test-instance");
        for (i, kind) in [AuditKind::Stored, AuditKind::Analysed, AuditKind::Deleted]
            .into_iter()
            .enumerate()
        {
            log.append(
                &event(kind, "0f"),
                UNIX_EPOCH + Duration::from_secs(i as u64),
            )
            .unwrap();
        }
        assert_eq!(verify_chain(log.path()).unwrap(), (3, vec![]));
        let text = std::fs::read_to_string(log.path()).unwrap();
        let lines: Vec<&str> = text.lines().collect();
        for target in 0..lines.len() {
            let mut edited: Vec<String> = lines.iter().map(|l| l.to_string()).collect();
            // One character: the event name's first letter.
            edited[target] = edited[target].replacen("\"event\":\"", "\"event\":\"X", 1);
            std::fs::write(log.path(), edited.join("\n") + "\n").unwrap();
            let (_, breaks) = verify_chain(log.path()).unwrap();
            assert_eq!(
                breaks.first().map(|b| b.line),
                Some(target + 1),
                "{breaks:?}"
            );
        }
        // A removed line breaks the next one's prev.
        std::fs::write(log.path(), format!("{}\n{}\n", lines[0], lines[2])).unwrap();
        let (_, breaks) = verify_chain(log.path()).unwrap();
        assert_eq!(breaks.len(), 1);
        assert_eq!(breaks[0].line, 2);
    }

    #[test]
    fn concurrent_writers_in_one_process_keep_lines_whole_and_chained() {
        let dir = tempfile::tempdir().unwrap();
        let log = AuditLog::new(dir.path(), "i");
        std::thread::scope(|s| {
            for t in 0..8 {
                let log = &log;
                s.spawn(move || {
                    for k in 0..25 {
                        log.append(
                            &event(AuditKind::Stored, &format!("{t}-{k}")),
                            SystemTime::now(),
                        )
                        .unwrap();
                    }
                });
            }
        });
        let (lines, breaks) = verify_chain(log.path()).unwrap();
        assert_eq!((lines, breaks), (200, vec![]));
    }
}
