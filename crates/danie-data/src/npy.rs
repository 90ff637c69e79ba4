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
use crate::limits::{check_compressed, check_stored, element_count};
use crate::nifti::element_io::{read_array, ElementReadError};
use crate::nifti::file_access::{input_file, write_output};
use crate::nifti::{with_array, DType, Endian, TypedArray};

/// Reads a `.npy` file.
pub fn read_npy(path: impl AsRef<Path>) -> Result<TypedArray> {
    let path = path.as_ref();
    let file = open(path)?;
    let file_len = file.metadata().map_err(|e| DataError::io(path, e))?.len();
    let mut reader = BufReader::with_capacity(1 << 18, file);
    read_npy_stream(&mut reader, path, "", Storage::Plain(file_len))
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
    let (mut zip, file_len) = open_npz(path)?;
    let mut read = |key: &str| -> Result<TypedArray> {
        let index = zip
            .index_for_name(key)
            .or_else(|| zip.index_for_name(&format!("{key}.npy")))
            .ok_or_else(|| {
                DataError::invalid(
                    path,
                    format!(
                        "has no array `{key}` (it holds: {})",
                        names_list(&npz_names_of(&zip))
                    ),
                )
            })?;
        read_entry(&mut zip, file_len, index, path, key)
    };
    let mut arrays = Vec::with_capacity(N);
    for key in keys {
        arrays.push(read(key)?);
    }
    arrays
        .try_into()
        .map_err(|_| DataError::invalid(path, "internal error: one array per key"))
}

/// The array names in a `.npz` archive (without the `.npy` suffix).
pub fn npz_names(path: impl AsRef<Path>) -> Result<Vec<String>> {
    Ok(npz_names_of(&open_npz(path.as_ref())?.0))
}

/// Reads every array of a `.npz` archive, in archive order.
pub fn read_npz(path: impl AsRef<Path>) -> Result<Vec<(String, TypedArray)>> {
    let mut out = Vec::new();
    for_each_npz_array(
        path,
        |_| true,
        |name, array| {
            out.push((name.to_string(), array));
            Ok(())
        },
    )?;
    Ok(out)
}

/// Calls `f` with each array of a `.npz` archive whose name (without `.npy`) `wanted` accepts,
/// in archive order, one array in memory at a time. The archive is opened and its directory
/// read once, so the time is linear in the number of members.
pub fn for_each_npz_array(
    path: impl AsRef<Path>,
    mut wanted: impl FnMut(&str) -> bool,
    mut f: impl FnMut(&str, TypedArray) -> Result<()>,
) -> Result<()> {
    let path = path.as_ref();
    let (mut zip, file_len) = open_npz(path)?;
    for index in 0..zip.len() {
        let Some(name) = zip.name_for_index(index) else {
            continue;
        };
        let name = name.strip_suffix(".npy").unwrap_or(name).to_string();
        if wanted(&name) {
            let array = read_entry(&mut zip, file_len, index, path, &name)?;
            f(&name, array)?;
        }
    }
    Ok(())
}

/// At most 20 names, then how many more.
fn names_list(names: &[String]) -> String {
    let mut s = names
        .iter()
        .take(20)
        .cloned()
        .collect::<Vec<_>>()
        .join(", ");
    if names.len() > 20 {
        s += &format!(", ... ({} in all)", names.len());
    }
    s
}

