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

// ---- Sizes taken from a header: checked against the file or the decoded-size budget ----

/// A single-file NIfTI-1 of `shape` uint8 zeros whose header says `vox_offset`, optionally
/// gzipped: 348 + 4 + the data bytes.
fn nifti_bytes(shape: &[usize], vox_offset: u64) -> Vec<u8> {
    let mut h = nifti::NiftiHeader::default();
    h.datatype = nifti::DType::U8.nifti_code();
    h.set_shape(shape);
    h.vox_offset = vox_offset;
    let mut bytes = h.encode();
    bytes.extend([0u8; 4]);
    bytes.resize(
        bytes.len() + shape.iter().product::<usize>().min(1 << 16),
        0,
    );
    bytes
}

fn gzip(bytes: &[u8]) -> Vec<u8> {
    let mut enc = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::best());
    enc.write_all(bytes).unwrap();
    enc.finish().unwrap()
}

#[test]
fn vox_offset_far_past_the_end_of_the_file() {
    let dir = tempfile::tempdir().unwrap();
    for (name, offset) in [("far.nii", 1e12 as u64), ("max.nii", u64::MAX)] {
        let p = dir.path().join(name);
        std::fs::write(&p, nifti_bytes(&[2, 2, 2], offset)).unwrap();
        assert_eq!(std::fs::metadata(&p).unwrap().len(), 360);
        assert_error(nifti::read(&p), &p, &["vox_offset", "360 bytes"]);
        assert_error(nifti::read_header(&p), &p, &["vox_offset", "360 bytes"]);
    }
    // compressed: over the budget, or (under it) the stream ends long before vox_offset
    let p = dir.path().join("far.nii.gz");
    std::fs::write(&p, gzip(&nifti_bytes(&[2, 2, 2], 1e15 as u64))).unwrap();
    assert_error(nifti::read(&p), &p, &["vox_offset", "over the limit"]);
    let p = dir.path().join("near.nii.gz");
    std::fs::write(&p, gzip(&nifti_bytes(&[2, 2, 2], 1 << 30))).unwrap();
    assert_error(
        nifti::read(&p),
        &p,
        &["file ends at byte 360", "extensions"],
    );
    // a .hdr/.img pair whose .img is shorter than vox_offset
    let mut hdr = nifti::NiftiHeader::default();
    hdr.single_file = false;
    hdr.vox_offset = 1e12 as u64;
    let mut bytes = hdr.encode();
    bytes.extend([0u8; 4]);
    std::fs::write(dir.path().join("pair.hdr"), bytes).unwrap();
    let img = dir.path().join("pair.img");
    std::fs::write(&img, [0u8; 4]).unwrap();
    assert_error(nifti::read(&img), &img, &["vox_offset", "4 bytes"]);
}

#[test]
fn nifti_declaring_terabytes() {
    let dir = tempfile::tempdir().unwrap();
    // 32767 x 32767 x 1000 uint8: 1 TB declared by a 64 KiB file
    let bytes = nifti_bytes(&[32767, 32767, 1000], 352);
    let p = dir.path().join("huge.nii");
    std::fs::write(&p, &bytes).unwrap();
    assert_error(nifti::read(&p), &p, &["header and data size disagree"]);
    let p = dir.path().join("huge.nii.gz");
    std::fs::write(&p, gzip(&bytes)).unwrap();
    assert_error(
        nifti::read(&p),
        &p,
        &["image data", "over the limit", "DANIE_MAX_DECODED_BYTES"],
    );
    // NIfTI-2: 64-bit dims whose product overflows
    let mut h = nifti::NiftiHeader::default();
    h.version = nifti::NiftiVersion::V2;
    h.vox_offset = 544;
    h.set_shape(&[1 << 40, 1 << 40, 1 << 40]);
    let mut bytes = h.encode();
    bytes.extend([0u8; 12]);
    let p = dir.path().join("overflow.nii");
    std::fs::write(&p, &bytes).unwrap();
    assert_error(nifti::read(&p), &p, &["too large"]);
}

