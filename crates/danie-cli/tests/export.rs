//! `danie export` and the PyTorch round-trip, through the binary as a user runs it, against
//! PyTorch's own loaders: the TorchScript file under `torch.jit.load` and the ONNX file under
//! onnxruntime give danie's logits (1e-5 / 1e-4) at batch 1 and 4, the TorchScript graph holding
//! each BatchNorm folded into its convolution (no folding at each call); danie's weights load with
//! strict=True into reference/danie_ref.py's network and give danie's logits; a state_dict
//! saved by that network (.pth, .safetensors) makes `danie predict` give the reference's masks
//! and `danie eval` score a split exactly as the same tensors inside a danie weights file.
//! Bad input: clear errors, non-zero exits, nothing half-written.
mod support;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use danie_model::weights::{named_variables, write_safetensors as write_tensors};
use danie_model::Danie;
use danie_testkit::run_python_json;
use danie_train::model_io::load_model;
use danie_train::state_dict::read_network_config;
use danie_train::weights_meta::WeightsMeta;
use support::{baseline_plus, run, MIB};
use tch::nn::{ModuleT, VarStore};
use tch::{Device, Kind, Tensor};

/// A tiny Synapse model (1 channel, 9 classes, 64 px).
fn tiny_meta() -> WeightsMeta {
    WeightsMeta {
        epochs: 1,
        iterations: 1,
        ..WeightsMeta::for_tests()
    }
}

/// libtorch's global generator, held while a test seeds and draws from it (the tests run in
/// parallel threads of one process; each must see its own seeded sequence).
static RNG: std::sync::Mutex<()> = std::sync::Mutex::new(());

fn seeded<T>(seed: i64, draw: impl FnOnce() -> T) -> T {
    let _lock = RNG.lock().unwrap_or_else(|e| e.into_inner());
    tch::manual_seed(seed);
    draw()
}

/// The variables of a tiny model with BatchNorm statistics and affines away from their
/// initial values (so eval mode is really tested), seeded.
fn tiny_tensors() -> Vec<(String, Tensor)> {
    seeded(7, tiny_tensors_unseeded)
}

fn tiny_tensors_unseeded() -> Vec<(String, Tensor)> {
    let vs = VarStore::new(Device::Cpu);
    let _m = Danie::new(vs.root(), &tiny_meta().model);
    tch::no_grad(|| {
        // In name order: the draws land on the same variables every run.
        for (name, mut v) in named_variables(&vs) {
            if name.ends_with("running_var") || name.ends_with("bn.weight") {
                v.copy_(&(Tensor::rand_like(&v) + 0.5));
            } else if name.ends_with("running_mean") || name.ends_with("bias") {
                v.copy_(&(Tensor::randn_like(&v) * 0.1));
            }
        }
    });
    named_variables(&vs)
}

/// Writes danie weights (with metadata) or, with `meta = None`, a bare state_dict.
fn write_weights(path: &Path, tensors: &[(String, Tensor)], meta: Option<&WeightsMeta>) {
    let map = match meta {
        Some(m) => m.to_metadata().unwrap(),
        None => BTreeMap::new(),
    };
    write_tensors(path, tensors, &map).unwrap();
}

fn s(p: &Path) -> &str {
    p.to_str().unwrap()
}

/// Files in `dir` whose names say they are temporaries.
fn leftovers(dir: &Path) -> Vec<String> {
    std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n.ends_with(".tmp"))
        .collect()
}

fn export(weights: &Path, format: &str, out: &Path, extra: &[&str]) -> support::Outcome {
    let mut args = vec![
        "export",
        "--weights",
        s(weights),
        "--format",
        format,
        "-o",
        s(out),
    ];
    args.extend_from_slice(extra);
    run(&args, &[])
}

/// danie's logits for `x` from the weights file as `danie predict` loads it.
fn danie_logits(weights: &Path, x: &Tensor) -> Tensor {
    // Building the network draws its initial values from the generator: under the lock too.
    let loaded = seeded(0, || load_model(weights, Device::Cpu).unwrap());
    tch::no_grad(|| loaded.model.forward_t(x, false))
}

