//! `DecoderBlock`: x2 bilinear upsampling, concatenation of a skip, two 3x3 conv blocks.
use tch::nn::{self, ModuleT};
use tch::Tensor;

use crate::conv_bn_relu::ConvBnRelu;

/// up(x) ++ skip -> `conv1` -> `conv2`.
#[derive(Debug)]
pub struct DecoderBlock {
    conv1: ConvBnRelu,
    conv2: ConvBnRelu,
}

impl DecoderBlock {
    /// `c_in` upsampled channels plus `c_skip` skip channels (0: no skip) to `c_out`.
    pub fn new(p: nn::Path, c_in: i64, c_skip: i64, c_out: i64) -> Self {
        Self {
            conv1: ConvBnRelu::new(&p / "conv1", c_in + c_skip, c_out, 3),
            conv2: ConvBnRelu::new(&p / "conv2", c_out, c_out, 3),
        }
    }

    /// # Shapes
    /// (B, C_in, h, w), skip (B, C_skip, 2h, 2w) -> (B, C_out, 2h, 2w)
    pub fn forward_t(&self, xs: &Tensor, skip: Option<&Tensor>, train: bool) -> Tensor {
        let (_, _, h, w) = xs.size4().expect("decoder input is 4-D");
        let up = xs.upsample_bilinear2d([2 * h, 2 * w], false, None, None); // (B, C_in, 2h, 2w)
        let x = match skip {
            Some(s) => Tensor::cat(&[up, s.shallow_clone()], 1),
            None => up,
        };
        self.conv2
            .forward_t(&self.conv1.forward_t(&x, train), train)
    }
}
