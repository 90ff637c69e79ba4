//! SAP (self-attentional perception): a ViT over 16x16 patches, with timm's parameter names
//! (`patch_embed.proj`, `cls_token`, `pos_embed`, `blocks.N.*`, `norm`) so ImageNet ViTs load.
use tch::nn::{self, Module};
use tch::{IndexOp, Tensor};

use crate::config::SapConfig;
use crate::patch_embed::PatchEmbed;
use crate::vit_block::VitBlock;

/// Patch embedding + learned position embedding + L pre-norm transformer blocks + final norm.
#[derive(Debug)]
pub struct Sap {
    patch_embed: PatchEmbed,
    cls_token: Option<Tensor>,
    pos_embed: Tensor,
    blocks: Vec<VitBlock>,
    norm: nn::LayerNorm,
    grid: i64,
}

impl Sap {
    /// SAP for `in_chans` images of training size `img_size` (sets the pos-embedding grid).
    pub fn new(p: nn::Path, cfg: &SapConfig, in_chans: i64, img_size: i64) -> Self {
        let d = cfg.embed_dim;
        let grid = img_size / cfg.patch_size;
        let prefix = i64::from(cfg.cls_token);
        let init = nn::Init::Randn {
            mean: 0.0,
            stdev: 0.02,
        };
        let cls_token = cfg.cls_token.then(|| p.var("cls_token", &[1, 1, d], init));
        let pos_embed = p.var("pos_embed", &[1, prefix + grid * grid, d], init);
        let hidden = (cfg.mlp_ratio * d as f64) as i64;
        let blocks = (0..cfg.depth)
            .map(|i| {
                VitBlock::new(
                    &p / "blocks" / i,
                    d,
                    cfg.num_heads,
                    hidden,
                    cfg.qkv_bias,
                    cfg.norm_eps,
                )
            })
            .collect();
        let ln = nn::LayerNormConfig {
            eps: cfg.norm_eps,
            ..Default::default()
        };
        Self {
            patch_embed: PatchEmbed::new(&p / "patch_embed", in_chans, d, cfg.patch_size),
            cls_token,
            pos_embed,
            blocks,
            norm: nn::layer_norm(&p / "norm", vec![d], ln),
            grid,
        }
    }

    /// Position embedding for an `h`x`w` token grid: the stored one, or resampled by timm's
    /// `resample_abs_pos_embed` ([`crate::pretrained::resample_abs_pos_embed`]) with the prefix
    /// slot kept.
    ///
    /// # Shapes
    /// -> (1, prefix + h*w, D)
    fn pos_embed_for(&self, h: i64, w: i64) -> Tensor {
        if h == self.grid && w == self.grid {
            return self.pos_embed.shallow_clone();
        }
        let prefix = i64::from(self.cls_token.is_some());
        crate::pretrained::resample_abs_pos_embed(
            &self.pos_embed,
            [h, w],
            Some([self.grid, self.grid]),
            prefix,
        )
    }

    /// Normalised patch tokens (class token dropped) and their grid.
    ///
    /// # Shapes
    /// (B, C, H, W) -> (B, H/16 * W/16, D), (H/16, W/16)
    pub fn forward_tokens(&self, xs: &Tensor) -> (Tensor, (i64, i64)) {
        let (x, (h, w)) = self.patch_embed.tokens(xs); // (B, N, D)
        let x = match &self.cls_token {
            Some(cls) => {
                // expand_as, not a batch size read here: a traced graph keeps the batch free.
                let cls = cls.expand_as(&x.narrow(1, 0, 1)); // (1, 1, D) -> (B, 1, D)
                Tensor::cat(&[cls, x], 1) // (B, 1+N, D)
            }
            None => x,
        };
        let mut x = x + self.pos_embed_for(h, w);
        for blk in &self.blocks {
            x = blk.forward(&x);
        }
        let x = x.apply(&self.norm);
        let x = if self.cls_token.is_some() {
            x.i((.., 1.., ..))
        } else {
            x
        }; // (B, N, D)
        (x, (h, w))
    }
}

impl Module for Sap {
    /// # Shapes
    /// (B, C, H, W) -> (B, D, H/16, W/16)
    fn forward(&self, xs: &Tensor) -> Tensor {
        let (t, (h, w)) = self.forward_tokens(xs);
        t.transpose(1, 2).unflatten(2, [h, w]) // (B, N, D) -> (B, D, h, w)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::DanieConfig;

    #[test]
    fn output_grid_follows_input_size() {
        let vs = nn::VarStore::new(tch::Device::Cpu);
        let cfg = DanieConfig::preset("tiny").unwrap();
        let mut sap_cfg = cfg.sap.clone();
        sap_cfg.cls_token = true;
        let sap = Sap::new(vs.root(), &sap_cfg, 3, 64);
        for (h, w) in [(64, 64), (32, 48)] {
            let y = sap.forward(&Tensor::randn([2, 3, h, w], tch::kind::FLOAT_CPU));
            assert_eq!(y.size(), [2, 64, h / 16, w / 16]);
        }
    }
}
