//! Analytic cost per block: parameters (counted on a built model) and multiply-accumulates.
//!
//! Convention: MACs of convolutions, linear layers and attention matrix products (q k^T and
//! attn v), for one image; normalisation, activations, pooling, softmax and interpolation are
//! not counted. Papers (TransUNet's 88.91G via thop, Swin-UNet, HiFormer, MISSFormer) report
//! these MACs as "GFLOPs", and so does `danie info`; `torch.utils.flop_counter` counts
//! FLOPs = 2 x MACs of the same operations (checked in tests/flops.rs).
use serde::Serialize;
use tch::nn::VarStore;

use crate::config::{DanieConfig, Fusion, ResBlock};
use crate::danie::Danie;

/// Cost of one block.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct BlockCost {
    /// Block name (`sap`, `hap`, `hap_attention`, `es`, `eh`, `jp`, `decoder`).
    pub name: String,
    /// Trainable parameters.
    pub params: i64,
    /// Multiply-accumulates for one image.
    pub macs: i64,
}

/// Cost of the whole model at one input size.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ModelCost {
    /// Input height and width.
    pub input: [i64; 2],
    /// Per-block costs. `hap_attention` is the part of `hap` spent in attention and
    /// calibration (already included in `hap`); `jp` is the aggregation without ES and EH.
    pub blocks: Vec<BlockCost>,
    /// Trainable parameters of the whole model.
    pub total_params: i64,
    /// MACs of the whole model.
    pub total_macs: i64,
}

/// Convolution output length for kernel `k`, stride `s`, padding `k / 2`.
fn out_len(n: i64, k: i64, s: i64) -> i64 {
    (n + 2 * (k / 2) - k) / s + 1
}

/// MACs of a `k`x`k` convolution `c_in` -> `c_out` on an `h`x`w` output.
fn conv(c_in: i64, c_out: i64, k: i64, h: i64, w: i64) -> i64 {
    c_in * c_out * k * k * h * w
}

/// MACs of the HAP ResNet (stem and layers) and of its stage attentions, at input `h`x`w`.
fn hap_macs(cfg: &DanieConfig, h: i64, w: i64) -> (i64, i64) {
    let hc = &cfg.hap;
    let (mut hh, mut ww) = (out_len(h, 7, 2), out_len(w, 7, 2));
    let mut macs = conv(cfg.in_channels, hc.width, 7, hh, ww);
    (hh, ww) = (out_len(hh, 3, 2), out_len(ww, 3, 2)); // max-pool
    let e = hc.block.expansion();
    let mut c_in = hc.width;
    let mut attn = 0;
    for (i, &n) in hc.layers.iter().enumerate() {
        let planes = hc.width << i;
        let c_out = planes * e;
        for j in 0..n {
            let s = if i > 0 && j == 0 { 2 } else { 1 };
            let (ho, wo) = (out_len(hh, 3, s), out_len(ww, 3, s));
            macs += match hc.block {
                ResBlock::Basic => conv(c_in, planes, 3, ho, wo) + conv(planes, planes, 3, ho, wo),
                ResBlock::Bottleneck => {
                    conv(c_in, planes, 1, hh, ww)
                        + conv(planes, planes, 3, ho, wo)
                        + conv(planes, c_out, 1, ho, wo)
                }
            };
            if s != 1 || c_in != c_out {
                macs += conv(c_in, c_out, 1, ho, wo);
            }
            (hh, ww, c_in) = (ho, wo, c_out);
        }
        let hidden = (c_out / hc.reduction).max(1);
        attn += 2 * 2 * c_out * hidden; // channel MLP on the avg and max descriptors
        attn += conv(2, 1, hc.spatial_kernel, hh, ww);
        if hc.calibration {
            attn += 2 * (2 * c_out) * (c_out / hc.reduction).max(8);
        }
    }
    (macs + attn, attn)
}

/// MACs of SAP at input `h`x`w`.
fn sap_macs(cfg: &DanieConfig, h: i64, w: i64) -> i64 {
    let s = &cfg.sap;
    let (d, p) = (s.embed_dim, s.patch_size);
    let n = (h / p) * (w / p);
    let t = n + i64::from(s.cls_token);
    let hidden = (s.mlp_ratio * d as f64) as i64;
    let block = t * d * 3 * d + 2 * t * t * d + t * d * d + 2 * t * d * hidden;
    conv(cfg.in_channels, d, p, h / p, w / p) + s.depth * block
}

