//! [`NiftiHeader`]: the NIfTI-1 (348-byte) and NIfTI-2 (540-byte) header in either byte order,
//! with its extensions.
use std::path::Path;

use super::byte_fields::ByteFields;
use super::dtype::{DType, Endian};
use crate::error::{DataError, Result};

/// Size of the NIfTI-1 header in bytes.
pub const NIFTI1_HEADER_SIZE: usize = 348;
/// Size of the NIfTI-2 header in bytes.
pub const NIFTI2_HEADER_SIZE: usize = 540;

/// NIfTI-1 or NIfTI-2.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize)]
pub enum NiftiVersion {
    /// 348-byte header, 16-bit dims, f32 fields.
    V1,
    /// 540-byte header, 64-bit dims, f64 fields.
    V2,
}

impl NiftiVersion {
    /// Header size in bytes.
    pub fn header_size(self) -> usize {
        match self {
            NiftiVersion::V1 => NIFTI1_HEADER_SIZE,
            NiftiVersion::V2 => NIFTI2_HEADER_SIZE,
        }
    }

    /// 1 or 2.
    pub fn number(self) -> u8 {
        match self {
            NiftiVersion::V1 => 1,
            NiftiVersion::V2 => 2,
        }
    }
}

/// One header extension (`esize`, `ecode`, then `esize - 8` bytes of content).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NiftiExtension {
    /// NIFTI_ECODE_* (e.g. 4 AFNI, 6 comment, 32 CIFTI).
    pub code: i32,
    /// The content, including any zero padding the file had.
    pub content: Vec<u8>,
}

/// Every field of a NIfTI-1 / NIfTI-2 header, held in the wider NIfTI-2 types.
///
/// Read with [`super::read_header`] / [`super::read`]; edit and pass as the template of
/// [`super::write`]. Obsolete ANALYZE fields of NIfTI-1 (`data_type`, `db_name`, `extents`,
/// `session_error`, `regular`, `glmax`, `glmin`) are kept as read and written back unchanged.
#[derive(Debug, Clone, PartialEq)]
pub struct NiftiHeader {
    /// Which header layout the file uses (and writes use).
    pub version: NiftiVersion,
    /// Byte order of the header and data (writes keep it).
    pub endian: Endian,
    /// `true` for `n+1` / `n+2` (one .nii file), `false` for `ni1` / `ni2` (.hdr + .img pair).
    pub single_file: bool,
    /// Frequency / phase / slice dimension bits.
    pub dim_info: u8,
    /// `dim[0]` is the number of dimensions, `dim[1..=dim[0]]` the sizes.
    pub dim: [i64; 8],
    /// Intent parameters p1, p2, p3.
    pub intent_p: [f64; 3],
    /// NIFTI_INTENT_* code (1002 = label map).
    pub intent_code: i32,
    /// NIFTI_TYPE_* code of the data as stored.
    pub datatype: i16,
    /// Bits per voxel.
    pub bitpix: i16,
    /// First slice index.
    pub slice_start: i64,
    /// `pixdim[0]` is qfac (±1), `pixdim[1..=3]` the voxel size, `pixdim[4]` the time step.
    pub pixdim: [f64; 8],
    /// Byte offset of the voxel data in the .nii (or .img) file.
    pub vox_offset: u64,
    /// Data scaling slope (0 or NaN: no scaling, as nibabel reads it).
    pub scl_slope: f64,
    /// Data scaling intercept.
    pub scl_inter: f64,
    /// Last slice index.
    pub slice_end: i64,
    /// Slice timing order code.
    pub slice_code: i32,
    /// Units of pixdim (spatial | temporal bits).
    pub xyzt_units: i32,
    /// Display window maximum (0: unset).
    pub cal_max: f64,
    /// Display window minimum (0: unset).
    pub cal_min: f64,
    /// Time to acquire one slice.
    pub slice_duration: f64,
    /// Time axis shift.
    pub toffset: f64,
    /// Free text, at most 79 bytes.
    pub descrip: String,
    /// Auxiliary file name, at most 23 bytes.
    pub aux_file: String,
    /// Meaning of the qform (0 unknown, 1 scanner, 2 aligned, 3 Talairach, 4 MNI, 5 template).
    pub qform_code: i32,
    /// Meaning of the sform (same codes).
    pub sform_code: i32,
    /// Quaternion b, c, d of the qform rotation.
    pub quatern: [f64; 3],
    /// qform translation x, y, z.
    pub qoffset: [f64; 3],
    /// sform rows x, y, z (first three rows of the 4x4 affine).
    pub srow: [[f64; 4]; 3],
    /// Intent name, at most 15 bytes.
    pub intent_name: String,
    /// Header extensions, in file order.
    pub extensions: Vec<NiftiExtension>,
    /// The header bytes as read (for the obsolete fields); empty for a new header.
    raw: Vec<u8>,
}

