//! The CI run of the fuzz harness: a fixed number of deterministic cases per reader (its seeds,
//! every committed reproducer among them, then mutations), each in a child process under an
//! address-space limit and a time limit. Any panic, abort or hang fails the test, which prints
//! the reproducer's path (`danie-fuzz repro --target T FILE` replays it).
use std::path::PathBuf;
use std::process::Command;

/// Cases per target: a few seconds each in a debug build on 2 cores.
const CASES: &str = "120";

fn fuzz(target: &str) {
    let findings = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("fuzz-findings");
    let _ = std::fs::remove_dir_all(findings.join(target));
    let out = Command::new(env!("CARGO_BIN_EXE_danie-fuzz"))
        .args(["run", "--target", target, "--cases", CASES, "--seed", "1"])
        .args(["--stop-at-first", "--timeout-ms", "30000"])
        .arg("--findings")
        .arg(&findings)
        .output()
        .expect("run danie-fuzz");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        out.status.success(),
        "the {target} reader failed under fuzzing (reproducers in {}):\n{stderr}",
        findings.join(target).display()
    );
}

macro_rules! targets {
    ($($name:ident),*) => {$(
        #[test]
        fn $name() {
            fuzz(stringify!($name));
        }
    )*};
}

targets!(
    nifti,
    nifti_gz,
    npy,
    npz,
    hdf5,
    png,
    jpeg,
    bmp,
    pth,
    safetensors,
    train_config,
    model_config
);

#[test]
fn every_target_has_a_test_here() {
    let out = Command::new(env!("CARGO_BIN_EXE_danie-fuzz"))
        .arg("list")
        .output()
        .expect("run danie-fuzz list");
    let listed = String::from_utf8_lossy(&out.stdout);
    let here = include_str!("short_run.rs");
    for line in listed.lines() {
        let name = line.split_whitespace().next().unwrap_or("");
        assert!(
            here.contains(&format!("    {name},")) || here.contains(&format!("    {name}\n")),
            "target {name} has no short-run test"
        );
    }
}
