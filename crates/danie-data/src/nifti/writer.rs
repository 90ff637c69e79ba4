//! Writing single-file NIfTI (`.nii`, `.nii.gz`) from a template header, atomically.
use std::io::Write;
use std::path::Path;

use flate2::write::GzEncoder;
use flate2::Compression;
use ndarray::ArrayViewD;

use super::element_io::write_elements;
use super::file_access::write_output;
use super::file_name::{nifti_file_name, NiftiFileName};
use super::header::{encode_extensions, NiftiHeader};
use super::typed_array::{with_array, Element, TypedArray};
use crate::error::{DataError, Result};

/// Writes `data` (index order `(x, y, z[, t])`) to `path` (`.nii` or `.nii.gz`) with `template`'s
/// header: its version, byte order, affine, qform/sform, pixdim, units, intent, description and
/// extensions are kept; `dim`, `datatype`, `bitpix` and `vox_offset` follow the data,
/// `scl_slope`/`scl_inter` become 1/0 (values are stored as given), `cal_min`/`cal_max` are
/// cleared (the template's display window rarely suits new data).
///
/// The file is written to an exclusive temporary in the same folder and renamed at the end
/// (`danie_fs`): an interrupted or failed write never leaves a partial file at `path`, and a
/// link at `path` is replaced, not written through. An existing `path` is replaced.
pub fn write(path: impl AsRef<Path>, template: &NiftiHeader, data: &TypedArray) -> Result<()> {
    with_array!(data, a => write_array(path, template, a.view()))
}

/// [`write`] for an array view of any supported element type.
pub fn write_array<T: Element>(
    path: impl AsRef<Path>,
    template: &NiftiHeader,
    data: ArrayViewD<T>,
) -> Result<()> {
    let path = path.as_ref();
    let Some(NiftiFileName { gzip: gz, .. }) = nifti_file_name(path) else {
        return Err(DataError::invalid(
            path,
            "NIfTI output must end in .nii or .nii.gz (.hdr/.img pairs are read, not written)",
        ));
    };
    if data.ndim() == 0 || data.ndim() > 7 {
        return Err(DataError::invalid(
            path,
            format!("cannot store {}-D data in NIfTI (1..=7 axes)", data.ndim()),
        ));
    }
    let max_dim = match template.version {
        super::NiftiVersion::V1 => i16::MAX as usize,
        super::NiftiVersion::V2 => i64::MAX as usize,
    };
    if let Some(&d) = data.shape().iter().find(|&&d| d > max_dim || d == 0) {
        return Err(DataError::invalid(
            path,
            format!("axis size {d} cannot be stored (shape {:?})", data.shape()),
        ));
    }
    let header = output_header(template, data.shape(), T::DTYPE);
    write_output(path, |w| write_file(path, w, &header, data, gz))
}

/// The template with dims, type, offset and scaling set for the new data.
fn output_header(template: &NiftiHeader, shape: &[usize], dtype: super::DType) -> NiftiHeader {
    let mut h = template.clone();
    h.set_shape(shape);
    h.datatype = dtype.nifti_code();
    h.bitpix = (dtype.size() * 8) as i16;
    h.single_file = true;
    h.scl_slope = 1.0;
    h.scl_inter = 0.0;
    h.cal_min = 0.0;
    h.cal_max = 0.0;
    h.vox_offset = (h.version.header_size() + 4 + h.extensions_size()) as u64;
    h
}

fn write_file<T: Element>(
    path: &Path,
    out: &mut impl Write,
    h: &NiftiHeader,
    data: ArrayViewD<T>,
    gz: bool,
) -> Result<()> {
    let io_err = |e| DataError::io(path, e);
    if gz {
        // level 1, as nibabel's default: much faster, a little larger
        let mut enc = GzEncoder::new(out, Compression::fast());
        write_body(&mut enc, h, data).map_err(io_err)?;
        enc.finish().map_err(io_err)?;
    } else {
        write_body(out, h, data).map_err(io_err)?;
    }
    Ok(())
}

/// Header, extension flag, extensions, then the voxels in Fortran order.
fn write_body<T: Element>(
    out: &mut impl Write,
    h: &NiftiHeader,
    data: ArrayViewD<T>,
) -> std::io::Result<()> {
    out.write_all(&h.encode())?;
    let flag: [u8; 4] = if h.extensions.is_empty() {
        [0; 4]
    } else {
        [1, 0, 0, 0]
    };
    out.write_all(&flag)?;
    out.write_all(&encode_extensions(&h.extensions, h.endian))?;
    // NIfTI is Fortran order: the reversed-axes view in logical order visits x fastest
    write_elements(out, data.reversed_axes().iter(), h.endian)
}