impl Default for NiftiHeader {
    /// A little-endian single-file NIfTI-1 header of a 1x1x1 float32 image, unit voxels, no
    /// transforms (nibabel's defaults).
    fn default() -> Self {
        NiftiHeader {
            version: NiftiVersion::V1,
            endian: Endian::Little,
            single_file: true,
            dim_info: 0,
            dim: [3, 1, 1, 1, 1, 1, 1, 1],
            intent_p: [0.0; 3],
            intent_code: 0,
            datatype: DType::F32.nifti_code(),
            bitpix: 32,
            slice_start: 0,
            pixdim: [1.0; 8],
            vox_offset: NIFTI1_HEADER_SIZE as u64 + 4,
            scl_slope: f64::NAN,
            scl_inter: f64::NAN,
            slice_end: 0,
            slice_code: 0,
            xyzt_units: 0,
            cal_max: 0.0,
            cal_min: 0.0,
            slice_duration: 0.0,
            toffset: 0.0,
            descrip: String::new(),
            aux_file: String::new(),
            qform_code: 0,
            sform_code: 0,
            quatern: [0.0; 3],
            qoffset: [0.0; 3],
            srow: [[0.0; 4]; 3],
            intent_name: String::new(),
            extensions: Vec::new(),
            raw: Vec::new(),
        }
    }
}

/// Version and byte order from the first 4 bytes (`sizeof_hdr`), or `None`.
pub(crate) fn detect(first4: [u8; 4]) -> Option<(NiftiVersion, Endian)> {
    match (i32::from_le_bytes(first4), i32::from_be_bytes(first4)) {
        (348, _) => Some((NiftiVersion::V1, Endian::Little)),
        (_, 348) => Some((NiftiVersion::V1, Endian::Big)),
        (540, _) => Some((NiftiVersion::V2, Endian::Little)),
        (_, 540) => Some((NiftiVersion::V2, Endian::Big)),
        _ => None,
    }
}

impl NiftiHeader {
    /// Parses a header from its `version.header_size()` bytes; `path` names the file in errors.
    ///
    /// Applies nibabel's load-time fixes: qfac not ±1 becomes 1, negative voxel sizes become
    /// positive, zero voxel sizes become 1, unknown qform/sform codes become 0.
    pub fn parse(bytes: &[u8], path: &Path) -> Result<NiftiHeader> {
        let first4: [u8; 4] = bytes
            .get(..4)
            .and_then(|b| b.try_into().ok())
            .ok_or_else(|| {
                DataError::invalid(path, "file is empty or shorter than a NIfTI header")
            })?;
        let (version, endian) = detect(first4).ok_or_else(|| {
            DataError::invalid(
                path,
                format!(
                    "not a NIfTI file: sizeof_hdr is {} (expected 348 for NIfTI-1 or 540 for NIfTI-2)",
                    i32::from_le_bytes(first4)
                ),
            )
        })?;
        let size = version.header_size();
        if bytes.len() < size {
            return Err(DataError::invalid(
                path,
                format!(
                    "truncated NIfTI-{} header: {} of {size} bytes",
                    version.number(),
                    bytes.len()
                ),
            ));
        }
        let mut raw = bytes[..size].to_vec();
        let f = ByteFields {
            buf: &mut raw,
            endian,
        };
        let mut h = match version {
            NiftiVersion::V1 => parse_v1(&f),
            NiftiVersion::V2 => parse_v2(&f),
        };
        let magic = match version {
            NiftiVersion::V1 => &bytes[344..348],
            NiftiVersion::V2 => &bytes[4..8],
        };
        let n = version.number();
        h.single_file = match magic {
            [b'n', b'+', d, 0] if *d == b'0' + n => true,
            [b'n', b'i', d, 0] if *d == b'0' + n => false,
            _ => {
                return Err(DataError::invalid(
                    path,
                    format!(
                        "wrong NIfTI-{n} magic {:?} (expected \"n+{n}\" or \"ni{n}\")",
                        String::from_utf8_lossy(magic)
                    ),
                ))
            }
        };
        h.version = version;
        h.endian = endian;
        h.raw = raw;
        h.validate(path)?;
        h.apply_nibabel_fixes();
        Ok(h)
    }

