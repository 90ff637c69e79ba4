//! NIfTI against nibabel, both directions:
//! - files nibabel writes (every dtype x byte order x .nii/.nii.gz/.hdr+.img x NIfTI-1/2, with qform-only,
//!   sform and transform-free headers, scaling and extensions) read by danie exactly as nibabel
//!   reads them;
//! - files danie writes from real template headers read by nibabel with the data, affine and
//!   kept header fields intact.
mod formats_support;

use danie_data::nifti::{self, DType, Endian, NiftiVersion, TypedArray};
use formats_support::{json_usizes, read_f64_le, real_dir, run_python, same_f64};
use ndarray::{ArrayD, IxDyn};

#[test]
fn reads_every_file_nibabel_writes() {
    let dir = tempfile::tempdir().unwrap();
    let manifest = run_python("nifti_write_matrix.py", &[dir.path()]);
    let entries = manifest.as_array().unwrap();
    assert_eq!(
        entries.len(),
        120,
        "2 versions x 2 byte orders x 3 kinds (.nii, .nii.gz, .hdr/.img) x 10 dtypes"
    );
    let mut seen_scaled = 0;
    let mut seen_pairs = 0;
    for e in entries {
        let name = e["file"].as_str().unwrap();
        let path = dir.path().join(name);
        let img = nifti::read(&path).unwrap_or_else(|err| panic!("{err}"));
        let h = &img.header;
        let version = if h.version == NiftiVersion::V1 { 1 } else { 2 };
        assert_eq!(version, e["version"].as_i64().unwrap(), "{name}");
        assert_eq!(h.endian.name(), e["endianness"].as_str().unwrap(), "{name}");
        assert_eq!(
            img.data.dtype().name(),
            e["dtype"].as_str().unwrap(),
            "{name}"
        );
        let shape = json_usizes(&e["shape"]);
        assert_eq!(img.shape(), shape.as_slice(), "{name}");
        assert_eq!(
            h.qform_code as i64,
            e["qform_code"].as_i64().unwrap(),
            "{name}"
        );
        assert_eq!(
            h.sform_code as i64,
            e["sform_code"].as_i64().unwrap(),
            "{name}"
        );
        assert_eq!(h.vox_offset, e["vox_offset"].as_u64().unwrap(), "{name}");
        let zooms: Vec<f64> = e["zooms"]
            .as_array()
            .unwrap()
            .iter()
            .map(|v| v.as_f64().unwrap())
            .collect();
        assert_eq!(h.zooms(), zooms, "{name}");
        let codes: Vec<i64> = h.extensions.iter().map(|x| x.code as i64).collect();
        let want_codes: Vec<i64> = e["extension_codes"]
            .as_array()
            .unwrap()
            .iter()
            .map(|v| v.as_i64().unwrap())
            .collect();
        assert_eq!(codes, want_codes, "{name}");
        assert_eq!(h.descrip, e["descrip"].as_str().unwrap(), "{name}");
        let (slope, inter) = h.scaling().unwrap_or((1.0, 0.0));
        assert_eq!(
            (slope, inter),
            (e["slope"].as_f64().unwrap(), e["inter"].as_f64().unwrap()),
            "{name}"
        );
        seen_scaled += (slope != 1.0) as usize;
        if let Some(stem) = name.strip_suffix(".hdr") {
            seen_pairs += 1;
            assert!(!h.single_file, "{name}: a .hdr/.img pair");
            // naming the .img finds its .hdr: the same image
            let via_img = nifti::read(dir.path().join(format!("{stem}.img")))
                .unwrap_or_else(|err| panic!("{err}"));
            assert_eq!(via_img.header, img.header, "{name} via .img");
            assert!(
                via_img.data.to_bytes(Endian::Little, true)
                    == img.data.to_bytes(Endian::Little, true),
                "{name} via .img: other voxels"
            );
        } else {
            assert!(h.single_file, "{name}: one .nii file");
        }

        let affine = img.affine().unwrap();
        for (r, row) in e["affine"].as_array().unwrap().iter().enumerate() {
            for (c, want) in row.as_array().unwrap().iter().enumerate() {
                let want = want.as_f64().unwrap();
                assert!(
                    (affine[r][c] - want).abs() < 1e-9,
                    "{name}: affine[{r}][{c}] {} vs nibabel {want}",
                    affine[r][c]
                );
            }
        }

        // raw values: byte-identical to nibabel's unscaled array
        let raw = std::fs::read(dir.path().join(format!("{name}.raw.bin"))).unwrap();
        assert!(
            img.data.to_bytes(Endian::Little, true) == raw,
            "{name}: raw values differ from nibabel's"
        );
        // scaled values: nibabel's get_fdata(), exactly
        let want = read_f64_le(&dir.path().join(format!("{name}.fdata.bin")));
        let got = img.fdata();
        let got = got.as_slice_memory_order().unwrap();
        assert_eq!(got.len(), want.len());
        for (i, (&g, &w)) in got.iter().zip(&want).enumerate() {
            assert!(
                same_f64(g, w),
                "{name}: fdata[{i}] = {g} but nibabel gives {w}"
            );
        }
    }
    assert!(
        seen_scaled >= 6,
        "the matrix must include scaled files ({seen_scaled})"
    );
    assert_eq!(seen_pairs, 40, ".hdr/.img pairs in the matrix");
}

