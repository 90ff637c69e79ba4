//! `danie compare RUN_A RUN_B` through the CLI, on cases.csv files written here in the layouts
//! `danie eval` writes (volumes: per case and class; images: per image): the per-class and
//! overall means, the difference, the Wilcoxon p-value (against scipy.stats.wilcoxon) and the
//! bootstrap interval; JSON and CSV output; runs on different cases refused with their names.
mod support;

use std::path::Path;

use serde_json::{json, Value};

const HEADER: &str = "case,label,presence,pred_voxels,gt_voxels,dice,iou,hd,hd95,asd,assd\n";

/// Writes DIR/cases.csv (volumes layout) with `dice[case][class]` for labels 1 and 2, and a
/// summary.json naming the classes.
fn write_run(dir: &Path, dice: &[[f64; 2]]) {
    std::fs::create_dir_all(dir).unwrap();
    let mut csv = HEADER.to_string();
    for (i, d) in dice.iter().enumerate() {
        for (k, v) in d.iter().enumerate() {
            csv += &format!(
                "case{:04},{},both,10,10,{v:?},0.5,1.0,1.0,0.5,0.5\n",
                i + 1,
                k + 1
            );
        }
    }
    std::fs::write(dir.join("cases.csv"), csv).unwrap();
    std::fs::write(
        dir.join("summary.json"),
        json!({"scores": {"kind": "volumes", "classes": [
            {"label": 1, "name": "spleen"}, {"label": 2, "name": "liver"}]}})
        .to_string(),
    )
    .unwrap();
}

/// Twelve cases: B is A plus a case-dependent, mostly positive shift (no ties: the exact test).
fn two_runs() -> (Vec<[f64; 2]>, Vec<[f64; 2]>) {
    let a: Vec<[f64; 2]> = (0..12)
        .map(|i| [0.70 + 0.013 * i as f64, 0.85 - 0.007 * i as f64])
        .collect();
    let b: Vec<[f64; 2]> = a
        .iter()
        .enumerate()
        .map(|(i, d)| {
            let s = 0.003 * (i as f64 - 2.5) + 0.0001 * (i * i) as f64;
            [d[0] + s, d[1] + 0.5 * s + 0.00037 * i as f64]
        })
        .collect();
    (a, b)
}

fn scipy_p(pairs: &[(Vec<f64>, Vec<f64>)]) -> Vec<f64> {
    let dir = tempfile::tempdir().unwrap();
    let input = dir.path().join("in.json");
    let none: Vec<Vec<f64>> = Vec::new();
    std::fs::write(
        &input,
        json!({"wilcoxon": pairs, "bootstrap": none, "n_resamples": 10}).to_string(),
    )
    .unwrap();
    let r = danie_testkit::run_python_json("stats_reference.py", &[&input]);
    r["wilcoxon"]
        .as_array()
        .unwrap()
        .iter()
        .map(|w| w["pvalue"].as_f64().unwrap())
        .collect()
}

#[test]
fn compares_per_class_and_overall_against_scipy() {
    let tmp = tempfile::tempdir().unwrap();
    let (a, b) = two_runs();
    let (ra, rb) = (tmp.path().join("a/eval"), tmp.path().join("b/eval"));
    write_run(&ra, &a);
    write_run(&rb, &b);
    // A run folder (eval/ inside) and an eval folder are both accepted.
    let o = support::run(
        &[
            "compare",
            tmp.path().join("a").to_str().unwrap(),
            rb.to_str().unwrap(),
            "--json",
        ],
        &[],
    );
    assert_eq!(o.code, Some(0), "{}", o.stderr);
    let j: Value = serde_json::from_str(&o.stdout).unwrap();
    let rows = j["rows"].as_array().unwrap();
    let classes: Vec<&str> = rows.iter().map(|r| r["class"].as_str().unwrap()).collect();
    assert_eq!(classes, ["spleen (1)", "liver (2)", "overall"]);

    // References: per class the columns, overall each case's mean over its classes.
    let col = |v: &[[f64; 2]], k: usize| v.iter().map(|d| d[k]).collect::<Vec<f64>>();
    let overall = |v: &[[f64; 2]]| v.iter().map(|d| (d[0] + d[1]) / 2.0).collect::<Vec<f64>>();
    let sets = [
        (col(&a, 0), col(&b, 0)),
        (col(&a, 1), col(&b, 1)),
        (overall(&a), overall(&b)),
    ];
    let p = scipy_p(
        &sets
            .iter()
            .map(|(x, y)| (y.clone(), x.clone()))
            .collect::<Vec<_>>(),
    );
    for ((row, (xa, xb)), p) in rows.iter().zip(&sets).zip(p) {
        let mean = |v: &[f64]| v.iter().sum::<f64>() / v.len() as f64;
        let close = |key: &str, want: f64| {
            let got = row[key].as_f64().unwrap();
            assert!((got - want).abs() < 1e-9, "{key}: {got} vs {want}\n{row}");
        };
        close("mean_dsc_percent_a", mean(xa) * 100.0);
        close("mean_dsc_percent_b", mean(xb) * 100.0);
        close("mean_diff_dsc_percent", (mean(xb) - mean(xa)) * 100.0);
        close("wilcoxon_p", p);
        assert_eq!(row["n_cases"], 12);
        let (lo, hi) = (
            row["ci95_low_diff_dsc_percent"].as_f64().unwrap(),
            row["ci95_high_diff_dsc_percent"].as_f64().unwrap(),
        );
        let d = row["mean_diff_dsc_percent"].as_f64().unwrap();
        assert!(lo < d && d < hi, "{lo} {d} {hi}");
    }

    // The table and the CSV carry the same numbers.
    let o = support::run(
        &["compare", ra.to_str().unwrap(), rb.to_str().unwrap()],
        &[],
    );
    assert_eq!(o.code, Some(0), "{}", o.stderr);
    assert!(
        o.stdout
            .contains("| class | cases | DSC A (%) | DSC B (%) |"),
        "{}",
        o.stdout
    );
    let overall_row = &rows[2];
    assert!(
        o.stdout.contains(&format!(
            "| overall | 12 | {:.2} | {:.2} |",
            overall_row["mean_dsc_percent_a"].as_f64().unwrap(),
            overall_row["mean_dsc_percent_b"].as_f64().unwrap()
        )),
        "{}",
        o.stdout
    );
    let o = support::run(
        &[
            "compare",
            ra.join("cases.csv").to_str().unwrap(),
            rb.to_str().unwrap(),
            "--csv",
        ],
        &[],
    );
    assert_eq!(o.code, Some(0), "{}", o.stderr);
    let lines: Vec<&str> = o.stdout.lines().collect();
    assert_eq!(lines.len(), 4, "{}", o.stdout);
    assert!(lines[0].starts_with("class,n_cases,mean_dsc_percent_a"));
    assert!(lines[3].starts_with("overall,12,"));
}