    /// The shape `dim[1..=dim[0]]` (index order x, y, z, t, ...).
    pub fn shape(&self) -> Vec<usize> {
        let n = self.dim[0].clamp(0, 7) as usize;
        self.dim[1..=n].iter().map(|&d| d.max(0) as usize).collect()
    }

    /// Voxel sizes `pixdim[1..=ndim]` (nibabel's raw `get_zooms()`; units in `xyzt_units`).
    pub fn zooms(&self) -> Vec<f64> {
        let n = self.dim[0].clamp(0, 7) as usize;
        self.pixdim[1..=n].to_vec()
    }

    /// The stored element type.
    pub fn dtype(&self) -> std::result::Result<DType, String> {
        DType::from_nifti_code(self.datatype)
    }

    /// `(slope, inter)` to apply to raw values, or `None` when the header asks for no scaling
    /// (slope 0, NaN or infinite, as nibabel's `get_slope_inter`).
    pub fn scaling(&self) -> Option<(f64, f64)> {
        if self.scl_slope == 0.0 || !self.scl_slope.is_finite() {
            return None;
        }
        let inter = if self.scl_inter.is_finite() {
            self.scl_inter
        } else {
            0.0
        };
        if self.scl_slope == 1.0 && inter == 0.0 {
            return None;
        }
        Some((self.scl_slope, inter))
    }

    /// Bytes the extensions take on disk (8-byte esize/ecode plus content, each a multiple of 16).
    pub fn extensions_size(&self) -> usize {
        self.extensions
            .iter()
            .map(|e| (8 + e.content.len()).div_ceil(16) * 16)
            .sum()
    }

    /// Sets `dim` to `shape` (pixdim of unused dims to 1, as nibabel's `set_data_shape`).
    pub fn set_shape(&mut self, shape: &[usize]) {
        self.dim = [1; 8];
        self.dim[0] = shape.len() as i64;
        for (d, &s) in self.dim[1..].iter_mut().zip(shape) {
            *d = s as i64;
        }
        for p in self.pixdim[shape.len() + 1..].iter_mut() {
            *p = 1.0;
        }
    }

    fn validate(&self, path: &Path) -> Result<()> {
        let ndim = self.dim[0];
        if !(1..=7).contains(&ndim) {
            return Err(DataError::invalid(
                path,
                format!("dim[0] is {ndim}; it must be 1..=7"),
            ));
        }
        for (i, &d) in self.dim[1..=ndim as usize].iter().enumerate() {
            if d <= 0 {
                return Err(DataError::invalid(
                    path,
                    format!(
                        "dim[{}] is {d}; every size must be at least 1 (dim = {:?})",
                        i + 1,
                        self.dim
                    ),
                ));
            }
        }
        self.dtype().map_err(|m| DataError::invalid(path, m))?;
        if self.single_file && self.vox_offset < self.version.header_size() as u64 {
            return Err(DataError::invalid(
                path,
                format!(
                    "vox_offset {} points inside the {}-byte header",
                    self.vox_offset,
                    self.version.header_size()
                ),
            ));
        }
        Ok(())
    }

