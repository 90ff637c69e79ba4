//! Errors of danie-data: every one names the file and the problem.
use std::path::PathBuf;

/// Result with [`DataError`].
pub type Result<T, E = DataError> = std::result::Result<T, E>;

/// An error reading, validating or writing data, naming the file involved.
#[derive(Debug, thiserror::Error)]
pub enum DataError {
    /// The file could not be opened, read or written. The I/O error is part of the message
    /// (not a `source()`), so `{:#}` chains print it once.
    #[error("{path}: {error}")]
    Io {
        /// The file involved.
        path: PathBuf,
        /// What the operating system said.
        error: std::io::Error,
    },
    /// The file's contents are not what its format or the dataset layout requires.
    #[error("{path}: {message}")]
    Invalid {
        /// The file involved.
        path: PathBuf,
        /// What is wrong with it.
        message: String,
    },
}

impl DataError {
    /// An [`DataError::Invalid`] for `path` with `message`.
    pub fn invalid(path: impl Into<PathBuf>, message: impl Into<String>) -> Self {
        DataError::Invalid {
            path: path.into(),
            message: message.into(),
        }
    }

    /// An [`DataError::Io`] for `path`.
    pub fn io(path: impl Into<PathBuf>, source: std::io::Error) -> Self {
        DataError::Io {
            path: path.into(),
            error: source,
        }
    }
}

/// Errors, naming `path`, unless `shape` has `ndim` axes; trailing axes of size 1 beyond `ndim`
/// (a `(x, y, z, 1)` volume) are accepted.
pub fn require_ndim(path: &std::path::Path, shape: &[usize], ndim: usize) -> Result<()> {
    let ok = shape.len() == ndim || (shape.len() > ndim && shape[ndim..].iter().all(|&s| s == 1));
    if ok {
        return Ok(());
    }
    Err(DataError::invalid(
        path,
        format!(
            "expected {ndim}-D data but it is {}-D with shape {shape:?}",
            shape.len()
        ),
    ))
}

/// Errors, naming `path`, if any value is NaN: the message gives the NaN count and the index of
/// the first one.
pub fn require_no_nan<T: crate::nifti::Element>(
    path: &std::path::Path,
    values: ndarray::ArrayViewD<T>,
) -> Result<()> {
    let mut first = None;
    let mut count = 0usize;
    for (idx, v) in values.indexed_iter() {
        if v.to_f64().is_nan() {
            count += 1;
            first.get_or_insert_with(|| ndarray::Dimension::slice(&idx).to_vec());
        }
    }
    match first {
        None => Ok(()),
        Some(idx) => Err(DataError::invalid(
            path,
            format!(
                "{count} NaN value(s) of {} (first at index {idx:?})",
                values.len()
            ),
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use ndarray::{ArrayD, IxDyn};
    use std::path::Path;

    #[test]
    fn ndim_check_accepts_trailing_singletons_only() {
        let p = Path::new("vol.nii.gz");
        assert!(require_ndim(p, &[4, 5, 6], 3).is_ok());
        assert!(require_ndim(p, &[4, 5, 6, 1], 3).is_ok());
        let e = require_ndim(p, &[4, 5, 6, 2], 3).unwrap_err().to_string();
        assert_eq!(
            e,
            "vol.nii.gz: expected 3-D data but it is 4-D with shape [4, 5, 6, 2]"
        );
    }

    #[test]
    fn nan_check_names_count_and_first_index() {
        let mut a = ArrayD::<f32>::zeros(IxDyn(&[2, 3]));
        a[[1, 2]] = f32::NAN;
        a[[0, 1]] = f32::NAN;
        let e = require_no_nan(Path::new("x.npy"), a.view())
            .unwrap_err()
            .to_string();
        assert_eq!(e, "x.npy: 2 NaN value(s) of 6 (first at index [0, 1])");
        assert!(
            require_no_nan(Path::new("x.npy"), ArrayD::<u8>::zeros(IxDyn(&[3])).view()).is_ok()
        );
    }
}