/// Analytic cost of `cfg` at input `h`x`w` (multiples of 16); parameters are counted on a
/// model built on the CPU.
pub fn model_cost(cfg: &DanieConfig, h: i64, w: i64) -> ModelCost {
    let vs = VarStore::new(tch::Device::Cpu);
    let _model = Danie::new(vs.root(), cfg);
    let vars = vs.trainable_variables();
    let named = vs.variables();
    let params = |pred: &dyn Fn(&str) -> bool| -> i64 {
        named
            .iter()
            .filter(|(k, t)| pred(k) && t.requires_grad())
            .map(|(_, t)| t.numel() as i64)
            .sum()
    };
    let total_params: i64 = vars.iter().map(|t| t.numel() as i64).sum();
    let (gh, gw) = (h / 16, w / 16);
    let n = gh * gw;
    let d = cfg.sap.embed_dim;
    let c16 = cfg.hap_channels()[3];
    let dim = cfg.jp.dim;
    let jp = cfg.jp.fusion == Fusion::Jp;

    let mut blocks = Vec::new();
    let mut push = |name: &str, params: i64, macs: i64| {
        blocks.push(BlockCost {
            name: name.into(),
            params,
            macs,
        })
    };
    if cfg.has_sap() {
        push(
            "sap",
            params(&|k| k.starts_with("sap.")),
            sap_macs(cfg, h, w),
        );
    }
    if cfg.has_hap() {
        let (all, attn) = hap_macs(cfg, h, w);
        push("hap", params(&|k| k.starts_with("hap.")), all);
        push(
            "hap_attention",
            params(&|k| k.starts_with("hap.attn")),
            attn,
        );
    }
    if jp && cfg.has_sap() {
        let dh = d / cfg.jp.es_heads;
        push(
            "es",
            params(&|k| k.starts_with("jp.es.")),
            n * d * 3 * d + 2 * d * dh * n + n * d * d,
        );
    }
    if jp && cfg.has_hap() {
        let ci = c16 / cfg.jp.eh_reduction;
        push(
            "eh",
            params(&|k| k.starts_with("jp.eh.")),
            3 * n * c16 * ci + 2 * n * n * ci + n * ci * c16,
        );
    }
    let mut agg = 0;
    if cfg.has_sap() {
        agg += n * d * dim + if jp { conv(dim, dim, 3, gh, gw) } else { 0 };
    }
    if cfg.has_hap() {
        agg += n * c16 * dim + if jp { conv(dim, dim, 3, gh, gw) } else { 0 };
    }
    if cfg.has_sap() && cfg.has_hap() && cfg.jp.fusion == Fusion::Concat {
        agg += conv(2 * dim, dim, 3, gh, gw);
    }
    push(
        "jp",
        params(&|k| k.starts_with("jp.") && !k.starts_with("jp.es.") && !k.starts_with("jp.eh.")),
        agg,
    );
    let c = cfg.decoder.channels;
    let hc = cfg.hap_channels();
    let skips = if cfg.has_hap() {
        [hc[2], hc[1], hc[0], 0]
    } else {
        [0; 4]
    };
    let ins = [dim, c[0], c[1], c[2]];
    let mut dec = 0;
    for i in 0..4 {
        let (ho, wo) = (gh << (i + 1), gw << (i + 1));
        dec += conv(ins[i] + skips[i], c[i], 3, ho, wo) + conv(c[i], c[i], 3, ho, wo);
    }
    dec += conv(c[3], cfg.num_classes, 1, h, w);
    push("decoder", params(&|k| k.starts_with("decoder.")), dec);
    let total_macs = blocks
        .iter()
        .filter(|b| b.name != "hap_attention")
        .map(|b| b.macs)
        .sum();
    ModelCost {
        input: [h, w],
        blocks,
        total_params,
        total_macs,
    }
}

/// Published sizes at 224x224 (parameters in millions, GFLOPs as the papers report them).
pub const BASELINES: [(&str, f64, f64); 4] = [
    ("TransUNet", 96.07, 88.91),
    ("Swin-UNet", 27.17, 6.16),
    ("HiFormer-B", 25.51, 8.05),
    ("MISSFormer", 42.46, 9.89),
];

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn blocks_add_up_and_b_fits_the_budget() {
        for p in crate::config::PRESETS {
            let cfg = DanieConfig::preset(p).unwrap();
            let c = model_cost(&cfg, 224, 224);
            let sum: i64 = c
                .blocks
                .iter()
                .filter(|b| b.name != "hap_attention")
                .map(|b| b.params)
                .sum();
            assert_eq!(sum, c.total_params, "{p}");
        }
        let b = model_cost(&DanieConfig::preset("b").unwrap(), 224, 224);
        assert!(
            b.total_params < 30_000_000,
            "B has {} parameters",
            b.total_params
        );
    }
}
