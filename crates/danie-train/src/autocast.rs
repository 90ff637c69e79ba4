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

impl Precision {
    /// bf16 autocast when asked (`train.bf16`, `--bf16`), else plain float32.
    pub fn from_bf16(bf16: bool) -> Self {
        if bf16 {
            Self::Bf16
        } else {
            Self::Fp32
        }
    }
}

// libtorch's own autocast API (C++ symbols, exported by libtorch_cpu; `DeviceType` and
// `ScalarType` are `int8_t` enums). tch's `autocast` calls the deprecated device-less
// `at::autocast::is_enabled` / `set_enabled`, which print a deprecation warning on every call.
extern "C" {
    #[link_name = "_ZN2at8autocast19is_autocast_enabledEN3c1010DeviceTypeE"]
    fn at_is_autocast_enabled(device_type: i8) -> bool;
    #[link_name = "_ZN2at8autocast20set_autocast_enabledEN3c1010DeviceTypeEb"]
    fn at_set_autocast_enabled(device_type: i8, enabled: bool);
    #[link_name = "_ZN2at8autocast18get_autocast_dtypeEN3c1010DeviceTypeE"]
    fn at_get_autocast_dtype(device_type: i8) -> i8;
    #[link_name = "_ZN2at8autocast18set_autocast_dtypeEN3c1010DeviceTypeENS1_10ScalarTypeE"]
    fn at_set_autocast_dtype(device_type: i8, dtype: i8);
    #[link_name = "_ZN2at8autocast17increment_nestingEv"]
    fn at_increment_nesting() -> i32;
    #[link_name = "_ZN2at8autocast17decrement_nestingEv"]
    fn at_decrement_nesting() -> i32;
    #[link_name = "_ZN2at8autocast11clear_cacheEv"]
    fn at_clear_cache();
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
    let _guard = AutocastGuard::enter(kind);
    f()
}

/// `with torch.autocast("cuda", dtype)`: entered by [`AutocastGuard::enter`], left on drop
/// (a panic included), restoring the previous state and, at the outermost level, clearing
/// the cast-weights cache as PyTorch's context manager does.
struct AutocastGuard {
    prev_enabled: bool,
    prev_dtype: i8,
}

impl AutocastGuard {
    fn enter(kind: Kind) -> Self {
        // SAFETY: plain getters and setters of libtorch's thread-local autocast state.
        unsafe {
            let guard = Self {
                prev_enabled: at_is_autocast_enabled(CUDA_DEVICE_TYPE),
                prev_dtype: at_get_autocast_dtype(CUDA_DEVICE_TYPE),
            };
            at_set_autocast_dtype(CUDA_DEVICE_TYPE, kind_code(kind));
            at_set_autocast_enabled(CUDA_DEVICE_TYPE, true);
            at_increment_nesting();
            guard
        }
    }
}

impl Drop for AutocastGuard {
    fn drop(&mut self) {
        // SAFETY: as in `enter`.
        unsafe {
            if at_decrement_nesting() == 0 {
                at_clear_cache();
            }
            at_set_autocast_enabled(CUDA_DEVICE_TYPE, self.prev_enabled);
            at_set_autocast_dtype(CUDA_DEVICE_TYPE, self.prev_dtype);
        }
    }
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
        // Left as found: float32 outside, and the default float16 dtype restored.
        let a = tch::Tensor::ones([2, 2], (Kind::Float, d));
        assert_eq!(a.matmul(&a).kind(), Kind::Float);
        let y = with_precision(d, Precision::Fp16, || a.matmul(&a));
        assert_eq!(y.kind(), Kind::Half);
    }
}