#[test]
fn torchscript_and_onnx_give_danies_logits_at_batch_1_and_4() {
    let dir = tempfile::tempdir().unwrap();
    let weights = dir.path().join("model.safetensors");
    write_weights(&weights, &tiny_tensors(), Some(&tiny_meta()));
    let (ts, onnx) = (dir.path().join("m.pt"), dir.path().join("m.onnx"));
    for (format, out) in [("torchscript", &ts), ("onnx", &onnx)] {
        let o = export(&weights, format, out, &[]);
        assert_eq!(o.code, Some(0), "{format}: {}", o.stderr);
        assert!(o.stdout.contains("batch 4"), "{}", o.stdout);
    }
    let mut io = vec![];
    for b in [1i64, 4] {
        let x = seeded(3 + b, || {
            Tensor::rand([b, 1, 64, 64], (Kind::Float, Device::Cpu))
        }) * 1.5
            - 0.25;
        io.push((format!("y{b}"), danie_logits(&weights, &x)));
        io.push((format!("x{b}"), x));
    }
    let io_path = dir.path().join("io.safetensors");
    write_tensors(&io_path, &io, &BTreeMap::new()).unwrap();
    let r = run_python_json(
        "export_check.py",
        &[s(&ts), s(&onnx), s(&io_path), s(&weights)],
    );
    eprintln!("export_check: {r}");
    for b in ["1", "4"] {
        let (t, o) = (
            r["torchscript"][b].as_f64().unwrap(),
            r["onnx"][b].as_f64().unwrap(),
        );
        // Absolute, on logits of magnitude ~20 (`scale`). Measured: TorchScript 0 (the module
        // runs danie's kernels on danie's weight layout), ONNX 4.4e-5.
        assert!(t <= 1e-5, "TorchScript at batch {b}: {t:e} ({r})");
        assert!(o <= 1e-4, "ONNX at batch {b}: {o:e} ({r})");
    }
    // The module runs folded weights, not the folding: each BatchNorm after a convolution (a
    // ConvBn pair) costs an rsqrt, a neg, 3 muls, 2 adds and a reshape at every call when the fold is traced
    // (measured on this tiny model: 19 rsqrt, 753 nodes; folded once: none, 532 nodes).
    let ops = &r["torchscript_ops"];
    assert!(ops["aten::_convolution"].as_u64().unwrap() >= 19, "{ops}");
    assert_eq!(
        ops.get("aten::rsqrt"),
        None,
        "the fold is replayed at every call: {ops}"
    );
    let g = &r["onnx_graph"];
    assert_eq!(
        g["inputs"]["image"],
        serde_json::json!(["batch", 1, 64, 64])
    );
    assert_eq!(
        g["outputs"]["logits"],
        serde_json::json!(["batch", 9, 64, 64])
    );
    assert!(g["opset"].as_i64().unwrap() >= 17, "{g}");

    // The deploy JSON: what a server needs, the sha256 hashlib computes.
    for out in [&ts, &onnx] {
        let json_path = PathBuf::from(format!("{}.json", s(out)));
        let d: serde_json::Value =
            serde_json::from_str(&std::fs::read_to_string(&json_path).unwrap()).unwrap();
        assert_eq!(d["weights"]["sha256"], r["sha256"]);
        assert_eq!(d["input"]["shape"], serde_json::json!(["batch", 1, 64, 64]));
        assert_eq!(d["input"]["layout"], "NCHW");
        assert_eq!(
            d["preprocessing"]["intensity"],
            serde_json::json!({"kind": "ct_window", "lo": -125.0, "hi": 275.0})
        );
        assert_eq!(d["classes"].as_array().unwrap().len(), 9);
        assert_eq!(d["classes"][0]["name"], "background");
        assert_eq!(d["danie_version"], env!("CARGO_PKG_VERSION"));
        assert_eq!(d["model_file"], out.file_name().unwrap().to_str().unwrap());
    }
    assert!(leftovers(dir.path()).is_empty());
}

