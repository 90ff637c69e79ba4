//! `ResnetStage`: one torchvision `layerN` (a sequence of Basic or Bottleneck blocks).
use tch::nn::{self, ModuleT};
use tch::Tensor;

use crate::basic_block::BasicBlock;
use crate::bottleneck::Bottleneck;
use crate::config::ResBlock;

/// `n` residual blocks `layerN.0 .. layerN.{n-1}`, the first strided.
#[derive(Debug)]
pub struct ResnetStage {
    blocks: Vec<Box<dyn ModuleT>>,
}

impl ResnetStage {
    /// A stage of `n` blocks of type `block`, `c_in` -> `planes * expansion`.
    pub fn new(p: nn::Path, block: ResBlock, c_in: i64, planes: i64, n: i64, stride: i64) -> Self {
        let e = block.expansion();
        let blocks = (0..n)
            .map(|i| {
                let (c, s) = if i == 0 {
                    (c_in, stride)
                } else {
                    (planes * e, 1)
                };
                let bp = &p / i;
                match block {
                    ResBlock::Basic => {
                        Box::new(BasicBlock::new(bp, c, planes, s)) as Box<dyn ModuleT>
                    }
                    ResBlock::Bottleneck => Box::new(Bottleneck::new(bp, c, planes, s)),
                }
            })
            .collect();
        Self { blocks }
    }
}

impl ModuleT for ResnetStage {
    /// # Shapes
    /// (B, C_in, H, W) -> (B, planes*expansion, H/s, W/s)
    fn forward_t(&self, xs: &Tensor, train: bool) -> Tensor {
        let mut x = self.blocks[0].forward_t(xs, train);
        for b in &self.blocks[1..] {
            x = b.forward_t(&x, train);
        }
        x
    }
}
