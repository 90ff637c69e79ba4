//! Opening inputs and replacing outputs safely, shared by every reader and writer: inputs are
//! checked to be readable files (not folders), outputs are written under a temporary name in the
//! target folder and renamed into place, so a failed write never leaves a partial file.
use std::fs::Metadata;
use std::path::{Path, PathBuf};

use crate::error::{DataError, Result};

/// The metadata of `path`, or an error naming it if it is missing, unreadable or a directory.
pub(crate) fn input_file(path: &Path) -> Result<Metadata> {
    let meta = std::fs::metadata(path).map_err(|e| DataError::io(path, e))?;
    if meta.is_dir() {
        return Err(DataError::invalid(path, "is a directory, not a file"));
    }
    Ok(meta)
}

/// `folder/.name.danie-tmp-PID-N`, unique within this process.
fn temp_path(path: &Path) -> PathBuf {
    static COUNTER: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
    let n = COUNTER.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    path.with_file_name(format!(".{name}.danie-tmp-{}-{n}", std::process::id()))
}

/// Runs `write` on a temporary path next to `path`, then renames it to `path` (replacing it).
/// On failure the temporary file is removed and `path` is untouched.
pub(crate) fn write_atomically(path: &Path, write: impl FnOnce(&Path) -> Result<()>) -> Result<()> {
    let tmp = temp_path(path);
    let result =
        write(&tmp).and_then(|()| std::fs::rename(&tmp, path).map_err(|e| DataError::io(path, e)));
    if result.is_err() {
        let _ = std::fs::remove_file(&tmp);
    }
    result
}
