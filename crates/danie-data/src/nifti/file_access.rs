//! Opening inputs and replacing outputs safely, shared by every reader and writer: inputs are
//! checked to be readable files (not folders), outputs go through `danie_fs` (an exclusive, unpredictable
//! temporary in the target folder, renamed into place), so a failed write never leaves a partial file.
use std::fs::{File, Metadata};
use std::io::BufWriter;
use std::path::Path;

use crate::error::{DataError, Result};

/// The metadata of `path`, or an error naming it if it is missing, unreadable or a directory.
pub(crate) fn input_file(path: &Path) -> Result<Metadata> {
    let meta = std::fs::metadata(path).map_err(|e| DataError::io(path, e))?;
    if meta.is_dir() {
        return Err(DataError::invalid(path, "is a directory, not a file"));
    }
    Ok(meta)
}

/// Writes `path` through [`danie_fs`]: `fill` fills a new, exclusively created temporary
/// beside it, which is renamed onto `path` (replacing a file or a planted link, never writing
/// through it). On failure the temporary is removed and `path` is untouched.
pub(crate) fn write_output(
    path: &Path,
    fill: impl FnOnce(&mut BufWriter<&File>) -> Result<()>,
) -> Result<()> {
    danie_fs::write_atomic_with(path, fill).map_err(|e| from_fs(path, e))
}

/// [`write_output`] for writers that open a path themselves (HDF5): `write` gets the path of
/// the exclusive temporary.
pub(crate) fn write_output_via_path(
    path: &Path,
    write: impl FnOnce(&Path) -> Result<()>,
) -> Result<()> {
    danie_fs::write_atomic_via_path(path, write).map_err(|e| from_fs(path, e))
}

fn from_fs(path: &Path, e: danie_fs::AtomicError<DataError>) -> DataError {
    match e {
        danie_fs::AtomicError::Write(e) => e,
        danie_fs::AtomicError::Io(e) => DataError::io(path, e.error),
    }
}
