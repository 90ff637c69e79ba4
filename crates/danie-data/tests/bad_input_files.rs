//! Damaged or wrong files give a `DataError` that names the file and the problem — never a
//! panic, never silently wrong data.
mod formats_support;

use std::io::{Read, Write};
use std::path::{Path, PathBuf};

use danie_data::error::require_no_nan;
use danie_data::{h5, image_io, nifti, npy, DataError};
use formats_support::real_dir;

/// `real` file bytes (decompressed if gzip), patched by `patch`, written to `dir/name`.
fn patched(dir: &Path, real: &str, name: &str, patch: impl FnOnce(&mut Vec<u8>)) -> PathBuf {
    let raw = std::fs::read(real_dir().join(real)).unwrap();
    let mut bytes = if raw.starts_with(&[0x1f, 0x8b]) {
        let mut out = Vec::new();
        flate2::read::MultiGzDecoder::new(raw.as_slice())
            .read_to_end(&mut out)
            .unwrap();
        out
    } else {
        raw
    };
    patch(&mut bytes);
    let path = dir.join(name);
    if name.ends_with(".gz") {
        let mut enc = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
        enc.write_all(&bytes).unwrap();
        std::fs::write(&path, enc.finish().unwrap()).unwrap();
    } else {
        std::fs::write(&path, bytes).unwrap();
    }
    path
}

/// Asserts `result` is an error whose message names `path` and contains every `needles`.
fn assert_error<T: std::fmt::Debug>(result: Result<T, DataError>, path: &Path, needles: &[&str]) {
    let err = result.expect_err("bad input must be an error").to_string();
    let name = path.file_name().unwrap().to_string_lossy();
    assert!(
        err.contains(&*name),
        "error does not name the file {name}: {err}"
    );
    for n in needles {
        assert!(err.contains(n), "error lacks {n:?}: {err}");
    }
}

// anatomical.nii is big-endian NIfTI-1, 33x41x25 int16, data at 352.
const ANAT: &str = "nifti/anatomical.nii";

#[test]
fn truncated_and_corrupt_gzip() {
    let dir = tempfile::tempdir().unwrap();
    let full = std::fs::read(real_dir().join("totalseg/example_ct_sm.nii.gz")).unwrap();
    let cut = dir.path().join("ct_cut.nii.gz");
    std::fs::write(&cut, &full[..full.len() / 2]).unwrap();
    assert_error(nifti::read(&cut), &cut, &["truncated"]);
    // intact deflate data but a wrong CRC in the trailer
    let mut bad_crc = full.clone();
    let n = bad_crc.len();
    bad_crc[n - 8] ^= 0xff;
    let crc = dir.path().join("ct_crc.nii.gz");
    std::fs::write(&crc, bad_crc).unwrap();
    assert_error(nifti::read(&crc), &crc, &["gzip"]);
    // the header alone still reads from a truncated file
    assert!(nifti::read_header(&cut).is_ok());
}

#[test]
fn wrong_magic_and_not_nifti() {
    let dir = tempfile::tempdir().unwrap();
    let p = patched(dir.path(), ANAT, "magic.nii", |b| {
        b[344..348].copy_from_slice(b"n+9\0")
    });
    assert_error(nifti::read(&p), &p, &["magic", "n+9"]);
    let p = patched(dir.path(), ANAT, "sizeof.nii", |b| {
        b[0..4].copy_from_slice(&[1, 2, 3, 4])
    });
    assert_error(nifti::read(&p), &p, &["not a NIfTI file", "sizeof_hdr"]);
    let p = dir.path().join("short.nii");
    std::fs::write(&p, &std::fs::read(real_dir().join(ANAT)).unwrap()[..200]).unwrap();
    assert_error(nifti::read(&p), &p, &["header"]);
}

#[test]
fn header_and_data_size_disagree() {
    let dir = tempfile::tempdir().unwrap();
    let p = patched(dir.path(), ANAT, "short_data.nii", |b| {
        b.truncate(352 + 1000)
    });
    assert_error(
        nifti::read(&p),
        &p,
        &["header and data size disagree", "[33, 41, 25]", "67650"],
    );
    let p = patched(dir.path(), ANAT, "short_data.nii.gz", |b| {
        b.truncate(352 + 1000)
    });
    assert_error(nifti::read(&p), &p, &["header and data size disagree"]);
    // vox_offset inside the header (big-endian f32 at byte 108)
    let p = patched(dir.path(), ANAT, "offset.nii", |b| {
        b[108..112].copy_from_slice(&100f32.to_be_bytes())
    });
    assert_error(nifti::read(&p), &p, &["vox_offset 100"]);
}

