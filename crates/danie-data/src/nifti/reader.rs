//! Reading `.nii`, `.nii.gz` and `.hdr`/`.img` pairs: header, extensions, then voxel data.
use std::fs::File;
use std::io::{self, BufRead, BufReader, Read};
use std::path::{Path, PathBuf};

use flate2::bufread::MultiGzDecoder;

use super::dtype::{DType, Endian};
use super::element_io::{read_array, ElementReadError};
use super::file_access::input_file;
use super::header::{detect, parse_extensions, NiftiHeader};
use super::image::NiftiImage;
use super::typed_array::TypedArray;
use crate::error::{DataError, Result};
use crate::limits::{check_decoded, check_stored, human_bytes};

/// The most decompressed bytes accepted after the image data of a `.nii.gz` (nibabel writes
/// none; a writer that pads stays far below).
const TRAILING_LIMIT: u64 = 1 << 20;

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
        // One buffer, shared by the file and the gzip decoder (read::MultiGzDecoder would add
        // a second, smaller one).
        let mut buf = BufReader::with_capacity(1 << 18, file);
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

    /// Reads up to `n` bytes (fewer only at the end of the stream). The buffer grows as bytes
    /// arrive: `n` comes from a header and may be far larger than the file.
    pub fn take(&mut self, n: u64) -> Result<Vec<u8>> {
        let mut buf = Vec::new();
        (&mut self.reader)
            .take(n)
            .read_to_end(&mut buf)
            .map_err(|e| self.read_error(e))?;
        self.pos += buf.len() as u64;
        Ok(buf)
    }

    /// Skips `n` bytes without keeping them; returns how many there were.
    fn skip(&mut self, n: u64) -> Result<u64> {
        let got = io::copy(&mut (&mut self.reader).take(n), &mut io::sink())
            .map_err(|e| self.read_error(e))?;
        self.pos += got;
        Ok(got)
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
        let buf = self.take(n as u64)?;
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

    /// Reads a gzip stream to its end, so that gzip checks its CRC and length trailer; more
    /// than [`TRAILING_LIMIT`] bytes after the image are an error, not minutes of decompressing
    /// data nobody asked for. A plain file has nothing to check.
    pub fn finish(&mut self) -> Result<()> {
        if !self.gz {
            return Ok(());
        }
        let end = self.pos;
        let extra = self.skip(TRAILING_LIMIT + 1)?;
        if extra > TRAILING_LIMIT {
            return Err(DataError::invalid(
                &self.path,
                format!(
                    "the decompressed file goes on for more than {} past the image the header \
                     declares (which ends at byte {end}): damaged file, or dim / datatype wrong",
                    human_bytes(TRAILING_LIMIT)
                ),
            ));
        }
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
        // Checked before anything is allocated: plain data cannot outgrow the file, compressed
        // data must fit the decoded-size budget.
        if self.gz {
            check_decoded(
                &self.path,
                &format!("the image data (shape {shape:?} of {dtype})"),
                want,
            )?;
        } else if self
            .pos
            .checked_add(want)
            .is_none_or(|end| end > self.file_len)
        {
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
    let first4 = [first[0], first[1], first[2], first[3]]; // take_exact gave 4 bytes
    let (version, _) = detect(first4).ok_or_else(|| {
        let v = i32::from_le_bytes(first4);
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
        let to_data = header.vox_offset.saturating_sub(src.pos);
        let what = format!(
            "the header extensions before vox_offset {}",
            header.vox_offset
        );
        if src.gz {
            check_decoded(&src.path, &what, to_data)?;
        } else {
            check_stored(&src.path, &what, src.pos, to_data, src.file_len)?;
        }
        src.take_exact(to_data as usize, "header extensions before vox_offset")?
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
        if !src.gz {
            check_stored(
                &src.path,
                "the bytes before vox_offset",
                0,
                header.vox_offset,
                src.file_len,
            )?;
        }
        let skipped = src.skip(header.vox_offset)?;
        if skipped < header.vox_offset {
            return Err(DataError::invalid(
                &src.path,
                format!(
                    "file ends at byte {skipped}, before vox_offset {}",
                    header.vox_offset
                ),
            ));
        }
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
