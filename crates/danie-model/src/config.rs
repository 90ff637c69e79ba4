//! Model configuration: [`DanieConfig`] and its parts, presets by name, TOML (de)serialisation.
//!
//! Every switch of the paper's ablation is a field here. Presets (`tiny`, `s`, `b`, `l`) give a
//! complete config; a TOML file may override any field (`DanieConfig::from_toml_with_preset`).
use serde::{Deserialize, Serialize};

use crate::error::ModelError;

/// Order of the two attentions after each HAP stage.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AttentionOrder {
    /// Channel attention, then spatial attention (CBAM's order).
    ChannelFirst,
    /// Spatial attention, then channel attention.
    SpatialFirst,
}

/// How the two encoder streams are merged at 1/16 resolution.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Fusion {
    /// Joint Preservation: ES on SAP, EH on HAP, a conv block on each, then addition.
    Jp,
    /// Plain addition of the two projected streams (no ES, EH or conv blocks).
    Add,
    /// Concatenation of the two projected streams, then one 3x3 conv block.
    Concat,
}

/// Which encoder streams are built (ablation).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Streams {
    /// SAP and HAP (the full model).
    Both,
    /// SAP only: no HAP, so the decoder has no skip connections.
    Sap,
    /// HAP only: no SAP; skips come from HAP as usual.
    Hap,
}

/// Residual block type of the HAP ResNet hierarchy (torchvision names).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ResBlock {
    /// Two 3x3 convolutions, expansion 1 (resnet18/34).
    Basic,
    /// 1x1, 3x3, 1x1 convolutions, expansion 4 (resnet50/101).
    Bottleneck,
}

impl ResBlock {
    /// Output channels per `planes` (1 for Basic, 4 for Bottleneck).
    pub fn expansion(self) -> i64 {
        match self {
            ResBlock::Basic => 1,
            ResBlock::Bottleneck => 4,
        }
    }
}

/// SAP: the ViT stream (timm `VisionTransformer` names).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SapConfig {
    /// Token width D.
    pub embed_dim: i64,
    /// Number of transformer blocks L.
    pub depth: i64,
    /// Attention heads per block (must divide `embed_dim`).
    pub num_heads: i64,
    /// MLP hidden width = `mlp_ratio * embed_dim`.
    pub mlp_ratio: f64,
    /// Patch size of the convolutional patch embedding (16 in the paper).
    pub patch_size: i64,
    /// Whether a class token is kept (ImageNet ViTs have one; it is dropped from the output).
    pub cls_token: bool,
    /// Bias in the qkv projection (timm default true).
    pub qkv_bias: bool,
    /// LayerNorm epsilon (timm ViT: 1e-6).
    pub norm_eps: f64,
}

/// HAP: the ResNet hierarchy with attention and calibration after each stage.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HapConfig {
    /// Residual block type.
    pub block: ResBlock,
    /// Blocks in layer1, layer2, layer3 (resnet18: [2, 2, 2]; resnet50: [3, 4, 6]).
    pub layers: [i64; 3],
    /// Stem width and layer1 `planes` (64 in torchvision); layer2/3 double it.
    pub width: i64,
    /// Reduction ratio of the channel-attention and calibration MLPs.
    pub reduction: i64,
    /// Kernel size of the spatial-attention convolution (odd).
    pub spatial_kernel: i64,
    /// Order of channel and spatial attention.
    pub attention_order: AttentionOrder,
    /// Dynamic calibration on (mix attended and incoming features) or off (attended only).
    pub calibration: bool,
}

/// Joint Preservation: ES, EH and the aggregation.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct JpConfig {
    /// Channel count of the fused 1/16 features given to the decoder.
    pub dim: i64,
    /// Heads of ES's transposed (channel) attention (must divide the SAP width).
    pub es_heads: i64,
    /// EH's inner width = HAP 1/16 channels / `eh_reduction` (2 in Wang et al.).
    pub eh_reduction: i64,
    /// Fusion of the two streams.
    pub fusion: Fusion,
}

/// Cascaded upsampling decoder.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DecoderConfig {
    /// Output channels of the four x2 upsampling blocks (1/8, 1/4, 1/2, 1/1).
    pub channels: [i64; 4],
}

