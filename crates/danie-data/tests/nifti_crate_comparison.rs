//! The `nifti` crate (nifti-rs 0.18, the reader the design named) beside danie's own NIfTI reader,
//! both against nibabel on the same files:
//! - the 120 files nibabel writes in tests/python/nifti_write_matrix.py (NIfTI-1 and NIfTI-2 x
//!   byte order x .nii / .nii.gz / .hdr+.img x 10 dtypes; sform+qform, qform-only and
//!   transform-free headers; scaled ints and floats);
//! - the real scans of tests/data/real (golden.json holds what nibabel reads);
//! - hostile headers made from one of those files (a bad qfac, a negative voxel size, NaN or 0
//!   scaling, sizes past the data, a truncated header), with nibabel's reading of each from
//!   tests/python/nifti_load_summary.py.
//!
//! It prints a table of where each reader agrees with nibabel and asserts those counts, so a
//! change in either reader fails here; docs/file-formats.md ("danie's reader and the nifti
//! crate") states the same findings. danie agrees with nibabel on every case; the crate is why
//! danie keeps its own reader.
mod formats_support;

use std::panic::{catch_unwind, AssertUnwindSafe};
use std::path::{Path, PathBuf};

use danie_data::nifti as danie_nifti;
use formats_support::{read_f64_le, real_dir, run_python, same_f64};
use nifti::{IntoNdArray, NiftiObject, ReaderOptions};

/// What one reader made of one file.
#[derive(Debug, Clone, PartialEq)]
enum Outcome {
    /// Read: Fortran-ordered scaled values (as nibabel's `get_fdata()`), the affine it chose.
    Read {
        fdata: Vec<f64>,
        affine: [[f64; 4]; 4],
    },
    /// Refused with an error.
    Refused(String),
    /// Panicked (the crate asserts on some header values instead of returning an error).
    Panicked,
}

fn danie_read(path: &Path) -> Outcome {
    let read = || -> Result<Outcome, danie_data::DataError> {
        let img = danie_nifti::read(path)?;
        let affine = img.affine()?;
        let fdata = img.fdata();
        let fdata = fdata
            .as_slice_memory_order()
            .expect("danie keeps the file's order")
            .to_vec();
        Ok(Outcome::Read { fdata, affine })
    };
    match catch_unwind(AssertUnwindSafe(read)) {
        Ok(Ok(o)) => o,
        Ok(Err(e)) => Outcome::Refused(e.to_string()),
        Err(_) => Outcome::Panicked,
    }
}

fn crate_read(path: &Path) -> Outcome {
    let read = || -> Result<Outcome, nifti::NiftiError> {
        let obj = ReaderOptions::new().read_file(path)?;
        let m = obj.header().affine::<f64>();
        let affine = std::array::from_fn(|r| std::array::from_fn(|c| m[(r, c)]));
        let data = obj.into_volume().into_ndarray::<f64>()?;
        // Fortran order of `data` is C order of its transpose.
        let fdata = data.t().iter().copied().collect();
        Ok(Outcome::Read { fdata, affine })
    };
    match catch_unwind(AssertUnwindSafe(read)) {
        Ok(Ok(o)) => o,
        Ok(Err(e)) => Outcome::Refused(e.to_string()),
        Err(_) => Outcome::Panicked,
    }
}

/// How an outcome compares with nibabel's reading (`want`: its fdata and affine, or None when
/// nibabel refuses the file).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
enum Verdict {
    /// Same values (NaN = NaN) and the same affine to 1e-6.
    Same,
    /// Read, values within 1e-6 relative but not identical (float32 arithmetic).
    CloseValues,
    /// Read, values differ beyond 1e-6 relative.
    OtherValues,
    /// Read, another affine.
    OtherAffine,
    /// Refused a file nibabel reads.
    Refused,
    /// Panicked.
    Panicked,
    /// nibabel refuses the file and so does this reader.
    BothRefuse,
    /// nibabel refuses the file; this reader returned values.
    ReadWhatNibabelRefuses,
}

