//! NIfTI-1 and NIfTI-2 reading and writing (`.nii`, `.nii.gz`, and `.hdr`/`.img` pairs for
//! reading), written against nibabel 5.4's behaviour.
//!
//! - Both header versions in either byte order (detected from `sizeof_hdr`), magic `n+1`/`ni1`/
//!   `n+2`/`ni2`, every integer and float datatype (complex and RGB are refused with a clear
//!   error), `scl_slope`/`scl_inter` (slope 0 or NaN: no scaling), header extensions (kept for
//!   writing).
//! - The affine is nibabel's `get_best_affine()`: sform, else qform, else the base affine
//!   ([`NiftiHeader::best_affine`]).
//! - Data keep nibabel's index order `(x, y, z[, t])`; the arrays are Fortran-ordered in memory,
//!   exactly as on disk, so reading makes no copy beyond the file's bytes.
//! - [`write`] keeps a template header (affine, qform/sform, pixdim, units, description,
//!   extensions, byte order, version) and sets only what the new data changes; it writes to a
//!   temporary file in the target folder and renames, so a failed write leaves nothing half-done.
//!
//! ```no_run
//! let img = danie_data::nifti::read("ct.nii.gz")?;
//! let hu = img.fdata_f32();            // (x, y, z) f32, scaled like nibabel's get_fdata()
//! let affine = img.affine()?;          // 4x4, as nibabel's img.affine
//! let mask = hu.mapv(|v| (v > 0.0) as u8);
//! danie_data::nifti::write("mask.nii.gz", &img.header, &mask.into_dyn().into())?;
//! # Ok::<(), danie_data::DataError>(())
//! ```
mod affine;
mod byte_fields;
mod dtype;
pub(crate) mod element_io;
pub(crate) mod file_access;
mod file_name;
mod header;
mod image;
mod reader;
mod typed_array;
mod value_stats;
mod writer;

pub use affine::Affine;
pub use dtype::{DType, Endian};
pub use file_name::{nifti_file_name, NiftiFileName};
pub use header::{
    NiftiExtension, NiftiHeader, NiftiVersion, NIFTI1_HEADER_SIZE, NIFTI2_HEADER_SIZE,
};
pub use image::NiftiImage;
pub use reader::{read, read_header};
pub(crate) use typed_array::with_array;
pub use typed_array::{Element, TypedArray};
pub use value_stats::ValueStats;
pub use writer::{write, write_array};
