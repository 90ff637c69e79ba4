//! Hostile weights files, weights metadata, run configs and small CLI edges, through the
//! `danie` binary as a user runs it: each must give a clear error naming the file and the
//! field, a non-zero exit, no panic and bounded memory. The files are made here, small.
//!
//! (`.pth` / `.pt` state_dicts reach the CLI with `--config`, tests/export.rs; their hostile
//! bytes are tested beside the reader, in danie-model's `torch_pickle`.)
mod support;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use danie_model::weights::{named_variables, write_safetensors};
use danie_model::Danie;
use danie_train::weights_meta::WeightsMeta;
use support::{baseline_plus, run, MIB};
use tch::nn::VarStore;
use tch::Tensor;

/// The metadata of a real tiny Synapse model (1 channel, 9 classes, 64 px).
fn tiny_meta() -> WeightsMeta {
    WeightsMeta::for_tests()
}

/// The variables of a real tiny model built from `tiny_meta()`.
fn tiny_tensors() -> Vec<(String, Tensor)> {
    let vs = VarStore::new(tch::Device::Cpu);
    let _m = Danie::new(vs.root(), &tiny_meta().model);
    named_variables(&vs)
}

/// Writes the real tiny weights with the metadata `edit` makes of the real one, as raw JSON
/// (so that values serde would refuse to produce can be written too).
fn weights_with(dir: &Path, name: &str, edit: impl FnOnce(&mut serde_json::Value)) -> PathBuf {
    let mut meta = serde_json::to_value(tiny_meta()).unwrap();
    edit(&mut meta);
    let p = dir.join(name);
    let map = BTreeMap::from([("danie".to_string(), meta.to_string())]);
    write_safetensors(&p, &tiny_tensors(), &map).unwrap();
    p
}

fn predict(weights: &Path, dir: &Path) -> support::Outcome {
    let input = support::real_dir().join("nifti/anatomical.nii");
    let out = dir.join("out.nii.gz");
    run(
        &[
            "predict",
            "-w",
            weights.to_str().unwrap(),
            "-i",
            input.to_str().unwrap(),
            "-o",
            out.to_str().unwrap(),
            "--device",
            "cpu",
        ],
        &[],
    )
}

#[test]
fn weights_metadata_out_of_range_is_refused_before_the_network_is_built() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    type Edit = fn(&mut serde_json::Value);
    // One CLI run per kind of fault (each run starts libtorch); the library tests of
    // danie-model and danie-train cover every field.
    let cases: [(&str, Edit, &str); 5] = [
        (
            "embed",
            |m| m["model"]["sap"]["embed_dim"] = 1_048_576.into(),
            "sap.embed_dim",
        ),
        (
            "depth",
            |m| m["model"]["sap"]["depth"] = 100_000_000.into(),
            "sap.depth",
        ),
        (
            "img1",
            |m| {
                m["model"]["img_size"] = 1.into();
                m["image_size"] = 1.into();
            },
            "img_size",
        ),
        ("image_size", |m| m["image_size"] = 0.into(), "image_size"),
        (
            "classes",
            |m| m["model"]["num_classes"] = 1_000_000.into(),
            "num_classes",
        ),
    ];
    for (name, edit, field) in cases {
        let w = weights_with(d, &format!("{name}.safetensors"), edit);
        let o = predict(&w, d);
        o.assert_clean_failure(
            &[&format!("{name}.safetensors"), field],
            baseline_plus(256 * MIB),
        );
    }
    // Through `danie eval` too (the same loader): an image/reference pair, weights refused.
    let w = weights_with(d, "eval.safetensors", |m| {
        m["model"]["sap"]["embed_dim"] = 1_048_576.into()
    });
    let img = support::real_dir().join("nifti/anatomical.nii");
    let o = run(
        &[
            "eval",
            "-w",
            w.to_str().unwrap(),
            "--image",
            img.to_str().unwrap(),
            "--reference",
            img.to_str().unwrap(),
            "--out",
            d.join("eval").to_str().unwrap(),
            "--device",
            "cpu",
        ],
        &[],
    );
    o.assert_clean_failure(
        &["eval.safetensors", "sap.embed_dim"],
        baseline_plus(256 * MIB),
    );
}

