//! Error messages say each thing once: a file named by the reader's own error is not named again
//! by the caller's context (`reading X: X: not a NIfTI file`), and no clause of the `error:`
//! line repeats another.
mod support;

use std::path::Path;

/// The `error:` line's clauses (`anyhow` joins contexts with `: `) repeat none, and each path in
/// `paths` appears at most once.
fn assert_says_once(stderr: &str, paths: &[&Path]) {
    let line = stderr
        .lines()
        .find(|l| l.starts_with("error:"))
        .unwrap_or_else(|| panic!("no error line:\n{stderr}"));
    let clauses: Vec<&str> = line["error:".len()..]
        .split(": ")
        .map(str::trim)
        .filter(|c| !c.is_empty())
        .collect();
    for (i, c) in clauses.iter().enumerate() {
        assert!(
            !clauses[..i].contains(c),
            "clause {c:?} repeats in {line:?}"
        );
    }
    for p in paths {
        let p = p.display().to_string();
        assert!(
            line.matches(p.as_str()).count() <= 1,
            "{p} named more than once in {line:?}"
        );
    }
}

#[test]
fn bad_files_are_named_once_per_message() {
    let dir = tempfile::tempdir().unwrap();
    let junk = dir.path().join("junk.nii.gz");
    std::fs::write(&junk, b"not a NIfTI file, only words").unwrap();
    let missing = dir.path().join("missing.nii.gz");
    let (j, m) = (junk.to_str().unwrap(), missing.to_str().unwrap());

    // danie metrics on a damaged and on a missing file
    for (pred, gt) in [(j, j), (m, j)] {
        let o = support::run(&["metrics", "--pred", pred, "--gt", gt], &[]);
        o.assert_clean_failure(&[], 1 << 30);
        assert_says_once(&o.stderr, &[Path::new(pred)]);
    }
    // danie inspect and danie eval --image name the file once too
    let o = support::run(&["inspect", j], &[]);
    o.assert_clean_failure(&["junk.nii.gz"], 1 << 30);
    assert_says_once(&o.stderr, &[&junk]);
    let weights = dir.path().join("none.safetensors");
    let out = dir.path().join("out");
    let o = support::run(
        &[
            "eval",
            "--weights",
            weights.to_str().unwrap(),
            "--image",
            j,
            "--reference",
            j,
            "--out",
            out.to_str().unwrap(),
        ],
        &[],
    );
    o.assert_clean_failure(&["none.safetensors"], 1 << 30);
    assert_says_once(&o.stderr, &[&weights]);
}
