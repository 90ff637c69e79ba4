//! `ConvBnRelu`: a bias-free convolution, BatchNorm and ReLU (TransUNet's `Conv2dReLU`).
use tch::nn::{self, ModuleT};
use tch::Tensor;

use crate::conv_bn::ConvBn;

/// Conv (no bias) -> BatchNorm -> ReLU. Parameters: `conv.weight`, `bn.*`.
#[derive(Debug)]
pub struct ConvBnRelu {
    conv_bn: ConvBn,
}

impl ConvBnRelu {
    /// A `k`x`k` block with "same" padding, stride 1.
    pub fn new(p: nn::Path, c_in: i64, c_out: i64, k: i64) -> Self {
        Self {
            conv_bn: ConvBn::new(&p / "conv", &p / "bn", c_in, c_out, k, 1),
        }
    }
}

impl ModuleT for ConvBnRelu {
    /// # Shapes
    /// (B, C_in, H, W) -> (B, C_out, H, W)
    fn forward_t(&self, xs: &Tensor, train: bool) -> Tensor {
        // ReLU in place on batch norm's fresh output (neither backward needs it), as
        // torchvision's ResNet does: one activation-sized allocation and pass fewer per block.
        self.conv_bn.forward_t(xs, train).relu_()
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