#[test]
fn metadata_of_a_model_far_larger_than_the_file_is_refused() {
    // Every field in range (about 0.8 billion parameters, 3 GB to allocate), but the file
    // holds the tiny model's few hundred thousand values.
    let dir = tempfile::tempdir().unwrap();
    let w = weights_with(dir.path(), "big.safetensors", |m| {
        m["model"]["sap"]["embed_dim"] = 2048.into();
        m["model"]["sap"]["num_heads"] = 16.into();
        m["model"]["sap"]["depth"] = 16.into();
        m["model"]["jp"]["es_heads"] = 16.into();
    });
    let o = predict(&w, dir.path());
    o.assert_clean_failure(
        &["big.safetensors", "does not belong"],
        baseline_plus(256 * MIB),
    );
}

#[test]
fn hostile_safetensors_bytes_are_clean_errors() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let file = |name: &str, header: &[u8], data: &[u8]| {
        let p = d.join(name);
        let mut b = (header.len() as u64).to_le_bytes().to_vec();
        b.extend(header);
        b.extend(data);
        std::fs::write(&p, b).unwrap();
        p
    };
    let cases: Vec<(PathBuf, &str)> = vec![
        (
            {
                let p = d.join("len.safetensors");
                let mut b = u64::MAX.to_le_bytes().to_vec();
                b.extend(b"{}");
                std::fs::write(&p, b).unwrap();
                p
            },
            "header length",
        ),
        (
            file(
                "offsets.safetensors",
                br#"{"w":{"dtype":"F32","shape":[1000000000],"data_offsets":[0,4000000000]}}"#,
                &[0; 64],
            ),
            "data_offsets",
        ),
        (
            file(
                "wrap.safetensors",
                br#"{"w":{"dtype":"F64","shape":[2305843009213693951],"data_offsets":[0,18446744073709551608]}}"#,
                &[0; 64],
            ),
            "data_offsets",
        ),
        (
            file(
                "span.safetensors",
                br#"{"w":{"dtype":"F32","shape":[100,100],"data_offsets":[0,64]}}"#,
                &[0; 64],
            ),
            "TensorInvalidInfo",
        ),
        (
            file("json.safetensors", b"{\"w\": [", &[]),
            "JSON",
        ),
    ];
    for (p, needle) in cases {
        let o = predict(&p, d);
        let name = p.file_name().unwrap().to_str().unwrap().to_string();
        o.assert_clean_failure(&[&name, needle], baseline_plus(128 * MIB));
    }
}

/// A config with `[data]` pointing at an existing (empty) folder plus `extra` lines.
fn config(dir: &Path, name: &str, data_extra: &str, extra: &str) -> PathBuf {
    std::fs::create_dir_all(dir.join("data")).unwrap();
    let p = dir.join(name);
    std::fs::write(
        &p,
        format!(
            "[data]\ndataset = \"synapse\"\nroot = \"data\"\n{data_extra}\n\n{extra}\n\n\
             [output]\nrun_dir = \"runs\"\n"
        ),
    )
    .unwrap();
    p
}

#[test]
fn config_values_without_bounds_are_errors_naming_file_and_key() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let cases = [
        (
            "workers.toml",
            "num_workers = 100000000",
            "",
            "data.num_workers",
        ),
        (
            "threads.toml",
            "",
            "[train]\nthreads = 3000000000",
            "train.threads",
        ),
        (
            "image.toml",
            "image_size = 1099511627776",
            "",
            "data.image_size",
        ),
        (
            "epochs.toml",
            "",
            "[train]\nepochs = 1000000000000000000",
            "train.epochs",
        ),
        (
            "model.toml",
            "",
            "[model]\npreset = \"tiny\"\n[model.overrides.sap]\nembed_dim = 100000000",
            "sap.embed_dim",
        ),
    ];
    for (name, data_extra, extra, key) in cases {
        let p = config(d, name, data_extra, extra);
        let o = run(&["train", "--config", p.to_str().unwrap()], &[]);
        o.assert_clean_failure(&[name, key], baseline_plus(64 * MIB));
    }
}

