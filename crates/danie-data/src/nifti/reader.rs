//! Reading `.nii`, `.nii.gz` and `.hdr`/`.img` pairs: header, extensions, then voxel data.
use std::fs::File;
use std::io::{self, BufRead, BufReader, Read};
use std::path::{Path, PathBuf};

use flate2::read::MultiGzDecoder;

use super::dtype::{DType, Endian};
use super::element_io::{read_array, read_fully, ElementReadError};
use super::file_access::input_file;
use super::header::{detect, parse_extensions, NiftiHeader};
use super::image::NiftiImage;
use super::typed_array::TypedArray;
use crate::error::{DataError, Result};

/// An open file, transparently gunzipped, that names itself in errors.
pub(crate) struct Source {
    pub path: PathBuf,
    pub gz: bool,
    /// Size on disk.
    pub file_len: u64,
    reader: Box<dyn Read>,
    /// Bytes consumed so far (of the decompressed stream).
    pub pos: u64,
}

impl Source {
    /// Opens `path`; gzip is detected from its magic bytes, not its name.
    pub fn open(path: &Path) -> Result<Source> {
        let meta = input_file(path)?;
        let file = File::open(path).map_err(|e| DataError::io(path, e))?;
        let mut buf = BufReader::with_capacity(1 << 16, file);
        let head = buf.fill_buf().map_err(|e| DataError::io(path, e))?;
        if head.is_empty() {
            return Err(DataError::invalid(path, "file is empty (0 bytes)"));
        }
        let gz = head.starts_with(&[0x1f, 0x8b]);
        let reader: Box<dyn Read> = if gz {
            Box::new(MultiGzDecoder::new(buf))
        } else {
            Box::new(buf)
        };
        Ok(Source {
            path: path.to_path_buf(),
            gz,
            file_len: meta.len(),
            reader,
            pos: 0,
        })
    }

    /// An error for a failed read: corrupt gzip data, or a plain I/O error.
    pub fn read_error(&self, e: io::Error) -> DataError {
        if self.gz {
            DataError::invalid(&self.path, format!("corrupt or truncated gzip data: {e}"))
        } else {
            DataError::io(&self.path, e)
        }
    }

    /// Reads up to `n` bytes (fewer only at the end of the stream).
    pub fn take(&mut self, n: usize) -> Result<Vec<u8>> {
        let mut buf = vec![0u8; n];
        let got = read_fully(&mut self.reader, &mut buf).map_err(|e| self.read_error(e))?;
        buf.truncate(got);
        self.pos += got as u64;
        Ok(buf)
    }

    /// Reads what is left of the stream, refusing more than `limit` bytes.
    pub fn take_rest(&mut self, limit: u64, what: &str) -> Result<Vec<u8>> {
        let mut buf = Vec::new();
        (&mut self.reader)
            .take(limit + 1)
            .read_to_end(&mut buf)
            .map_err(|e| self.read_error(e))?;
        self.pos += buf.len() as u64;
        if buf.len() as u64 > limit {
            return Err(DataError::invalid(
                &self.path,
                format!("{what} are longer than {limit} bytes: not a NIfTI header file?"),
            ));
        }
        Ok(buf)
    }

    /// Reads exactly `n` bytes; `what` names them in the error if the file ends first.
    pub fn take_exact(&mut self, n: usize, what: &str) -> Result<Vec<u8>> {
        let start = self.pos;
        let buf = self.take(n)?;
        if buf.len() < n {
            let hint = if self.gz {
                " (truncated gzip file?)"
            } else {
                ""
            };
            return Err(DataError::invalid(
                &self.path,
                format!(
                    "file ends at byte {} inside the {what} (bytes {start}..{}){hint}",
                    start + buf.len() as u64,
                    start + n as u64
                ),
            ));
        }
        Ok(buf)
    }

    /// Reads to the end, so gzip checks its CRC and length trailer.
    pub fn finish(&mut self) -> Result<()> {
        io::copy(&mut self.reader, &mut io::sink()).map_err(|e| self.read_error(e))?;
        Ok(())
    }

    /// Reads an array of `shape` (`dtype` elements in `endian` order, Fortran or C layout).
    pub fn read_array(
        &mut self,
        dtype: DType,
        shape: &[usize],
        fortran: bool,
        endian: Endian,
    ) -> Result<TypedArray> {
        let want = shape
            .iter()
            .try_fold(dtype.size() as u64, |acc, &d| acc.checked_mul(d as u64))
            .ok_or_else(|| {
                DataError::invalid(&self.path, format!("shape {shape:?} is too large"))
            })?;
        if !self.gz && self.file_len < self.pos + want {
            return Err(self.short_data(self.file_len.saturating_sub(self.pos), want, shape));
        }
        let start = self.pos;
        let array =
            read_array(&mut self.reader, dtype, shape, fortran, endian).map_err(|e| match e {
                ElementReadError::Io(e) => self.read_error(e),
                ElementReadError::Short { got, want } => self.short_data(got, want, shape),
                ElementReadError::TooLarge => {
                    DataError::invalid(&self.path, format!("shape {shape:?} is too large"))
                }
            })?;
        self.pos = start + want;
        Ok(array)
    }

