//! Atomic files: written to a temp file in the destination folder, fsynced,
//! then renamed into place, so a reader never sees a half-written file.
//! Every report, recording copy and summary voxcap writes goes through
//! [`write_atomically`].

use std::fs::File;
use std::io;
use std::path::Path;

/// Writes `dest` through `fill`, atomically. The file stays owner-only
/// (0600, as the temp file is created): what voxcap stores is personal
/// data. The error's message names `dest` and the step that failed.
pub fn write_atomically(
    dest: &Path,
    fill: impl FnOnce(&mut File) -> io::Result<()>,
) -> io::Result<()> {
    let named = |action: &str| {
        let shown = dest.display().to_string();
        let action = action.to_string();
        move |e: io::Error| io::Error::new(e.kind(), format!("{shown}: {action}: {e}"))
    };
    let dir = match dest.parent() {
        Some(d) if !d.as_os_str().is_empty() => d,
        _ => Path::new("."),
    };
    let mut tmp = tempfile::Builder::new()
        .prefix(".voxcap-")
        .suffix(".tmp")
        .tempfile_in(dir)
        .map_err(named("creating a temp file"))?;
    fill(tmp.as_file_mut()).map_err(named("writing"))?;
    tmp.as_file().sync_all().map_err(named("fsync"))?;
    tmp.persist(dest)
        .map_err(|e| e.error)
        .map_err(named("renaming into place"))?;
    sync_dir(dir);
    Ok(())
}

/// Makes a rename or a deletion in `dir` durable; best effort, since not
/// every platform lets a directory be opened.
pub fn sync_dir(dir: &Path) {
    if let Ok(d) = File::open(dir) {
        let _ = d.sync_all();
    }
}