#[test]
fn danie_weights_load_strictly_into_the_pytorch_reference() {
    let dir = tempfile::tempdir().unwrap();
    let weights = dir.path().join("model.safetensors");
    write_weights(&weights, &tiny_tensors(), Some(&tiny_meta()));
    let x = seeded(5, || {
        Tensor::rand([2, 1, 64, 64], (Kind::Float, Device::Cpu))
    });
    let y = danie_logits(&weights, &x);
    let io_path = dir.path().join("io.safetensors");
    write_tensors(
        &io_path,
        &[("x".into(), x), ("y".into(), y)],
        &BTreeMap::new(),
    )
    .unwrap();
    let r = run_python_json("export_roundtrip.py", &["to-ref", s(&weights), s(&io_path)]);
    eprintln!("to-ref: {r}");
    let d = r["max_abs_diff"].as_f64().unwrap();
    // In units of the logits' largest magnitude (~20 here): PyTorch eager runs NCHW kernels,
    // danie channels-last ones on the CPU (memory_format), which round differently
    // (measured 3.6e-5 absolute, 1.7e-6 of the scale).
    let scale = r["scale"].as_f64().unwrap().max(1.0);
    assert!(
        d <= 1e-5 * scale,
        "danie_ref's logits differ from danie's by {d:e} (scale {scale})"
    );
    assert_eq!(r["dataset"], "synapse");
}

/// A run config for ISIC 2018 (RGB, 2 classes) at 64 px with the tiny preset; its data folder
/// does not exist (predicting and exporting do not need it).
fn isic_config(dir: &Path, preset: &str) -> PathBuf {
    let p = dir.join(format!("run-{preset}.toml"));
    std::fs::write(
        &p,
        format!(
            "[data]\ndataset = \"isic2018\"\nroot = \"data\"\nimage_size = 64\n\n\
             [model]\npreset = \"{preset}\"\n\n[output]\nrun_dir = \"runs\"\n"
        ),
    )
    .unwrap();
    p
}

#[test]
fn reference_state_dicts_make_danie_predict_the_reference_masks() {
    let dir = tempfile::tempdir().unwrap();
    let config = isic_config(dir.path(), "tiny");
    let cfg = read_network_config(&config).unwrap();
    let model_json = dir.path().join("model.json");
    std::fs::write(
        &model_json,
        serde_json::to_string(&danie_train::config::model_config(&cfg).unwrap()).unwrap(),
    )
    .unwrap();
    let refs = dir.path().join("ref");
    let image = dir.path().join("image.png");
    // An RGB image at the model's size (no resizing on either side), 8-bit noise with a bright
    // disc, as ISIC images are read (v / 255).
    let img = image::RgbImage::from_fn(64, 64, |x, y| {
        let d = (x as i32 - 30).pow(2) + (y as i32 - 34).pow(2);
        let v = ((x * 37 + y * 91) % 97) as u8;
        if d < 300 {
            image::Rgb([200 + v / 2, 120 + v, 90])
        } else {
            image::Rgb([v, 2 * v, 255 - v])
        }
    });
    img.save(&image).unwrap();
    run_python_json(
        "export_roundtrip.py",
        &["from-ref", s(&model_json), "11", s(&refs), s(&image)],
    );
    for file in ["ref.pth", "ref.safetensors"] {
        let mask = dir.path().join(format!("mask-{file}.png"));
        let o = run(
            &[
                "predict",
                "-w",
                s(&refs.join(file)),
                "--config",
                s(&config),
                "-i",
                s(&image),
                "-o",
                s(&mask),
                "--device",
                "cpu",
            ],
            &[],
        );
        assert_eq!(o.code, Some(0), "{file}: {}", o.stderr);
        let r = run_python_json("export_roundtrip.py", &["compare", s(&mask), s(&refs)]);
        eprintln!("{file}: {r}");
        let (n, diff, clear) = (
            r["pixels"].as_i64().unwrap(),
            r["disagree"].as_i64().unwrap(),
            r["disagree_clear"].as_i64().unwrap(),
        );
        assert_eq!(n, 64 * 64);
        assert_eq!(clear, 0, "{file}: {r}");
        assert!(diff * 1000 <= n, "{file}: {r}");
        let fg = r["foreground"].as_i64().unwrap();
        assert!(fg > 0 && fg < n, "a one-class mask tests little: {r}");
    }
}

