//! `BasicBlock`: torchvision's two-3x3-conv residual block (resnet18/34).
use tch::nn::{self, ModuleT};
use tch::Tensor;

use crate::batch_norm::BatchNorm2d;
use crate::downsample::{conv, shortcut, Downsample};

/// relu(bn2(conv2(relu(bn1(conv1(x))))) + shortcut(x)).
#[derive(Debug)]
pub struct BasicBlock {
    conv1: nn::Conv2D,
    bn1: BatchNorm2d,
    conv2: nn::Conv2D,
    bn2: BatchNorm2d,
    downsample: Option<Downsample>,
}

impl BasicBlock {
    /// `c_in` -> `planes` channels, first conv strided by `stride`.
    pub fn new(p: nn::Path, c_in: i64, planes: i64, stride: i64) -> Self {
        Self {
            conv1: conv(&p / "conv1", c_in, planes, 3, stride),
            bn1: BatchNorm2d::new(&p / "bn1", planes),
            conv2: conv(&p / "conv2", planes, planes, 3, 1),
            bn2: BatchNorm2d::new(&p / "bn2", planes),
            downsample: shortcut(p, c_in, planes, stride),
        }
    }
}

impl ModuleT for BasicBlock {
    /// # Shapes
    /// (B, C_in, H, W) -> (B, planes, H/s, W/s)
    fn forward_t(&self, xs: &Tensor, train: bool) -> Tensor {
        let y = xs.apply(&self.conv1).apply_t(&self.bn1, train).relu_();
        let y = y.apply(&self.conv2).apply_t(&self.bn2, train);
        let id = match &self.downsample {
            Some(d) => d.forward_t(xs, train),
            None => xs.shallow_clone(),
        };
        (y + id).relu_()
    }
}
