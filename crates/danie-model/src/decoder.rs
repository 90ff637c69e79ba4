//! Decoder: four cascaded [`DecoderBlock`]s from 1/16 back to full resolution with skips from
//! HAP (1/8, 1/4, stem 1/2; none at 1/1), then a 1x1 segmentation head.
use tch::nn::{self};
use tch::Tensor;

use crate::config::DanieConfig;
use crate::decoder_block::DecoderBlock;

/// `blocks.0..3` and `head`.
#[derive(Debug)]
pub struct Decoder {
    blocks: Vec<DecoderBlock>,
    head: nn::Conv2D,
}

/// The channels of one decoder block.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BlockChannels {
    /// From the previous block (JP's fused map for the first).
    pub input: i64,
    /// From HAP's skip at the block's output scale (0: none).
    pub skip: i64,
    /// Out of the block.
    pub output: i64,
}

/// The four blocks' channels, 1/16 -> 1/8 -> 1/4 -> 1/2 -> full: the network and the FLOP count
/// ([`crate::flops`]) both read them here. HAP's skips enter at 1/8, 1/4 and 1/2 (none without
/// HAP, none at full resolution).
pub fn channel_plan(cfg: &DanieConfig) -> [BlockChannels; 4] {
    let c = cfg.decoder.channels;
    let hc = cfg.hap_channels();
    let skips = if cfg.has_hap() {
        [hc[2], hc[1], hc[0], 0]
    } else {
        [0; 4]
    };
    let ins = [cfg.jp.dim, c[0], c[1], c[2]];
    std::array::from_fn(|i| BlockChannels {
        input: ins[i],
        skip: skips[i],
        output: c[i],
    })
}

impl Decoder {
    /// A decoder from `jp.dim` channels at 1/16 to `num_classes` logits; skips only when HAP
    /// is built.
    pub fn new(p: nn::Path, cfg: &DanieConfig) -> Self {
        let blocks = channel_plan(cfg)
            .iter()
            .enumerate()
            .map(|(i, b)| DecoderBlock::new(&p / "blocks" / i, b.input, b.skip, b.output))
            .collect();
        Self {
            blocks,
            head: nn::conv2d(
                &p / "head",
                cfg.decoder.channels[3],
                cfg.num_classes,
                1,
                Default::default(),
            ),
        }
    }

    /// Logits from the fused map and the skips `[1/8, 1/4, 1/2]` (empty: no skips).
    ///
    /// # Shapes
    /// (B, jp.dim, H/16, W/16), skips [(B, C2, H/8, W/8), (B, C1, H/4, W/4), (B, w, H/2, W/2)]
    /// -> (B, num_classes, H, W)
    pub fn forward_t(&self, xs: &Tensor, skips: &[&Tensor], train: bool) -> Tensor {
        let mut x = xs.shallow_clone();
        for (i, blk) in self.blocks.iter().enumerate() {
            x = blk.forward_t(&x, skips.get(i).copied(), train);
        }
        x.apply(&self.head)
    }
}