/// A 4 x 4 x 2 uint8 NIfTI-1 label map (values 0 and 1) with a diagonal sform; `nan` puts a
/// NaN in it.
fn tiny_nifti(dir: &Path, name: &str, nan: bool) -> PathBuf {
    let mut h = vec![0u8; 352];
    let put = |h: &mut Vec<u8>, at: usize, b: &[u8]| h[at..at + b.len()].copy_from_slice(b);
    put(&mut h, 0, &348i32.to_le_bytes());
    for (i, v) in [3i16, 4, 4, 2, 1, 1, 1, 1].iter().enumerate() {
        put(&mut h, 40 + 2 * i, &v.to_le_bytes());
    }
    put(&mut h, 70, &2i16.to_le_bytes()); // uint8
    put(&mut h, 72, &8i16.to_le_bytes());
    for (i, v) in [1.0f32, 1.0, 1.0, 1.0].iter().enumerate() {
        put(&mut h, 76 + 4 * i, &v.to_le_bytes());
    }
    put(&mut h, 108, &352f32.to_le_bytes());
    put(&mut h, 254, &1i16.to_le_bytes()); // sform_code: scanner
    let diag = if nan { f32::NAN } else { 1.0 };
    for (row, vals) in [
        [diag, 0.0, 0.0, 0.0],
        [0.0, 1.0, 0.0, 0.0],
        [0.0, 0.0, 1.0, 0.0],
    ]
    .iter()
    .enumerate()
    {
        for (i, v) in vals.iter().enumerate() {
            put(&mut h, 280 + 16 * row + 4 * i, &v.to_le_bytes());
        }
    }
    put(&mut h, 344, b"n+1\0");
    h.extend((0..32u8).map(|i| i % 2));
    let p = dir.join(name);
    std::fs::write(&p, h).unwrap();
    p
}

#[test]
fn nan_affine_fails_the_geometry_check() {
    let dir = tempfile::tempdir().unwrap();
    let good = tiny_nifti(dir.path(), "good.nii", false);
    let bad = tiny_nifti(dir.path(), "nan.nii", true);
    // The control: the good pair is scored.
    let o = run(
        &[
            "metrics",
            "--pred",
            good.to_str().unwrap(),
            "--gt",
            good.to_str().unwrap(),
        ],
        &[],
    );
    assert_eq!(o.code, Some(0), "{}", o.stderr);
    for (pred, gt) in [(&bad, &good), (&good, &bad), (&bad, &bad)] {
        let o = run(
            &[
                "metrics",
                "--pred",
                pred.to_str().unwrap(),
                "--gt",
                gt.to_str().unwrap(),
            ],
            &[],
        );
        o.assert_clean_failure(&["nan.nii"], baseline_plus(64 * MIB));
        assert!(
            o.stderr.contains("non-finite") || o.stderr.contains("NaN"),
            "{}",
            o.stderr
        );
    }
    // `danie eval` on an image/reference pair with real tiny weights: refused before scoring.
    let w = weights_with(dir.path(), "w.safetensors", |_| {});
    let o = run(
        &[
            "eval",
            "-w",
            w.to_str().unwrap(),
            "--image",
            good.to_str().unwrap(),
            "--reference",
            bad.to_str().unwrap(),
            "--out",
            dir.path().join("eval").to_str().unwrap(),
            "--device",
            "cpu",
        ],
        &[],
    );
    o.assert_clean_failure(&["nan.nii"], baseline_plus(256 * MIB));
}

