//! The `train.device` setting: `auto`, `cpu`, `cuda` or `cuda:N`, resolved to a `tch::Device`.
use tch::Device;

/// A parsed device setting.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DeviceSpec {
    /// CUDA device 0 when libtorch sees one, else the CPU.
    Auto,
    /// The CPU.
    Cpu,
    /// CUDA device N (an error at run time when it is absent).
    Cuda(usize),
}

impl DeviceSpec {
    /// Parses `auto`, `cpu`, `cuda`, `cuda:N`.
    pub fn parse(s: &str) -> Result<Self, String> {
        match s.trim() {
            "auto" => Ok(Self::Auto),
            "cpu" => Ok(Self::Cpu),
            "cuda" => Ok(Self::Cuda(0)),
            other => other
                .strip_prefix("cuda:")
                .and_then(|n| n.parse().ok())
                .map(Self::Cuda)
                .ok_or_else(|| format!("`{other}` is not one of auto, cpu, cuda, cuda:N")),
        }
    }

    /// The device to use; asking for a CUDA device libtorch does not see is an error.
    pub fn resolve(self) -> anyhow::Result<Device> {
        match self {
            Self::Auto => Ok(Device::cuda_if_available()),
            Self::Cpu => Ok(Device::Cpu),
            Self::Cuda(n) => {
                let count = tch::Cuda::device_count() as usize;
                anyhow::ensure!(
                    n < count,
                    "device cuda:{n} requested but libtorch sees {count} CUDA device(s)"
                );
                Ok(Device::Cuda(n))
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_the_documented_spellings() {
        assert_eq!(DeviceSpec::parse("auto"), Ok(DeviceSpec::Auto));
        assert_eq!(DeviceSpec::parse("cpu"), Ok(DeviceSpec::Cpu));
        assert_eq!(DeviceSpec::parse("cuda"), Ok(DeviceSpec::Cuda(0)));
        assert_eq!(DeviceSpec::parse("cuda:3"), Ok(DeviceSpec::Cuda(3)));
        assert!(DeviceSpec::parse("gpu").unwrap_err().contains("gpu"));
        assert!(DeviceSpec::parse("cuda:x").is_err());
        assert_eq!(DeviceSpec::Cpu.resolve().unwrap(), Device::Cpu);
    }
}
