//! Atomic JSON files: written to a temp file in the destination folder,
//! fsynced, then renamed into place, so a reader never sees a half-written
//! report. The bot's reports, the queue worker's result files and the
//! command line's summaries are all written here.

use std::io::{self, Write};
use std::path::Path;

/// Writes `value` as pretty JSON (with a final newline) to `dest`,
/// atomically. The file stays owner-only (0600, as the temp file is
/// created). The error's message names `dest` and the step that failed.
pub fn write_json_atomically(dest: &Path, value: &impl serde::Serialize) -> io::Result<()> {
    voxcap_records::atomic::write_atomically(dest, |file| {
        let mut out = io::BufWriter::new(file);
        serde_json::to_writer_pretty(&mut out, value)?;
        out.write_all(b"\n")?;
        out.flush()
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn writes_pretty_json_and_leaves_no_temp_file() {
        let dir = tempfile::tempdir().unwrap();
        let dest = dir.path().join("r.json");
        write_json_atomically(&dest, &serde_json::json!({"a": 1})).unwrap();
        let text = std::fs::read_to_string(&dest).unwrap();
        assert!(text.ends_with("}\n"), "{text}");
        assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 1);
        let e = write_json_atomically(&dir.path().join("no/such/dir.json"), &1).unwrap_err();
        assert!(e.to_string().contains("dir.json"), "{e}");
    }
}
