//! Outputs under attack and by accident, through the `danie` binary: a link planted at an output
//! name is replaced, never written through; `predict` refuses two inputs with one output name
//! and an output that would replace an input before writing anything; a split-list name that
//! would leave the dataset folder is an error naming the list file and the line. Each run is
//! checked for its exit code, its message and (failures) its peak memory.
mod support;

use std::path::Path;

use danie_data::nifti::{self, NiftiHeader};
use danie_model::weights::{named_variables, write_safetensors};
use danie_model::{Danie, DanieConfig};
use danie_train::weights_meta::{Intensity, WeightsMeta, FORMAT};
use ndarray::Array3;
use support::{baseline_plus, run, MIB};

/// A tiny, untrained Synapse model's weights file (enough for `predict` to run).
fn tiny_weights(path: &Path) {
    let mut cfg = DanieConfig::preset("tiny").unwrap();
    // One-channel 64 x 64 input, as a Synapse model trained by danie.
    cfg.in_channels = 1;
    cfg.img_size = 64;
    let vs = tch::nn::VarStore::new(tch::Device::Cpu);
    let _model = Danie::try_new(vs.root(), &cfg).unwrap();
    let kind = danie_data::datasets::DatasetKind::Synapse;
    let meta = WeightsMeta {
        format: FORMAT.into(),
        model: cfg,
        dataset: kind,
        class_names: kind.class_names().iter().map(|s| s.to_string()).collect(),
        image_size: 64,
        intensity: Intensity::for_dataset(kind),
        epochs: 0,
        iterations: 0,
        started_from: Vec::new(),
    };
    write_safetensors(path, &named_variables(&vs), &meta.to_metadata().unwrap()).unwrap();
}

/// A small CT-like volume (x, y, z) = (24, 24, 2).
fn small_volume(path: &Path) {
    let v = Array3::<i16>::from_shape_fn((24, 24, 2), |(x, y, z)| (x * 10 + y + z) as i16);
    nifti::write_array(path, &NiftiHeader::default(), v.into_dyn().view()).unwrap();
}

fn s(p: &Path) -> &str {
    p.to_str().unwrap()
}

#[cfg(unix)]
#[test]
fn predict_replaces_a_link_planted_at_the_output_and_leaves_its_target_alone() {
    let dir = tempfile::tempdir().unwrap();
    let (weights, input) = (
        dir.path().join("w.safetensors"),
        dir.path().join("ct.nii.gz"),
    );
    tiny_weights(&weights);
    small_volume(&input);
    let victim = dir.path().join("victim.txt");
    std::fs::write(&victim, "precious").unwrap();
    let out = dir.path().join("mask.nii.gz");
    std::os::unix::fs::symlink(&victim, &out).unwrap();

    let o = run(
        &[
            "predict",
            "-w",
            s(&weights),
            "-i",
            s(&input),
            "-o",
            s(&out),
            "--overwrite",
            "--device",
            "cpu",
        ],
        &[],
    );
    assert_eq!(o.code, Some(0), "{}", o.stderr);
    assert_eq!(std::fs::read_to_string(&victim).unwrap(), "precious");
    assert!(!std::fs::symlink_metadata(&out)
        .unwrap()
        .file_type()
        .is_symlink());
    let mask = nifti::read(&out).unwrap();
    assert_eq!(mask.shape(), [24, 24, 2]);
    // Nothing but the files this test made and the mask: no temporary left behind.
    assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 4);
}

#[test]
fn predict_refuses_two_inputs_with_one_output_name_before_writing_anything() {
    let dir = tempfile::tempdir().unwrap();
    let inputs = dir.path().join("in");
    std::fs::create_dir(&inputs).unwrap();
    // Contents never matter: the names collide before anything is read.
    std::fs::write(inputs.join("x.png"), b"png").unwrap();
    std::fs::write(inputs.join("x.bmp"), b"bmp").unwrap();
    let out = dir.path().join("out");
    let o = run(
        &[
            "predict",
            "-w",
            "absent.safetensors",
            "-i",
            s(&inputs),
            "-o",
            s(&out),
        ],
        &[],
    );
    o.assert_clean_failure(
        &[
            "x.bmp",
            "x.png",
            "would both be written to",
            "nothing was written",
        ],
        baseline_plus(64 * MIB),
    );
    assert!(!out.exists(), "the output folder must not even be created");
}

#[test]
fn predict_refuses_an_output_that_would_replace_its_input() {
    let dir = tempfile::tempdir().unwrap();
    let input = dir.path().join("scan.nii.gz");
    small_volume(&input);
    let before = std::fs::read(&input).unwrap();
    // A folder predicted into itself: NIfTI outputs keep their input's name.
    let o = run(
        &[
            "predict",
            "-w",
            "absent.safetensors",
            "-i",
            s(dir.path()),
            "-o",
            s(dir.path()),
            "--overwrite",
        ],
        &[],
    );
    o.assert_clean_failure(
        &["scan.nii.gz", "would replace the input"],
        baseline_plus(64 * MIB),
    );
    // A single file onto itself, through another spelling of its folder.
    let other = dir.path().join(".").join("scan.nii.gz");
    let o = run(
        &[
            "predict",
            "-w",
            "absent.safetensors",
            "-i",
            s(&input),
            "-o",
            s(&other),
            "--overwrite",
        ],
        &[],
    );
    o.assert_clean_failure(&["would replace the input"], baseline_plus(64 * MIB));
    assert_eq!(std::fs::read(&input).unwrap(), before);
}

#[test]
fn a_split_list_name_that_leaves_the_dataset_folder_names_the_list_and_line() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("acdc");
    std::fs::create_dir_all(root.join("lists")).unwrap();
    std::fs::create_dir_all(dir.path().join("outside")).unwrap();
    std::fs::write(
        root.join("lists/train.txt"),
        "# patients\npatient001\n../outside\n",
    )
    .unwrap();
    let o = run(
        &["data", "check", "--dataset", "acdc", "--root", s(&root)],
        &[],
    );
    assert!(matches!(o.code, Some(1 | 2)), "{o:?}");
    let all = format!("{}{}", o.stdout, o.stderr);
    assert!(
        all.contains("train.txt") && all.contains("line 3") && all.contains("separator"),
        "{all}"
    );
    assert!(!all.contains("panicked"), "{all}");
    assert!(
        o.peak_rss <= baseline_plus(64 * MIB),
        "{} MiB",
        o.peak_rss >> 20
    );
}