#[test]
fn bad_exports_are_clean_errors_and_write_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let weights = d.join("model.safetensors");
    write_weights(&weights, &tiny_tensors(), Some(&tiny_meta()));
    let bound = baseline_plus(512 * MIB);

    // An existing output without --overwrite: untouched, no deploy JSON.
    let existing = d.join("keep.pt");
    std::fs::write(&existing, b"user data").unwrap();
    let o = export(&weights, "torchscript", &existing, &[]);
    o.assert_clean_failure(&["keep.pt", "--overwrite"], bound);
    assert_eq!(std::fs::read(&existing).unwrap(), b"user data");
    assert!(!d.join("keep.pt.json").exists());

    // A missing weights file.
    let o = export(
        &d.join("absent.safetensors"),
        "torchscript",
        &d.join("a.pt"),
        &[],
    );
    o.assert_clean_failure(&["absent.safetensors", "does not exist"], bound);

    // An unknown format.
    let o = export(&weights, "tflite", &d.join("a.tflite"), &[]);
    o.assert_clean_failure(&["tflite", "torchscript", "onnx"], bound);

    // A Python without torch / onnx: says what to install; the .onnx is not written.
    let wrapper = d.join("bare-python");
    std::fs::write(
        &wrapper,
        format!(
            "#!/bin/sh\nexec '{}' -I -S \"$@\"\n",
            danie_testkit::python().display()
        ),
    )
    .unwrap();
    let mut perms = std::fs::metadata(&wrapper).unwrap().permissions();
    std::os::unix::fs::PermissionsExt::set_mode(&mut perms, 0o755);
    std::fs::set_permissions(&wrapper, perms).unwrap();
    let o = export(
        &weights,
        "onnx",
        &d.join("m.onnx"),
        &["--python", s(&wrapper)],
    );
    o.assert_clean_failure(&["pip install", "onnx"], bound);
    assert!(!d.join("m.onnx").exists() && !d.join("m.onnx.json").exists());

    // A Python that does not exist.
    let o = export(
        &weights,
        "onnx",
        &d.join("m.onnx"),
        &["--python", "/no/such/python"],
    );
    o.assert_clean_failure(&["/no/such/python", "--python"], bound);
    assert!(!d.join("m.onnx").exists());

    assert!(leftovers(d).is_empty(), "{:?}", leftovers(d));
}

#[test]
fn bare_state_dicts_need_a_config_and_matching_keys() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    // A bare state_dict of the tiny ISIC network (3 channels, 2 classes).
    let cfg = read_network_config(&isic_config(d, "tiny")).unwrap();
    let tensors = seeded(9, || {
        let vs = VarStore::new(Device::Cpu);
        let _m = Danie::new(vs.root(), &danie_train::config::model_config(&cfg).unwrap());
        named_variables(&vs)
    });
    let bare = d.join("bare.safetensors");
    write_weights(&bare, &tensors, None);
    let bound = baseline_plus(512 * MIB);
    let out = d.join("out.pt");

    // No --config: the error says what to give.
    let o = export(&bare, "torchscript", &out, &[]);
    o.assert_clean_failure(&["bare.safetensors", "--config"], bound);

    // With it, the export works.
    let tiny = isic_config(d, "tiny");
    let o = export(&bare, "torchscript", &out, &["--config", s(&tiny)]);
    assert_eq!(o.code, Some(0), "{}", o.stderr);

    // Another architecture (preset s): the keys and shapes do not fit.
    let other = isic_config(d, "s");
    let o = export(
        &bare,
        "torchscript",
        &d.join("o.pt"),
        &["--config", s(&other)],
    );
    o.assert_clean_failure(&["bare.safetensors", "preset `s`"], bound);
    assert!(!d.join("o.pt").exists());

    // A truncated torch.save file: the reader's error, naming it.
    let truncated = d.join("truncated.pth");
    std::fs::write(&truncated, b"PK\x03\x04\x14\x00\x00\x00").unwrap();
    let o = export(
        &truncated,
        "torchscript",
        &d.join("t.pt"),
        &["--config", s(&tiny)],
    );
    o.assert_clean_failure(&["truncated.pth"], bound);
    assert!(!d.join("t.pt").exists());

    // A key missing: named.
    let (dropped, _) = &tensors[tensors.len() / 2];
    let fewer: Vec<(String, Tensor)> = tensors
        .iter()
        .filter(|(n, _)| n != dropped)
        .map(|(n, t)| (n.clone(), t.shallow_clone()))
        .collect();
    let partial = d.join("partial.safetensors");
    write_weights(&partial, &fewer, None);
    let o = export(
        &partial,
        "torchscript",
        &d.join("p.pt"),
        &["--config", s(&tiny)],
    );
    o.assert_clean_failure(&["partial.safetensors", "missing", dropped], bound);

    // An unexpected key: named.
    let mut more: Vec<(String, Tensor)> = tensors
        .iter()
        .map(|(n, t)| (n.clone(), t.shallow_clone()))
        .collect();
    more.push((
        "head.fc.weight".into(),
        Tensor::zeros([2, 2], (Kind::Float, Device::Cpu)),
    ));
    let extra = d.join("extra.safetensors");
    write_weights(&extra, &more, None);
    let o = export(
        &extra,
        "torchscript",
        &d.join("e.pt"),
        &["--config", s(&tiny)],
    );
    o.assert_clean_failure(&["extra.safetensors", "head.fc.weight"], bound);
    assert!(leftovers(d).is_empty(), "{:?}", leftovers(d));
}

