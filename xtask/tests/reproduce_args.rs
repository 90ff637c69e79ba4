//! `cargo xtask reproduce` without training anything: its command line, the run folder it leaves
//! when it fails, and the units of its summaries. A small shell script stands in for `danie`
//! (DANIE_BIN), so these run in seconds: `data check` fails, `data generate` and `train` do
//! what `FAKE_GENERATE` says, and `eval --out DIR` writes a fixed summary.json / summary.md
//! (mean Dice 0.0054 as a fraction, HD95 2.3 voxels) as the real `danie eval` lays them out.
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

const FAKE_DANIE: &str = r#"#!/bin/sh
# A stand-in for `danie` (see xtask/tests/reproduce_args.rs).
out=""
prev=""
for a in "$@"; do
  if [ "$prev" = "--out" ]; then out="$a"; fi
  prev="$a"
done
case "$1 $2" in
  "data check")
    echo "problem: no lists_Synapse/train.txt" >&2
    exit 1 ;;
  "data generate")
    if [ "$FAKE_GENERATE" = "fail-empty" ]; then echo "generate failed" >&2; exit 1; fi
    mkdir -p "$out/lists_Synapse"
    if [ "$FAKE_GENERATE" = "fail-partial" ]; then echo "generate failed half-way" >&2; exit 1; fi
    exit 0 ;;
esac
case "$1" in
  train) exit 0 ;;
  eval)
    mkdir -p "$out"
    cat > "$out/summary.json" <<'EOF'
{"scores": {"kind": "volumes", "distance_unit": "voxel", "mean": {"dice": 0.0054, "hd95": 2.3}}}
EOF
    printf '| Method | DSC | HD95 |\n|---|---|---|\n| this run | 0.54 | 2.30 |\n' > "$out/summary.md"
    exit 0 ;;
esac
echo "fake danie: unexpected arguments: $*" >&2
exit 3
"#;

/// Writes the stand-in `danie` into `dir` and returns its path.
fn fake_danie(dir: &Path) -> PathBuf {
    let p = dir.join("danie");
    std::fs::write(&p, FAKE_DANIE).unwrap();
    std::fs::set_permissions(&p, std::fs::Permissions::from_mode(0o755)).unwrap();
    p
}

fn xtask(args: &[&str], runs: &Path, danie: &Path, envs: &[(&str, &str)]) -> Output {
    let mut c = Command::new(env!("CARGO_BIN_EXE_xtask"));
    c.args(args)
        .env("DANIE_BIN", danie)
        .env("DANIE_RUNS_DIR", runs)
        .env_remove("FAKE_GENERATE");
    for (k, v) in envs {
        c.env(k, v);
    }
    c.output().expect("run the xtask binary")
}

fn text(o: &Output) -> (String, String) {
    (
        String::from_utf8_lossy(&o.stdout).into_owned(),
        String::from_utf8_lossy(&o.stderr).into_owned(),
    )
}

/// The folders under `runs` (none when `runs` was never created).
fn folders(runs: &Path) -> Vec<PathBuf> {
    match std::fs::read_dir(runs) {
        Ok(d) => d.flatten().map(|e| e.path()).collect(),
        Err(_) => Vec::new(),
    }
}

#[test]
fn data_root_without_dataset_is_a_usage_error() {
    let tmp = tempfile::tempdir().unwrap();
    let danie = fake_danie(tmp.path());
    let runs = tmp.path().join("runs");
    let data = tempfile::tempdir().unwrap();
    for args in [
        vec!["reproduce", "--data-root", data.path().to_str().unwrap()],
        vec![
            "reproduce",
            "--ablation",
            "order",
            "--data-root",
            data.path().to_str().unwrap(),
        ],
    ] {
        let o = xtask(&args, &runs, &danie, &[]);
        let (out, err) = text(&o);
        assert_eq!(o.status.code(), Some(2), "{args:?}\n{out}\n{err}");
        assert!(err.contains("--dataset"), "{args:?}: {err}");
        assert!(!out.contains("run folder"), "{args:?}: {out}");
        assert!(folders(&runs).is_empty(), "{args:?} made a run folder");
    }
    // With --dataset it goes on (to the data check, which the stand-in fails).
    let o = xtask(
        &[
            "reproduce",
            "--dataset",
            "synapse",
            "--data-root",
            data.path().to_str().unwrap(),
        ],
        &runs,
        &danie,
        &[],
    );
    let (_, err) = text(&o);
    assert_eq!(o.status.code(), Some(1), "{err}");
    assert!(err.contains("is not a usable synapse folder"), "{err}");
}

