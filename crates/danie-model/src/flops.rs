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
use crate::decoder::channel_plan;
use crate::error::ModelError;

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

/// Largest input side costed: far above any real input, and small enough that no count can
/// overflow (the sums run in `i128` and must fit `i64` at the end, checked).
pub const MAX_COST_SIZE: i64 = 16384;

/// Convolution output length for kernel `k`, stride `s`, padding `k / 2`.
fn out_len(n: i128, k: i128, s: i128) -> i128 {
    (n + 2 * (k / 2) - k) / s + 1
}

/// MACs of a `k`x`k` convolution `c_in` -> `c_out` on an `h`x`w` output.
fn conv(c_in: i128, c_out: i128, k: i128, h: i128, w: i128) -> i128 {
    c_in * c_out * k * k * h * w
}

/// MACs of the HAP ResNet (stem and layers) and of its stage attentions, at input `h`x`w`.
fn hap_macs(cfg: &DanieConfig, h: i128, w: i128) -> (i128, i128) {
    let hc = &cfg.hap;
    let (mut hh, mut ww) = (out_len(h, 7, 2), out_len(w, 7, 2));
    let width = i128::from(hc.width);
    let mut macs = conv(i128::from(cfg.in_channels), width, 7, hh, ww);
    (hh, ww) = (out_len(hh, 3, 2), out_len(ww, 3, 2)); // max-pool
    let e = i128::from(hc.block.expansion());
    let reduction = i128::from(hc.reduction);
    let mut c_in = width;
    let mut attn = 0;
    for (i, &n) in hc.layers.iter().enumerate() {
        let planes = width << i;
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
        let hidden = (c_out / reduction).max(1);
        attn += 2 * 2 * c_out * hidden; // channel MLP on the avg and max descriptors
        attn += conv(2, 1, i128::from(hc.spatial_kernel), hh, ww);
        if hc.calibration {
            attn += 2 * (2 * c_out) * (c_out / reduction).max(8);
        }
    }
    (macs + attn, attn)
}

/// MACs of SAP at input `h`x`w`.
fn sap_macs(cfg: &DanieConfig, h: i128, w: i128) -> i128 {
    let s = &cfg.sap;
    let (d, p) = (i128::from(s.embed_dim), i128::from(s.patch_size));
    let n = (h / p) * (w / p);
    let t = n + i128::from(s.cls_token);
    let hidden = (s.mlp_ratio * s.embed_dim as f64) as i128;
    let block = t * d * 3 * d + 2 * t * t * d + t * d * d + 2 * t * d * hidden;
    conv(i128::from(cfg.in_channels), d, p, h / p, w / p) + i128::from(s.depth) * block
}

