//! Helpers for the format tests: run a reference script (danie-testkit), read the raw
//! little-endian dumps it writes.
#![allow(dead_code)]
use std::path::{Path, PathBuf};

/// Runs `tests/python/<script>` with `args` and parses its stdout as JSON (danie-testkit).
pub fn run_python(script: &str, args: &[&Path]) -> serde_json::Value {
    danie_testkit::run_python_json(script, args)
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