/// The whole network.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DanieConfig {
    /// Preset this config started from (informational).
    #[serde(default)]
    pub name: String,
    /// Input channels (3 for RGB; CT/MRI either repeat the slice to 3 or set 1: backbone
    /// loading then sums the RGB filters, as timm's `adapt_input_conv`).
    pub in_channels: i64,
    /// Output classes (logits per pixel, background included).
    pub num_classes: i64,
    /// Training image size; sets the SAP position-embedding grid (`img_size / patch_size`).
    /// Other sizes (multiples of 16) work: the embedding is resampled bicubically.
    pub img_size: i64,
    /// Which encoder streams are built.
    pub streams: Streams,
    /// SAP settings.
    pub sap: SapConfig,
    /// HAP settings.
    pub hap: HapConfig,
    /// Joint Preservation settings.
    pub jp: JpConfig,
    /// Decoder settings.
    pub decoder: DecoderConfig,
}

/// The preset names `DanieConfig::preset` accepts.
pub const PRESETS: [&str; 4] = ["tiny", "s", "b", "l"];

impl DanieConfig {
    /// A complete config by preset name (`tiny`, `s`, `b`, `l`; case-insensitive).
    pub fn preset(name: &str) -> Result<Self, ModelError> {
        let n = name.to_ascii_lowercase();
        let (sap, hap, jp_dim, es_heads, dec) = match n.as_str() {
            "tiny" => (
                sap(64, 2, 2, false),
                hap(ResBlock::Basic, [1, 1, 1], 16),
                64,
                2,
                [64, 32, 16, 16],
            ),
            // ViT-S/16 width with half the depth; resnet18 stages.
            "s" => (
                sap(384, 6, 6, true),
                hap(ResBlock::Basic, [2, 2, 2], 64),
                256,
                6,
                [256, 128, 64, 16],
            ),
            // timm vit_small_patch16_224 + torchvision resnet18 (layer1-3).
            "b" => (
                sap(384, 12, 6, true),
                hap(ResBlock::Basic, [2, 2, 2], 64),
                256,
                6,
                [256, 128, 64, 16],
            ),
            // timm vit_base_patch16_224 + torchvision resnet50 (layer1-3).
            "l" => (
                sap(768, 12, 12, true),
                hap(ResBlock::Bottleneck, [3, 4, 6], 64),
                512,
                12,
                [256, 128, 64, 16],
            ),
            _ => {
                return Err(ModelError::Config(format!(
                    "unknown model preset {name:?}; expected one of {PRESETS:?}"
                )))
            }
        };
        let cfg = DanieConfig {
            name: n,
            in_channels: 3,
            num_classes: 9,
            img_size: 224,
            streams: Streams::Both,
            sap,
            hap,
            jp: JpConfig {
                dim: jp_dim,
                es_heads,
                eh_reduction: 2,
                fusion: Fusion::Jp,
            },
            decoder: DecoderConfig { channels: dec },
        };
        cfg.validate()?;
        Ok(cfg)
    }

    /// Parses a complete config from TOML text (unknown keys are errors).
    pub fn from_toml(text: &str) -> Result<Self, ModelError> {
        let cfg: DanieConfig = toml::from_str(text)
            .map_err(|e| ModelError::Config(format!("invalid model config: {e}")))?;
        cfg.validate()?;
        Ok(cfg)
    }

    /// Starts from `preset` and overrides the fields present in `text` (a partial TOML table:
    /// `num_classes = 4` or `[hap]\ncalibration = false`). Unknown keys are errors.
    pub fn from_toml_with_preset(preset: &str, text: &str) -> Result<Self, ModelError> {
        let base = toml::Value::try_from(Self::preset(preset)?)
            .map_err(|e| ModelError::Config(e.to_string()))?;
        let over: toml::Value = toml::from_str(text)
            .map_err(|e| ModelError::Config(format!("invalid model config: {e}")))?;
        let merged = merge_toml(base, over);
        let cfg: DanieConfig = merged
            .try_into()
            .map_err(|e| ModelError::Config(format!("invalid model config: {e}")))?;
        cfg.validate()?;
        Ok(cfg)
    }