#[test]
fn bad_dims_and_unsupported_dtypes() {
    let dir = tempfile::tempdir().unwrap();
    // dim[2] = 0 and dim[1] = -5 (big-endian i16 at 40 + 2i)
    let p = patched(dir.path(), ANAT, "dim0.nii", |b| {
        b[44..46].copy_from_slice(&0i16.to_be_bytes())
    });
    assert_error(nifti::read(&p), &p, &["dim[2] is 0"]);
    let p = patched(dir.path(), ANAT, "dimneg.nii", |b| {
        b[42..44].copy_from_slice(&(-5i16).to_be_bytes())
    });
    assert_error(nifti::read(&p), &p, &["dim[1] is -5"]);
    let p = patched(dir.path(), ANAT, "ndim.nii", |b| {
        b[40..42].copy_from_slice(&9i16.to_be_bytes())
    });
    assert_error(nifti::read(&p), &p, &["dim[0] is 9"]);
    for (code, what) in [
        (128i16, "RGB24"),
        (32, "complex64"),
        (1792, "complex128"),
        (77, "not a NIfTI type code"),
    ] {
        let p = patched(dir.path(), ANAT, &format!("dtype{code}.nii"), |b| {
            b[70..72].copy_from_slice(&code.to_be_bytes())
        });
        assert_error(nifti::read(&p), &p, &["unsupported NIfTI datatype", what]);
    }
}

#[test]
fn empty_directory_and_missing() {
    let dir = tempfile::tempdir().unwrap();
    let empty = dir.path().join("empty.nii.gz");
    std::fs::write(&empty, b"").unwrap();
    assert_error(nifti::read(&empty), &empty, &["empty"]);
    let folder = dir.path().join("case0001.nii.gz");
    std::fs::create_dir(&folder).unwrap();
    assert_error(nifti::read(&folder), &folder, &["directory"]);
    let missing = dir.path().join("missing.nii.gz");
    assert_error(nifti::read(&missing), &missing, &["No such file"]);
    for p in [&empty, &folder, &missing] {
        assert!(npy::read_npy(p).is_err() && h5::read_dataset(p, "image").is_err());
        assert!(image_io::read_image(p).is_err());
    }
}

#[test]
fn four_d_where_three_d_is_expected_and_nan_voxels() {
    let p = real_dir().join("nifti/functional.nii");
    let mut img = nifti::read(&p).unwrap();
    assert_error(
        img.require_ndim(3),
        &p,
        &["expected 3-D data but it is 4-D", "[17, 21, 3, 20]"],
    );
    let p = real_dir().join("nifti/resampled_anat_moved.nii");
    let img = nifti::read(&p).unwrap();
    assert_error(
        require_no_nan(&img.path, img.fdata_f32().view()),
        &p,
        &["153 NaN"],
    );
    // float intensities are not a label map
    assert_error(img.labels(), &p, &["not a label map"]);
}

#[test]
fn damaged_npy_npz_h5_and_images() {
    let dir = tempfile::tempdir().unwrap();
    let npy_path = dir.path().join("slice.npy");
    let a =
        danie_data::nifti::TypedArray::from(ndarray::ArrayD::<f32>::zeros(ndarray::IxDyn(&[8, 8])));
    npy::write_npy(&npy_path, &a).unwrap();
    let bytes = std::fs::read(&npy_path).unwrap();
    std::fs::write(&npy_path, &bytes[..bytes.len() - 10]).unwrap();
    assert_error(
        npy::read_npy(&npy_path),
        &npy_path,
        &["truncated", "[8, 8]"],
    );
    let junk = dir.path().join("junk.npz");
    std::fs::write(&junk, b"this is not a zip archive at all").unwrap();
    assert_error(npy::read_npz_array(&junk, "image"), &junk, &["npz"]);
    let fake_h5 = dir.path().join("case0001.npy.h5");
    std::fs::write(&fake_h5, b"not hdf5").unwrap();
    assert_error(h5::read_dataset(&fake_h5, "image"), &fake_h5, &["HDF5"]);
    let png = dir.path().join("broken.png");
    std::fs::write(&png, b"\x89PNG\r\n\x1a\n garbage").unwrap();
    assert_error(image_io::read_image(&png), &png, &["cannot decode"]);
}
