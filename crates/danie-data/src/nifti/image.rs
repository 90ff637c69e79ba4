//! [`NiftiImage`]: a header, its raw voxel array and the file it came from.
use std::path::PathBuf;

use ndarray::ArrayD;

use super::affine::Affine;
use super::header::NiftiHeader;
use super::typed_array::TypedArray;
use crate::error::{require_ndim, DataError, Result};

/// A NIfTI image as read: the header, the raw (unscaled) voxels, and the source path.
#[derive(Debug, Clone)]
pub struct NiftiImage {
    /// The file this image was read from (named in errors).
    pub path: PathBuf,
    /// The header, with nibabel's load-time fixes applied.
    pub header: NiftiHeader,
    /// Raw on-disk values, shape `(x, y, z[, t, ...])`, Fortran memory order.
    pub data: TypedArray,
}

impl NiftiImage {
    /// The data shape `(x, y, z[, t, ...])`.
    pub fn shape(&self) -> &[usize] {
        self.data.shape()
    }

    /// The affine nibabel's `img.affine` gives.
    pub fn affine(&self) -> Result<Affine> {
        self.header
            .best_affine()
            .map_err(|m| DataError::invalid(&self.path, m))
    }

    /// Voxel sizes of the first three axes (mm, as `pixdim[1..=3]`).
    pub fn spacing(&self) -> Vec<f64> {
        self.header.zooms().into_iter().take(3).collect()
    }

    /// Scaled values in f64, exactly nibabel's `get_fdata()`.
    ///
    /// # Shapes
    /// `(x, y, z[, t])` -> same.
    pub fn fdata(&self) -> ArrayD<f64> {
        match self.header.scaling() {
            Some((slope, inter)) => self.data.scaled_f64(slope, inter),
            None => self.data.to_f64(),
        }
    }

    /// Scaled values computed in f64 and stored as f32 (nibabel's `get_fdata(dtype=np.float32)`),
    /// half the memory of [`NiftiImage::fdata`].
    pub fn fdata_f32(&self) -> ArrayD<f32> {
        match self.header.scaling() {
            Some((slope, inter)) => self.data.scaled_f32(slope, inter),
            None => self.data.to_f32(),
        }
    }

    /// The scaled values as label ids; errors, naming the file, on any value that is not a
    /// whole number in `0..=65535`.
    pub fn labels(&self) -> Result<ArrayD<u16>> {
        let (slope, inter) = self.header.scaling().unwrap_or((1.0, 0.0));
        self.data.scaled_labels(&self.path, slope, inter)
    }

    /// Errors, naming the file, unless the image has `ndim` axes (trailing axes of size 1, as
    /// in a `(x, y, z, 1)` volume, are accepted and dropped).
    pub fn require_ndim(&mut self, ndim: usize) -> Result<()> {
        require_ndim(&self.path, self.shape(), ndim)?;
        while self.shape().len() > ndim {
            let last = self.shape().len() - 1;
            super::with_array!(&mut self.data, a => a.index_axis_inplace(ndarray::Axis(last), 0));
        }
        self.header.dim[0] = ndim as i64;
        Ok(())
    }
}
