//! The trimmed copy of a recording: a second streaming decode of the source
//! into a PCM 16-bit WAV at the source's own rate, holding only the span
//! the analysis planned, built in memory ([`trimmed_bytes`]: the source
//! may be a stream that is never on disk in plaintext), then written to a
//! temp file in the destination folder, fsynced and renamed into place, so
//! a reader never sees a half-written file. JSON files go through [`write_json_atomically`] the same way.

use std::fs::File;
use std::io::{BufReader, Cursor, Read, Write};
use std::path::{Path, PathBuf};

pub use voxcap_capture::atomic_file::write_json_atomically;
use voxcap_dsp::trim::{Trim, TrimWriter};
use voxcap_dsp::{DecodeOptions, WavDecoder, ANALYSIS_RATE};

use crate::error::{BotError, Result};

/// The trimmed file's path for `source` in `dir`: `<stem>.trimmed.wav`.
pub fn trimmed_path(dir: &Path, source: &Path) -> PathBuf {
    let stem = source
        .file_stem()
        .map(|s| s.to_string_lossy().into_owned())
        .unwrap_or_else(|| "stdin".to_string());
    dir.join(format!("{stem}.trimmed.wav"))
}

/// Decodes `source` again and writes the samples inside `span` (planned at
/// the analysis rate) to `dest`, atomically.
pub fn write_trimmed_file(source: &Path, span: Trim, dest: &Path, lenient: bool) -> Result<()> {
    let input = File::open(source).map_err(|e| BotError::Trim {
        path: source.to_path_buf(),
        step: "opening",
        reason: e.to_string(),
    })?;
    let bytes = trimmed_bytes(BufReader::new(input), source, span, lenient)?;
    // Like the recording and its report, the trimmed copy stays owner-only
    // (0600, as the temp file is created): caller audio is personal data.
    voxcap_records::atomic::write_atomically(dest, |f| f.write_all(&bytes)).map_err(|e| {
        BotError::Trim {
            path: dest.to_path_buf(),
            step: "writing",
            reason: e.to_string(),
        }
    })
}

/// The trimmed copy of the recording `input` (named `source` in errors),
/// in memory: at most Graph's longest recording, 3.8 MB. Decoding happens
/// as the input is read, so `input` may be a decrypting stream.
pub fn trimmed_bytes(
    input: impl Read + Send + 'static,
    source: &Path,
    span: Trim,
    lenient: bool,
) -> Result<Vec<u8>> {
    let at = |path: &Path, step: &'static str| {
        let path = path.to_path_buf();
        move |e: &dyn std::fmt::Display| BotError::Trim {
            path,
            step,
            reason: e.to_string(),
        }
    };
    let decoding = "decoding for the trimmed copy";
    let mut decoder =
        WavDecoder::new(input, DecodeOptions { lenient }).map_err(|e| at(source, decoding)(&e))?;
    let rate = decoder.info().sample_rate;
    // Map the span to the source rate, rounding outwards; the end is clamped
    // by the writer when the file is shorter.
    let range = span.rescale(ANALYSIS_RATE, rate, usize::MAX);
    let mut out = Cursor::new(Vec::new());
    let writing = |e: &dyn std::fmt::Display| at(source, "writing the trimmed copy")(e);
    let mut writer = TrimWriter::new(&mut out, rate, range).map_err(|e| writing(&e))?;
    let mut block = Vec::new();
    while decoder
        .read_block(&mut block)
        .map_err(|e| at(source, decoding)(&e))?
        > 0
    {
        writer.push(&block).map_err(|e| writing(&e))?;
    }
    writer.finish().map_err(|e| writing(&e))?;
    Ok(out.into_inner())
}