    /// Reads a TOML file; a `preset = "name"` key at the top starts from that preset.
    pub fn from_file(path: &std::path::Path) -> Result<Self, ModelError> {
        let text = danie_fs::read_text(path, danie_fs::MAX_SMALL_TEXT)
            .map_err(|e| ModelError::Config(format!("cannot read {}: {e}", path.display())))?;
        let ctx = |e: ModelError| ModelError::Config(format!("{}: {e}", path.display()));
        let mut value: toml::Table = toml::from_str(&text)
            .map_err(|e| ModelError::Config(format!("{}: invalid TOML: {e}", path.display())))?;
        match value.remove("preset") {
            Some(toml::Value::String(p)) => {
                let rest =
                    toml::to_string(&value).map_err(|e| ModelError::Config(e.to_string()))?;
                Self::from_toml_with_preset(&p, &rest).map_err(ctx)
            }
            Some(other) => Err(ctx(ModelError::Config(format!(
                "`preset` must be a string, got {other}"
            )))),
            None => Self::from_toml(&text).map_err(ctx),
        }
    }

    /// Serialises to TOML.
    pub fn to_toml(&self) -> String {
        toml::to_string_pretty(self).expect("DanieConfig serialises to TOML")
    }

    /// Channel counts of HAP's outputs: (stem 1/2, layer1 1/4, layer2 1/8, layer3 1/16).
    pub fn hap_channels(&self) -> [i64; 4] {
        let e = self.hap.block.expansion();
        let w = self.hap.width;
        [w, w * e, 2 * w * e, 4 * w * e]
    }

    /// Whether SAP is built.
    pub fn has_sap(&self) -> bool {
        self.streams != Streams::Hap
    }

    /// Whether HAP is built.
    pub fn has_hap(&self) -> bool {
        self.streams != Streams::Sap
    }

    /// A close estimate of the number of variables (parameters and BatchNorm statistics) the
    /// network has, from the config alone: cheap, and computed before anything is allocated.
    /// Within a few percent of the built model for every preset (tested); f64, so a huge config
    /// cannot overflow it.
    pub fn estimated_params(&self) -> f64 {
        let f = |x: i64| x as f64;
        let mut n = 0.0;
        let s = &self.sap;
        let d = f(s.embed_dim);
        if self.has_sap() {
            let hidden = s.mlp_ratio * d;
            let grid = f(self.img_size / s.patch_size.max(1));
            n += f(self.in_channels) * f(s.patch_size).powi(2) * d + d; // patch embedding
            n += (grid * grid + 1.0) * d + d; // position embedding, class token
            n += f(s.depth) * (4.0 * d * d + 2.0 * d * hidden + hidden + 9.0 * d); // blocks
            n += 2.0 * d; // final norm
        }
        // hap_channels() in f64: this runs on unchecked configs too.
        let (w, e) = (f(self.hap.width), f(self.hap.block.expansion()));
        let hc = [w, w * e, 2.0 * w * e, 4.0 * w * e];
        if self.has_hap() {
            let h = &self.hap;
            let e = f(h.block.expansion());
            n += f(self.in_channels) * 49.0 * f(h.width) + 4.0 * f(h.width); // stem
            let mut c_in = f(h.width);
            for (i, &blocks) in h.layers.iter().enumerate() {
                let planes = f(h.width) * f(1 << i);
                let c_out = planes * e;
                let block = |c_in: f64| match h.block {
                    ResBlock::Basic => 9.0 * c_in * planes + 9.0 * planes * planes + 8.0 * planes,
                    ResBlock::Bottleneck => {
                        c_in * planes + 9.0 * planes * planes + planes * c_out + 12.0 * planes
                    }
                };
                n += block(c_in) + c_in * c_out + 4.0 * c_out; // first block, downsample
                n += (f(blocks) - 1.0).max(0.0) * block(c_out);
                let hidden = (c_out / f(h.reduction)).max(1.0);
                n += 2.0 * c_out * hidden + hidden + c_out; // channel attention
                n += 2.0 * f(h.spatial_kernel).powi(2); // spatial attention
                if h.calibration {
                    let ch = (c_out / f(h.reduction)).max(8.0);
                    n += 4.0 * c_out * ch + ch + 2.0 * c_out;
                }
                c_in = c_out;
            }
        }
        let (c16, dim) = (hc[3], f(self.jp.dim));
        let jp = self.jp.fusion == Fusion::Jp;
        if jp && self.has_sap() {
            n += 4.0 * d * d + 6.0 * d; // ES
        }
        if jp && self.has_hap() {
            let ci = c16 / f(self.jp.eh_reduction.max(1));
            n += 4.0 * c16 * ci + 4.0 * c16; // EH
        }
        let conv_block = 9.0 * dim * dim + 4.0 * dim;
        if self.has_sap() {
            n += d * dim + dim + if jp { conv_block } else { 0.0 };
        }
        if self.has_hap() {
            n += c16 * dim + dim + if jp { conv_block } else { 0.0 };
        }
        if self.has_sap() && self.has_hap() && self.jp.fusion == Fusion::Concat {
            n += 18.0 * dim * dim + 4.0 * dim;
        }
        let c = self.decoder.channels.map(f);
        let skips = if self.has_hap() {
            [hc[2], hc[1], hc[0], 0.0]
        } else {
            [0.0; 4]
        };
        let ins = [dim, c[0], c[1], c[2]];
        for i in 0..4 {
            n += 9.0 * (ins[i] + skips[i]) * c[i] + 9.0 * c[i] * c[i] + 8.0 * c[i];
        }
        n += c[3] * f(self.num_classes) + f(self.num_classes);
        n
    }

