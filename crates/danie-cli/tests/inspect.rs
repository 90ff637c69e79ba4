//! `danie inspect` as a user runs it: on every real scan in tests/data/real, `--json` reports what
//! nibabel reads (golden.json: shape, dtype, byte order, zooms, affine, scaling, value range and
//! sum, label values); the table names the file; bad input exits non-zero naming the file.
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use serde_json::Value;

fn real_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../tests/data/real")
}

fn danie(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_danie"))
        .args(args)
        .output()
        .expect("run danie")
}

/// numpy's dtype string (`>i2`, `<f4`, `int16`) as a name (`int16`).
fn numpy_name(dtype: &str) -> String {
    let Some(code) = dtype.strip_prefix(['<', '>', '|', '=']) else {
        return dtype.to_string();
    };
    let (kind, size) = code.split_at(1);
    let bits = size.parse::<u32>().expect("numpy itemsize") * 8;
    match kind {
        "i" => format!("int{bits}"),
        "u" => format!("uint{bits}"),
        "f" => format!("float{bits}"),
        other => panic!("unexpected numpy kind {other} in {dtype}"),
    }
}

fn close(a: f64, b: f64, rel: f64) -> bool {
    (a - b).abs() <= rel * b.abs().max(1.0)
}

#[test]
fn json_reports_what_nibabel_reads_on_every_real_scan() {
    let golden: Value =
        serde_json::from_str(&std::fs::read_to_string(real_dir().join("golden.json")).unwrap())
            .unwrap();
    let golden = golden.as_object().unwrap();
    assert!(golden.len() >= 10, "golden.json lists the real scans");
    for (rel, want) in golden {
        let path = real_dir().join(rel);
        let out = danie(&["inspect", path.to_str().unwrap(), "--json"]);
        assert!(
            out.status.success(),
            "{rel}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        let got: Value = serde_json::from_slice(&out.stdout).expect("inspect --json prints JSON");
        assert_eq!(got["format"], "nifti", "{rel}");
        let a = &got["arrays"][0];
        assert_eq!(a["shape"], want["shape"], "{rel}: shape");
        assert_eq!(
            a["dtype"].as_str().unwrap(),
            numpy_name(want["on_disk_dtype"].as_str().unwrap()),
            "{rel}: dtype"
        );
        let n = &a["nifti"];
        assert_eq!(n["version"], want["nifti_version"], "{rel}");
        assert_eq!(n["endianness"], want["endianness"], "{rel}");
        assert_eq!(n["qform_code"], want["qform_code"], "{rel}");
        assert_eq!(n["sform_code"], want["sform_code"], "{rel}");
        assert_eq!(n["vox_offset"], want["vox_offset"], "{rel}");
        for key in ["scl_slope", "scl_inter"] {
            let (g, w) = (n[key].as_f64().unwrap(), want[key].as_f64());
            // nibabel reports NaN (no scaling) as null; danie prints the identity
            if let Some(w) = w.filter(|w| w.is_finite()) {
                assert!(close(g, w, 1e-12), "{rel}: {key} {g} vs {w}");
            }
        }
        // spacing: the spatial zooms (nibabel lists the time step of 4D files too)
        let zooms = want["pixdim_zooms"].as_array().unwrap();
        let spacing = a["spacing"].as_array().unwrap();
        assert_eq!(spacing.len(), zooms.len().min(3), "{rel}: spacing");
        for (g, w) in spacing.iter().zip(zooms) {
            assert!(
                close(g.as_f64().unwrap(), w.as_f64().unwrap(), 1e-6),
                "{rel}: spacing {g} vs {w}"
            );
        }
        for (r, row) in want["affine"].as_array().unwrap().iter().enumerate() {
            for (c, w) in row.as_array().unwrap().iter().enumerate() {
                let g = a["affine"][r][c].as_f64().unwrap();
                assert!(
                    close(g, w.as_f64().unwrap(), 1e-9),
                    "{rel}: affine[{r}][{c}]"
                );
            }
        }
        let s = &a["stats"];
        let count = s["count"].as_f64().unwrap();
        let shape_count: f64 = want["shape"]
            .as_array()
            .unwrap()
            .iter()
            .map(|v| v.as_f64().unwrap())
            .product();
        assert_eq!(count, shape_count, "{rel}: count");
        assert_eq!(s["nan_count"], want["nan_count"], "{rel}");
        for (key, golden_key) in [("min", "scaled_min"), ("max", "scaled_max")] {
            let (g, w) = (s[key].as_f64().unwrap(), want[golden_key].as_f64().unwrap());
            assert!(close(g, w, 1e-9), "{rel}: {key} {g} vs nibabel's {w}");
        }
        let sum = s["mean"].as_f64().unwrap() * (count - s["nan_count"].as_f64().unwrap());
        assert!(
            close(sum, want["scaled_sum"].as_f64().unwrap(), 1e-9),
            "{rel}: mean x count {sum} vs nibabel's sum {}",
            want["scaled_sum"]
        );
        if let Some(labels) = want["unique_labels"].as_array() {
            assert_eq!(&a["labels"], &Value::from(labels.clone()), "{rel}: labels");
        }
    }
}

#[test]
fn table_names_the_file_and_its_shape() {
    let path = real_dir().join("totalseg/example_seg.nii.gz");
    let out = danie(&["inspect", path.to_str().unwrap()]);
    assert!(out.status.success());
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.contains("example_seg.nii.gz"), "{text}");
    assert!(
        text.contains("122") && text.contains("101") && text.contains("30"),
        "{text}"
    );
    assert!(text.contains("uint8"), "{text}");
}

#[test]
fn bad_files_exit_non_zero_naming_the_file() {
    let dir = tempfile::tempdir().unwrap();
    // a gzip cut in half
    let whole = std::fs::read(real_dir().join("totalseg/example_ct_sm.nii.gz")).unwrap();
    let cut = dir.path().join("cut.nii.gz");
    std::fs::write(&cut, &whole[..whole.len() / 2]).unwrap();
    // not a NIfTI at all
    let junk = dir.path().join("junk.nii");
    std::fs::write(&junk, vec![7u8; 400]).unwrap();
    let missing = dir.path().join("missing.nii.gz");
    let unknown = dir.path().join("notes.txt");
    std::fs::write(&unknown, "hello").unwrap();
    for (path, says) in [
        (&cut, Some("gzip")),
        (&junk, Some("not a NIfTI file")),
        (&missing, None),
        (&unknown, None),
    ] {
        let out = danie(&["inspect", path.to_str().unwrap(), "--json"]);
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(!out.status.success(), "{}: exit 0", path.display());
        assert!(
            err.contains(path.file_name().unwrap().to_str().unwrap()),
            "{}: the error must name the file: {err}",
            path.display()
        );
        if let Some(says) = says {
            assert!(err.contains(says), "{}: {err}", path.display());
        }
        assert!(!err.contains("panicked"), "{}: {err}", path.display());
        assert!(out.stdout.is_empty(), "no JSON for a file that failed");
    }
}