/// Reads entry `index` of `zip` (array `key` of the archive at `path`, `file_len` bytes).
fn read_entry(
    zip: &mut zip::ZipArchive<BufReader<File>>,
    file_len: u64,
    index: usize,
    path: &Path,
    key: &str,
) -> Result<TypedArray> {
    let what = format!("array `{key}`: ");
    let mut entry = zip
        .by_index(index)
        .map_err(|e| DataError::invalid(path, format!("{what}{e}")))?;
    // The entry's sizes are claims of the zip directory: its stored bytes must lie in the file.
    let stored = entry.compressed_size();
    check_stored(path, &format!("{what}the zip entry"), 0, stored, file_len)?;
    let storage = match entry.compression() {
        zip::CompressionMethod::Stored => Storage::Plain(stored),
        _ => Storage::Compressed(stored),
    };
    read_npy_stream(&mut entry, path, &what, storage)
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

/// The archive at `path`, its directory read, and the file's length.
fn open_npz(path: &Path) -> Result<(zip::ZipArchive<BufReader<File>>, u64)> {
    let file = open(path)?;
    let file_len = file.metadata().map_err(|e| DataError::io(path, e))?.len();
    let zip = zip::ZipArchive::new(BufReader::with_capacity(1 << 18, file))
        .map_err(|e| DataError::invalid(path, format!("not a readable .npz (zip) archive: {e}")))?;
    Ok((zip, file_len))
}

fn npz_names_of<R: Read + Seek>(zip: &zip::ZipArchive<R>) -> Vec<String> {
    zip.file_names()
        .map(|n| n.strip_suffix(".npy").unwrap_or(n).to_string())
        .collect()
}

/// How the bytes of an npy stream are stored, which bounds what its header may claim.
#[derive(Clone, Copy)]
enum Storage {
    /// Plainly, in this many bytes (a `.npy` file, a stored zip entry): the array cannot be
    /// larger.
    Plain(u64),
    /// Deflated from this many bytes: at most [`MAX_COMPRESSION_RATIO`](crate::limits::MAX_COMPRESSION_RATIO) times more, and within the
    /// decoded-size budget.
    Compressed(u64),
}

/// The longest npy header accepted (numpy itself refuses more than 10000 bytes by default).
const MAX_HEADER_LEN: usize = 1 << 16;
/// The deepest bracket nesting accepted in an npy header (a shape tuple is 1 deep; the parser
/// recurses per level, so a header of nested brackets would overflow the stack).
const MAX_HEADER_DEPTH: usize = 16;

/// Reads the npy header's bytes (magic, version, length, the dictionary), checking the length
/// and the nesting before the dictionary is parsed.
fn header_bytes(reader: &mut impl Read, path: &Path, what: &str) -> Result<Vec<u8>> {
    let bad = |m: String| DataError::invalid(path, format!("{what}not a valid .npy: {m}"));
    let mut head = vec![0u8; 8];
    reader
        .read_exact(&mut head)
        .map_err(|e| bad(format!("{e}")))?;
    if !head.starts_with(b"\x93NUMPY") {
        return Err(bad("no \\x93NUMPY magic string".into()));
    }
    let len_bytes = if head[6] == 1 { 2 } else { 4 }; // versions 2 and 3 have a u32 length
    let mut len = vec![0u8; len_bytes];
    reader
        .read_exact(&mut len)
        .map_err(|e| bad(format!("{e}")))?;
    let header_len = len
        .iter()
        .rev()
        .fold(0usize, |acc, &b| (acc << 8) | b as usize);
    if header_len > MAX_HEADER_LEN {
        return Err(bad(format!(
            "header of {header_len} bytes (at most {MAX_HEADER_LEN} accepted)"
        )));
    }
    head.extend(len);
    let start = head.len();
    head.resize(start + header_len, 0);
    reader
        .read_exact(&mut head[start..])
        .map_err(|e| bad(format!("{e}")))?;
    let mut depth = 0usize;
    for &b in &head[start..] {
        match b {
            b'(' | b'[' | b'{' => depth += 1,
            b')' | b']' | b'}' => depth = depth.saturating_sub(1),
            _ => {}
        }
        if depth > MAX_HEADER_DEPTH {
            return Err(bad(format!(
                "header nests brackets deeper than {MAX_HEADER_DEPTH}"
            )));
        }
    }
    Ok(head)
}

/// Parses an npy header and its data from `reader`; `what` prefixes error messages. The size
/// the header declares is checked against `storage` before anything is allocated, and no more
/// than that size is read (nor decompressed).
fn read_npy_stream(
    reader: &mut impl Read,
    path: &Path,
    what: &str,
    storage: Storage,
) -> Result<TypedArray> {
    let head = header_bytes(reader, path, what)?;
    let header_len = head.len() as u64;
    let header = Header::from_reader(&mut head.as_slice())
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
    let data = format!("{what}shape {:?} of {descr}", header.shape);
    let want = element_count(path, &header.shape)
        .ok()
        .and_then(|n| (n as u64).checked_mul(dtype.size() as u64))
        .ok_or_else(|| DataError::invalid(path, format!("{data} is too large")))?;
    match storage {
        Storage::Plain(len) => check_stored(path, &data, header_len, want, len)?,
        Storage::Compressed(len) => check_compressed(path, &data, want, len)?,
    }
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
