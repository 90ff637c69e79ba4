//! `cargo xtask reproduce` end to end at a reduced size (`--quick`): synthetic data, training,
//! evaluation, the printed table and the run folder; and a bad dataset folder refused before
//! training. Uses the workspace's debug `danie` (built here if needed) through DANIE_BIN.
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

/// Builds `danie` (debug) and returns its path in the workspace's target folder.
fn danie_bin() -> PathBuf {
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).parent().unwrap();
    let st = Command::new(&cargo)
        .args(["build", "-q", "-p", "danie-cli"])
        .current_dir(root)
        .status()
        .expect("run cargo");
    assert!(st.success(), "cargo build -p danie-cli failed");
    let meta = Command::new(&cargo)
        .args(["metadata", "--format-version", "1", "--no-deps"])
        .current_dir(root)
        .output()
        .expect("cargo metadata");
    let v: serde_json::Value = serde_json::from_slice(&meta.stdout).expect("metadata JSON");
    let bin = Path::new(v["target_directory"].as_str().unwrap()).join("debug/danie");
    assert!(bin.is_file(), "{} missing", bin.display());
    bin
}

fn xtask(args: &[&str], runs: &Path, danie: &Path) -> Output {
    Command::new(env!("CARGO_BIN_EXE_xtask"))
        .args(args)
        .env("DANIE_BIN", danie)
        .env("DANIE_RUNS_DIR", runs)
        .output()
        .expect("run the xtask binary")
}

#[test]
fn the_quick_demo_prints_the_table_and_fills_one_run_folder() {
    let danie = danie_bin();
    let runs = tempfile::tempdir().unwrap();
    let o = xtask(
        &["reproduce", "--quick", "--threads", "2"],
        runs.path(),
        &danie,
    );
    let (out, err) = (
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr),
    );
    assert!(o.status.success(), "stdout:\n{out}\nstderr:\n{err}");

    // The folder it names is the one new folder under DANIE_RUNS_DIR.
    let named = out
        .lines()
        .find_map(|l| l.strip_prefix("run folder: "))
        .unwrap_or_else(|| panic!("no run folder named in:\n{out}"));
    let run = PathBuf::from(named.trim());
    let made: Vec<_> = std::fs::read_dir(runs.path())
        .unwrap()
        .flatten()
        .map(|e| e.path())
        .collect();
    assert_eq!(made, vec![run.clone()]);
    assert!(run
        .file_name()
        .unwrap()
        .to_string_lossy()
        .starts_with("demo-"));

    for f in [
        "config.toml",
        "data/lists_Synapse/train.txt",
        "train/model.safetensors",
        "train/log.csv",
        "eval/summary.md",
        "eval/summary.json",
        "eval/paper_table.csv",
        "eval/overlays/case0001.png",
        "eval/cases.csv",
        "reproduce.json",
        "reproduce.csv",
    ] {
        assert!(run.join(f).is_file(), "{f} missing from {}", run.display());
    }
    assert!(
        std::fs::read_dir(run.join("train"))
            .unwrap()
            .flatten()
            .any(|e| e.path().extension().is_some_and(|x| x == "png")),
        "no training curves (PNG) in train/"
    );

    // The printed table is eval's summary.md, with the published baselines beside the run.
    let md = std::fs::read_to_string(run.join("eval/summary.md")).unwrap();
    assert!(
        out.contains(md.trim_end()),
        "the printed table differs from summary.md"
    );
    assert!(md.contains("TransUNet") && md.contains('|'), "{md}");

    // The headline number is summary.json's mean Dice over the 8 organs (a fraction there), in %
    // like the table.
    let summary: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(run.join("eval/summary.json")).unwrap())
            .unwrap();
    let rep: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(run.join("reproduce.json")).unwrap())
            .unwrap();
    let dice = summary["scores"]["mean"]["dice"].as_f64().unwrap();
    assert!((0.0..=1.0).contains(&dice), "{dice}");
    assert_eq!(rep["mean_dsc_percent"].as_f64().unwrap(), dice * 100.0);
    assert!(
        out.contains(&format!("mean DSC {:.2} %", dice * 100.0)),
        "{out}"
    );

    // The run config records what ran: the generated data and this run folder.
    let cfg: toml::Table =
        toml::from_str(&std::fs::read_to_string(run.join("config.toml")).unwrap()).unwrap();
    assert_eq!(
        cfg["data"]["root"].as_str().unwrap(),
        run.join("data").display().to_string()
    );
    assert_eq!(
        cfg["output"]["run_dir"].as_str().unwrap(),
        run.join("train").display().to_string()
    );
}

#[test]
fn a_bad_dataset_folder_is_refused_before_training() {
    let danie = danie_bin();
    let runs = tempfile::tempdir().unwrap();
    let empty = tempfile::tempdir().unwrap();
    let o = xtask(
        &[
            "reproduce",
            "--dataset",
            "acdc",
            "--data-root",
            empty.path().to_str().unwrap(),
        ],
        runs.path(),
        &danie,
    );
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(!o.status.success());
    assert!(
        err.contains("data check") && err.contains(&empty.path().display().to_string()),
        "{err}"
    );
    // Nothing was trained, and the run folder it made (empty) is gone.
    let left: Vec<_> = std::fs::read_dir(runs.path()).unwrap().flatten().collect();
    assert!(left.is_empty(), "{left:?}");
}

/// Without network, `reproduce --dataset` stops before anything else with the one manual step
/// for the ImageNet checkpoint its config names (registry URLs at a closed local port), and
/// leaves no run folder.
#[test]
fn without_network_the_pretrained_weights_give_the_manual_step() {
    let runs = tempfile::tempdir().unwrap();
    let dir = tempfile::tempdir().unwrap();
    let reg = dir.path().join("registry.toml");
    let entry = |name: &str, file: &str| {
        format!(
            "[[entry]]\nname = \"{name}\"\nkind = \"weights\"\nlicence = \"test\"\n\
             [[entry.files]]\nurl = \"http://127.0.0.1:9/{file}\"\n\
             sha256 = \"{}\"\nsize = 10\n",
            "ab".repeat(32)
        )
    };
    std::fs::write(
        &reg,
        entry("vit_small_patch16_224", "vit_small_patch16_224.safetensors")
            + &entry("resnet18", "resnet18-f37072fd.pth"),
    )
    .unwrap();
    let weights = dir.path().join("weights");
    let o = Command::new(env!("CARGO_BIN_EXE_xtask"))
        .args(["reproduce", "--dataset", "synapse", "--data-root"])
        .arg(dir.path())
        .env("DANIE_BIN", "/bin/true")
        .env("DANIE_RUNS_DIR", runs.path())
        .env("DANIE_REGISTRY", &reg)
        .env("DANIE_WEIGHTS_DIR", &weights)
        .output()
        .expect("run the xtask binary");
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(!o.status.success());
    let path = weights.join("vit_small_patch16_224/vit_small_patch16_224.safetensors");
    assert!(
        err.contains(
            "without network: download http://127.0.0.1:9/vit_small_patch16_224.safetensors to "
        ) && err.contains(&path.display().to_string())
            && err.contains("then rerun"),
        "{err}"
    );
    assert!(
        !err.contains("panicked") && !err.contains("RUST_BACKTRACE"),
        "{err}"
    );
    let left: Vec<_> = std::fs::read_dir(runs.path()).unwrap().flatten().collect();
    assert!(left.is_empty(), "{left:?}");
}