/// `danie eval --config C --weights ref.pth`: a reference state_dict scores the test split
/// exactly as the same tensors do inside a danie weights file (the metadata path every other
/// evaluation test covers), for .pth and .safetensors alike.
#[test]
fn a_reference_state_dict_evaluates_as_the_same_weights_in_danies_file() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let data = d.join("data");
    run(
        &[
            "data",
            "generate",
            "--dataset",
            "isic2018",
            "--out",
            s(&data),
            "--cases",
            "12",
            "--size",
            "64",
        ],
        &[],
    )
    .assert_success();
    let config = d.join("run.toml");
    std::fs::write(
        &config,
        format!(
            "[data]\ndataset = \"isic2018\"\nroot = \"{}\"\nimage_size = 64\n\n\
             [model]\npreset = \"tiny\"\n\n[output]\nrun_dir = \"runs\"\n",
            s(&data)
        ),
    )
    .unwrap();
    let cfg = read_network_config(&config).unwrap();
    let model_cfg = danie_train::config::model_config(&cfg).unwrap();
    let model_json = d.join("model.json");
    std::fs::write(&model_json, serde_json::to_string(&model_cfg).unwrap()).unwrap();
    let refs = d.join("ref");
    let image = d.join("probe.png");
    image::RgbImage::from_fn(64, 64, |x, y| image::Rgb([x as u8 * 3, y as u8 * 3, 128]))
        .save(&image)
        .unwrap();
    run_python_json(
        "export_roundtrip.py",
        &["from-ref", s(&model_json), "11", s(&refs), s(&image)],
    );
    // The same tensors with danie's metadata.
    let (tensors, _) =
        danie_model::weights::read_safetensors(&refs.join("ref.safetensors")).unwrap();
    let meta = danie_train::model_io::weights_meta(&cfg, &model_cfg, 0, 0);
    let native = d.join("native.safetensors");
    write_weights(&native, &tensors, Some(&meta));
    let eval = |weights: &Path, out: &str| {
        run(
            &[
                "eval",
                "--config",
                s(&config),
                "--weights",
                s(weights),
                "--out",
                s(&d.join(out)),
                "--device",
                "cpu",
            ],
            &[],
        )
        .assert_success();
        std::fs::read_to_string(d.join(out).join("cases.csv")).unwrap()
    };
    let want = eval(&native, "eval-native");
    // A model that paints one class everywhere would make every evaluation alike.
    let dice: Vec<f64> = want
        .lines()
        .skip(1)
        .map(|l| l.split(',').nth(1).unwrap().parse().unwrap())
        .collect();
    assert!(
        !dice.is_empty() && dice.iter().any(|&v| v > 0.0 && v < 1.0),
        "degenerate scores:\n{want}"
    );
    for file in ["ref.pth", "ref.safetensors"] {
        assert_eq!(
            eval(&refs.join(file), &format!("eval-{file}")),
            want,
            "{file}"
        );
    }
}
