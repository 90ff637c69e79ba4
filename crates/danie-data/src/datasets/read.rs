//! Array reading for the dataset readers: numeric arrays of any stored dtype as `f32`, label
//! maps validated as integer class ids, each failure naming the file.
use std::path::Path;

use ndarray::{ArrayD, IxDyn};
use ndarray_npy::NpzReader;

use crate::{DataError, Result};

/// Reads array `key` of an `.npz` file as `f32`, whatever its stored numeric dtype.
pub(crate) fn npz_array(path: &Path, key: &str) -> Result<ArrayD<f32>> {
    let file = std::fs::File::open(path).map_err(|e| DataError::io(path, e))?;
    let mut npz = NpzReader::new(file)
        .map_err(|e| DataError::invalid(path, format!("not a readable .npz archive: {e}")))?;
    let names = npz
        .names()
        .map_err(|e| DataError::invalid(path, format!("corrupt .npz archive: {e}")))?;
    if !names.iter().any(|n| n == key) {
        return Err(DataError::invalid(
            path,
            format!("has no array `{key}` (it has: {})", names.join(", ")),
        ));
    }
    macro_rules! try_dtype {
        ($($t:ty),*) => {$(
            if let Ok(a) = npz.by_name::<ndarray::OwnedRepr<$t>, IxDyn>(key) {
                return Ok(a.mapv(|v| v as f32));
            }
        )*};
    }
    try_dtype!(f32, f64, u8, i8, u16, i16, i32, i64, u32, u64);
    if let Ok(a) = npz.by_name::<ndarray::OwnedRepr<bool>, IxDyn>(key) {
        return Ok(a.mapv(|v| v as u8 as f32));
    }
    Err(DataError::invalid(
        path,
        format!(
            "array `{key}` is truncated or has an unsupported dtype (expected a numeric array)"
        ),
    ))
}

/// Reads dataset `key` of an HDF5 file as `f32`, whatever its stored numeric dtype.
pub(crate) fn h5_array(path: &Path, key: &str) -> Result<ArrayD<f32>> {
    let file = hdf5::File::open(path)
        .map_err(|e| DataError::invalid(path, format!("not a readable HDF5 file: {e}")))?;
    let ds = file.dataset(key).map_err(|_| {
        let names = file.member_names().unwrap_or_default();
        DataError::invalid(
            path,
            format!("has no dataset `{key}` (it has: {})", names.join(", ")),
        )
    })?;
    // read flat and reshape: hdf5's ndarray version differs from ours
    let shape = ds.shape();
    let flat: Vec<f32> = match ds.read_raw::<f32>() {
        Ok(v) => v,
        Err(_) => ds
            .read_raw::<f64>()
            .map_err(|e| DataError::invalid(path, format!("dataset `{key}`: {e}")))?
            .into_iter()
            .map(|v| v as f32)
            .collect(),
    };
    ArrayD::from_shape_vec(IxDyn(&shape), flat)
        .map_err(|e| DataError::invalid(path, format!("dataset `{key}`: {e}")))
}

/// Converts stored label values to class ids, refusing non-integers and ids `>= num_classes`.
pub(crate) fn to_label_ids(
    path: &Path,
    values: ArrayD<f32>,
    num_classes: usize,
) -> Result<ArrayD<u8>> {
    if let Some(v) = values
        .iter()
        .find(|v| !v.is_finite() || v.fract() != 0.0 || **v < 0.0)
    {
        return Err(DataError::invalid(
            path,
            format!(
                "label map holds {v}, not a class id (expected integers 0..={})",
                num_classes - 1
            ),
        ));
    }
    let mut seen = std::collections::BTreeSet::new();
    for &v in values.iter() {
        if v as usize >= num_classes {
            seen.insert(v as i64);
        }
    }
    if !seen.is_empty() {
        return Err(DataError::invalid(
            path,
            format!(
                "label ids {:?} out of range: this dataset has ids 0..={}",
                seen.into_iter().collect::<Vec<_>>(),
                num_classes - 1
            ),
        ));
    }
    Ok(values.mapv(|v| v as u8))
}

/// Checks that image and label shapes agree, naming the image file and both shapes.
pub(crate) fn check_same_shape(path: &Path, image: &[usize], label: &[usize]) -> Result<()> {
    if image == label {
        Ok(())
    } else {
        Err(DataError::invalid(
            path,
            format!("image shape {image:?} and label shape {label:?} disagree"),
        ))
    }
}

/// Reads a colour image (JPEG, PNG, BMP) as RGB in `[0, 1]`.
///
/// # Shapes
/// -> `(3, H, W)`
pub(crate) fn rgb_image(path: &Path) -> Result<ndarray::Array3<f32>> {
    let img = image::open(path)
        .map_err(|e| DataError::invalid(path, format!("not a readable image: {e}")))?
        .to_rgb8();
    let (w, h) = img.dimensions();
    let raw = ndarray::Array3::from_shape_vec((h as usize, w as usize, 3), img.into_raw())
        .map_err(|e| DataError::invalid(path, e.to_string()))?;
    // (H, W, 3) -> (3, H, W)
    Ok(raw.permuted_axes([2, 0, 1]).mapv(|v| v as f32 / 255.0))
}

/// Reads a single-channel image (mask or instance map) as 8-bit values.
///
/// # Shapes
/// -> `(H, W)`
pub(crate) fn gray_image(path: &Path) -> Result<ndarray::Array2<u8>> {
    let img = image::open(path)
        .map_err(|e| DataError::invalid(path, format!("not a readable image: {e}")))?
        .to_luma8();
    let (w, h) = img.dimensions();
    ndarray::Array2::from_shape_vec((h as usize, w as usize), img.into_raw())
        .map_err(|e| DataError::invalid(path, e.to_string()))
}
