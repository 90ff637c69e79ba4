//! Helpers for the format tests: run a reference script under $DANIE_PYTHON, read the raw
//! little-endian dumps it writes.
#![allow(dead_code)]
use std::path::{Path, PathBuf};
use std::process::Command;

/// Runs `tests/python/<script>` with `args` under `$DANIE_PYTHON` and parses its stdout as JSON.
/// Panics with a clear message if `DANIE_PYTHON` is unset or the script fails: a missing
/// reference must fail the test, never skip it.
pub fn run_python(script: &str, args: &[&Path]) -> serde_json::Value {
    let python = std::env::var("DANIE_PYTHON").expect(
        "DANIE_PYTHON is not set: these tests compare against nibabel/numpy/h5py/Pillow; \
         run them through cargo (the workspace .cargo/config.toml sets it) after `cargo xtask setup`",
    );
    let script_path =
        Path::new(concat!(env!("CARGO_MANIFEST_DIR"), "/../../tests/python")).join(script);
    let out = Command::new(&python)
        .arg(&script_path)
        .args(args)
        .output()
        .unwrap_or_else(|e| panic!("cannot run DANIE_PYTHON={python}: {e}"));
    assert!(
        out.status.success(),
        "{} failed ({}):\n{}",
        script_path.display(),
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).unwrap_or_else(|e| {
        panic!(
            "{script}: stdout is not JSON ({e}):\n{}",
            String::from_utf8_lossy(&out.stdout)
        )
    })
}

/// Reads a file of little-endian f64 values.
pub fn read_f64_le(path: &Path) -> Vec<f64> {
    let bytes = std::fs::read(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    bytes
        .chunks_exact(8)
        .map(|c| f64::from_le_bytes(c.try_into().unwrap()))
        .collect()
}

/// Writes `values` as little-endian f64.
pub fn write_f64_le(path: &Path, values: impl Iterator<Item = f64>) {
    let bytes: Vec<u8> = values.flat_map(|v| v.to_le_bytes()).collect();
    std::fs::write(path, bytes).unwrap();
}

/// `a` and `b` equal, NaN equal to NaN.
pub fn same_f64(a: f64, b: f64) -> bool {
    a == b || (a.is_nan() && b.is_nan())
}

/// The real test files folder.
pub fn real_dir() -> PathBuf {
    Path::new(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../tests/data/real"
    ))
    .to_path_buf()
}

/// A JSON array of non-negative integers (a shape).
pub fn json_usizes(v: &serde_json::Value) -> Vec<usize> {
    v.as_array()
        .expect("a JSON array")
        .iter()
        .map(|x| x.as_u64().expect("an integer") as usize)
        .collect()
}
