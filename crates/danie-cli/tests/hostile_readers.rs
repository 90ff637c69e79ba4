//! Hostile and damaged files through `danie inspect`, `danie data check` and `danie predict`, as a user runs
//! them: a clean failure (exit 1 or 2, a message naming the file and the problem, no panic) and
//! a peak memory, measured by the OS, far below what the file claims. Every file is made here,
//! small on disk; `DANIE_MAX_DECODED_BYTES` brings the decoded-size budget down to test sizes.
mod support;

use std::io::Write;
use std::path::{Path, PathBuf};

use danie_data::nifti::{DType, NiftiHeader};
use support::{baseline_plus, run, MIB};

/// `danie inspect FILE` with `envs`.
fn inspect(file: &Path, envs: &[(&str, &str)]) -> support::Outcome {
    run(&["inspect", &file.to_string_lossy()], envs)
}

fn name(p: &Path) -> String {
    p.file_name().unwrap().to_string_lossy().into_owned()
}

fn gzip(bytes: &[u8]) -> Vec<u8> {
    let mut enc = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::best());
    enc.write_all(bytes).unwrap();
    enc.finish().unwrap()
}

/// A single-file NIfTI-1 of `shape` uint8 whose header says `vox_offset`, with at most 64 KiB
/// of data after the header.
fn nifti_bytes(shape: &[usize], vox_offset: u64) -> Vec<u8> {
    let mut h = NiftiHeader::default();
    h.datatype = DType::U8.nifti_code();
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

fn write(dir: &Path, file: &str, bytes: &[u8]) -> PathBuf {
    let p = dir.join(file);
    std::fs::write(&p, bytes).unwrap();
    p
}

#[test]
fn nifti_vox_offset_past_the_end_and_terabyte_shapes() {
    let d = tempfile::tempdir().unwrap();
    let bound = baseline_plus(200 * MIB);
    let p = write(d.path(), "far.nii", &nifti_bytes(&[2, 2, 2], 1e12 as u64));
    inspect(&p, &[]).assert_clean_failure(&[&name(&p), "vox_offset", "360 bytes"], bound);
    let huge = nifti_bytes(&[32767, 32767, 1000], 352);
    let p = write(d.path(), "huge.nii", &huge);
    inspect(&p, &[]).assert_clean_failure(&[&name(&p), "header and data size disagree"], bound);
    let p = write(d.path(), "huge.nii.gz", &gzip(&huge));
    inspect(&p, &[]).assert_clean_failure(&[&name(&p), "over the limit"], bound);
}

#[test]
fn nifti_gz_over_the_budget_and_running_past_the_image() {
    let d = tempfile::tempdir().unwrap();
    let bound = baseline_plus(200 * MIB);
    // a real CT with the budget set below its size
    let ct = support::real_dir().join("totalseg/example_ct_sm.nii.gz");
    inspect(&ct, &[("DANIE_MAX_DECODED_BYTES", "64K")]).assert_clean_failure(
        &[
            "example_ct_sm.nii.gz",
            "over the limit",
            "DANIE_MAX_DECODED_BYTES",
        ],
        bound,
    );
    // a 16-byte image, then 64 MiB of zeros in a second member (~64 KiB on disk)
    let mut bytes = gzip(&nifti_bytes(&[2, 2, 4], 352));
    bytes.extend(gzip(&vec![0u8; 64 << 20]));
    let p = write(d.path(), "tail.nii.gz", &bytes);
    inspect(&p, &[]).assert_clean_failure(&[&name(&p), "goes on for more than"], bound);
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

/// A deflated zip of `(name, bytes)` entries.
fn npz_bytes(entries: &[(String, Vec<u8>)]) -> Vec<u8> {
    let mut w = zip::ZipWriter::new(std::io::Cursor::new(Vec::new()));
    let opts = zip::write::SimpleFileOptions::default()
        .compression_method(zip::CompressionMethod::Deflated);
    for (name, bytes) in entries {
        w.start_file(name.as_str(), opts).unwrap();
        w.write_all(bytes).unwrap();
    }
    w.finish().unwrap().into_inner()
}

#[test]
fn npz_bombs_and_budget() {
    let d = tempfile::tempdir().unwrap();
    let bound = baseline_plus(200 * MIB);
    let tb = npy_bytes("<f4", "(1000000, 1000000)", &[0u8; 64]);
    let p = write(d.path(), "tb.npz", &npz_bytes(&[("image.npy".into(), tb)]));
    inspect(&p, &[]).assert_clean_failure(&[&name(&p), "array `image`", "over the limit"], bound);
    let ratio = npy_bytes("|u1", "(2147483648,)", &[0u8; 64]);
    let p = write(
        d.path(),
        "ratio.npz",
        &npz_bytes(&[("label.npy".into(), ratio)]),
    );
    inspect(&p, &[]).assert_clean_failure(&[&name(&p), "more than any coding expands"], bound);
    // an honest 128 MiB of zeros (~130 KiB deflated), over a 64 MiB budget
    let zeros = npy_bytes("|u1", "(134217728,)", &vec![0u8; 128 << 20]);
    let p = write(
        d.path(),
        "zeros.npz",
        &npz_bytes(&[("image.npy".into(), zeros)]),
    );
    assert!(std::fs::metadata(&p).unwrap().len() < 2 * MIB);
    inspect(&p, &[("DANIE_MAX_DECODED_BYTES", "64M")]).assert_clean_failure(
        &[&name(&p), "128.0 MiB", "over the limit of 64.0 MiB"],
        bound,
    );
}

#[test]
fn npz_with_thousands_of_members_inspects_every_one() {
    let d = tempfile::tempdir().unwrap();
    let one = npy_bytes("|u1", "(3,)", &[1, 2, 3]);
    let entries: Vec<(String, Vec<u8>)> = (0..3000)
        .map(|i| (format!("a{i:04}.npy"), one.clone()))
        .collect();
    let p = write(d.path(), "many.npz", &npz_bytes(&entries));
    let o = inspect(&p, &[]);
    assert_eq!(o.code, Some(0), "{}", o.stderr);
    assert_eq!(o.stdout.matches("\n[a").count(), 3000);
    assert!(o.stdout.contains("[a2999]"));
    assert!(
        o.peak_rss <= baseline_plus(200 * MIB),
        "{} MiB",
        o.peak_rss >> 20
    );
}

#[test]
fn hdf5_declaring_a_terabyte_or_gigabytes_never_written() {
    let d = tempfile::tempdir().unwrap();
    let bound = baseline_plus(200 * MIB);
    let tb = d.path().join("tb.h5");
    {
        let f = hdf5::File::create(&tb).unwrap();
        f.new_dataset::<u8>()
            .shape([1usize << 20, 1 << 20])
            .create("image")
            .unwrap();
    }
    let gib = d.path().join("gib.h5");
    {
        let f = hdf5::File::create(&gib).unwrap();
        f.new_dataset::<f32>()
            .shape([768usize, 1024, 1024])
            .chunk([1, 1024, 1024])
            .deflate(4)
            .create("image")
            .unwrap();
    }
    for p in [&tb, &gib] {
        assert!(std::fs::metadata(p).unwrap().len() < 64 << 10);
    }
    inspect(&tb, &[]).assert_clean_failure(&[&name(&tb), "dataset `image`", "1.0 TiB"], bound);
    inspect(&gib, &[]).assert_clean_failure(&[&name(&gib), "dataset `image`", "3.0 GiB"], bound);
}

/// A grey PNG of `h` x `w` zeros at `dir/file`.
fn grey_png(dir: &Path, file: &str, h: usize, w: usize) -> PathBuf {
    let p = dir.join(file);
    let a = danie_data::nifti::TypedArray::from(ndarray::ArrayD::<u8>::zeros(&[h, w][..]));
    danie_data::image_io::write_png(&p, &a).unwrap();
    p
}

/// A 1 x 1 PNG whose header says 100000 x 100000 (a valid CRC), `huge.png` in `dir`.
fn huge_png(dir: &Path) -> PathBuf {
    let p = grey_png(dir, "huge.png", 1, 1);
    let mut png = std::fs::read(&p).unwrap();
    // IHDR's width and height, then its CRC
    png[16..20].copy_from_slice(&100_000u32.to_be_bytes());
    png[20..24].copy_from_slice(&100_000u32.to_be_bytes());
    let mut crc = flate2::Crc::new();
    crc.update(&png[12..29]);
    png[29..33].copy_from_slice(&crc.sum().to_be_bytes());
    std::fs::write(&p, &png).unwrap();
    p
}

#[test]
fn png_declaring_100000_by_100000() {
    let d = tempfile::tempdir().unwrap();
    let p = huge_png(d.path());
    inspect(&p, &[])
        .assert_clean_failure(&["huge.png", "100000 x 100000"], baseline_plus(200 * MIB));
}

#[test]
fn danie_predict_reads_images_under_the_readers_budget() {
    let d = tempfile::tempdir().unwrap();
    // Real tiny 1-channel weights.
    let w = d.path().join("w.safetensors");
    support::model_weights(&w, &danie_train::weights_meta::WeightsMeta::for_tests());
    let predict = |input: &Path, envs: &[(&str, &str)]| {
        let out = d.path().join("mask.png");
        let o = run(
            &[
                "predict",
                "-w",
                w.to_str().unwrap(),
                "-i",
                input.to_str().unwrap(),
                "-o",
                out.to_str().unwrap(),
                "--device",
                "cpu",
            ],
            envs,
        );
        (o, out)
    };
    // A real 256 x 256 slice (64 KiB decoded) with the budget set below it.
    let slice = grey_png(d.path(), "slice.png", 256, 256);
    let (o, out) = predict(&slice, &[("DANIE_MAX_DECODED_BYTES", "16K")]);
    o.assert_clean_failure(
        &["slice.png", "over the limit", "DANIE_MAX_DECODED_BYTES"],
        baseline_plus(256 * MIB),
    );
    assert!(!out.exists());
    // A header declaring 10^10 pixels: refused before decoding.
    let (o, out) = predict(&huge_png(d.path()), &[]);
    o.assert_clean_failure(&["huge.png", "100000 x 100000"], baseline_plus(256 * MIB));
    assert!(!out.exists());
    // Within the budget the same slice is segmented.
    predict(&slice, &[]).0.assert_success();
}

#[test]
fn acdc_npz_data_check_with_trailing_singletons_and_empty_slices() {
    use danie_data::datasets::DatasetKind;
    use danie_data::synthetic::{generate, SyntheticConfig};
    let d = tempfile::tempdir().unwrap();
    let cfg = SyntheticConfig {
        cases: Some(3),
        size: 24,
        slices: Some(2),
        ..Default::default()
    };
    generate(DatasetKind::AcdcNpz, d.path(), &cfg).unwrap();
    let mut slices: Vec<PathBuf> = std::fs::read_dir(d.path().join("train"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    slices.sort();
    let put = |path: &Path, shape: &[usize]| {
        let a = danie_data::nifti::TypedArray::from(ndarray::ArrayD::<f32>::zeros(shape));
        danie_data::npy::write_npz(path, &[("img", &a), ("label", &a)], true).unwrap();
    };
    let root = d.path().to_string_lossy().into_owned();
    let check = || {
        run(
            &["data", "check", "--dataset", "acdc-npz", "--root", &root],
            &[],
        )
    };
    // (H, W, 1) slices are 2D slices
    put(&slices[0], &[24, 24, 1]);
    let o = check();
    assert_eq!(o.code, Some(0), "{}\n{}", o.stdout, o.stderr);
    // a 0 x 0 slice is a problem naming the file, and the check fails
    put(&slices[1], &[0, 0]);
    let o = check();
    o.assert_clean_failure(&["1 problem(s)"], baseline_plus(200 * MIB));
    let bad = name(&slices[1]);
    assert!(
        o.stdout.contains(&bad) && o.stdout.contains("empty axis"),
        "{}",
        o.stdout
    );
}
