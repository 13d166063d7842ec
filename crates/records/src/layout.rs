//! Which files of an output directory belong to which recording: the
//! files named `<stem>.<kind>`, where the stem is a normalised operation id
//! (32 lower-case hex digits) and the kind one of [`RECORDING_SUFFIXES`].
//! Nothing else in the directory (the audit trail, temp files, an
//! operator's own files) is ever attributed to a recording, so nothing
//! else is ever deleted with one.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::SystemTime;

use crate::error::{RecordsError, Result};
use crate::provenance::Provenance;

/// The file kinds of a recording, audio first and the report last (the
/// order of deletion: the report goes last, so an interrupted deletion
/// can be found and finished).
pub const RECORDING_SUFFIXES: [&str; 5] = [
    ".wav",
    ".wav.age",
    ".trimmed.wav",
    ".trimmed.wav.age",
    ".json",
];

/// The files of one recording.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RecordingFiles {
    /// The stem (the normalised operation id).
    pub stem: String,
    /// Its files, in [`RECORDING_SUFFIXES`] order.
    pub files: Vec<PathBuf>,
}

/// Whether `stem` is a normalised operation id.
pub fn is_stem(stem: &str) -> bool {
    stem.len() == 32 && stem.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'))
}

/// The stem and suffix index of a recording's file name.
fn classify(name: &str) -> Option<(&str, usize)> {
    let (stem, _) = name.split_once('.')?;
    if !is_stem(stem) {
        return None;
    }
    let suffix = &name[stem.len()..];
    RECORDING_SUFFIXES
        .iter()
        .position(|s| *s == suffix)
        .map(|i| (stem, i))
}

/// The recordings in `dir`, by stem.
pub fn recordings(dir: &Path) -> Result<Vec<RecordingFiles>> {
    let entries = std::fs::read_dir(dir).map_err(RecordsError::io("listing", dir))?;
    let mut by_stem: BTreeMap<String, Vec<(usize, PathBuf)>> = BTreeMap::new();
    for entry in entries {
        let entry = entry.map_err(RecordsError::io("listing", dir))?;
        let name = entry.file_name();
        let Some((stem, kind)) = name.to_str().and_then(classify) else {
            continue;
        };
        if entry.file_type().is_ok_and(|t| t.is_file()) {
            by_stem
                .entry(stem.to_string())
                .or_default()
                .push((kind, entry.path()));
        }
    }
    Ok(by_stem
        .into_iter()
        .map(|(stem, mut files)| {
            files.sort();
            RecordingFiles {
                stem,
                files: files.into_iter().map(|(_, p)| p).collect(),
            }
        })
        .collect())
}

impl RecordingFiles {
    /// The report, `<stem>.json`, when there is one.
    pub fn report_path(&self) -> Option<&Path> {
        self.files
            .iter()
            .map(PathBuf::as_path)
            .find(|p| p.extension().is_some_and(|e| e == "json"))
    }

    /// The report's JSON, when it exists and parses.
    pub fn report(&self) -> Option<serde_json::Value> {
        let text = std::fs::read(self.report_path()?).ok()?;
        serde_json::from_slice(&text).ok()
    }

    /// The report's provenance, when it has one.
    pub fn provenance(&self) -> Option<Provenance> {
        serde_json::from_value(self.report()?.get("provenance")?.clone()).ok()
    }

    /// The newest modification time of its files: a recording is as old as
    /// its last write, so none is taken for expired before it is.
    pub fn newest_write(&self) -> Option<SystemTime> {
        self.files
            .iter()
            .filter_map(|p| p.metadata().and_then(|m| m.modified()).ok())
            .max()
    }
}
