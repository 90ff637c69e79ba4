//! `ConvBnRelu`: a bias-free convolution, BatchNorm and ReLU (TransUNet's `Conv2dReLU`).
use tch::nn::{self, ModuleT};
use tch::Tensor;

use crate::batch_norm::BatchNorm2d;

/// Conv (no bias) -> BatchNorm -> ReLU. Parameters: `conv.weight`, `bn.*`.
#[derive(Debug)]
pub struct ConvBnRelu {
    conv: nn::Conv2D,
    bn: BatchNorm2d,
}

impl ConvBnRelu {
    /// A `k`x`k` block with "same" padding, stride 1.
    pub fn new(p: nn::Path, c_in: i64, c_out: i64, k: i64) -> Self {
        let cfg = nn::ConvConfig {
            padding: k / 2,
            bias: false,
            ..Default::default()
        };
        Self {
            conv: nn::conv2d(&p / "conv", c_in, c_out, k, cfg),
            bn: BatchNorm2d::new(&p / "bn", c_out),
        }
    }
}

impl ModuleT for ConvBnRelu {
    /// # Shapes
    /// (B, C_in, H, W) -> (B, C_out, H, W)
    fn forward_t(&self, xs: &Tensor, train: bool) -> Tensor {
        // ReLU in place on batch norm's fresh output (neither backward needs it), as
        // torchvision's ResNet does: one activation-sized allocation and pass fewer per block.
        xs.apply(&self.conv).apply_t(&self.bn, train).relu_()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shape_and_nonnegative() {
        let vs = nn::VarStore::new(tch::Device::Cpu);
        let m = ConvBnRelu::new(vs.root(), 3, 5, 3);
        let y = m.forward_t(&Tensor::randn([2, 3, 8, 8], tch::kind::FLOAT_CPU), true);
        assert_eq!(y.size(), [2, 5, 8, 8]);
        assert!(y.min().double_value(&[]) >= 0.0);
    }
}
