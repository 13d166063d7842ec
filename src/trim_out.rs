//! Atomic output files: the trimmed copy of a recording (a second streaming
//! decode of the source into a PCM 16-bit WAV at the source's own rate) and
//! JSON documents. Each is written to a temp file in the destination folder,
//! fsynced, then renamed into place, so a reader never sees a half-written
//! file.

use std::fs::File;
use std::io::BufWriter;
use std::path::{Path, PathBuf};

use anyhow::Context;
use voxcap_dsp::trim::{Trim, TrimWriter};
use voxcap_dsp::{DecodeOptions, WavDecoder, ANALYSIS_RATE};

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
pub fn write_trimmed_file(
    source: &Path,
    span: Trim,
    dest: &Path,
    lenient: bool,
) -> anyhow::Result<()> {
    let input = File::open(source).with_context(|| format!("{}: opening", source.display()))?;
    let mut decoder = WavDecoder::new(input, DecodeOptions { lenient })
        .with_context(|| format!("{}: decoding for the trimmed copy", source.display()))?;
    let rate = decoder.info().sample_rate;
    // Map the span to the source rate, rounding outwards; the end is clamped
    // by the writer when the file is shorter.
    let range = span.rescale(ANALYSIS_RATE, rate, usize::MAX);
    let dir = dest.parent().unwrap_or(Path::new("."));
    std::fs::create_dir_all(dir).with_context(|| format!("{}: creating", dir.display()))?;
    let tmp = tempfile::Builder::new()
        .prefix(".voxcap-")
        .suffix(".wav.tmp")
        .tempfile_in(dir)
        .with_context(|| format!("{}: creating a temp file", dir.display()))?;
    {
        let mut writer = TrimWriter::new(BufWriter::new(tmp.as_file()), rate, range)
            .with_context(|| format!("{}: writing", dest.display()))?;
        let mut block = Vec::new();
        while decoder
            .read_block(&mut block)
            .with_context(|| format!("{}: decoding for the trimmed copy", source.display()))?
            > 0
        {
            writer
                .push(&block)
                .with_context(|| format!("{}: writing", dest.display()))?;
        }
        writer
            .finish()
            .with_context(|| format!("{}: writing", dest.display()))?;
    }
    // Like the recording and its report, the trimmed copy stays owner-only
    // (0600, as the temp file is created): caller audio is personal data.
    tmp.as_file()
        .sync_all()
        .with_context(|| format!("{}: fsync", dest.display()))?;
    tmp.persist(dest)
        .with_context(|| format!("{}: renaming into place", dest.display()))?;
    Ok(())
}

/// Writes `value` as pretty JSON (with a final newline) to `dest`, atomically.
pub fn write_json_atomically(dest: &Path, value: &impl serde::Serialize) -> anyhow::Result<()> {
    let dir = match dest.parent() {
        Some(d) if !d.as_os_str().is_empty() => d,
        _ => Path::new("."),
    };
    let mut tmp = tempfile::Builder::new()
        .prefix(".voxcap-")
        .suffix(".json.tmp")
        .tempfile_in(dir)
        .with_context(|| format!("{}: creating a temp file", dir.display()))?;
    serde_json::to_writer_pretty(&mut tmp, value)
        .map_err(std::io::Error::from)
        .and_then(|()| std::io::Write::write_all(&mut tmp, b"\n"))
        .with_context(|| format!("{}: writing", dest.display()))?;
    tmp.as_file()
        .sync_all()
        .with_context(|| format!("{}: fsync", dest.display()))?;
    tmp.persist(dest)
        .map_err(|e| e.error)
        .with_context(|| format!("{}: renaming into place", dest.display()))?;
    Ok(())
}
