//! `Downsample`: the 1x1 strided projection shortcut of a ResNet block (`downsample.0/1`).
use tch::nn::{self, ModuleT};
use tch::Tensor;

use crate::batch_norm::BatchNorm2d;

/// 1x1 conv (stride s, no bias) -> BatchNorm, named `0` and `1` as torchvision's Sequential.
#[derive(Debug)]
pub struct Downsample {
    conv: nn::Conv2D,
    bn: BatchNorm2d,
}

impl Downsample {
    /// `c_in` -> `c_out` with stride `stride`.
    pub fn new(p: nn::Path, c_in: i64, c_out: i64, stride: i64) -> Self {
        let cfg = nn::ConvConfig {
            stride,
            bias: false,
            ..Default::default()
        };
        Self {
            conv: nn::conv2d(&p / 0, c_in, c_out, 1, cfg),
            bn: BatchNorm2d::new(&p / 1, c_out),
        }
    }
}

impl ModuleT for Downsample {
    /// # Shapes
    /// (B, C_in, H, W) -> (B, C_out, H/s, W/s)
    fn forward_t(&self, xs: &Tensor, train: bool) -> Tensor {
        xs.apply(&self.conv).apply_t(&self.bn, train)
    }
}

/// The shortcut torchvision adds when the stride or width changes.
pub fn shortcut(p: nn::Path, c_in: i64, c_out: i64, stride: i64) -> Option<Downsample> {
    (stride != 1 || c_in != c_out).then(|| Downsample::new(p / "downsample", c_in, c_out, stride))
}

/// A bias-free `k`x`k` convolution with padding `k/2` (torchvision's conv3x3 / conv1x1).
pub fn conv(p: nn::Path, c_in: i64, c_out: i64, k: i64, stride: i64) -> nn::Conv2D {
    let cfg = nn::ConvConfig {
        stride,
        padding: k / 2,
        bias: false,
        ..Default::default()
    };
    nn::conv2d(p, c_in, c_out, k, cfg)
}
