//! `SpatialAttention`: CBAM's spatial gate (channel mean and max, a kxk conv, sigmoid).
use tch::nn::{self, Module};
use tch::Tensor;

/// x * sigmoid(conv([mean_c(x); max_c(x)])), conv `conv` 2 -> 1 channel, k x k, no bias.
#[derive(Debug)]
pub struct SpatialAttention {
    conv: nn::Conv2D,
}

impl SpatialAttention {
    /// A gate with a `k`x`k` kernel (7 in CBAM).
    pub fn new(p: nn::Path, k: i64) -> Self {
        let cfg = nn::ConvConfig {
            padding: k / 2,
            bias: false,
            ..Default::default()
        };
        Self {
            conv: nn::conv2d(&p / "conv", 2, 1, k, cfg),
        }
    }
}

impl Module for SpatialAttention {
    /// # Shapes
    /// (B, C, H, W) -> (B, C, H, W)
    fn forward(&self, xs: &Tensor) -> Tensor {
        let desc = Tensor::cat(&[xs.mean_dim(1, true, None), xs.amax(1, true)], 1); // (B, 2, H, W)
        xs * desc.apply(&self.conv).sigmoid() // (B, 1, H, W) broadcast
    }
}
