//! numpy `.npy` and `.npz` files: any numeric dtype, either byte order, C or Fortran order,
//! compressed or stored archives (TransUNet's Synapse `train_npz` slices are `.npz` with keys
//! `image` and `label`).
//!
//! Reading parses the header with `ndarray-npy` and the data with the same element reader as
//! NIfTI, so a `.npy` of any dtype comes back as a [`TypedArray`] (bool as `uint8`). Writing uses
//! `ndarray-npy`.
use std::fs::File;
use std::io::{BufReader, BufWriter, Read, Seek};
use std::path::Path;

use ndarray_npy::npy::header::Header;
use ndarray_npy::{NpzWriter, WriteNpyExt};

use crate::error::{DataError, Result};
use crate::nifti::element_io::{read_array, ElementReadError};
use crate::nifti::file_access::{input_file, write_output};
use crate::nifti::{with_array, DType, Endian, TypedArray};

/// Reads a `.npy` file.
pub fn read_npy(path: impl AsRef<Path>) -> Result<TypedArray> {
    let path = path.as_ref();
    let mut reader = BufReader::new(open(path)?);
    read_npy_stream(&mut reader, path, "")
}

/// Reads array `key` of a `.npz` archive (`key` or `key.npy` inside the zip, as numpy does).
pub fn read_npz_array(path: impl AsRef<Path>, key: &str) -> Result<TypedArray> {
    let [array] = read_npz_arrays(path, [key])?;
    Ok(array)
}

/// Reads arrays `keys` of a `.npz` archive, opening it once (see [`read_npz_array`]).
pub fn read_npz_arrays<const N: usize>(
    path: impl AsRef<Path>,
    keys: [&str; N],
) -> Result<[TypedArray; N]> {
    let path = path.as_ref();
    let mut zip = open_npz(path)?;
    let mut read = |key: &str| -> Result<TypedArray> {
        let entry = if zip.index_for_name(key).is_some() {
            key.to_string()
        } else {
            format!("{key}.npy")
        };
        if zip.index_for_name(&entry).is_none() {
            let names = npz_names_of(&zip);
            return Err(DataError::invalid(
                path,
                format!("has no array `{key}` (it holds: {})", names.join(", ")),
            ));
        }
        let mut file = zip
            .by_name(&entry)
            .map_err(|e| DataError::invalid(path, format!("array `{key}`: {e}")))?;
        read_npy_stream(&mut file, path, &format!("array `{key}`: "))
    };
    let arrays: Vec<TypedArray> = keys.iter().map(|k| read(k)).collect::<Result<_>>()?;
    Ok(arrays
        .try_into()
        .unwrap_or_else(|_| unreachable!("one array per key")))
}

/// The array names in a `.npz` archive (without the `.npy` suffix).
pub fn npz_names(path: impl AsRef<Path>) -> Result<Vec<String>> {
    Ok(npz_names_of(&open_npz(path.as_ref())?))
}

/// Reads every array of a `.npz` archive, in archive order.
pub fn read_npz(path: impl AsRef<Path>) -> Result<Vec<(String, TypedArray)>> {
    let path = path.as_ref();
    npz_names(path)?
        .into_iter()
        .map(|name| read_npz_array(path, &name).map(|a| (name, a)))
        .collect()
}

/// Writes a `.npy` file (C order, native byte order), replacing `path` atomically.
pub fn write_npy(path: impl AsRef<Path>, array: &TypedArray) -> Result<()> {
    let path = path.as_ref();
    write_atomic(path, |w| {
        with_array!(array, a => a.write_npy(&mut *w)).map_err(|e| e.to_string())
    })
}

