//! A NIfTI volume as a model takes it and a label volume back: `(x, y, z)` -> `(z, y, x)` with
//! the weights' intensity mapping, for prediction and evaluation alike.
use std::path::Path;

use anyhow::Context;
use danie_data::nifti::{self, NiftiImage};
use danie_data::preprocess::{ct_window, minmax_normalise};
use ndarray::{Array3, ArrayD, Ix3};

use crate::weights_meta::{Intensity, WeightsMeta};

/// Reads a NIfTI volume as the model `meta` describes takes it: `(x, y, z)` -> `(z, y, x)` with
/// the weights' intensity mapping. Weights for 3-channel 2D images take no volume: an error
/// naming `path` before it is read.
///
/// # Shapes
/// file (x, y, z) -> (D = z, H = y, W = x)
pub fn read_nifti_volume(
    path: &Path,
    meta: &WeightsMeta,
) -> anyhow::Result<(NiftiImage, Array3<f32>)> {
    anyhow::ensure!(
        meta.model.in_channels == 1,
        "{}: the weights take {}-channel 2D images ({}), not volumes",
        path.display(),
        meta.model.in_channels,
        meta.dataset.as_str()
    );
    let intensity = meta.intensity;
    let mut img = nifti::read(path)?; // its errors name the file
    img.require_ndim(3)
        .with_context(|| format!("{} is not a 3D volume", path.display()))?;
    let data = img
        .fdata_f32()
        .into_dimensionality::<Ix3>()
        .with_context(|| format!("{} is not a 3D volume", path.display()))?;
    let mut vol = data
        .permuted_axes([2, 1, 0])
        .as_standard_layout()
        .to_owned(); // (x,y,z)->(z,y,x)
    anyhow::ensure!(
        vol.iter().all(|v| v.is_finite()),
        "{} holds NaN or infinite voxels",
        path.display()
    );
    match intensity {
        Intensity::CtWindow { lo, hi } => vol.mapv_inplace(|v| ct_window(v, lo, hi)),
        Intensity::MinMax => minmax_normalise(&mut vol),
        Intensity::Unit8Bit => vol.mapv_inplace(|v| v / 255.0),
    }
    Ok((img, vol))
}

/// A `(z, y, x)` label volume back to NIfTI order `(x, y, z)`.
pub fn to_nifti_order(labels: Array3<u8>) -> ArrayD<u8> {
    labels.permuted_axes([2, 1, 0]).into_dyn()
}
