//! Reading for the dataset readers, on top of the format modules ([`crate::npy`],
//! [`crate::h5`], [`crate::image_io`]): image/label pairs validated together (same shape,
//! expected dimensions, no NaN, whole-number class ids in range), each failure naming the file.
use std::path::{Path, PathBuf};

use ndarray::{Array2, Array3, ArrayD};

use crate::error::{require_ndim, require_no_nan};
use crate::nifti::TypedArray;
use crate::{h5, image_io, npy, DataError, Result};

/// Where an image/label pair is stored: one `.npz` or HDF5 file with two keys.
#[derive(Clone, Copy)]
pub(crate) enum PairFile<'a> {
    /// `.npz` with these image and label keys.
    Npz(&'a str, &'a str),
    /// HDF5 with these image and label datasets.
    H5(&'a str, &'a str),
}

/// Reads an image (as `f32`) and its label map (as class ids `< num_classes`) from one file,
/// checking that they share a shape of `ndim` dimensions and that the image has no NaN.
pub(crate) fn read_pair(
    path: &Path,
    file: PairFile,
    ndim: usize,
    num_classes: usize,
) -> Result<(ArrayD<f32>, ArrayD<u8>)> {
    let (image, label) = match file {
        PairFile::Npz(i, l) => {
            let [image, label] = npy::read_npz_arrays(path, [i, l])?;
            (image, label)
        }
        PairFile::H5(i, l) => (h5::read_dataset(path, i)?, h5::read_dataset(path, l)?),
    };
    check_same_shape(path, image.shape(), label.shape())?;
    require_ndim(path, image.shape(), ndim)?;
    require_not_empty(path, image.shape())?;
    // trailing axes of size 1 dropped: callers get exactly `ndim` axes
    let shape = image.shape().get(..ndim).unwrap_or_default().to_vec();
    let image = standard(match image {
        TypedArray::F32(a) => a,
        other => other.to_f32(),
    });
    if !all_of(&image, |v| !v.is_nan()) {
        require_no_nan(path, image.view())?;
    }
    let label = standard(label_ids(path, &label, num_classes)?);
    let reshape_error = |e: ndarray::ShapeError| {
        DataError::invalid(path, format!("cannot read as shape {shape:?}: {e}"))
    };
    Ok((
        image
            .into_shape_with_order(shape.clone())
            .map_err(reshape_error)?,
        label
            .into_shape_with_order(shape.clone())
            .map_err(reshape_error)?,
    ))
}

/// An error-maker for an array of `path` that is not `ndim`-D where it must be.
pub(crate) fn not_nd(path: &Path, ndim: usize) -> impl Fn(ndarray::ShapeError) -> DataError + '_ {
    move |e| DataError::invalid(path, format!("expected {ndim}-D data: {e}"))
}

/// Errors, naming `path`, when an axis of `shape` has size 0 (nothing to train or test on).
pub(crate) fn require_not_empty(path: &Path, shape: &[usize]) -> Result<()> {
    if shape.contains(&0) {
        return Err(DataError::invalid(
            path,
            format!("image and label have an empty axis (shape {shape:?})"),
        ));
    }
    Ok(())
}

/// Whether `f` holds for every element, over the raw memory when the array is contiguous. The
/// test runs over fixed blocks without early exit inside a block, so that it vectorises (an
/// early-exit `all` and ndarray's n-dimensional iterator do not).
fn all_of<T>(a: &ArrayD<T>, f: impl Fn(&T) -> bool) -> bool {
    match a.as_slice_memory_order() {
        Some(s) => s
            .chunks(4096)
            .all(|block| block.iter().fold(true, |ok, v| ok & f(v))),
        None => a.iter().all(f),
    }
}

/// The array in C order (npy files may be Fortran-ordered).
fn standard<T: Clone>(a: ArrayD<T>) -> ArrayD<T> {
    if a.is_standard_layout() {
        a
    } else {
        a.as_standard_layout().into_owned()
    }
}