/// Analytic cost of `cfg` at input `h`x`w` (multiples of 16 up to [`MAX_COST_SIZE`], else an
/// error); parameters are counted on a model built on the CPU. The config is validated first.
pub fn model_cost(cfg: &DanieConfig, h: i64, w: i64) -> Result<ModelCost, ModelError> {
    for (name, v) in [("height", h), ("width", w)] {
        if !(16..=MAX_COST_SIZE).contains(&v) || v % 16 != 0 {
            return Err(ModelError::Config(format!(
                "input {name} {v} must be a multiple of 16 in 16..={MAX_COST_SIZE}"
            )));
        }
    }
    let vs = VarStore::new(tch::Device::Cpu);
    let _model = Danie::try_new(vs.root(), cfg)?;
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
    let (h, w) = (i128::from(h), i128::from(w));
    let (gh, gw) = (h / 16, w / 16);
    let n = gh * gw;
    let d = i128::from(cfg.sap.embed_dim);
    let c16 = i128::from(cfg.hap_channels()[3]);
    let dim = i128::from(cfg.jp.dim);
    let jp = cfg.jp.fusion == Fusion::Jp;

    let mut blocks: Vec<(&str, i64, i128)> = Vec::new();
    if cfg.has_sap() {
        blocks.push((
            "sap",
            params(&|k| k.starts_with("sap.")),
            sap_macs(cfg, h, w),
        ));
    }
    if cfg.has_hap() {
        let (all, attn) = hap_macs(cfg, h, w);
        blocks.push(("hap", params(&|k| k.starts_with("hap.")), all));
        blocks.push((
            "hap_attention",
            params(&|k| k.starts_with("hap.attn")),
            attn,
        ));
    }
    if jp && cfg.has_sap() {
        let dh = d / i128::from(cfg.jp.es_heads);
        blocks.push((
            "es",
            params(&|k| k.starts_with("jp.es.")),
            n * d * 3 * d + 2 * d * dh * n + n * d * d,
        ));
    }
    if jp && cfg.has_hap() {
        let ci = c16 / i128::from(cfg.jp.eh_reduction);
        blocks.push((
            "eh",
            params(&|k| k.starts_with("jp.eh.")),
            3 * n * c16 * ci + 2 * n * n * ci + n * ci * c16,
        ));
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
    blocks.push((
        "jp",
        params(&|k| k.starts_with("jp.") && !k.starts_with("jp.es.") && !k.starts_with("jp.eh.")),
        agg,
    ));
    let mut dec = 0;
    for (i, b) in channel_plan(cfg).iter().enumerate() {
        let (ho, wo) = (gh << (i + 1), gw << (i + 1));
        let (c_in, c_out) = (i128::from(b.input + b.skip), i128::from(b.output));
        dec += conv(c_in, c_out, 3, ho, wo) + conv(c_out, c_out, 3, ho, wo);
    }
    let last = i128::from(cfg.decoder.channels[3]);
    dec += conv(last, i128::from(cfg.num_classes), 1, h, w);
    blocks.push(("decoder", params(&|k| k.starts_with("decoder.")), dec));
    let total: i128 = blocks
        .iter()
        .filter(|b| b.0 != "hap_attention")
        .map(|b| b.2)
        .sum();
    // i128 cannot overflow within the size and config ranges; i64 can: checked here.
    let fit = |m: i128| {
        i64::try_from(m).map_err(|_| {
            ModelError::Config(format!(
                "{m} multiply-accumulates at {h}x{w} do not fit a 64-bit count; use a smaller \
                 --size"
            ))
        })
    };
    let blocks = blocks
        .into_iter()
        .map(|(name, params, macs)| {
            Ok(BlockCost {
                name: name.into(),
                params,
                macs: fit(macs)?,
            })
        })
        .collect::<Result<Vec<_>, ModelError>>()?;
    Ok(ModelCost {
        input: [h as i64, w as i64],
        blocks,
        total_params,
        total_macs: fit(total)?,
    })
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
            let c = model_cost(&cfg, 224, 224).unwrap();
            let sum: i64 = c
                .blocks
                .iter()
                .filter(|b| b.name != "hap_attention")
                .map(|b| b.params)
                .sum();
            assert_eq!(sum, c.total_params, "{p}");
        }
        let b = model_cost(&DanieConfig::preset("b").unwrap(), 224, 224).unwrap();
        assert!(
            b.total_params < 30_000_000,
            "B has {} parameters",
            b.total_params
        );
    }

    #[test]
    fn sizes_out_of_range_are_errors_and_the_largest_fits() {
        let cfg = DanieConfig::preset("tiny").unwrap();
        for bad in [0, 8, 17, i64::MAX - 7, MAX_COST_SIZE + 16, -16] {
            let e = model_cost(&cfg, bad, 224).unwrap_err().to_string();
            assert!(e.contains("multiple of 16"), "{bad}: {e}");
        }
        // The largest size: every count fits, and grows with the input.
        let c = model_cost(&cfg, MAX_COST_SIZE, MAX_COST_SIZE).unwrap();
        assert!(c.total_macs > model_cost(&cfg, 224, 224).unwrap().total_macs);
    }
}
