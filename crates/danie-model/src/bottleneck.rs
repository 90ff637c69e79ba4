//! `Bottleneck`: torchvision's 1x1-3x3-1x1 residual block (resnet50/101, stride on the 3x3).
use tch::nn::{self, ModuleT};
use tch::Tensor;

use crate::conv_bn::ConvBn;
use crate::downsample::{shortcut, Downsample};

/// Bottleneck with expansion 4: `c_in` -> `4 * planes`.
#[derive(Debug)]
pub struct Bottleneck {
    /// `conv1` / `bn1` (1x1)
    reduce: ConvBn,
    /// `conv2` / `bn2` (3x3, strided)
    spatial: ConvBn,
    /// `conv3` / `bn3` (1x1)
    expand: ConvBn,
    downsample: Option<Downsample>,
}

impl Bottleneck {
    /// `c_in` -> `4 * planes` channels, the 3x3 conv strided by `stride`.
    pub fn new(p: nn::Path, c_in: i64, planes: i64, stride: i64) -> Self {
        Self {
            reduce: ConvBn::new(&p / "conv1", &p / "bn1", c_in, planes, 1, 1),
            spatial: ConvBn::new(&p / "conv2", &p / "bn2", planes, planes, 3, stride),
            expand: ConvBn::new(&p / "conv3", &p / "bn3", planes, planes * 4, 1, 1),
            downsample: shortcut(p, c_in, planes * 4, stride),
        }
    }
}

impl ModuleT for Bottleneck {
    /// # Shapes
    /// (B, C_in, H, W) -> (B, 4*planes, H/s, W/s)
    fn forward_t(&self, xs: &Tensor, train: bool) -> Tensor {
        let y = self.reduce.forward_t(xs, train).relu_();
        let y = self.spatial.forward_t(&y, train).relu_();
        let y = self.expand.forward_t(&y, train);
        let id = match &self.downsample {
            Some(d) => d.forward_t(xs, train),
            None => xs.shallow_clone(),
        };
        (y + id).relu_()
    }
}