    /// Checks the config for values the network cannot be built with, and for sizes no real
    /// model has: a config may come from a file (a weights file's metadata, a TOML), and a
    /// crafted one must be an error naming the field, not an allocation of terabytes or a
    /// libtorch abort. The ranges admit every preset and the paper's settings with room.
    pub fn validate(&self) -> Result<(), ModelError> {
        let bad = |m: String| Err(ModelError::Config(m));
        let range = |field: &str, v: i64, lo: i64, hi: i64| {
            if v < lo || v > hi {
                Err(ModelError::Config(format!(
                    "{field} = {v} is outside the supported range {lo}..={hi}"
                )))
            } else {
                Ok(())
            }
        };
        let s = &self.sap;
        range("in_channels", self.in_channels, 1, MAX_IN_CHANNELS)?;
        range("num_classes", self.num_classes, 1, MAX_CLASSES)?;
        if s.patch_size != 16 {
            return bad(format!(
                "sap.patch_size must be 16 (the decoder upsamples 1/16 features 4 times), got {}",
                s.patch_size
            ));
        }
        if self.img_size < 16 || self.img_size > MAX_IMG_SIZE || self.img_size % 16 != 0 {
            return bad(format!(
                "img_size must be a multiple of 16 in 16..={MAX_IMG_SIZE}, got {}",
                self.img_size
            ));
        }
        range("sap.embed_dim", s.embed_dim, 1, MAX_WIDTH)?;
        range("sap.num_heads", s.num_heads, 1, s.embed_dim)?;
        if s.embed_dim % s.num_heads != 0 {
            return bad(format!(
                "sap.num_heads ({}) must divide sap.embed_dim ({})",
                s.num_heads, s.embed_dim
            ));
        }
        if self.jp.es_heads < 1 || s.embed_dim % self.jp.es_heads != 0 {
            return bad(format!(
                "jp.es_heads ({}) must divide sap.embed_dim ({})",
                self.jp.es_heads, s.embed_dim
            ));
        }
        range("sap.depth", s.depth, 0, MAX_DEPTH)?;
        if !(s.mlp_ratio > 0.0 && s.mlp_ratio <= 16.0) {
            return bad(format!(
                "sap.mlp_ratio = {} must be in (0, 16]",
                s.mlp_ratio
            ));
        }
        if !(s.norm_eps > 0.0 && s.norm_eps < 1.0) {
            return bad(format!("sap.norm_eps = {} must be in (0, 1)", s.norm_eps));
        }
        let h = &self.hap;
        range("hap.width", h.width, 1, MAX_HAP_WIDTH)?;
        for (i, &n) in h.layers.iter().enumerate() {
            range(&format!("hap.layers[{i}]"), n, 1, MAX_DEPTH)?;
        }
        range("hap.reduction", h.reduction, 1, MAX_WIDTH)?;
        if h.spatial_kernel < 1 || h.spatial_kernel > 31 || h.spatial_kernel % 2 == 0 {
            return bad(format!(
                "hap.spatial_kernel must be odd, in 1..=31, got {}",
                h.spatial_kernel
            ));
        }
        range("jp.dim", self.jp.dim, 1, MAX_WIDTH)?;
        range(
            "jp.eh_reduction",
            self.jp.eh_reduction,
            1,
            self.hap_channels()[3],
        )?;
        for (i, &c) in self.decoder.channels.iter().enumerate() {
            range(&format!("decoder.channels[{i}]"), c, 1, MAX_WIDTH)?;
        }
        let params = self.estimated_params();
        if params > MAX_PARAMS {
            return bad(format!(
                "the config describes a network of about {:.1} billion parameters, over the \
                 limit of {:.1} billion (sap.embed_dim = {}, sap.depth = {}, hap.width = {}, \
                 hap.layers = {:?})",
                params / 1e9,
                MAX_PARAMS / 1e9,
                s.embed_dim,
                s.depth,
                h.width,
                h.layers
            ));
        }
        Ok(())
    }
}