    fn apply_nibabel_fixes(&mut self) {
        if self.pixdim[0] != 1.0 && self.pixdim[0] != -1.0 {
            self.pixdim[0] = 1.0;
        }
        for p in &mut self.pixdim[1..4] {
            if *p == 0.0 {
                *p = 1.0;
            }
            *p = p.abs();
        }
        for code in [&mut self.qform_code, &mut self.sform_code] {
            if !(0..=5).contains(code) {
                *code = 0;
            }
        }
        // nibabel fixes a wrong bitpix silently: the datatype wins.
        if let Ok(dt) = self.dtype() {
            self.bitpix = (dt.size() * 8) as i16;
        }
    }

    /// The header bytes (without the 4-byte extension flag) in `self.version` and `self.endian`.
    pub fn encode(&self) -> Vec<u8> {
        let size = self.version.header_size();
        let mut buf = if self.raw.len() == size {
            self.raw.clone()
        } else {
            vec![0u8; size]
        };
        let mut f = ByteFields {
            buf: &mut buf,
            endian: self.endian,
        };
        f.put_i32(0, size as i32);
        match self.version {
            NiftiVersion::V1 => encode_v1(self, &mut f),
            NiftiVersion::V2 => encode_v2(self, &mut f),
        }
        buf
    }
}

fn parse_v1(f: &ByteFields) -> NiftiHeader {
    let mut dim = [0i64; 8];
    for (i, d) in dim.iter_mut().enumerate() {
        *d = f.i16(40 + 2 * i) as i64;
    }
    let mut pixdim = [0f64; 8];
    for (i, p) in pixdim.iter_mut().enumerate() {
        *p = f.f32(76 + 4 * i) as f64;
    }
    let row = |off: usize| [0, 1, 2, 3].map(|i| f.f32(off + 4 * i) as f64);
    NiftiHeader {
        dim_info: f.buf[39],
        dim,
        intent_p: [56, 60, 64].map(|o| f.f32(o) as f64),
        intent_code: f.i16(68) as i32,
        datatype: f.i16(70),
        bitpix: f.i16(72),
        slice_start: f.i16(74) as i64,
        pixdim,
        // nibabel: int(vox_offset); a negative or NaN offset becomes 0 and fails validation
        vox_offset: f.f32(108).max(0.0) as u64,
        scl_slope: f.f32(112) as f64,
        scl_inter: f.f32(116) as f64,
        slice_end: f.i16(120) as i64,
        slice_code: f.buf[122] as i32,
        xyzt_units: f.buf[123] as i32,
        cal_max: f.f32(124) as f64,
        cal_min: f.f32(128) as f64,
        slice_duration: f.f32(132) as f64,
        toffset: f.f32(136) as f64,
        descrip: f.string(148, 80),
        aux_file: f.string(228, 24),
        qform_code: f.i16(252) as i32,
        sform_code: f.i16(254) as i32,
        quatern: [256, 260, 264].map(|o| f.f32(o) as f64),
        qoffset: [268, 272, 276].map(|o| f.f32(o) as f64),
        srow: [row(280), row(296), row(312)],
        intent_name: f.string(328, 16),
        ..NiftiHeader::default()
    }
}

