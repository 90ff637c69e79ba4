//! Shared helpers of the integration tests: running the Python references, comparing tensors.
#![allow(dead_code)]
use std::collections::HashMap;
use std::path::Path;
use std::process::Command;

use tch::{Kind, Tensor};

/// Runs `tests/python/<script>` with `$DANIE_PYTHON`; panics with a clear message if the
/// interpreter is missing or the script fails (never a silent pass). Returns stdout.
pub fn run_python(script: &str, args: &[&str]) -> String {
    let py = std::env::var("DANIE_PYTHON").unwrap_or_else(|_| {
        panic!("DANIE_PYTHON is not set: these tests compare against the PyTorch reference (run through cargo, which sets it in .cargo/config.toml, after `cargo xtask setup`)")
    });
    let path = format!("{}/../../tests/python/{script}", env!("CARGO_MANIFEST_DIR"));
    let out = Command::new(&py)
        .arg(&path)
        .args(args)
        .output()
        .unwrap_or_else(|e| panic!("cannot run {py} {path}: {e}"));
    assert!(
        out.status.success(),
        "{path} failed ({}):\n{}\n{}",
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// Reads a safetensors file into a map.
pub fn read(path: &Path) -> HashMap<String, Tensor> {
    Tensor::read_safetensors(path)
        .unwrap_or_else(|e| panic!("cannot read {}: {e}", path.display()))
        .into_iter()
        .collect()
}

/// ||a - b|| / ||b|| in float64 (0 when both are zero).
pub fn rel_err(a: &Tensor, b: &Tensor) -> f64 {
    assert_eq!(a.size(), b.size(), "shape mismatch");
    let a = a.to_kind(Kind::Double).to_device(tch::Device::Cpu);
    let b = b.to_kind(Kind::Double).to_device(tch::Device::Cpu);
    let num = (&a - &b).norm().double_value(&[]);
    let den = b.norm().double_value(&[]);
    if den == 0.0 {
        num
    } else {
        num / den
    }
}