/// Writes a `.npz` archive of `arrays` (deflate-compressed like `np.savez_compressed`, or stored
/// like `np.savez`), replacing `path` atomically.
pub fn write_npz(
    path: impl AsRef<Path>,
    arrays: &[(&str, &TypedArray)],
    compressed: bool,
) -> Result<()> {
    let path = path.as_ref();
    write_atomic(path, |w| {
        let mut npz = if compressed {
            NpzWriter::new_compressed(w)
        } else {
            NpzWriter::new(w)
        };
        for (name, array) in arrays {
            with_array!(*array, a => npz.add_array(*name, a))
                .map_err(|e| format!("array `{name}`: {e}"))?;
        }
        npz.finish().map(drop).map_err(|e| e.to_string())
    })
}

fn open(path: &Path) -> Result<File> {
    input_file(path)?;
    File::open(path).map_err(|e| DataError::io(path, e))
}

fn open_npz(path: &Path) -> Result<zip::ZipArchive<BufReader<File>>> {
    zip::ZipArchive::new(BufReader::new(open(path)?))
        .map_err(|e| DataError::invalid(path, format!("not a readable .npz (zip) archive: {e}")))
}

fn npz_names_of<R: Read + Seek>(zip: &zip::ZipArchive<R>) -> Vec<String> {
    zip.file_names()
        .map(|n| n.strip_suffix(".npy").unwrap_or(n).to_string())
        .collect()
}

/// Parses an npy header and its data from `reader`; `what` prefixes error messages.
fn read_npy_stream(reader: &mut impl Read, path: &Path, what: &str) -> Result<TypedArray> {
    let header = Header::from_reader(reader)
        .map_err(|e| DataError::invalid(path, format!("{what}not a valid .npy: {e}")))?;
    let descr = header.type_descriptor.as_string().ok_or_else(|| {
        DataError::invalid(
            path,
            format!(
                "{what}unsupported npy dtype {} (structured)",
                header.type_descriptor
            ),
        )
    })?;
    let (dtype, endian) = parse_descr(descr).ok_or_else(|| {
        DataError::invalid(
            path,
            format!("{what}unsupported npy dtype '{descr}' (need a plain integer, float or bool)"),
        )
    })?;
    read_array(
        reader,
        dtype,
        &header.shape,
        header.layout.is_fortran(),
        endian,
    )
    .map_err(|e| match e {
        ElementReadError::Io(e) => DataError::invalid(path, format!("{what}read failed: {e}")),
        ElementReadError::Short { got, want } => DataError::invalid(
            path,
            format!(
                "{what}truncated: shape {:?} of {descr} needs {want} data bytes, found {got}",
                header.shape
            ),
        ),
        ElementReadError::TooLarge => {
            DataError::invalid(path, format!("{what}shape {:?} is too large", header.shape))
        }
    })
}

/// `'<f4'` -> (F32, Little); `'|u1'`, `'|b1'` -> U8.
fn parse_descr(descr: &str) -> Option<(DType, Endian)> {
    let (order, kind) = descr.split_at(descr.char_indices().nth(1)?.0);
    let endian = match order {
        "<" | "|" => Endian::Little,
        ">" => Endian::Big,
        "=" => Endian::native(),
        _ => return None,
    };
    Some((DType::from_numpy_kind(kind)?, endian))
}

/// Writes through `write` (given the open temporary) atomically, by `danie_fs`; its error
/// message is wrapped.
fn write_atomic(
    path: &Path,
    write: impl FnOnce(&mut BufWriter<&File>) -> std::result::Result<(), String>,
) -> Result<()> {
    write_output(path, |w| {
        write(w).map_err(|m| DataError::invalid(path, format!("write failed: {m}")))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn descriptors() {
        assert_eq!(parse_descr("<f4"), Some((DType::F32, Endian::Little)));
        assert_eq!(parse_descr(">i2"), Some((DType::I16, Endian::Big)));
        assert_eq!(parse_descr("|b1"), Some((DType::U8, Endian::Little)));
        assert_eq!(parse_descr("<c8"), None);
        assert_eq!(parse_descr("<U3"), None);
    }
}
