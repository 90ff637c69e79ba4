//! `cargo xtask reproduce` without training anything: its command line, the run folder it leaves
//! when it fails, and the units of its summaries. A small shell script stands in for `danie`
//! (DANIE_BIN), so these run in seconds: `data check` fails, `data generate` and `train` do
//! what `FAKE_GENERATE` says (`train` fails for the seed `FAKE_FAIL_SEED`), and `eval --out DIR`
//! writes summary.json / summary.md / cases.csv as the real `danie eval` lays them out: mean
//! Dice 0.0054 as a fraction (+0.001 per seed above 1234), HD95 2.3 voxels, and three cases
//! whose Dice the `spatial_first` variant raises by 0.01, 0.02 and 0.03.
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

const FAKE_DANIE: &str = r#"#!/bin/sh
# A stand-in for `danie` (see xtask/tests/reproduce_args.rs).
out=""
prev=""
seed=1234
off=0
for a in "$@"; do
  if [ "$prev" = "--out" ]; then out="$a"; fi
  case "$a" in
    train.seed=*) seed="${a#train.seed=}" ;;
    *spatial_first*) off=1 ;;
  esac
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
  train)
    if [ "$FAKE_FAIL_SEED" = "$seed" ]; then echo "training diverged" >&2; exit 1; fi
    exit 0 ;;
  eval)
    [ -n "$out" ] || { echo "fake danie: eval without --out" >&2; exit 3; }
    mkdir -p "$out"
    dice=$(awk "BEGIN{print 0.0054 + 0.001 * ($seed - 1234)}")
    cat > "$out/summary.json" <<EOF
{"scores": {"kind": "volumes", "distance_unit": "voxel", "mean": {"dice": $dice, "hd95": 2.3},
 "classes": [{"label": 1, "name": "spleen", "dice": {"mean": $dice}, "hd95": {"mean": 2.3}}]}}
EOF
    printf '| Method | DSC | HD95 |\n|---|---|---|\n| this run | 0.54 | 2.30 |\n' > "$out/summary.md"
    printf 'case,label,presence,pred_voxels,gt_voxels,dice,iou,hd,hd95,asd,assd\n' > "$out/cases.csv"
    for c in 1 2 3; do
      d=$(awk "BEGIN{print 0.4 + 0.1 * $c + 0.01 * $c * $off + 0.001 * ($seed - 1234)}")
      echo "case000$c,1,both,1,1,$d,0,0,0,0,0" >> "$out/cases.csv"
    done
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
        .env_remove("FAKE_GENERATE")
        .env_remove("FAKE_FAIL_SEED");
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
        out.contains(
            "| variant | mean DSC (%) | mean HD95 (voxels) | vs channel first (points) | 95 % CI | Wilcoxon p | minutes |"
        ),
        "{out}"
    );
    assert!(
        out.contains("| channel first | 0.54 | 2.30 | (base) | - | - | "),
        "{out}"
    );
    assert!(
        out.contains("| spatial first | 0.54 | 2.30 | +2.00 | "),
        "{out}"
    );
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