#[test]
fn a_run_that_fails_before_writing_leaves_no_folder() {
    let tmp = tempfile::tempdir().unwrap();
    let danie = fake_danie(tmp.path());
    let runs = tmp.path().join("runs");
    let data = tempfile::tempdir().unwrap();
    let root = data.path().to_str().unwrap();
    // A bad dataset folder (data check fails), for reproduce and for an ablation.
    for args in [
        vec!["reproduce", "--dataset", "acdc", "--data-root", root],
        vec![
            "reproduce",
            "--ablation",
            "fusion",
            "--dataset",
            "acdc",
            "--data-root",
            root,
        ],
    ] {
        let o = xtask(&args, &runs, &danie, &[]);
        let (_, err) = text(&o);
        assert_eq!(o.status.code(), Some(1), "{args:?}: {err}");
        assert!(err.contains("data check"), "{args:?}: {err}");
        assert!(folders(&runs).is_empty(), "{:?}", folders(&runs));
    }
    // The demo, when generating its data fails before writing anything.
    let o = xtask(
        &["reproduce"],
        &runs,
        &danie,
        &[("FAKE_GENERATE", "fail-empty")],
    );
    assert_eq!(o.status.code(), Some(1), "{}", text(&o).1);
    assert!(folders(&runs).is_empty(), "{:?}", folders(&runs));
    // A run that wrote something before failing keeps its folder, and what is in it.
    let o = xtask(
        &["reproduce"],
        &runs,
        &danie,
        &[("FAKE_GENERATE", "fail-partial")],
    );
    assert_eq!(o.status.code(), Some(1), "{}", text(&o).1);
    let left = folders(&runs);
    assert_eq!(left.len(), 1, "{left:?}");
    assert!(left[0].join("data/lists_Synapse").is_dir());
}

#[test]
fn the_summary_line_and_reproduce_json_use_percent_like_the_table() {
    let tmp = tempfile::tempdir().unwrap();
    let danie = fake_danie(tmp.path());
    let runs = tmp.path().join("runs");
    let o = xtask(&["reproduce", "--quick"], &runs, &danie, &[]);
    let (out, err) = text(&o);
    assert!(o.status.success(), "{out}\n{err}");
    // The table as eval wrote it, then the same number in the same unit.
    assert!(out.contains("| this run | 0.54 | 2.30 |"), "{out}");
    assert!(
        out.contains("mean DSC 0.54 %, mean HD95 2.30 voxels in "),
        "{out}"
    );
    assert!(!out.contains("0.0054"), "a fraction in the summary:\n{out}");
    let run = PathBuf::from(
        out.lines()
            .find_map(|l| l.strip_prefix("run folder: "))
            .unwrap_or_else(|| panic!("no run folder in:\n{out}"))
            .trim(),
    );
    let rep: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(run.join("reproduce.json")).unwrap())
            .unwrap();
    assert!(
        (rep["mean_dsc_percent"].as_f64().unwrap() - 0.54).abs() < 1e-9,
        "{rep}"
    );
    assert_eq!(rep["mean_hd95"].as_f64(), Some(2.3));
    assert_eq!(rep["hd95_unit"].as_str(), Some("voxels"));
    assert!(rep.get("mean_dice").is_none(), "{rep}");
}

#[test]
fn the_ablation_table_uses_percent_and_names_the_distance_unit() {
    let tmp = tempfile::tempdir().unwrap();
    let danie = fake_danie(tmp.path());
    let runs = tmp.path().join("runs");
    let o = xtask(
        &["reproduce", "--ablation", "order", "--quick"],
        &runs,
        &danie,
        &[],
    );
    let (out, err) = text(&o);
    assert!(o.status.success(), "{out}\n{err}");
    assert!(
        out.contains("| variant | mean DSC (%) | mean HD95 (voxels) | minutes |"),
        "{out}"
    );
    assert!(out.contains("| channel first | 0.54 | 2.30 | "), "{out}");
    assert!(out.contains("| spatial first | 0.54 | 2.30 | "), "{out}");
    assert!(!out.contains("0.0054"), "{out}");
    let left = folders(&runs);
    assert_eq!(left.len(), 1, "{left:?}");
    let md = std::fs::read_to_string(left[0].join("ablation.md")).unwrap();
    assert!(out.contains(md.trim_end()), "{md}");
    let j: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(left[0].join("ablation.json")).unwrap())
            .unwrap();
    for row in j["rows"].as_array().unwrap() {
        assert!((row["mean_dsc_percent"].as_f64().unwrap() - 0.54).abs() < 1e-9);
        assert_eq!(row["hd95_unit"].as_str(), Some("voxels"));
        assert!(row.get("mean_dice").is_none());
    }
}
