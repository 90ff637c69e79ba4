//! Mixed precision: run a closure under CUDA autocast in bfloat16 (or float16).
//!
//! tch's `autocast` uses libtorch's default CUDA autocast dtype (float16) and has no setter, so
//! the dtype is set through libtorch's own `at::autocast::set_autocast_dtype`, which libtorch
//! exports (C++ symbol; `DeviceType` and `ScalarType` are `int8_t` enums).
use tch::{Device, Kind};

/// Reduced precision used inside autocast regions.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Precision {
    /// Plain float32 everywhere.
    Fp32,
    /// CUDA autocast to bfloat16 (matmuls and convolutions; reductions stay float32).
    Bf16,
    /// CUDA autocast to float16.
    Fp16,
}

extern "C" {
    #[link_name = "_ZN2at8autocast18set_autocast_dtypeEN3c1010DeviceTypeENS1_10ScalarTypeE"]
    fn at_set_autocast_dtype(device_type: i8, dtype: i8);
}

const CUDA_DEVICE_TYPE: i8 = 1; // c10::DeviceType::CUDA

/// Runs `f` with autocast at `precision` when `device` is CUDA; otherwise runs it unchanged
/// (autocast is a CUDA feature here: CPU stays in float32).
pub fn with_precision<T>(device: Device, precision: Precision, f: impl FnOnce() -> T) -> T {
    let kind = match precision {
        Precision::Fp32 => return f(),
        Precision::Bf16 => Kind::BFloat16,
        Precision::Fp16 => Kind::Half,
    };
    if !device.is_cuda() {
        return f();
    }
    // SAFETY: a plain setter of a thread-local libtorch flag taking two int8 enums.
    unsafe { at_set_autocast_dtype(CUDA_DEVICE_TYPE, kind_code(kind)) };
    let out = tch::autocast(true, f);
    unsafe { at_set_autocast_dtype(CUDA_DEVICE_TYPE, kind_code(Kind::Half)) };
    out
}

/// c10::ScalarType codes.
fn kind_code(kind: Kind) -> i8 {
    match kind {
        Kind::Half => 5,
        Kind::BFloat16 => 15,
        _ => 6, // Float
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cpu_runs_in_float32() {
        let y = with_precision(Device::Cpu, Precision::Bf16, || {
            let a = tch::Tensor::ones([2, 2], tch::kind::FLOAT_CPU);
            a.matmul(&a)
        });
        assert_eq!(y.kind(), Kind::Float);
    }

    #[test]
    fn cuda_bf16_matmul_is_bf16() {
        if !tch::Cuda::is_available() {
            return;
        }
        let d = Device::Cuda(0);
        let y = with_precision(d, Precision::Bf16, || {
            let a = tch::Tensor::ones([2, 2], (Kind::Float, d));
            a.matmul(&a)
        });
        assert_eq!(y.kind(), Kind::BFloat16);
    }
}
