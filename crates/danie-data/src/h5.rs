//! HDF5 datasets (TransUNet's Synapse test volumes `test_vol_h5/caseXXXX.npy.h5`, keys `image`
//! and `label`): read any integer, float or bool dataset as a [`TypedArray`] in C order, write
//! datasets for tests and synthetic data.
//!
//! Uses the `hdf5` crate (hdf5-metno, system libhdf5). Its arrays are those of another ndarray
//! version, so data cross as flat vectors plus a shape.
use std::path::Path;

use hdf5::filters::Filter;
use hdf5::plist::dataset_create::Layout;
use hdf5::types::{FloatSize, IntSize, TypeDescriptor};
use ndarray::{ArrayD, IxDyn};

use crate::error::{DataError, Result};
use crate::limits::{check_compressed, check_stored, element_count, human_bytes};
use crate::nifti::file_access::{input_file, write_output_via_path};
use crate::nifti::{with_array, Element, TypedArray};

/// Opens `path` read-only without HDF5's file lock: reading needs no lock, and the lock would
/// fail while any child process (e.g. a Python reference) still holds an inherited descriptor.
fn open(path: &Path) -> Result<hdf5::File> {
    input_file(path)?;
    hdf5::File::with_options()
        .with_fapl(|p| p.file_locking(false))
        .open(path)
        .map_err(|e| DataError::invalid(path, format!("not a readable HDF5 file: {e}")))
}

/// The names of the top-level members (datasets and groups).
pub fn dataset_names(path: impl AsRef<Path>) -> Result<Vec<String>> {
    let path = path.as_ref();
    open(path)?
        .member_names()
        .map_err(|e| DataError::invalid(path, e.to_string()))
}

/// Reads dataset `key` with its stored element type (bool as uint8), shape as stored (C order).
pub fn read_dataset(path: impl AsRef<Path>, key: &str) -> Result<TypedArray> {
    let path = path.as_ref();
    let file = open(path)?;
    let ds = file.dataset(key).map_err(|_| {
        let names = file.member_names().unwrap_or_default();
        DataError::invalid(
            path,
            format!("has no dataset `{key}` (it has: {})", names.join(", ")),
        )
    })?;
    let bad = |e: hdf5::Error| DataError::invalid(path, format!("dataset `{key}`: {e}"));
    let descriptor = ds.dtype().and_then(|t| t.to_descriptor()).map_err(bad)?;
    let shape = ds.shape();
    check_storage(path, key, &ds, &shape, descriptor.size())?;
    fn get<T: Element + hdf5::H5Type>(
        ds: &hdf5::Dataset,
        shape: &[usize],
    ) -> hdf5::Result<TypedArray> {
        let values = ds.read_raw::<T>()?;
        let got = values.len();
        ArrayD::from_shape_vec(IxDyn(shape), values)
            .map(TypedArray::from)
            .map_err(|_| format!("read {got} values for shape {shape:?}").into())
    }
    match descriptor {
        TypeDescriptor::Unsigned(IntSize::U1) => get::<u8>(&ds, &shape),
        TypeDescriptor::Integer(IntSize::U1) => get::<i8>(&ds, &shape),
        TypeDescriptor::Unsigned(IntSize::U2) => get::<u16>(&ds, &shape),
        TypeDescriptor::Integer(IntSize::U2) => get::<i16>(&ds, &shape),
        TypeDescriptor::Unsigned(IntSize::U4) => get::<u32>(&ds, &shape),
        TypeDescriptor::Integer(IntSize::U4) => get::<i32>(&ds, &shape),
        TypeDescriptor::Unsigned(IntSize::U8) => get::<u64>(&ds, &shape),
        TypeDescriptor::Integer(IntSize::U8) => get::<i64>(&ds, &shape),
        TypeDescriptor::Float(FloatSize::U4) => get::<f32>(&ds, &shape),
        TypeDescriptor::Float(FloatSize::U8) => get::<f64>(&ds, &shape),
        TypeDescriptor::Boolean => ds.read_raw::<bool>().and_then(|v| {
            let got = v.len();
            ArrayD::from_shape_vec(IxDyn(&shape), v.into_iter().map(u8::from).collect())
                .map(TypedArray::from)
                .map_err(|_| format!("read {got} values for shape {shape:?}").into())
        }),
        other => {
            return Err(DataError::invalid(
                path,
                format!("dataset `{key}` has type {other}, not a plain integer, float or bool"),
            ))
        }
    }
    .map_err(bad)
}

/// Checks the size dataset `key` declares against what the file really holds, before any
/// buffer is allocated: a 1 KB file can declare a terabyte. Without a compressing filter the
/// allocated storage must cover the data (and lie in the file); with one, the data may be at
/// most [`MAX_COMPRESSION_RATIO`](crate::limits::MAX_COMPRESSION_RATIO) times the storage and must fit the decoded-size budget. Storage
/// that was never written (HDF5 would hand back fill values) is refused for the same reason.
fn check_storage(
    path: &Path,
    key: &str,
    ds: &hdf5::Dataset,
    shape: &[usize],
    element_size: usize,
) -> Result<()> {
    let what = format!("dataset `{key}` (shape {shape:?})");
    let declared = element_count(path, shape)
        .ok()
        .and_then(|n| (n as u64).checked_mul(element_size as u64))
        .ok_or_else(|| DataError::invalid(path, format!("{what} is too large")))?;
    if declared == 0 {
        return Ok(());
    }
    let file_len = input_file(path)?.len();
    let layout = ds.layout();
    if !matches!(
        layout,
        Layout::Compact | Layout::Contiguous | Layout::Chunked
    ) {
        return Err(DataError::invalid(
            path,
            format!("{what} has {layout:?} storage (data in other files): not supported"),
        ));
    }
    let storage = ds.storage_size();
    let compressed = ds
        .filters()
        .iter()
        .any(|f| !matches!(f, Filter::Shuffle | Filter::Fletcher32));
    if compressed {
        // Storage never written counts as 0 bytes, so it fails here too.
        check_compressed(path, &what, declared, storage)?;
    } else if storage < declared {
        return Err(DataError::invalid(
            path,
            format!(
                "{what} declares {} of data but only {} of storage is allocated in the file \
                 (damaged file, or data never written)",
                human_bytes(declared),
                human_bytes(storage)
            ),
        ));
    }
    // Contiguous data sit at one offset: they must end inside the file; other storage is
    // made of pieces whose sum cannot exceed the file either.
    match ds.offset() {
        Some(offset) if layout == Layout::Contiguous => {
            check_stored(path, &what, offset, storage.min(declared), file_len)
        }
        _ => check_stored(path, &what, 0, storage, file_len),
    }
}

fn put<T: Element + hdf5::H5Type>(file: &hdf5::File, key: &str, a: &ArrayD<T>) -> hdf5::Result<()> {
    let values: Vec<T> = a.iter().copied().collect(); // logical (C) order
    let ds = file.new_dataset::<T>().shape(a.shape()).create(key)?;
    ds.write_raw(values.as_slice())
}

/// Writes `datasets` (C order) into a new HDF5 file at `path`, replacing it atomically.
pub fn write_datasets(path: impl AsRef<Path>, datasets: &[(&str, &TypedArray)]) -> Result<()> {
    let path = path.as_ref();
    write_output_via_path(path, |tmp| {
        let write = || -> hdf5::Result<()> {
            let file = hdf5::File::create(tmp)?;
            for (key, array) in datasets {
                with_array!(*array, a => put(&file, key, a))?;
            }
            file.close()
        };
        write().map_err(|e| DataError::invalid(path, format!("HDF5 write failed: {e}")))
    })
}
