//! Every real file in tests/data/real is read exactly as nibabel 5.4.2 reads it (golden.json,
//! written by nibabel, not by danie): shape, on-disk dtype and byte order, scaling, zooms,
//! transform codes, affine, data offset, sums / min / max of scaled and raw data, NaN count and
//! label values.
use std::path::{Path, PathBuf};

use danie_data::nifti::{self, DType, Endian, NiftiVersion};
use serde_json::Value;

fn real_dir() -> PathBuf {
    Path::new(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../tests/data/real"
    ))
    .to_path_buf()
}

fn golden() -> serde_json::Map<String, Value> {
    let text = std::fs::read_to_string(real_dir().join("golden.json"))
        .expect("tests/data/real/golden.json");
    serde_json::from_str::<Value>(&text)
        .unwrap()
        .as_object()
        .unwrap()
        .clone()
}

fn f64s(v: &Value) -> Vec<f64> {
    v.as_array()
        .unwrap()
        .iter()
        .map(|x| x.as_f64().unwrap())
        .collect()
}

fn close(a: f64, b: f64, rel: f64) -> bool {
    (a - b).abs() <= rel * b.abs().max(1.0)
}

/// numpy's `dtype.str` / name for an on-disk type: `int16` when little-endian, `>i2` when big.
fn numpy_dtype_string(dt: DType, endian: Endian) -> String {
    if endian == Endian::Little || dt.size() == 1 {
        return dt.name().to_string();
    }
    let kind = match dt {
        DType::F32 | DType::F64 => 'f',
        DType::U16 | DType::U32 | DType::U64 => 'u',
        _ => 'i',
    };
    format!(">{kind}{}", dt.size())
}

