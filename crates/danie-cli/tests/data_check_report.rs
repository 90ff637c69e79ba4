//! `danie data check` reports every problem of a split, each file on its own line, and counts
//! the good cases: a synthetic Synapse dataset with two training slices removed and one test
//! volume damaged names all three, counts the rest and exits non-zero.
mod support;

use std::path::{Path, PathBuf};

use serde_json::Value;

fn files(dir: &Path) -> Vec<PathBuf> {
    let mut v: Vec<PathBuf> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    v.sort();
    v
}

fn split<'a>(report: &'a Value, name: &str) -> &'a Value {
    report["splits"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["split"] == name)
        .unwrap_or_else(|| panic!("no {name} split in {report}"))
}

#[test]
fn two_missing_files_and_a_damaged_one_are_each_named_and_the_rest_counted() {
    let d = tempfile::tempdir().unwrap();
    let root = d.path().join("synapse");
    let r = root.to_str().unwrap();
    let o = support::run(
        &[
            "data",
            "generate",
            "--dataset",
            "synapse",
            "--out",
            r,
            "--cases",
            "6",
            "--size",
            "16",
            "--slices",
            "3",
        ],
        &[],
    );
    assert_eq!(o.code, Some(0), "{}", o.stderr);
    let json = d.path().join("check.json");
    let j = json.to_str().unwrap();

    // Intact: no problem, exit 0.
    let o = support::run(
        &[
            "data",
            "check",
            "--dataset",
            "synapse",
            "--root",
            r,
            "--json",
            j,
        ],
        &[],
    );
    assert_eq!(o.code, Some(0), "{}\n{}", o.stdout, o.stderr);
    let clean: Value = serde_json::from_str(&std::fs::read_to_string(&json).unwrap()).unwrap();
    let (train_n, test_n) = (
        split(&clean, "train")["read"].as_u64().unwrap(),
        split(&clean, "test")["read"].as_u64().unwrap(),
    );
    // one word for each thing: TransUNet's training split is slices, its test split volumes
    assert_eq!(split(&clean, "train")["unit"], "slices");
    assert_eq!(split(&clean, "test")["unit"], "volumes");
    assert!(
        o.stdout.contains(&format!("{test_n} volumes")),
        "{}",
        o.stdout
    );

    let train = files(&root.join("train_npz"));
    let test = files(&root.join("test_vol_h5"));
    assert!(train.len() >= 3 && test.len() >= 2, "{train:?} {test:?}");
    assert_eq!((train.len() as u64, test.len() as u64), (train_n, test_n));
    std::fs::remove_file(&train[0]).unwrap();
    std::fs::remove_file(&train[2]).unwrap();
    std::fs::write(&test[1], b"not an HDF5 file at all").unwrap();

    let o = support::run(
        &[
            "data",
            "check",
            "--dataset",
            "synapse",
            "--root",
            r,
            "--json",
            j,
        ],
        &[],
    );
    assert_ne!(o.code, Some(0), "{}", o.stdout);
    let problem_lines: Vec<&str> = o
        .stdout
        .lines()
        .filter(|l| l.starts_with("problem"))
        .collect();
    for bad in [&train[0], &train[2], &test[1]] {
        let name = bad.file_name().unwrap().to_str().unwrap();
        let lines = problem_lines.iter().filter(|l| l.contains(name)).count();
        assert_eq!(
            lines, 1,
            "{name} should be on one problem line:\n{}",
            o.stdout
        );
    }
    assert_eq!(problem_lines.len(), 3, "{}", o.stdout);
    assert!(o.stderr.contains("3 problem(s)"), "{}", o.stderr);
    let report: Value = serde_json::from_str(&std::fs::read_to_string(&json).unwrap()).unwrap();
    assert_eq!(split(&report, "train")["read"].as_u64(), Some(train_n - 2));
    assert_eq!(split(&report, "test")["read"].as_u64(), Some(test_n - 1));
    assert_eq!(
        split(&report, "train")["problems"]
            .as_array()
            .unwrap()
            .len(),
        2
    );
}
