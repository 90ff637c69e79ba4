//! `danie train` from pretrained checkpoints written by timm and torchvision
//! (tests/python/pretrained_first_loss.py): the first iteration's loss equals PyTorch's
//! (reference/danie_ref.py with the backbones adapted by timm's own functions) to 1e-5, the
//! run folder and the weights record each checkpoint's sha256; and checkpoints that do not
//! fit, missing, truncated or unknown ones are clear errors that leave no run folder.
mod support;

use std::path::{Path, PathBuf};

use danie_data::datasets::DatasetKind;
use danie_data::synthetic::{generate, SyntheticConfig};
use support::MIB;

/// A synthetic Synapse layout (1-channel CT slices, 32 px).
fn data(dir: &Path) -> (PathBuf, usize) {
    let root = dir.join("synapse");
    generate(
        DatasetKind::Synapse,
        &root,
        &SyntheticConfig {
            cases: Some(3),
            size: 32,
            slices: Some(2),
            seed: 3,
            overwrite: false,
            progress: false,
        },
    )
    .expect("synthetic Synapse");
    let n = std::fs::read_dir(root.join("train_npz")).unwrap().count();
    (root, n)
}

/// A one-iteration run config: preset b with one ViT block and one residual block per stage
/// (the checkpoints' layout), all training slices in one batch, no augmentation, lr 1e-10 (the
/// smallest a config takes; danie refuses a run whose step changes no weight) so the saved
/// weights are the initial ones to ~1e-10, far inside the 1e-6 / 1e-5 bounds below.
fn config(dir: &Path, name: &str, root: &Path, batch: usize, pretrained: &str) -> PathBuf {
    let path = dir.join(format!("{name}.toml"));
    let text = format!(
        r#"
[data]
dataset = "synapse"
root = "{}"
image_size = 32
batch_size = {batch}
num_workers = 1
augment = false

[model]
preset = "b"
pretrained = {pretrained}

[model.overrides]
sap = {{ depth = 1 }}
hap = {{ layers = [1, 1, 1] }}

[train]
device = "cpu"
threads = 1
iterations = 1
lr = 1e-10
weight_decay = 0.0
log_every = 1
val_every = 0

[output]
run_dir = "{}"
"#,
        root.display(),
        dir.join(format!("run_{name}")).display()
    );
    std::fs::write(&path, text).unwrap();
    path
}