/// Stored label values as class ids: whole numbers below `num_classes`, else an error naming
/// `path` and the offending ids.
pub(crate) fn label_ids(
    path: &Path,
    stored: &TypedArray,
    num_classes: usize,
) -> Result<ArrayD<u8>> {
    // fast paths for the common stored types (TransUNet stores labels as float32)
    let n = num_classes as f32;
    match stored {
        TypedArray::U8(a) if all_of(a, |&v| (v as usize) < num_classes) => return Ok(a.clone()),
        TypedArray::F32(a) if all_of(a, |&v| v >= 0.0 && v < n && (v as u32) as f32 == v) => {
            return Ok(a.mapv(|v| v as u8))
        }
        _ => {}
    }
    check_label_range(path, stored.to_labels(path)?, num_classes)
}

/// Narrows whole-number labels to `u8`, refusing ids `>= num_classes`.
pub(crate) fn check_label_range(
    path: &Path,
    ids: ArrayD<u16>,
    num_classes: usize,
) -> Result<ArrayD<u8>> {
    let bad: std::collections::BTreeSet<u16> = ids
        .iter()
        .copied()
        .filter(|&v| v as usize >= num_classes)
        .collect();
    if !bad.is_empty() {
        return Err(DataError::invalid(
            path,
            format!(
                "label ids {:?} out of range: this dataset has ids 0..={}",
                bad.into_iter().collect::<Vec<_>>(),
                num_classes - 1
            ),
        ));
    }
    Ok(ids.mapv(|v| v as u8))
}

/// Checks that image and label shapes agree, naming the file and both shapes.
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

thread_local! {
    /// Set by [`super::open_keeping_missing`] on the thread that opens a dataset.
    static KEEP_MISSING: std::cell::Cell<bool> = const { std::cell::Cell::new(false) };
}

/// Whether opening a dataset on this thread keeps cases whose files are missing (`danie data
/// check`: each missing file is then its case's read error, named on its own line).
pub(crate) fn keep_missing() -> bool {
    KEEP_MISSING.with(|k| k.get())
}

/// Runs `f` with [`keep_missing`] true on this thread.
pub(crate) fn with_keep_missing<T>(f: impl FnOnce() -> T) -> T {
    struct Reset(bool);
    impl Drop for Reset {
        fn drop(&mut self) {
            KEEP_MISSING.with(|k| k.set(self.0));
        }
    }
    let _reset = Reset(KEEP_MISSING.with(|k| k.replace(true)));
    f()
}

/// Errors, naming `source` (a list file or the dataset folder), when any of `files` is missing
/// (unless [`keep_missing`]: the cases stay listed and their reads fail, naming the file).
pub(crate) fn require_files(source: &Path, files: &[PathBuf]) -> Result<()> {
    if keep_missing() {
        return Ok(());
    }
    let missing: Vec<String> = files
        .iter()
        .filter(|f| !f.is_file())
        .map(|p| p.display().to_string())
        .collect();
    if missing.is_empty() {
        return Ok(());
    }
    let more = if missing.len() > 5 { ", ..." } else { "" };
    Err(DataError::invalid(
        source,
        format!(
            "{} missing file(s) (missing partner or listed file): {}{more}",
            missing.len(),
            missing[..missing.len().min(5)].join(", ")
        ),
    ))
}

/// Reads a colour image (JPEG, PNG, BMP) as RGB in `[0, 1]`.
///
/// # Shapes
/// -> `(3, H, W)`
pub(crate) fn rgb_image(path: &Path) -> Result<Array3<f32>> {
    let rgb = image_io::read_rgb(path)?;
    require_not_empty(path, rgb.shape())?;
    // (H, W, 3) -> (3, H, W)
    Ok(rgb.permuted_axes([2, 0, 1]).mapv(|v| v as f32 / 255.0))
}

/// Reads a mask or instance map whose size must match its `(H, W)` image.
///
/// # Shapes
/// -> `(H, W)`
pub(crate) fn mask_for(path: &Path, image: &Array3<f32>) -> Result<Array2<u8>> {
    let mask = image_io::read_mask(path)?;
    let want = (image.shape()[1], image.shape()[2]);
    if mask.dim() != want {
        return Err(DataError::invalid(
            path,
            format!("mask is {:?} but its image is {want:?}", mask.dim()),
        ));
    }
    Ok(mask)
}