#[test]
fn every_real_file_matches_nibabel_golden() {
    let golden = golden();
    assert!(
        golden.len() >= 11,
        "golden.json lists {} files",
        golden.len()
    );
    for (rel, g) in &golden {
        let path = real_dir().join(rel);
        let img = nifti::read(&path).unwrap_or_else(|e| panic!("{rel}: {e}"));
        let h = &img.header;
        let ctx = |what: &str| format!("{rel}: {what}");

        let version = match h.version {
            NiftiVersion::V1 => 1,
            NiftiVersion::V2 => 2,
        };
        assert_eq!(
            version,
            g["nifti_version"].as_i64().unwrap(),
            "{}",
            ctx("version")
        );
        let shape: Vec<usize> = g["shape"]
            .as_array()
            .unwrap()
            .iter()
            .map(|x| x.as_u64().unwrap() as usize)
            .collect();
        assert_eq!(img.shape(), shape.as_slice(), "{}", ctx("shape"));
        assert_eq!(
            numpy_dtype_string(img.data.dtype(), h.endian),
            g["on_disk_dtype"].as_str().unwrap(),
            "{}",
            ctx("dtype")
        );
        assert_eq!(
            h.endian.name(),
            g["endianness"].as_str().unwrap(),
            "{}",
            ctx("endianness")
        );
        let (slope, inter) = h.scaling().unwrap_or((1.0, 0.0));
        assert_eq!(slope, g["scl_slope"].as_f64().unwrap(), "{}", ctx("slope"));
        assert_eq!(inter, g["scl_inter"].as_f64().unwrap(), "{}", ctx("inter"));
        assert_eq!(h.zooms(), f64s(&g["pixdim_zooms"]), "{}", ctx("zooms"));
        assert_eq!(
            h.qform_code as i64,
            g["qform_code"].as_i64().unwrap(),
            "{}",
            ctx("qform_code")
        );
        assert_eq!(
            h.sform_code as i64,
            g["sform_code"].as_i64().unwrap(),
            "{}",
            ctx("sform_code")
        );
        assert_eq!(
            h.vox_offset,
            g["vox_offset"].as_u64().unwrap(),
            "{}",
            ctx("vox_offset")
        );

        let affine = img.affine().unwrap();
        for (r, row) in g["affine"].as_array().unwrap().iter().enumerate() {
            for (c, want) in f64s(row).into_iter().enumerate() {
                assert!(
                    (affine[r][c] - want).abs() <= 1e-6,
                    "{}: affine[{r}][{c}] = {} but nibabel gives {want}",
                    rel,
                    affine[r][c]
                );
            }
        }

        let scaled = img.fdata();
        let finite: Vec<f64> = scaled.iter().copied().filter(|v| !v.is_nan()).collect();
        let nan_count = scaled.len() - finite.len();
        assert_eq!(
            nan_count as u64,
            g["nan_count"].as_u64().unwrap(),
            "{}",
            ctx("nan_count")
        );
        let sum: f64 = finite.iter().sum();
        let min = finite.iter().copied().fold(f64::INFINITY, f64::min);
        let max = finite.iter().copied().fold(f64::NEG_INFINITY, f64::max);
        assert!(
            close(sum, g["scaled_sum"].as_f64().unwrap(), 1e-9),
            "{}: scaled sum {sum} vs {}",
            rel,
            g["scaled_sum"]
        );
        assert_eq!(
            min,
            g["scaled_min"].as_f64().unwrap(),
            "{}",
            ctx("scaled_min")
        );
        assert_eq!(
            max,
            g["scaled_max"].as_f64().unwrap(),
            "{}",
            ctx("scaled_max")
        );
        let raw_sum: f64 = img.data.to_f64().iter().filter(|v| !v.is_nan()).sum();
        assert!(
            close(raw_sum, g["raw_sum"].as_f64().unwrap(), 1e-9),
            "{}: raw sum {raw_sum} vs {}",
            rel,
            g["raw_sum"]
        );

        // f32 access agrees with f64 to f32 precision
        let f32s = img.fdata_f32();
        assert!(f32s
            .iter()
            .zip(scaled.iter())
            .all(|(&a, &b)| (a.is_nan() && b.is_nan()) || a == b as f32));

        if let Some(labels) = g["unique_labels"].as_array() {
            let want: Vec<i64> = labels.iter().map(|x| x.as_i64().unwrap()).collect();
            assert_eq!(
                img.data.label_values(1000),
                Some(want.clone()),
                "{}",
                ctx("labels")
            );
            let ids = img.labels().unwrap();
            let mut got: Vec<i64> = ids.iter().map(|&v| v as i64).collect();
            got.sort_unstable();
            got.dedup();
            assert_eq!(got, want, "{}", ctx("label map"));
        }
    }
}

#[test]
fn voxel_index_order_is_nibabels_xyz() {
    // example_ct_sm is 122x101x30: a Fortran-ordered (x, y, z) array whose z-slices are contiguous
    let img = nifti::read(real_dir().join("totalseg/example_ct_sm.nii.gz")).unwrap();
    let data = img.fdata_f32();
    assert_eq!(data.shape(), &[122, 101, 30]);
    // element (i, j, k) is at i + nx * (j + ny * k) on disk
    let flat = data.as_slice_memory_order().unwrap();
    let (i, j, k) = (7, 50, 21);
    assert_eq!(data[[i, j, k]], flat[i + 122 * (j + 101 * k)]);
}

#[test]
fn header_only_read_matches_full_read() {
    for rel in [
        "nifti/example4d.nii.gz",
        "nifti/example_nifti2.nii.gz",
        "totalseg/example_seg.nii.gz",
    ] {
        let path = real_dir().join(rel);
        let full = nifti::read(&path).unwrap();
        let header = nifti::read_header(&path).unwrap();
        assert_eq!(header, full.header, "{rel}");
    }
    // the 13 KB TotalSegmentator extension is parsed and kept
    let seg = nifti::read_header(real_dir().join("totalseg/example_seg.nii.gz")).unwrap();
    assert!(!seg.extensions.is_empty());
    assert_eq!(352 + seg.extensions_size() as u64, seg.vox_offset);
}