#[test]
fn weights_for_2d_colour_images_refuse_volumes_in_predict_and_eval() {
    // Real weights of a tiny 3-channel ISIC 2018 model (2 classes): a CT volume is 1-channel.
    let dir = tempfile::tempdir().unwrap();
    let kind = danie_data::datasets::DatasetKind::Isic2018;
    let mut meta = tiny_meta();
    (meta.model.in_channels, meta.model.num_classes) = (3, 2);
    meta.dataset = kind;
    meta.class_names = kind.class_names().iter().map(|s| s.to_string()).collect();
    meta.intensity = danie_train::weights_meta::Intensity::for_dataset(kind);
    let w = dir.path().join("isic.safetensors");
    support::model_weights(&w, &meta);
    let volume = support::real_dir().join("nifti/anatomical.nii");
    let v = volume.to_str().unwrap();
    let want = format!("{v}: the weights take 3-channel 2D images (isic2018), not volumes");
    let out = dir.path().join("out");
    let o = run(
        &[
            "eval",
            "-w",
            w.to_str().unwrap(),
            "--image",
            v,
            "--reference",
            v,
            "--out",
            out.to_str().unwrap(),
            "--device",
            "cpu",
        ],
        &[],
    );
    o.assert_clean_failure(&[&want], baseline_plus(256 * MIB));
    let mask = dir.path().join("mask.nii.gz");
    let o = run(
        &[
            "predict",
            "-w",
            w.to_str().unwrap(),
            "-i",
            v,
            "-o",
            mask.to_str().unwrap(),
            "--device",
            "cpu",
        ],
        &[],
    );
    o.assert_clean_failure(&[&want], baseline_plus(256 * MIB));
    assert!(!mask.exists());
}

/// Runs `danie args` with its standard output already closed, as `danie ... | head` ends up.
fn closed_stdout(args: &[&str]) -> (Option<i32>, Option<i32>, String) {
    use std::io::Read;
    use std::os::unix::process::ExitStatusExt;
    let mut child = Command::new(support::danie_bin())
        .args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    drop(child.stdout.take()); // the reader is gone before danie writes a byte
    let mut err = String::new();
    child
        .stderr
        .take()
        .unwrap()
        .read_to_string(&mut err)
        .unwrap();
    let status = child.wait().unwrap();
    (status.code(), status.signal(), err)
}

#[test]
fn a_closed_stdout_ends_danie_quietly() {
    let scan = support::real_dir().join("nifti/anatomical.nii");
    for args in [
        vec!["inspect", scan.to_str().unwrap()],
        vec!["info", "--model", "tiny"],
    ] {
        let (code, signal, err) = closed_stdout(&args);
        assert!(
            !err.contains("panicked") && !err.contains("Broken pipe"),
            "{args:?}: {err}"
        );
        assert!(
            code == Some(0) || signal == Some(libc::SIGPIPE),
            "{args:?}: exit {code:?}, signal {signal:?}: {err}"
        );
    }
}

#[test]
fn info_size_out_of_range_is_an_error() {
    for size in ["9223372036854775792", "40"] {
        let o = run(&["info", "--model", "tiny", "--size", size], &[]);
        o.assert_clean_failure(&["--size"], baseline_plus(64 * MIB));
    }
    let o = run(&["info", "--model", "tiny", "--size", "16384"], &[]);
    assert_eq!(o.code, Some(0), "{}", o.stderr);
    assert!(o.stdout.contains("16384x16384"), "{}", o.stdout);
}

#[cfg(unix)]
#[test]
fn a_config_path_that_is_no_config_is_refused_in_bounded_memory() {
    // /dev/zero has no length and no end: read until the 1 MiB limit, then refused.
    let o = run(&["train", "--config", "/dev/zero"], &[]);
    o.assert_clean_failure(
        &[
            "/dev/zero",
            "cannot read the config file",
            "over 1048576 bytes",
        ],
        baseline_plus(64 * MIB),
    );
}