fn verdict(got: &Outcome, want: Option<(&[f64], &[[f64; 4]; 4])>) -> Verdict {
    match (got, want) {
        (Outcome::Panicked, _) => Verdict::Panicked,
        (Outcome::Refused(_), None) => Verdict::BothRefuse,
        (Outcome::Read { .. }, None) => Verdict::ReadWhatNibabelRefuses,
        (Outcome::Refused(_), Some(_)) => Verdict::Refused,
        (Outcome::Read { fdata, affine }, Some((want_data, want_affine))) => {
            let affine_ok = (0..4).all(|r| {
                (0..4).all(|c| {
                    let (a, b) = (affine[r][c], want_affine[r][c]);
                    (a - b).abs() <= 1e-6 * b.abs().max(1.0)
                })
            });
            if !affine_ok {
                return Verdict::OtherAffine;
            }
            if fdata.len() != want_data.len() {
                return Verdict::OtherValues;
            }
            if fdata.iter().zip(want_data).all(|(&a, &b)| same_f64(a, b)) {
                return Verdict::Same;
            }
            let close = fdata
                .iter()
                .zip(want_data)
                .all(|(&a, &b)| same_f64(a, b) || (a - b).abs() <= 1e-6 * b.abs().max(a.abs()));
            if close {
                Verdict::CloseValues
            } else {
                Verdict::OtherValues
            }
        }
    }
}

fn affine_of(v: &serde_json::Value) -> [[f64; 4]; 4] {
    std::array::from_fn(|r| std::array::from_fn(|c| v[r][c].as_f64().expect("a number")))
}

