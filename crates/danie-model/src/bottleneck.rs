//! `Bottleneck`: torchvision's 1x1-3x3-1x1 residual block (resnet50/101, stride on the 3x3).
use tch::nn::{self, ModuleT};
use tch::Tensor;

use crate::batch_norm::BatchNorm2d;
use crate::downsample::{conv, shortcut, Downsample};

/// Bottleneck with expansion 4: `c_in` -> `4 * planes`.
#[derive(Debug)]
pub struct Bottleneck {
    conv1: nn::Conv2D,
    bn1: BatchNorm2d,
    conv2: nn::Conv2D,
    bn2: BatchNorm2d,
    conv3: nn::Conv2D,
    bn3: BatchNorm2d,
    downsample: Option<Downsample>,
}

impl Bottleneck {
    /// `c_in` -> `4 * planes` channels, the 3x3 conv strided by `stride`.
    pub fn new(p: nn::Path, c_in: i64, planes: i64, stride: i64) -> Self {
        Self {
            conv1: conv(&p / "conv1", c_in, planes, 1, 1),
            bn1: BatchNorm2d::new(&p / "bn1", planes),
            conv2: conv(&p / "conv2", planes, planes, 3, stride),
            bn2: BatchNorm2d::new(&p / "bn2", planes),
            conv3: conv(&p / "conv3", planes, planes * 4, 1, 1),
            bn3: BatchNorm2d::new(&p / "bn3", planes * 4),
            downsample: shortcut(p, c_in, planes * 4, stride),
        }
    }
}

impl ModuleT for Bottleneck {
    /// # Shapes
    /// (B, C_in, H, W) -> (B, 4*planes, H/s, W/s)
    fn forward_t(&self, xs: &Tensor, train: bool) -> Tensor {
        let y = xs.apply(&self.conv1).apply_t(&self.bn1, train).relu_();
        let y = y.apply(&self.conv2).apply_t(&self.bn2, train).relu_();
        let y = y.apply(&self.conv3).apply_t(&self.bn3, train);
        let id = match &self.downsample {
            Some(d) => d.forward_t(xs, train),
            None => xs.shallow_clone(),
        };
        (y + id).relu_()
    }
}