#[test]
fn gzip_members_empty_many_or_running_past_the_image() {
    let dir = tempfile::tempdir().unwrap();
    let image = nifti_bytes(&[4, 4, 4], 352);
    let empty = gzip(&[]);
    // thousands of empty members before and after the image: read, in linear time
    let mut many = empty.repeat(5000);
    many.extend(gzip(&image));
    many.extend(empty.repeat(5000));
    let p = dir.path().join("members.nii.gz");
    std::fs::write(&p, &many).unwrap();
    assert_eq!(nifti::read(&p).unwrap().shape(), &[4, 4, 4]);
    // the image, then 64 MiB of zeros in a second member (64 KiB on disk): refused without
    // decompressing the tail
    let mut tail = gzip(&image);
    tail.extend(gzip(&vec![0u8; 64 << 20]));
    assert!(tail.len() < 200 << 10);
    let p = dir.path().join("tail.nii.gz");
    std::fs::write(&p, &tail).unwrap();
    assert_error(nifti::read(&p), &p, &["goes on for more than", "byte 416"]);
    // a little padding after the image is accepted, as nibabel does
    let mut pad = image.clone();
    pad.extend([0u8; 100]);
    let p = dir.path().join("pad.nii.gz");
    std::fs::write(&p, gzip(&pad)).unwrap();
    assert!(nifti::read(&p).is_ok());
}

/// An npy file: header for `descr` and `shape` (a Python tuple), then `data`.
fn npy_bytes(descr: &str, shape: &str, data: &[u8]) -> Vec<u8> {
    let mut header =
        format!("{{'descr': '{descr}', 'fortran_order': False, 'shape': {shape}, }}").into_bytes();
    let total = (10 + header.len() + 1).div_ceil(64) * 64;
    header.resize(total - 11, b' ');
    header.push(b'\n');
    let mut out = b"\x93NUMPY\x01\x00".to_vec();
    out.extend((header.len() as u16).to_le_bytes());
    out.extend(header);
    out.extend(data);
    out
}

/// A zip of `(name, bytes)` entries, deflated or stored.
fn zip_bytes(entries: &[(&str, Vec<u8>)], deflated: bool) -> Vec<u8> {
    let mut w = zip::ZipWriter::new(std::io::Cursor::new(Vec::new()));
    let method = if deflated {
        zip::CompressionMethod::Deflated
    } else {
        zip::CompressionMethod::Stored
    };
    let opts = zip::write::SimpleFileOptions::default()
        .compression_method(method)
        .large_file(false);
    for (name, bytes) in entries {
        w.start_file(*name, opts).unwrap();
        w.write_all(bytes).unwrap();
    }
    w.finish().unwrap().into_inner()
}

#[test]
fn npy_and_npz_declaring_more_than_they_hold() {
    let dir = tempfile::tempdir().unwrap();
    let huge = npy_bytes("<f4", "(1000000, 1000000)", &[0u8; 64]);
    let p = dir.path().join("huge.npy");
    std::fs::write(&p, &huge).unwrap();
    assert_error(npy::read_npy(&p), &p, &["[1000000, 1000000]", "truncated"]);
    // stored entry: the entry cannot hold the array
    let p = dir.path().join("stored.npz");
    std::fs::write(&p, zip_bytes(&[("image.npy", huge.clone())], false)).unwrap();
    assert_error(
        npy::read_npz_array(&p, "image"),
        &p,
        &["array `image`", "[1000000, 1000000]", "truncated"],
    );
    // deflated entry: a terabyte is over the budget
    let p = dir.path().join("deflated.npz");
    std::fs::write(&p, zip_bytes(&[("image.npy", huge)], true)).unwrap();
    assert_error(
        npy::read_npz_array(&p, "image"),
        &p,
        &["array `image`", "over the limit"],
    );
    // 2 GiB under the budget, but from ~100 compressed bytes: more than deflate can give
    let two_gib = npy_bytes("|u1", "(2147483648,)", &[0u8; 64]);
    let p = dir.path().join("ratio.npz");
    std::fs::write(&p, zip_bytes(&[("label.npy", two_gib)], true)).unwrap();
    assert_error(
        npy::read_npz_array(&p, "label"),
        &p,
        &["array `label`", "more than any coding expands"],
    );
}

#[test]
fn npz_with_thousands_of_members_is_read_in_one_pass() {
    let dir = tempfile::tempdir().unwrap();
    let one = npy_bytes("|u1", "(2,)", &[7, 9]);
    let names: Vec<String> = (0..3000).map(|i| format!("a{i:04}.npy")).collect();
    let entries: Vec<(&str, Vec<u8>)> = names.iter().map(|n| (n.as_str(), one.clone())).collect();
    let p = dir.path().join("many.npz");
    std::fs::write(&p, zip_bytes(&entries, true)).unwrap();
    let all = npy::read_npz(&p).unwrap();
    assert_eq!(all.len(), 3000);
    assert_eq!(
        (all[0].0.as_str(), all[2999].0.as_str()),
        ("a0000", "a2999")
    );
    let mut seen = 0;
    npy::for_each_npz_array(
        &p,
        |n| n.ends_with('7'),
        |_, a| {
            assert_eq!(a.shape(), &[2]);
            seen += 1;
            Ok(())
        },
    )
    .unwrap();
    assert_eq!(seen, 300);
    // a missing key lists a few names, not three thousand
    let err = npy::read_npz_array(&p, "image").unwrap_err().to_string();
    assert!(err.contains("3000 in all") && err.len() < 1000, "{err}");
}