/// Deterministic values of every kind a dtype holds, extremes included.
fn sample(dtype: DType, shape: &[usize], seed: u64) -> TypedArray {
    let n: usize = shape.iter().product();
    let mut state = seed
        .wrapping_mul(6364136223846793005)
        .wrapping_add(1442695040888963407);
    let mut next = move || {
        state = state
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        (state >> 33) as i64 % 2001 - 1000
    };
    macro_rules! ints {
        ($t:ty) => {{
            let mut v: Vec<$t> = (0..n)
                .map(|_| (next() as i128).clamp(<$t>::MIN as i128, <$t>::MAX as i128) as $t)
                .collect();
            v[0] = <$t>::MIN;
            v[n - 1] = <$t>::MAX;
            TypedArray::from(ArrayD::from_shape_vec(IxDyn(shape), v).unwrap())
        }};
    }
    macro_rules! floats {
        ($t:ty) => {{
            let mut v: Vec<$t> = (0..n).map(|_| next() as $t * 0.37).collect();
            v[0] = <$t>::MAX;
            v[1] = <$t>::NAN;
            v[2] = <$t>::NEG_INFINITY;
            TypedArray::from(ArrayD::from_shape_vec(IxDyn(shape), v).unwrap())
        }};
    }
    match dtype {
        DType::U8 => ints!(u8),
        DType::I8 => ints!(i8),
        DType::I16 => ints!(i16),
        DType::U16 => ints!(u16),
        DType::I32 => ints!(i32),
        DType::U32 => ints!(u32),
        DType::I64 => ints!(i64),
        DType::U64 => ints!(u64),
        DType::F32 => floats!(f32),
        DType::F64 => floats!(f64),
    }
}

#[test]
fn nibabel_reads_what_danie_writes_keeping_the_template() {
    let dir = tempfile::tempdir().unwrap();
    let templates = [
        "totalseg/example_ct_sm.nii.gz", // little-endian, sform only
        "nifti/anatomical.nii",          // big-endian, qform and sform
        "nifti/example_nifti2.nii.gz",   // NIfTI-2
        "totalseg/example_seg.nii.gz",   // 13 KB header extension
        "nifti/functional.nii",          // scaled 4D source; 3D output
    ];
    let mut manifest = Vec::new();
    for (t, rel) in templates.iter().enumerate() {
        let template = nifti::read_header(real_dir().join(rel)).unwrap();
        for (d, dtype) in DType::ALL.into_iter().enumerate() {
            let suffix = if (t + d) % 2 == 0 { "nii" } else { "nii.gz" };
            let shape = [5usize, 4, 3];
            let data = sample(dtype, &shape, (t * 10 + d) as u64); // C-ordered in memory
            let out = dir.path().join(format!("t{t}_{dtype}.{suffix}"));
            nifti::write(&out, &template, &data).unwrap();
            let expected = dir.path().join(format!("t{t}_{dtype}.bin"));
            std::fs::write(&expected, data.to_bytes(Endian::Little, true)).unwrap();
            manifest.push(serde_json::json!({
                "file": out, "template": real_dir().join(rel), "expected": expected,
                "dtype": dtype.name(), "shape": shape,
            }));

            // and danie reads back what it wrote, identically
            let back = nifti::read(&out).unwrap();
            assert_eq!(back.data.dtype(), dtype);
            assert!(
                back.data.to_bytes(Endian::Big, false) == data.to_bytes(Endian::Big, false),
                "{rel} {dtype}"
            );
            assert_eq!(back.affine().unwrap(), template.best_affine().unwrap());
        }
    }
    let manifest_path = dir.path().join("manifest.json");
    std::fs::write(&manifest_path, serde_json::to_vec(&manifest).unwrap()).unwrap();
    let results = run_python("nifti_read_check.py", &[&manifest_path]);
    for r in results.as_array().unwrap() {
        let file = r["file"].as_str().unwrap();
        assert!(
            r["data_equal"].as_bool().unwrap(),
            "{file}: nibabel reads other values: {r}"
        );
        assert!(r["endianness_kept"].as_bool().unwrap(), "{file}: {r}");
        assert_eq!(r["version"], r["template_version"], "{file}");
        assert!(
            r["affine_max_diff"].as_f64().unwrap() == 0.0,
            "{file}: affine changed: {r}"
        );
        assert_eq!(r["qform_code"], r["template_qform_code"], "{file}");
        assert_eq!(r["sform_code"], r["template_sform_code"], "{file}");
        for kept in [
            "zooms_kept",
            "xyzt_units_kept",
            "descrip_kept",
            "extensions_kept",
        ] {
            assert!(r[kept].as_bool().unwrap(), "{file}: {kept} is false: {r}");
        }
        assert_eq!(r["slope_inter"], serde_json::json!([1.0, 0.0]), "{file}");
    }
    let with_ext = results
        .as_array()
        .unwrap()
        .iter()
        .filter(|r| r["n_extensions"].as_u64().unwrap() > 0)
        .count();
    assert_eq!(
        with_ext, 20,
        "outputs of the two templates with extensions keep them"
    );
}

#[test]
fn write_replaces_atomically_and_refuses_other_suffixes() {
    let dir = tempfile::tempdir().unwrap();
    let template = nifti::read_header(real_dir().join("totalseg/example_ct_sm.nii.gz")).unwrap();
    let labels = ArrayD::<u8>::from_elem(IxDyn(&[3, 3, 2]), 4);
    let out = dir.path().join("pred.nii.gz");
    nifti::write_array(&out, &template, labels.view()).unwrap();
    let err =
        nifti::write_array(dir.path().join("pred.png"), &template, labels.view()).unwrap_err();
    assert!(
        err.to_string().contains("pred.png") && err.to_string().contains(".nii"),
        "{err}"
    );
    // no temporary files are left behind
    let names: Vec<_> = std::fs::read_dir(dir.path())
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .collect();
    assert_eq!(names, vec![std::ffi::OsString::from("pred.nii.gz")]);
    let back = nifti::read(&out).unwrap();
    assert_eq!(back.labels().unwrap(), labels.mapv(u16::from));
}
