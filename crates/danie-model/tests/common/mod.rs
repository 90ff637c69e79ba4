//! Shared helpers of the integration tests: comparing tensors (the Python references run through
//! danie-testkit).
#![allow(dead_code)]
use std::collections::HashMap;
use std::path::Path;

use tch::{Kind, Tensor};

pub use danie_testkit::run_python;

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
