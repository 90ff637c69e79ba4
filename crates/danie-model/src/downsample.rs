//! `Downsample`: the 1x1 strided projection shortcut of a ResNet block (`downsample.0/1`).
use tch::nn::{self, ModuleT};
use tch::Tensor;

use crate::conv_bn::ConvBn;

/// 1x1 conv (stride s, no bias) -> BatchNorm, named `0` and `1` as torchvision's Sequential.
#[derive(Debug)]
pub struct Downsample {
    conv_bn: ConvBn,
}

impl Downsample {
    /// `c_in` -> `c_out` with stride `stride`.
    pub fn new(p: nn::Path, c_in: i64, c_out: i64, stride: i64) -> Self {
        Self {
            conv_bn: ConvBn::new(&p / 0, &p / 1, c_in, c_out, 1, stride),
        }
    }
}

impl ModuleT for Downsample {
    /// # Shapes
    /// (B, C_in, H, W) -> (B, C_out, H/s, W/s)
    fn forward_t(&self, xs: &Tensor, train: bool) -> Tensor {
        self.conv_bn.forward_t(xs, train)
    }
}

/// The shortcut torchvision adds when the stride or width changes.
pub fn shortcut(p: nn::Path, c_in: i64, c_out: i64, stride: i64) -> Option<Downsample> {
    (stride != 1 || c_in != c_out).then(|| Downsample::new(p / "downsample", c_in, c_out, stride))
}