#[test]
fn seeds_give_mean_and_std_and_the_ablation_a_paired_test() {
    let tmp = tempfile::tempdir().unwrap();
    let danie = fake_danie(tmp.path());
    let runs = tmp.path().join("runs");

    // The demo with two seeds: one folder per seed, mean ± sample std per class and overall.
    let o = xtask(
        &["reproduce", "--quick", "--seeds", "2"],
        &runs,
        &danie,
        &[],
    );
    let (out, err) = text(&o);
    assert!(o.status.success(), "{out}\n{err}");
    // Seeds 1234 and 1235: Dice 0.54 % and 0.64 %, mean 0.59, sample std 0.0707.
    assert!(
        out.contains("2 seeds (1234, 1235): mean ± sample std over seeds"),
        "{out}"
    );
    assert!(out.contains("| class | DSC (%) | HD95 (voxels) |"), "{out}");
    assert!(
        out.contains("| spleen | 0.59 ± 0.07 | 2.30 ± 0.00 |"),
        "{out}"
    );
    assert!(
        out.contains("| mean | 0.59 ± 0.07 | 2.30 ± 0.00 |"),
        "{out}"
    );
    assert!(
        out.contains("mean DSC 0.59 ± 0.07 %, mean HD95 2.30 ± 0.00 voxels over 2 seeds"),
        "{out}"
    );
    assert!(
        err.contains("seed 1235 (2/2)"),
        "no progress per seed:\n{err}"
    );
    let run = folders(&runs).pop().unwrap();
    for s in ["seed-1234", "seed-1235"] {
        assert!(run.join(s).join("eval/cases.csv").is_file(), "{s}");
    }
    let rep: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(run.join("reproduce.json")).unwrap())
            .unwrap();
    assert_eq!(rep["seeds"], serde_json::json!([1234, 1235]));
    assert!(
        (rep["mean_dsc_percent"].as_f64().unwrap() - 0.59).abs() < 1e-9,
        "{rep}"
    );
    assert!((rep["std_dsc_percent"].as_f64().unwrap() - 0.1f64 / 2f64.sqrt()).abs() < 1e-9);
    assert_eq!(rep["classes"][0]["class"], "spleen");
    let csv = std::fs::read_to_string(run.join("reproduce.csv")).unwrap();
    assert!(
        csv.starts_with(
            "class,seeds,mean_dsc_percent,std_dsc_percent,mean_hd95,std_hd95,hd95_unit\nspleen,2,"
        ),
        "{csv}"
    );

    // An ablation with two seeds: the variant's three cases are 1, 2 and 3 points better in
    // both seeds, so the mean difference is +2.00 points and all three differences are
    // positive: the exact Wilcoxon p is 2 / 2^3 = 0.25.
    let o = xtask(
        &[
            "reproduce",
            "--ablation",
            "order",
            "--quick",
            "--seeds",
            "2",
        ],
        &runs,
        &danie,
        &[],
    );
    let (out, err) = text(&o);
    assert!(o.status.success(), "{out}\n{err}");
    assert!(
        out.contains("| spatial first | 0.59 ± 0.07 | 2.30 ± 0.00 | +2.00 | [+"),
        "{out}"
    );
    assert!(out.contains("| 0.2500 | "), "{out}");
    let run = PathBuf::from(
        out.lines()
            .find_map(|l| l.strip_prefix("run folder: "))
            .unwrap()
            .trim(),
    );
    assert!(run
        .join("hap_attention_order-spatial_first/seed-1235/eval/cases.csv")
        .is_file());
    let j: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(run.join("ablation.json")).unwrap()).unwrap();
    let vs = &j["rows"][1]["vs_base"];
    let overall = vs
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["class"] == "overall")
        .unwrap();
    assert_eq!(overall["wilcoxon_p"].as_f64(), Some(0.25));
    assert!((overall["mean_diff_dsc_percent"].as_f64().unwrap() - 2.0).abs() < 1e-9);
    let lo = overall["ci95_low_diff_dsc_percent"].as_f64().unwrap();
    let hi = overall["ci95_high_diff_dsc_percent"].as_f64().unwrap();
    assert!(
        (0.999..=2.0).contains(&lo) && (2.0..=3.001).contains(&hi),
        "{lo} {hi}"
    );
    assert!(j["rows"][0]["vs_base"].is_null());
    let tests = std::fs::read_to_string(run.join("ablation_tests.csv")).unwrap();
    assert!(
        tests.contains("spatial first,channel first,spleen (1),3,")
            && tests.contains("spatial first,channel first,overall,3,"),
        "{tests}"
    );
    assert!(run.join("ablation.csv").is_file());
}

#[test]
fn a_failed_seed_fails_the_run() {
    let tmp = tempfile::tempdir().unwrap();
    let danie = fake_danie(tmp.path());
    let runs = tmp.path().join("runs");
    let o = xtask(
        &["reproduce", "--quick", "--seeds", "3"],
        &runs,
        &danie,
        &[("FAKE_FAIL_SEED", "1235")],
    );
    let (out, err) = text(&o);
    assert_eq!(o.status.code(), Some(1), "{out}\n{err}");
    assert!(err.contains("seed 1235 failed"), "{err}");
    assert!(!out.contains("run folder"), "{out}");
    // The seed before it finished; nothing after it ran.
    let run = folders(&runs).pop().unwrap();
    assert!(run.join("seed-1234/eval/cases.csv").is_file());
    assert!(!run.join("seed-1236").exists());
}