#[test]
fn training_starts_from_timm_and_torchvision_checkpoints() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    danie_testkit::run_python("pretrained_first_loss.py", &["write", d.to_str().unwrap()]);
    let (root, batch) = data(d);
    let (vit, resnet) = (d.join("vit_d1.safetensors"), d.join("resnet_b1.pth"));
    let weights_dir = d.join("weights");
    std::fs::create_dir(&weights_dir).unwrap();
    let env = [("DANIE_WEIGHTS_DIR", weights_dir.to_str().unwrap())];

    // Bad input first: each a clear error naming it, and no run folder.
    let truncated = d.join("truncated.pth");
    let bytes = std::fs::read(&resnet).unwrap();
    std::fs::write(&truncated, &bytes[..bytes.len() / 2]).unwrap();
    let ok_vit = format!("sap = \"{}\"", vit.display());
    let cases: Vec<(&str, String, Vec<String>)> = vec![
        (
            "bottleneck",
            format!(
                "{{ {ok_vit}, hap = \"{}\" }}",
                d.join("resnet_bottleneck.pth").display()
            ),
            vec![
                "resnet_bottleneck.pth".into(),
                "pretrained.hap".into(),
                "does not fit".into(),
                "layer1.0.conv1.weight".into(),
            ],
        ),
        (
            "narrow",
            format!(
                "{{ sap = \"{}\" }}",
                d.join("vit_narrow.safetensors").display()
            ),
            vec![
                "vit_narrow.safetensors".into(),
                "pretrained.sap".into(),
                "file has [192".into(),
            ],
        ),
        (
            "missing",
            format!("{{ hap = \"{}\" }}", d.join("nope.pth").display()),
            vec!["nope.pth".into(), "does not exist".into()],
        ),
        (
            "truncated",
            format!("{{ hap = \"{}\" }}", truncated.display()),
            vec!["truncated.pth".into(), "pretrained.hap".into()],
        ),
        (
            "unknown",
            "{ sap = \"vit_gigantic_patch3\" }".into(),
            vec![
                "vit_gigantic_patch3".into(),
                "cargo xtask download weights vit_gigantic_patch3".into(),
            ],
        ),
        (
            "imagenet",
            "\"imagenet\"".into(),
            vec![
                "vit_small_patch16_224".into(),
                "cargo xtask download weights vit_small_patch16_224".into(),
            ],
        ),
    ];
    for (name, pretrained, needles) in &cases {
        let cfg = config(d, name, &root, batch, pretrained);
        let out = support::run(&["train", "-c", cfg.to_str().unwrap()], &env);
        let needles: Vec<&str> = needles.iter().map(String::as_str).collect();
        out.assert_clean_failure(&needles, support::baseline_plus(1024 * MIB));
        assert!(
            !d.join(format!("run_{name}")).exists(),
            "{name}: a run folder was left behind"
        );
    }

    // One iteration from the checkpoints; its loss against PyTorch's.
    let pretrained = format!("{{ {ok_vit}, hap = \"{}\" }}", resnet.display());
    let cfg = config(d, "good", &root, batch, &pretrained);
    let out = support::run(&["train", "-c", cfg.to_str().unwrap()], &env);
    assert_eq!(out.code, Some(0), "{}", out.stderr);
    assert!(
        out.stderr.contains("pretrained hap:") && out.stderr.contains("unused: fc.* (2)"),
        "{}",
        out.stderr
    );
    let run = d.join("run_good");
    let row: serde_json::Value = serde_json::from_str(
        std::fs::read_to_string(run.join("log.jsonl"))
            .unwrap()
            .lines()
            .next()
            .unwrap(),
    )
    .unwrap();
    assert_eq!(row["iteration"], 1, "{row}");
    let danie_loss = row["loss"].as_f64().unwrap();
    let reference: serde_json::Value = serde_json::from_str(&danie_testkit::run_python(
        "pretrained_first_loss.py",
        &[
            "loss",
            run.to_str().unwrap(),
            root.to_str().unwrap(),
            vit.to_str().unwrap(),
            resnet.to_str().unwrap(),
        ],
    ))
    .unwrap();
    assert_eq!(reference["batch"].as_u64(), Some(batch as u64));
    let diff = reference["backbone_max_diff"].as_f64().unwrap();
    assert!(
        diff <= 1e-6,
        "backbone differs from the checkpoints by {diff:e}"
    );
    let torch_loss = reference["loss"].as_f64().unwrap();
    eprintln!("first loss: danie {danie_loss}, PyTorch {torch_loss}; backbone diff {diff:e}");
    assert!(
        (danie_loss - torch_loss).abs() <= 1e-5,
        "first loss: danie {danie_loss}, PyTorch {torch_loss}"
    );

    // The run folder and the weights record each checkpoint and its sha256.
    let sha = |p: &Path| danie_model::pretrained::sha256_file(p).unwrap();
    let record: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(run.join("pretrained.json")).unwrap())
            .unwrap();
    let started = record["started_from"].as_array().unwrap();
    assert_eq!(started.len(), 2, "{record}");
    assert_eq!(started[0]["stream"], "sap");
    assert_eq!(started[0]["sha256"], sha(&vit));
    assert_eq!(started[1]["sha256"], sha(&resnet));
    let (_, meta) = danie_model::weights::read_safetensors(&run.join("model.safetensors")).unwrap();
    let meta: serde_json::Value = serde_json::from_str(&meta["danie"]).unwrap();
    assert_eq!(meta["started_from"], record["started_from"]);
}
