//! HAP (hierarchical-attentional perception): a torchvision-named ResNet stem and layer1..3
//! (features at 1/2, 1/4, 1/8, 1/16), each stage followed by [`StageAttention`].
use tch::nn::{self, Module, ModuleT};
use tch::Tensor;

use crate::config::HapConfig;
use crate::conv_bn::ConvBn;
use crate::resnet_stage::ResnetStage;
use crate::stage_attention::StageAttention;

/// HAP's multi-scale outputs.
#[derive(Debug)]
pub struct HapFeatures {
    /// Stem output after ReLU, before max-pooling: (B, width, H/2, W/2).
    pub stem: Tensor,
    /// Attended layer1 output: (B, C1, H/4, W/4).
    pub f4: Tensor,
    /// Attended layer2 output: (B, C2, H/8, W/8).
    pub f8: Tensor,
    /// Attended layer3 output: (B, C3, H/16, W/16).
    pub f16: Tensor,
}

/// ResNet stem (`conv1`, `bn1`), `layer1..3`, and `attn1..3` after them.
#[derive(Debug)]
pub struct Hap {
    /// `conv1` / `bn1`
    stem: ConvBn,
    layers: [ResnetStage; 3],
    attns: [StageAttention; 3],
}

impl Hap {
    /// HAP for `in_chans` images.
    pub fn new(p: nn::Path, cfg: &HapConfig, in_chans: i64) -> Self {
        let w = cfg.width;
        let e = cfg.block.expansion();
        let stage = |i: usize, c_in: i64, planes: i64, stride: i64| {
            ResnetStage::new(
                &p / format!("layer{}", i + 1),
                cfg.block,
                c_in,
                planes,
                cfg.layers[i],
                stride,
            )
        };
        let layers = [
            stage(0, w, w, 1),
            stage(1, w * e, 2 * w, 2),
            stage(2, 2 * w * e, 4 * w, 2),
        ];
        let attn = |i: usize, c: i64| StageAttention::new(&p / format!("attn{}", i + 1), c, cfg);
        let attns = [attn(0, w * e), attn(1, 2 * w * e), attn(2, 4 * w * e)];
        Self {
            stem: ConvBn::new(&p / "conv1", &p / "bn1", in_chans, w, 7, 2),
            layers,
            attns,
        }
    }

    /// # Shapes
    /// (B, C, H, W) -> (B, width, H/2, W/2)
    fn stem(&self, xs: &Tensor, train: bool) -> Tensor {
        self.stem.forward_t(xs, train).relu_()
    }

    /// Multi-scale attended features.
    ///
    /// # Shapes
    /// (B, C, H, W) -> stem (B, w, H/2, W/2), f4 (B, C1, H/4, W/4), f8 (.., H/8), f16 (.., H/16)
    pub fn forward_features(&self, xs: &Tensor, train: bool) -> HapFeatures {
        self.run(xs, train, true)
    }

    /// The plain ResNet features (attention skipped): equal to torchvision's `relu`, `layer1`,
    /// `layer2`, `layer3` outputs with the same weights. Used to check backbone loading.
    pub fn resnet_features(&self, xs: &Tensor, train: bool) -> HapFeatures {
        self.run(xs, train, false)
    }

    fn run(&self, xs: &Tensor, train: bool, attend: bool) -> HapFeatures {
        let stem = self.stem(xs, train);
        let mut x = stem.max_pool2d([3, 3], [2, 2], [1, 1], [1, 1], false); // (B, w, H/4, W/4)
        let mut outs = Vec::with_capacity(3);
        for (layer, attn) in self.layers.iter().zip(&self.attns) {
            x = layer.forward_t(&x, train);
            if attend {
                x = attn.forward(&x);
            }
            outs.push(x.shallow_clone());
        }
        let [f4, f8, f16]: [Tensor; 3] = outs.try_into().expect("three stages");
        HapFeatures { stem, f4, f8, f16 }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::{DanieConfig, ResBlock};

    #[test]
    fn feature_shapes_basic_and_bottleneck() {
        for block in [ResBlock::Basic, ResBlock::Bottleneck] {
            let vs = nn::VarStore::new(tch::Device::Cpu);
            let mut cfg = DanieConfig::preset("tiny").unwrap();
            cfg.hap.block = block;
            let hap = Hap::new(vs.root(), &cfg.hap, 3);
            let f =
                hap.forward_features(&Tensor::randn([2, 3, 64, 64], tch::kind::FLOAT_CPU), true);
            let c = cfg.hap_channels();
            assert_eq!(f.stem.size(), [2, c[0], 32, 32]);
            assert_eq!(f.f4.size(), [2, c[1], 16, 16]);
            assert_eq!(f.f8.size(), [2, c[2], 8, 8]);
            assert_eq!(f.f16.size(), [2, c[3], 4, 4]);
        }
    }
}
