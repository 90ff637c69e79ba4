//! Budgets for sizes read from files.
//!
//! A size in a header (a NIfTI `dim`, an HDF5 dataspace, an npy shape, a zip entry's declared
//! length) is a claim, not a fact: a few hundred crafted bytes can claim a terabyte. Readers check
//! every such size against the file's own length where the data is stored plainly, and against
//! [`max_decoded_bytes`] where it is compressed, before they allocate anything.
use std::path::Path;

use crate::{DataError, Result};

// The budget itself (the env variable, its default, parsing) lives in the dependency-free
// danie-limits crate, so danie-model's weights readers share this one implementation.
pub use danie_limits::{
    human_bytes, max_decoded_bytes, parse_bytes, DEFAULT_MAX_DECODED_BYTES, MAX_DECODED_BYTES_ENV,
};

/// The number of elements of `shape`, or an error naming `path` when the product overflows.
pub fn element_count(path: &Path, shape: &[usize]) -> Result<usize> {
    shape
        .iter()
        .try_fold(1usize, |acc, &d| acc.checked_mul(d))
        .ok_or_else(|| {
            DataError::invalid(
                path,
                format!("shape {shape:?} has more elements than fit in memory"),
            )
        })
}

/// Errors, naming `path` and `what`, when `bytes` decoded bytes exceed [`max_decoded_bytes`].
pub fn check_decoded(path: &Path, what: &str, bytes: u64) -> Result<()> {
    let budget = max_decoded_bytes();
    if bytes > budget {
        return Err(DataError::invalid(
            path,
            format!(
                "{what} would take {} once decoded, over the limit of {} \
                 (raise it with {MAX_DECODED_BYTES_ENV}, e.g. {MAX_DECODED_BYTES_ENV}=64G)",
                human_bytes(bytes),
                human_bytes(budget)
            ),
        ));
    }
    Ok(())
}

/// The most decoded bytes per stored byte that any coding danie reads can produce: deflate's
/// own limit is 1032:1 (PNG, zip, gzip and HDF5's filters use it); JPEG and BMP RLE stay far
/// below it.
pub const MAX_COMPRESSION_RATIO: u64 = 1100;

/// Errors, naming `path` and `what`, when `declared` decoded bytes exceed the budget
/// ([`check_decoded`]) or are more than [`MAX_COMPRESSION_RATIO`] times the `stored` compressed
/// bytes they come from: a header claiming more than its data can expand to is damaged or
/// hostile, and is refused before anything is decoded.
pub fn check_compressed(path: &Path, what: &str, declared: u64, stored: u64) -> Result<()> {
    check_decoded(path, what, declared)?;
    if declared > stored.saturating_mul(MAX_COMPRESSION_RATIO) {
        return Err(DataError::invalid(
            path,
            format!(
                "{what} would take {} from {} of compressed data, more than any coding expands \
                 to ({MAX_COMPRESSION_RATIO}:1): damaged or hostile file",
                human_bytes(declared),
                human_bytes(stored)
            ),
        ));
    }
    Ok(())
}

/// Errors, naming `path` and `what`, when `needed` stored bytes starting at `offset` run past
/// `file_len`: a plainly stored array cannot be larger than the file holding it.
pub fn check_stored(
    path: &Path,
    what: &str,
    offset: u64,
    needed: u64,
    file_len: u64,
) -> Result<()> {
    match offset.checked_add(needed) {
        Some(end) if end <= file_len => Ok(()),
        _ => Err(DataError::invalid(
            path,
            format!(
                "{what} needs {} from byte {offset}, but the file has only {} bytes (truncated, \
                 or the header is damaged)",
                human_bytes(needed),
                file_len
            ),
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stored_size_past_the_end_is_an_error_naming_the_file() {
        let p = Path::new("scan.nii");
        assert!(check_stored(p, "the data", 352, 8, 360).is_ok());
        let e = check_stored(p, "the data", 352, 9, 360)
            .unwrap_err()
            .to_string();
        assert!(e.contains("scan.nii") && e.contains("360 bytes"), "{e}");
        assert!(check_stored(p, "the data", u64::MAX, 1, 360).is_err());
    }

    #[test]
    fn element_count_overflow_is_an_error() {
        let p = Path::new("a.npy");
        assert_eq!(element_count(p, &[2, 3, 4]).unwrap(), 24);
        assert!(element_count(p, &[usize::MAX, 2]).is_err());
    }
}