#[test]
fn image_layout_and_identical_runs() {
    let tmp = tempfile::tempdir().unwrap();
    let csv = "case,dice,iou,sensitivity,specificity,accuracy\n\
               ISIC_1,0.8,0.7,0.9,0.9,0.9\nISIC_2,0.6,0.5,0.9,0.9,0.9\nISIC_3,0.9,0.8,0.9,0.9,0.9\n";
    for r in ["a", "b"] {
        std::fs::create_dir_all(tmp.path().join(r)).unwrap();
        std::fs::write(tmp.path().join(r).join("cases.csv"), csv).unwrap();
    }
    let o = support::run(
        &[
            "compare",
            tmp.path().join("a").to_str().unwrap(),
            tmp.path().join("b").to_str().unwrap(),
            "--json",
        ],
        &[],
    );
    assert_eq!(o.code, Some(0), "{}", o.stderr);
    let j: Value = serde_json::from_str(&o.stdout).unwrap();
    let r = &j["rows"][0];
    assert_eq!(r["class"], "foreground");
    assert_eq!(r["mean_diff_dsc_percent"].as_f64(), Some(0.0));
    // No non-zero difference among 3 pairs: scipy's permutation test gives p = 1.
    assert_eq!(r["wilcoxon_p"].as_f64(), Some(1.0));
}

#[test]
fn runs_on_different_cases_and_bad_folders_are_refused() {
    let tmp = tempfile::tempdir().unwrap();
    let (a, b) = two_runs();
    let (ra, rb) = (tmp.path().join("a"), tmp.path().join("b"));
    write_run(&ra, &a);
    write_run(&rb, &b[..10]);
    let o = support::run(
        &["compare", ra.to_str().unwrap(), rb.to_str().unwrap()],
        &[],
    );
    o.assert_clean_failure(
        &[
            "not evaluated on the same cases",
            "only in",
            "case0011, case0012",
        ],
        support::baseline_plus(64 * support::MIB),
    );
    let missing = tmp.path().join("nowhere");
    let o = support::run(
        &["compare", ra.to_str().unwrap(), missing.to_str().unwrap()],
        &[],
    );
    o.assert_clean_failure(
        &["nowhere", "does not exist"],
        support::baseline_plus(64 * support::MIB),
    );
    let empty = tmp.path().join("empty");
    std::fs::create_dir_all(&empty).unwrap();
    let o = support::run(
        &["compare", empty.to_str().unwrap(), ra.to_str().unwrap()],
        &[],
    );
    o.assert_clean_failure(
        &["empty", "has no cases.csv"],
        support::baseline_plus(64 * support::MIB),
    );
    std::fs::write(empty.join("cases.csv"), "case,iou\nx,0.5\n").unwrap();
    let o = support::run(
        &["compare", empty.to_str().unwrap(), ra.to_str().unwrap()],
        &[],
    );
    o.assert_clean_failure(
        &["cases.csv", "no `dice` column"],
        support::baseline_plus(64 * support::MIB),
    );
}
