//! `BasicBlock`: torchvision's two-3x3-conv residual block (resnet18/34).
use tch::nn::{self, ModuleT};
use tch::Tensor;

use crate::conv_bn::ConvBn;
use crate::downsample::{shortcut, Downsample};

/// relu(bn2(conv2(relu(bn1(conv1(x))))) + shortcut(x)).
#[derive(Debug)]
pub struct BasicBlock {
    /// `conv1` / `bn1`
    first: ConvBn,
    /// `conv2` / `bn2`
    second: ConvBn,
    downsample: Option<Downsample>,
}

impl BasicBlock {
    /// `c_in` -> `planes` channels, first conv strided by `stride`.
    pub fn new(p: nn::Path, c_in: i64, planes: i64, stride: i64) -> Self {
        Self {
            first: ConvBn::new(&p / "conv1", &p / "bn1", c_in, planes, 3, stride),
            second: ConvBn::new(&p / "conv2", &p / "bn2", planes, planes, 3, 1),
            downsample: shortcut(p, c_in, planes, stride),
        }
    }
}

impl ModuleT for BasicBlock {
    /// # Shapes
    /// (B, C_in, H, W) -> (B, planes, H/s, W/s)
    fn forward_t(&self, xs: &Tensor, train: bool) -> Tensor {
        let y = self.first.forward_t(xs, train).relu_();
        let y = self.second.forward_t(&y, train);
        let id = match &self.downsample {
            Some(d) => d.forward_t(xs, train),
            None => xs.shallow_clone(),
        };
        (y + id).relu_()
    }
}