/// Most input channels (RGB is 3; multi-sequence MRI a few).
pub const MAX_IN_CHANNELS: i64 = 16;
/// Most output classes.
pub const MAX_CLASSES: i64 = 1000;
/// Largest model input side: SAP's attention is quadratic in (img_size / 16)^2 tokens.
pub const MAX_IMG_SIZE: i64 = 1024;
/// Widest token, projection or decoder channel count (ViT-H is 1280).
pub const MAX_WIDTH: i64 = 4096;
/// Widest HAP stem (torchvision's ResNets: 64; wide ResNets 128).
pub const MAX_HAP_WIDTH: i64 = 512;
/// Most transformer blocks, and most residual blocks per HAP stage (resnet152: 36).
pub const MAX_DEPTH: i64 = 64;
/// Most parameters (4 GB of float32 weights; the `l` preset has about 0.1 billion).
pub const MAX_PARAMS: f64 = 1e9;

fn sap(embed_dim: i64, depth: i64, num_heads: i64, cls_token: bool) -> SapConfig {
    SapConfig {
        embed_dim,
        depth,
        num_heads,
        mlp_ratio: 4.0,
        patch_size: 16,
        cls_token,
        qkv_bias: true,
        norm_eps: 1e-6,
    }
}

fn hap(block: ResBlock, layers: [i64; 3], width: i64) -> HapConfig {
    HapConfig {
        block,
        layers,
        width,
        reduction: 16,
        spatial_kernel: 7,
        attention_order: AttentionOrder::ChannelFirst,
        calibration: true,
    }
}

