//! The trimmed copy of a recording: a second streaming decode of the source
//! into a PCM 16-bit WAV at the source's own rate, holding only the span
//! the analysis planned. Written to a temp file in the destination folder,
//! fsynced, then renamed into place, so a reader never sees a half-written
//! file. JSON files go through [`write_json_atomically`] the same way.

use std::fs::File;
use std::io::BufWriter;
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
    let at = |path: &Path, step: &'static str| {
        let path = path.to_path_buf();
        move |e: &dyn std::fmt::Display| BotError::Trim {
            path,
            step,
            reason: e.to_string(),
        }
    };
    let decoding = "decoding for the trimmed copy";
    let input = File::open(source).map_err(|e| at(source, "opening")(&e))?;
    let mut decoder =
        WavDecoder::new(input, DecodeOptions { lenient }).map_err(|e| at(source, decoding)(&e))?;
    let rate = decoder.info().sample_rate;
    // Map the span to the source rate, rounding outwards; the end is clamped
    // by the writer when the file is shorter.
    let range = span.rescale(ANALYSIS_RATE, rate, usize::MAX);
    let dir = dest.parent().unwrap_or(Path::new("."));
    std::fs::create_dir_all(dir).map_err(|e| at(dir, "creating")(&e))?;
    let tmp = tempfile::Builder::new()
        .prefix(".voxcap-")
        .suffix(".wav.tmp")
        .tempfile_in(dir)
        .map_err(|e| at(dir, "creating a temp file")(&e))?;
    {
        let writing = |e: &dyn std::fmt::Display| at(dest, "writing")(e);
        let mut writer =
            TrimWriter::new(BufWriter::new(tmp.as_file()), rate, range).map_err(|e| writing(&e))?;
        let mut block = Vec::new();
        while decoder
            .read_block(&mut block)
            .map_err(|e| at(source, decoding)(&e))?
            > 0
        {
            writer.push(&block).map_err(|e| writing(&e))?;
        }
        writer.finish().map_err(|e| writing(&e))?;
    }
    // Like the recording and its report, the trimmed copy stays owner-only
    // (0600, as the temp file is created): caller audio is personal data.
    tmp.as_file()
        .sync_all()
        .map_err(|e| at(dest, "fsync")(&e))?;
    tmp.persist(dest)
        .map_err(|e| at(dest, "renaming into place")(&e.error))?;
    Ok(())
}
