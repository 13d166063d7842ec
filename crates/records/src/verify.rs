//! `verify-provenance`: recomputes the hash of every stored file a report
//! lists and checks the audit trail's chain, naming each file that no
//! longer matches and why.

use std::path::{Path, PathBuf};

use crate::audit::{verify_chain, AUDIT_FILE};
use crate::digest::digest_file;
use crate::error::Result;
use crate::layout::recordings;

/// A file that does not match what was recorded about it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Mismatch {
    /// The file.
    pub file: PathBuf,
    /// Why.
    pub reason: String,
}

/// What [`verify_dir`] found.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Verification {
    /// Reports read.
    pub reports: usize,
    /// Stored files whose hash was recomputed.
    pub files: usize,
    /// Audit lines checked.
    pub audit_lines: usize,
    /// What does not match.
    pub mismatches: Vec<Mismatch>,
}

/// Checks every recording in `dir` against its report's provenance, and
/// the audit trail (when there is one).
pub fn verify_dir(dir: &Path) -> Result<Verification> {
    let mut v = Verification::default();
    let flag = |v: &mut Verification, file: PathBuf, reason: String| {
        v.mismatches.push(Mismatch { file, reason })
    };
    for rec in recordings(dir)? {
        let Some(report) = rec.report_path().map(Path::to_path_buf) else {
            let first = rec.files[0].clone();
            flag(&mut v, first, "a recording file without its report".into());
            continue;
        };
        v.reports += 1;
        let Some(prov) = rec.provenance() else {
            flag(&mut v, report, "no readable provenance object".into());
            continue;
        };
        for stored in &prov.stored {
            let path = dir.join(&stored.file);
            if Path::new(&stored.file).components().count() != 1 {
                flag(
                    &mut v,
                    report.clone(),
                    format!("lists {:?}, not a file name", stored.file),
                );
                continue;
            }
            if !path.exists() {
                if prov.audio_deleted.is_none() {
                    flag(&mut v, path, "missing (the report lists it)".into());
                }
                continue;
            }
            v.files += 1;
            let got = digest_file(&path)?;
            if got.sha256 != stored.sha256 || got.bytes != stored.bytes {
                flag(
                    &mut v,
                    path,
                    format!(
                        "sha256 {} ({} bytes) does not match the report's {} ({} bytes)",
                        got.sha256, got.bytes, stored.sha256, stored.bytes
                    ),
                );
            }
        }
        for file in &rec.files {
            let name = file.file_name().and_then(|n| n.to_str()).unwrap_or("");
            if !name.ends_with(".json") && !prov.stored.iter().any(|s| s.file == name) {
                flag(
                    &mut v,
                    file.clone(),
                    "not listed in its report's provenance".into(),
                );
            }
        }
    }
    let audit = dir.join(AUDIT_FILE);
    if audit.exists() {
        let (lines, breaks) = verify_chain(&audit)?;
        v.audit_lines = lines;
        for b in breaks {
            flag(
                &mut v,
                audit.clone(),
                format!("line {}: {}", b.line, b.reason),
            );
        }
    }
    Ok(v)
}