/// Recursively overlays `over` on `base` (tables merge, other values replace).
fn merge_toml(base: toml::Value, over: toml::Value) -> toml::Value {
    match (base, over) {
        (toml::Value::Table(mut b), toml::Value::Table(o)) => {
            for (k, v) in o {
                let merged = match b.remove(&k) {
                    Some(bv) => merge_toml(bv, v),
                    None => v,
                };
                b.insert(k, merged);
            }
            toml::Value::Table(b)
        }
        (_, o) => o,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn presets_validate_and_roundtrip_toml() {
        for p in PRESETS {
            let cfg = DanieConfig::preset(p).unwrap();
            let back = DanieConfig::from_toml(&cfg.to_toml()).unwrap();
            assert_eq!(cfg, back);
        }
        assert!(DanieConfig::preset("xl").is_err());
    }

    #[test]
    fn overrides_merge_into_preset() {
        let cfg = DanieConfig::from_toml_with_preset(
            "tiny",
            "num_classes = 4\n[hap]\ncalibration = false\nattention_order = \"spatial_first\"\n[jp]\nfusion = \"concat\"\n",
        )
        .unwrap();
        assert_eq!(cfg.num_classes, 4);
        assert!(!cfg.hap.calibration);
        assert_eq!(cfg.hap.attention_order, AttentionOrder::SpatialFirst);
        assert_eq!(cfg.jp.fusion, Fusion::Concat);
        assert_eq!(cfg.sap.embed_dim, 64);
    }

    #[test]
    fn unknown_keys_and_bad_values_are_errors() {
        let e = DanieConfig::from_toml_with_preset("tiny", "num_clases = 4").unwrap_err();
        assert!(e.to_string().contains("num_clases"), "{e}");
        let e = DanieConfig::from_toml_with_preset("tiny", "[sap]\nnum_heads = 3").unwrap_err();
        assert!(e.to_string().contains("num_heads"), "{e}");
        let e = DanieConfig::from_toml_with_preset("tiny", "[jp]\nfusion = \"mul\"").unwrap_err();
        assert!(e.to_string().contains("mul"), "{e}");
    }

    #[test]
    fn file_with_preset_key() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("m.toml");
        std::fs::write(&p, "preset = \"b\"\nnum_classes = 4\n").unwrap();
        let cfg = DanieConfig::from_file(&p).unwrap();
        assert_eq!(cfg.sap.depth, 12);
        assert_eq!(cfg.num_classes, 4);
        let e = DanieConfig::from_file(&dir.path().join("missing.toml")).unwrap_err();
        assert!(e.to_string().contains("missing.toml"), "{e}");
    }

    #[test]
    fn estimated_params_are_close_to_the_built_model() {
        let mut cfgs: Vec<DanieConfig> = PRESETS
            .iter()
            .map(|p| DanieConfig::preset(p).unwrap())
            .collect();
        let tiny = DanieConfig::preset("tiny").unwrap();
        for over in [
            "[jp]\nfusion = \"concat\"",
            "[jp]\nfusion = \"add\"",
            "streams = \"sap\"",
            "streams = \"hap\"\n[hap]\nblock = \"bottleneck\"\ncalibration = false",
        ] {
            cfgs.push(DanieConfig::from_toml_with_preset("tiny", over).unwrap());
        }
        cfgs.push(DanieConfig {
            img_size: 512,
            ..tiny
        });
        for cfg in cfgs {
            let vs = tch::nn::VarStore::new(tch::Device::Cpu);
            let _m = crate::Danie::new(vs.root(), &cfg);
            let real: i64 = vs.variables().values().map(|t| t.numel() as i64).sum();
            let est = cfg.estimated_params();
            let ratio = est / real as f64;
            assert!(
                (0.95..1.05).contains(&ratio),
                "{} {:?} {:?}: estimated {est}, built {real}",
                cfg.name,
                cfg.streams,
                cfg.jp.fusion
            );
        }
    }

    #[test]
    fn out_of_range_values_name_their_field() {
        let cases = [
            ("sap", "embed_dim = 1048576\nnum_heads = 1", "sap.embed_dim"),
            ("sap", "depth = 100000", "sap.depth"),
            ("sap", "depth = -1", "sap.depth"),
            ("sap", "mlp_ratio = nan", "sap.mlp_ratio"),
            ("sap", "mlp_ratio = 1e300", "sap.mlp_ratio"),
            ("sap", "norm_eps = inf", "sap.norm_eps"),
            ("hap", "width = 9223372036854775807", "hap.width"),
            ("hap", "layers = [1, 1, 100000]", "hap.layers[2]"),
            ("hap", "spatial_kernel = 1001", "hap.spatial_kernel"),
            ("hap", "reduction = 0", "hap.reduction"),
            ("jp", "dim = 100000", "jp.dim"),
            ("jp", "eh_reduction = 100000", "jp.eh_reduction"),
            (
                "decoder",
                "channels = [16, 16, 16, 0]",
                "decoder.channels[3]",
            ),
        ];
        for (table, body, field) in cases {
            let e = DanieConfig::from_toml_with_preset("tiny", &format!("[{table}]\n{body}"))
                .unwrap_err()
                .to_string();
            assert!(e.contains(field), "{body}: {e}");
        }
        for (body, field) in [
            ("img_size = 0", "img_size"),
            ("img_size = 1", "img_size"),
            ("img_size = 40", "img_size"),
            ("img_size = 4096", "img_size"),
            ("img_size = -224", "img_size"),
            ("num_classes = 0", "num_classes"),
            ("num_classes = 1000000", "num_classes"),
            ("in_channels = 100", "in_channels"),
        ] {
            let e = DanieConfig::from_toml_with_preset("tiny", body)
                .unwrap_err()
                .to_string();
            assert!(e.contains(field), "{body}: {e}");
        }
        // Each field in range, together far too large: refused by the parameter estimate.
        let e = DanieConfig::from_toml_with_preset(
            "tiny",
            "[sap]\nembed_dim = 4096\nnum_heads = 16\ndepth = 64\n[jp]\nes_heads = 16",
        )
        .unwrap_err()
        .to_string();
        assert!(
            e.contains("billion parameters") && e.contains("sap.embed_dim = 4096"),
            "{e}"
        );
    }
}
