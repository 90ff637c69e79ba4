//! The version report: danie, libtorch and the devices libtorch sees at run time.

/// libtorch version recorded by the build script from the linked libtorch (`version.py` of a
/// PyTorch install or `build-version` of a libtorch archive).
pub const LIBTORCH_VERSION: &str = env!("DANIE_LIBTORCH_VERSION");

/// `danie X`, `libtorch Y`, CUDA and cuDNN availability and the device list, one per line.
pub fn long_version() -> String {
    let cuda = tch::Cuda::is_available();
    let mut devices = vec!["cpu".to_string()];
    if cuda {
        for i in 0..tch::Cuda::device_count() {
            devices.push(format!("cuda:{i}"));
        }
    }
    format!(
        "danie {}\nlibtorch {}\ncuda available: {} (cudnn: {})\ndevices: {}",
        env!("CARGO_PKG_VERSION"),
        LIBTORCH_VERSION,
        cuda,
        tch::Cuda::cudnn_is_available(),
        devices.join(", ")
    )
}