fn encode_v1(h: &NiftiHeader, f: &mut ByteFields) {
    f.buf[39] = h.dim_info;
    for (i, &d) in h.dim.iter().enumerate() {
        f.put_i16(40 + 2 * i, d as i16);
    }
    for (o, &p) in [56, 60, 64].into_iter().zip(&h.intent_p) {
        f.put_f32(o, p as f32);
    }
    f.put_i16(68, h.intent_code as i16);
    f.put_i16(70, h.datatype);
    f.put_i16(72, h.bitpix);
    f.put_i16(74, h.slice_start as i16);
    for (i, &p) in h.pixdim.iter().enumerate() {
        f.put_f32(76 + 4 * i, p as f32);
    }
    f.put_f32(108, h.vox_offset as f32);
    f.put_f32(112, h.scl_slope as f32);
    f.put_f32(116, h.scl_inter as f32);
    f.put_i16(120, h.slice_end as i16);
    f.buf[122] = h.slice_code as u8;
    f.buf[123] = h.xyzt_units as u8;
    f.put_f32(124, h.cal_max as f32);
    f.put_f32(128, h.cal_min as f32);
    f.put_f32(132, h.slice_duration as f32);
    f.put_f32(136, h.toffset as f32);
    f.put_string(148, 80, &h.descrip);
    f.put_string(228, 24, &h.aux_file);
    f.put_i16(252, h.qform_code as i16);
    f.put_i16(254, h.sform_code as i16);
    for (i, &q) in h.quatern.iter().enumerate() {
        f.put_f32(256 + 4 * i, q as f32);
    }
    for (i, &q) in h.qoffset.iter().enumerate() {
        f.put_f32(268 + 4 * i, q as f32);
    }
    for (r, row) in h.srow.iter().enumerate() {
        for (c, &v) in row.iter().enumerate() {
            f.put_f32(280 + 16 * r + 4 * c, v as f32);
        }
    }
    f.put_string(328, 16, &h.intent_name);
    f.buf[344..348].copy_from_slice(if h.single_file { b"n+1\0" } else { b"ni1\0" });
}

fn parse_v2(f: &ByteFields) -> NiftiHeader {
    let mut dim = [0i64; 8];
    for (i, d) in dim.iter_mut().enumerate() {
        *d = f.i64(16 + 8 * i);
    }
    let mut pixdim = [0f64; 8];
    for (i, p) in pixdim.iter_mut().enumerate() {
        *p = f.f64(104 + 8 * i);
    }
    let row = |off: usize| [0, 1, 2, 3].map(|i| f.f64(off + 8 * i));
    NiftiHeader {
        datatype: f.i16(12),
        bitpix: f.i16(14),
        dim,
        intent_p: [80, 88, 96].map(|o| f.f64(o)),
        pixdim,
        vox_offset: f.i64(168).max(0) as u64,
        scl_slope: f.f64(176),
        scl_inter: f.f64(184),
        cal_max: f.f64(192),
        cal_min: f.f64(200),
        slice_duration: f.f64(208),
        toffset: f.f64(216),
        slice_start: f.i64(224),
        slice_end: f.i64(232),
        descrip: f.string(240, 80),
        aux_file: f.string(320, 24),
        qform_code: f.i32(344),
        sform_code: f.i32(348),
        quatern: [352, 360, 368].map(|o| f.f64(o)),
        qoffset: [376, 384, 392].map(|o| f.f64(o)),
        srow: [row(400), row(432), row(464)],
        slice_code: f.i32(496),
        xyzt_units: f.i32(500),
        intent_code: f.i32(504),
        intent_name: f.string(508, 16),
        dim_info: f.buf[524],
        ..NiftiHeader::default()
    }
}

fn encode_v2(h: &NiftiHeader, f: &mut ByteFields) {
    f.buf[4..12].copy_from_slice(if h.single_file {
        b"n+2\0\r\n\x1a\n"
    } else {
        b"ni2\0\r\n\x1a\n"
    });
    f.put_i16(12, h.datatype);
    f.put_i16(14, h.bitpix);
    for (i, &d) in h.dim.iter().enumerate() {
        f.put_i64(16 + 8 * i, d);
    }
    for (i, &p) in h.intent_p.iter().enumerate() {
        f.put_f64(80 + 8 * i, p);
    }
    for (i, &p) in h.pixdim.iter().enumerate() {
        f.put_f64(104 + 8 * i, p);
    }
    f.put_i64(168, h.vox_offset as i64);
    f.put_f64(176, h.scl_slope);
    f.put_f64(184, h.scl_inter);
    f.put_f64(192, h.cal_max);
    f.put_f64(200, h.cal_min);
    f.put_f64(208, h.slice_duration);
    f.put_f64(216, h.toffset);
    f.put_i64(224, h.slice_start);
    f.put_i64(232, h.slice_end);
    f.put_string(240, 80, &h.descrip);
    f.put_string(320, 24, &h.aux_file);
    f.put_i32(344, h.qform_code);
    f.put_i32(348, h.sform_code);
    for (i, &q) in h.quatern.iter().enumerate() {
        f.put_f64(352 + 8 * i, q);
    }
    for (i, &q) in h.qoffset.iter().enumerate() {
        f.put_f64(376 + 8 * i, q);
    }
    for (r, row) in h.srow.iter().enumerate() {
        for (c, &v) in row.iter().enumerate() {
            f.put_f64(400 + 32 * r + 8 * c, v);
        }
    }
    f.put_i32(496, h.slice_code);
    f.put_i32(500, h.xyzt_units);
    f.put_i32(504, h.intent_code);
    f.put_string(508, 16, &h.intent_name);
    f.buf[524] = h.dim_info;
}