#[test]
fn hdf5_declaring_more_than_its_storage() {
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join("case0001.npy.h5");
    {
        let f = hdf5::File::create(&p).unwrap();
        // 1 TB contiguous, never written; 3 GiB chunked and deflated, never written
        f.new_dataset::<u8>()
            .shape([1usize << 20, 1 << 20])
            .create("image")
            .unwrap();
        f.new_dataset::<f32>()
            .shape([768usize, 1024, 1024])
            .chunk([1, 1024, 1024])
            .deflate(4)
            .create("label")
            .unwrap();
        f.new_dataset::<i16>()
            .shape([4usize, 4])
            .create("small")
            .unwrap()
            .write_raw(&[3i16; 16])
            .unwrap();
    }
    assert!(std::fs::metadata(&p).unwrap().len() < 64 << 10);
    assert_error(
        h5::read_dataset(&p, "image"),
        &p,
        &["dataset `image`", "1.0 TiB", "storage"],
    );
    assert_error(
        h5::read_dataset(&p, "label"),
        &p,
        &["dataset `label`", "3.0 GiB", "compressed data"],
    );
    assert_eq!(h5::read_dataset(&p, "small").unwrap().shape(), &[4, 4]);
}

/// A valid PNG whose IHDR says `w` x `h` (the CRC recomputed), its pixel data that of 1 x 1.
fn png_declaring(w: u32, h: u32) -> Vec<u8> {
    use image::ImageEncoder;
    let mut png = Vec::new();
    image::codecs::png::PngEncoder::new(&mut png)
        .write_image(&[0u8], 1, 1, image::ExtendedColorType::L8)
        .unwrap();
    // signature (8), IHDR length and type (8), then width and height
    png[16..20].copy_from_slice(&w.to_be_bytes());
    png[20..24].copy_from_slice(&h.to_be_bytes());
    let mut crc = flate2::Crc::new();
    crc.update(&png[12..29]);
    png[29..33].copy_from_slice(&crc.sum().to_be_bytes());
    png
}

#[test]
fn image_declaring_huge_dimensions() {
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join("huge.png");
    std::fs::write(&p, png_declaring(100_000, 100_000)).unwrap();
    assert!(std::fs::metadata(&p).unwrap().len() < 1024);
    assert_error(image_io::read_image(&p), &p, &["100000 x 100000"]);
    assert_error(image_io::read_rgb(&p), &p, &["100000 x 100000"]);
    assert_error(image_io::read_mask(&p), &p, &["100000 x 100000"]);
    // the same file with honest dimensions decodes
    std::fs::write(&p, png_declaring(1, 1)).unwrap();
    assert_eq!(image_io::read_image(&p).unwrap().shape(), &[1, 1, 1]);
}

#[test]
fn npy_header_too_long_or_too_deeply_nested() {
    let dir = tempfile::tempdir().unwrap();
    // a version-2 header claiming 4 GiB of dictionary
    let mut bytes = b"\x93NUMPY\x02\x00".to_vec();
    bytes.extend(u32::MAX.to_le_bytes());
    bytes.extend(b"{'descr': '<f4'");
    let p = dir.path().join("long.npy");
    std::fs::write(&p, &bytes).unwrap();
    assert_error(npy::read_npy(&p), &p, &["header of 4294967295 bytes"]);
    // a shape nested 50000 deep: refused before the recursive parser sees it
    let shape = format!("{}1{}", "(".repeat(50_000), ")".repeat(50_000));
    let p = dir.path().join("deep.npy");
    let deep = npy_bytes("<f4", &shape, &[]);
    assert!(deep.len() < 1 << 17);
    // (the v1 length field holds at most 65535: use version 2 for this header)
    let mut v2 = b"\x93NUMPY\x02\x00".to_vec();
    let dict = &deep[10..];
    v2.extend((dict.len() as u32).to_le_bytes());
    v2.extend(dict);
    std::fs::write(&p, &v2).unwrap();
    assert_error(npy::read_npy(&p), &p, &["not a valid .npy"]);
    // the same nesting within the length limit
    let shape = format!("{}1{}", "(".repeat(10_000), ")".repeat(10_000));
    let p = dir.path().join("deep2.npy");
    std::fs::write(&p, npy_bytes("<f4", &shape, &[])).unwrap();
    assert_error(npy::read_npy(&p), &p, &["deeper than 16"]);
}