    fn short_data(&self, got: u64, want: u64, shape: &[usize]) -> DataError {
        let hint = if self.gz {
            " (truncated gzip file?)"
        } else {
            ""
        };
        DataError::invalid(
            &self.path,
            format!(
                "header and data size disagree: shape {shape:?} needs {want} data bytes from byte {}, \
                 but the {}file holds only {got}{hint}",
                self.pos,
                if self.gz { "decompressed " } else { "" }
            ),
        )
    }
}

/// Where the header and the voxels of `path` live.
fn header_and_image_paths(path: &Path) -> (PathBuf, Option<PathBuf>) {
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let swap = |from: &str, to: &str| -> Option<PathBuf> {
        for gz in ["", ".gz"] {
            if let Some(stem) = name.strip_suffix(&format!("{from}{gz}")) {
                return Some(path.with_file_name(format!("{stem}{to}{gz}")));
            }
        }
        None
    };
    if let Some(img) = swap(".hdr", ".img") {
        (path.to_path_buf(), Some(img))
    } else if let Some(hdr) = swap(".img", ".hdr") {
        (hdr, Some(path.to_path_buf()))
    } else {
        (path.to_path_buf(), None)
    }
}

/// Reads the header and extensions, leaving `src` at the first data byte for single files.
fn read_header_from(src: &mut Source) -> Result<NiftiHeader> {
    let first = src.take_exact(4, "NIfTI header")?;
    let (version, _) = detect(first[..4].try_into().expect("4 bytes")).ok_or_else(|| {
        let v = i32::from_le_bytes(first[..4].try_into().expect("4 bytes"));
        DataError::invalid(
            &src.path,
            format!(
                "not a NIfTI file: sizeof_hdr is {v} (expected 348 for NIfTI-1 or 540 for NIfTI-2)"
            ),
        )
    })?;
    let size = version.header_size();
    let mut bytes = first;
    bytes.extend(src.take_exact(size - 4, &format!("NIfTI-{} header", version.number()))?);
    let mut header = NiftiHeader::parse(&bytes, &src.path)?;
    let region = if header.single_file {
        // nibabel: the 4-byte extension flag, then extensions up to vox_offset
        let to_data = header.vox_offset.saturating_sub(src.pos) as usize;
        src.take_exact(to_data, "header extensions before vox_offset")?
    } else {
        // a .hdr holds the header, the extension flag and the extensions, nothing else
        src.take_rest(1 << 26, "header extensions")?
    };
    if region.len() >= 4 && region[0] != 0 {
        header.extensions = parse_extensions(&region[4..], header.endian);
    }
    Ok(header)
}

/// Reads only the header (and extensions) of a NIfTI file.
pub fn read_header(path: impl AsRef<Path>) -> Result<NiftiHeader> {
    let (hdr_path, _) = header_and_image_paths(path.as_ref());
    read_header_from(&mut Source::open(&hdr_path)?)
}

/// Reads a NIfTI-1/2 image: `.nii`, `.nii.gz`, or a `.hdr`/`.img` pair (either name given).
///
/// Errors name the file and the problem: missing file, a directory, empty or truncated file,
/// corrupt gzip, wrong magic, unsupported datatype, sizes ≤ 0, data shorter than the header says.
pub fn read(path: impl AsRef<Path>) -> Result<NiftiImage> {
    let path = path.as_ref();
    let (hdr_path, img_path) = header_and_image_paths(path);
    let mut src = Source::open(&hdr_path)?;
    let header = read_header_from(&mut src)?;
    if !header.single_file {
        let Some(img_path) = img_path else {
            return Err(DataError::invalid(
                path,
                "magic says the voxels are in a separate .img file, but this is not a .hdr/.img name",
            ));
        };
        src = Source::open(&img_path)?;
        src.take_exact(header.vox_offset as usize, "bytes before vox_offset")?;
    }
    let dtype = header.dtype().map_err(|m| DataError::invalid(path, m))?;
    let data = src.read_array(dtype, &header.shape(), true, header.endian)?;
    src.finish()?;
    Ok(NiftiImage {
        path: path.to_path_buf(),
        header,
        data,
    })
}