/// Parses the extensions in `region` (the bytes between the 4-byte extension flag and the data).
/// Stops at the first malformed entry, as nibabel does, keeping those before it.
pub(crate) fn parse_extensions(region: &[u8], endian: Endian) -> Vec<NiftiExtension> {
    let mut out = Vec::new();
    let mut pos = 0;
    while pos + 8 <= region.len() {
        let mut head = region[pos..pos + 8].to_vec();
        let f = ByteFields {
            buf: &mut head,
            endian,
        };
        let (esize, code) = (f.i32(0), f.i32(4));
        if esize < 8 || pos + esize as usize > region.len() {
            break;
        }
        out.push(NiftiExtension {
            code,
            content: region[pos + 8..pos + esize as usize].to_vec(),
        });
        pos += esize as usize;
    }
    out
}

/// The on-disk bytes of `exts` (each padded to a multiple of 16).
pub(crate) fn encode_extensions(exts: &[NiftiExtension], endian: Endian) -> Vec<u8> {
    let mut out = Vec::new();
    for e in exts {
        let esize = (8 + e.content.len()).div_ceil(16) * 16;
        let mut head = [0u8; 8];
        let mut f = ByteFields {
            buf: &mut head,
            endian,
        };
        f.put_i32(0, esize as i32);
        f.put_i32(4, e.code);
        out.extend_from_slice(&head);
        out.extend_from_slice(&e.content);
        out.resize(out.len() + esize - 8 - e.content.len(), 0);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn encode_parse_round_trip_both_versions_and_orders() {
        for version in [NiftiVersion::V1, NiftiVersion::V2] {
            for endian in [Endian::Little, Endian::Big] {
                let mut h = NiftiHeader {
                    version,
                    endian,
                    ..NiftiHeader::default()
                };
                h.set_shape(&[4, 5, 6]);
                h.pixdim = [-1.0, 0.5, 0.75, 2.0, 1.0, 1.0, 1.0, 1.0];
                h.sform_code = 2;
                h.srow = [
                    [1.0, 0.0, 0.0, -3.5],
                    [0.0, 1.0, 0.0, 2.0],
                    [0.0, 0.0, 1.0, 7.25],
                ];
                h.descrip = "made by danie".into();
                h.scl_slope = 1.0;
                h.scl_inter = 0.0;
                h.vox_offset = (version.header_size() + 4) as u64;
                let back = NiftiHeader::parse(&h.encode(), Path::new("x.nii")).unwrap();
                let mut expected = h.clone();
                expected.raw = back.raw.clone();
                assert_eq!(back, expected);
            }
        }
    }

    #[test]
    fn extensions_round_trip_with_padding() {
        let exts = vec![
            NiftiExtension {
                code: 6,
                content: b"hello".to_vec(),
            },
            NiftiExtension {
                code: 4,
                content: vec![7u8; 24],
            },
        ];
        let bytes = encode_extensions(&exts, Endian::Big);
        assert_eq!(bytes.len(), 16 + 32);
        let back = parse_extensions(&bytes, Endian::Big);
        assert_eq!(back[0].code, 6);
        assert_eq!(&back[0].content[..5], b"hello");
        assert_eq!(back[1], exts[1]);
    }
}