/// Counts of verdicts per group, printed as a table.
#[derive(Default)]
struct Tally(std::collections::BTreeMap<(String, &'static str, Verdict), usize>);

impl Tally {
    fn add(&mut self, group: &str, reader: &'static str, v: Verdict) {
        *self.0.entry((group.to_string(), reader, v)).or_default() += 1;
    }
    fn print(&self, title: &str) {
        eprintln!(
            "\n{title}\n| files | reader | against nibabel | count |\n| --- | --- | --- | ---: |"
        );
        for ((group, reader, v), n) in &self.0 {
            eprintln!("| {group} | {reader} | {v:?} | {n} |");
        }
    }
}

#[test]
fn the_nibabel_write_matrix() {
    let dir = tempfile::tempdir().unwrap();
    let manifest = run_python("nifti_write_matrix.py", &[dir.path()]);
    let mut tally = Tally::default();
    for e in manifest.as_array().unwrap() {
        let name = e["file"].as_str().unwrap();
        let path = dir.path().join(name);
        let want_data = read_f64_le(&dir.path().join(format!("{name}.fdata.bin")));
        let want_affine = affine_of(&e["affine"]);
        let want = Some((want_data.as_slice(), &want_affine));
        let kind = if name.ends_with(".hdr") {
            "pair"
        } else if name.ends_with(".gz") {
            "nii.gz"
        } else {
            "nii"
        };
        let scaled = e["slope"].as_f64() != Some(1.0) || e["inter"].as_f64() != Some(0.0);
        let group = format!(
            "NIfTI-{} {kind}{}",
            e["version"],
            if scaled { " scaled" } else { "" }
        );
        tally.add(&group, "danie", verdict(&danie_read(&path), want));
        tally.add(&group, "nifti crate", verdict(&crate_read(&path), want));
    }
    tally.print("nibabel's write matrix (tests/python/nifti_write_matrix.py)");

    let total = |reader, v| -> usize {
        tally
            .0
            .iter()
            .filter(|((_, r, x), _)| *r == reader && *x == v)
            .map(|(_, n)| n)
            .sum()
    };
    // danie reads every file exactly as nibabel does.
    assert_eq!(total("danie", Verdict::Same), 120);
    // The crate reads every NIfTI-1 file as nibabel does (scaling and the affine choice: sform,
    // else qform, else the base affine, included) and refuses every NIfTI-2 one.
    for ((group, reader, v), n) in &tally.0 {
        if *reader == "nifti crate" {
            let want = if group.starts_with("NIfTI-2") {
                Verdict::Refused
            } else {
                Verdict::Same
            };
            assert_eq!(*v, want, "nifti crate, {n} file(s) of {group}");
        }
    }
    assert_eq!(total("nifti crate", Verdict::Same), 60);
    assert_eq!(total("nifti crate", Verdict::Refused), 60);
}

/// `base` with `patch` applied to its header bytes, written as `dir/name`.
fn patched(dir: &Path, base: &[u8], name: &str, patch: impl FnOnce(&mut Vec<u8>)) -> PathBuf {
    let mut bytes = base.to_vec();
    patch(&mut bytes);
    let path = dir.join(name);
    std::fs::write(&path, bytes).unwrap();
    path
}

fn put_f32(b: &mut [u8], at: usize, v: f32) {
    b[at..at + 4].copy_from_slice(&v.to_le_bytes());
}

fn put_i16(b: &mut [u8], at: usize, v: i16) {
    b[at..at + 2].copy_from_slice(&v.to_le_bytes());
}

#[test]
fn real_scans_and_hostile_headers() {
    // Real scans: golden.json is nibabel's reading (sums of the scaled data, the affine).
    let root = real_dir();
    let golden: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(root.join("golden.json")).unwrap()).unwrap();
    let mut real = Tally::default();
    for (name, g) in golden.as_object().unwrap() {
        let path = root.join(name);
        let want_affine = affine_of(&g["affine"]);
        let want_sum = g["scaled_sum"].as_f64().unwrap();
        for (reader, got) in [
            ("danie", danie_read(&path)),
            ("nifti crate", crate_read(&path)),
        ] {
            // No voxel dump here: a reader agreeing on the affine, the NaN count and the sum
            // (to 1e-9 relative) reads the file as nibabel does.
            let v = match &got {
                Outcome::Read { fdata, affine } => {
                    let nans = fdata.iter().filter(|v| v.is_nan()).count() as u64;
                    let sum: f64 = fdata.iter().filter(|v| !v.is_nan()).sum();
                    let as_verdict = verdict(
                        &Outcome::Read {
                            fdata: vec![],
                            affine: *affine,
                        },
                        Some((&[], &want_affine)),
                    );
                    if as_verdict != Verdict::Same {
                        as_verdict
                    } else if nans != g["nan_count"].as_u64().unwrap()
                        || (sum - want_sum).abs() > 1e-9 * want_sum.abs().max(1.0)
                    {
                        Verdict::OtherValues
                    } else {
                        Verdict::Same
                    }
                }
                other => verdict(other, Some((&[], &want_affine))),
            };
            let version = g["nifti_version"].as_i64().unwrap();
            real.add(&format!("{name} (NIfTI-{version})"), reader, v);
        }
    }
    real.print("real scans (tests/data/real, nibabel 5.4.2 in golden.json)");
    let files = golden.as_object().unwrap().len();
    let count = |reader, v| -> usize {
        real.0
            .iter()
            .filter(|((_, r, x), _)| *r == reader && *x == v)
            .map(|(_, n)| n)
            .sum()
    };
    assert_eq!(count("danie", Verdict::Same), files);
    // The crate refuses the NIfTI-2 scan and reads the NIfTI-1 ones as nibabel does.
    assert_eq!(count("nifti crate", Verdict::Refused), 1);
    assert_eq!(count("nifti crate", Verdict::Same), files - 1);

    // Hostile headers, from a little-endian, qform-only, unscaled NIfTI-1 uint8 file.
    let dir = tempfile::tempdir().unwrap();
    let manifest = run_python("nifti_write_matrix.py", &[dir.path()]);
    let base_name = manifest
        .as_array()
        .unwrap()
        .iter()
        .find(|e| {
            let f = e["file"].as_str().unwrap();
            f.starts_with("v1_le_uint8_")
                && f.ends_with(".nii")
                && e["qform_code"] == 1
                && e["sform_code"] == 0
        })
        .expect("a qform-only NIfTI-1 file")["file"]
        .as_str()
        .unwrap()
        .to_string();
    let base = std::fs::read(dir.path().join(&base_name)).unwrap();
    // NIfTI-1 offsets: dim 40, pixdim 76, scl_slope 112, scl_inter 116.
    let hostile: Vec<(&str, PathBuf)> = vec![
        (
            "qfac 0.5",
            patched(dir.path(), &base, "qfac.nii", |b| put_f32(b, 76, 0.5)),
        ),
        (
            "negative voxel size",
            patched(dir.path(), &base, "negzoom.nii", |b| put_f32(b, 80, -0.8)),
        ),
        (
            "NaN slope, inter 5",
            patched(dir.path(), &base, "nanslope.nii", |b| {
                put_f32(b, 112, f32::NAN);
                put_f32(b, 116, 5.0)
            }),
        ),
        (
            "slope 0, inter 5",
            patched(dir.path(), &base, "zeroslope.nii", |b| {
                put_f32(b, 112, 0.0);
                put_f32(b, 116, 5.0)
            }),
        ),
        (
            "dim past the data",
            patched(dir.path(), &base, "short.nii", |b| put_i16(b, 42, 3000)),
        ),
        (
            "35 TB declared",
            patched(dir.path(), &base, "huge.nii", |b| {
                for k in 0..3 {
                    put_i16(b, 42 + 2 * k, 32767)
                }
            }),
        ),
        (
            "truncated header",
            patched(dir.path(), &base, "truncated.nii", |b| b.truncate(200)),
        ),
    ];
    let paths: Vec<&Path> = hostile.iter().map(|(_, p)| p.as_path()).collect();
    let nib = run_python("nifti_load_summary.py", &paths);
    let mut seen = Tally::default();
    for ((what, path), n) in hostile.iter().zip(nib.as_array().unwrap()) {
        // nibabel's sum and NaN count stand in for its voxels (the files are tiny).
        let want_affine = n["ok"].as_bool().unwrap().then(|| affine_of(&n["affine"]));
        for (reader, got) in [
            ("danie", danie_read(path)),
            ("nifti crate", crate_read(path)),
        ] {
            let v = match (&got, &want_affine) {
                (Outcome::Read { fdata, affine }, Some(want)) => {
                    let nans = fdata.iter().filter(|v| v.is_nan()).count() as u64;
                    let sum: f64 = fdata.iter().filter(|v| !v.is_nan()).sum();
                    let want_sum = n["fdata_sum"].as_f64().unwrap();
                    let a = verdict(
                        &Outcome::Read {
                            fdata: vec![],
                            affine: *affine,
                        },
                        Some((&[], want)),
                    );
                    if a != Verdict::Same {
                        a
                    } else if nans != n["nan_count"].as_u64().unwrap()
                        || (sum - want_sum).abs() > 1e-9 * want_sum.abs().max(1.0)
                    {
                        Verdict::OtherValues
                    } else {
                        Verdict::Same
                    }
                }
                (other, Some(want)) => verdict(other, Some((&[], want))),
                (other, None) => verdict(other, None),
            };
            seen.add(what, reader, v);
        }
    }
    seen.print("hostile headers (nibabel 5.4 via tests/python/nifti_load_summary.py)");
    let verdict_of = |what: &str, reader: &'static str| -> Verdict {
        *seen
            .0
            .iter()
            .find(|((g, r, _), _)| g == what && *r == reader)
            .map(|((_, _, v), _)| v)
            .unwrap()
    };
    for (what, _) in &hostile {
        let d = verdict_of(what, "danie");
        assert!(
            matches!(d, Verdict::Same | Verdict::BothRefuse),
            "danie on {what}: {d:?}"
        );
    }
    let crate_verdicts: Vec<(&str, Verdict)> = hostile
        .iter()
        .map(|(what, _)| (*what, verdict_of(what, "nifti crate")))
        .collect();
    assert_eq!(
        crate_verdicts,
        vec![
            ("qfac 0.5", Verdict::Panicked),
            ("negative voxel size", Verdict::Panicked),
            ("NaN slope, inter 5", Verdict::OtherValues),
            ("slope 0, inter 5", Verdict::Same),
            ("dim past the data", Verdict::BothRefuse),
            ("35 TB declared", Verdict::BothRefuse),
            ("truncated header", Verdict::BothRefuse),
        ]
    );
}
