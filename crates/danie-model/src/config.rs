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
        let text = std::fs::read_to_string(path)
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

    /// Checks the config for values the network cannot be built with.
    pub fn validate(&self) -> Result<(), ModelError> {
        let bad = |m: String| Err(ModelError::Config(m));
        let s = &self.sap;
        if self.in_channels < 1 || self.num_classes < 1 {
            return bad(format!(
                "in_channels ({}) and num_classes ({}) must be positive",
                self.in_channels, self.num_classes
            ));
        }
        if s.patch_size != 16 {
            return bad(format!(
                "sap.patch_size must be 16 (the decoder upsamples 1/16 features 4 times), got {}",
                s.patch_size
            ));
        }
        if self.img_size < 16 || self.img_size % 16 != 0 {
            return bad(format!(
                "img_size must be a positive multiple of 16, got {}",
                self.img_size
            ));
        }
        if s.embed_dim < 1 || s.num_heads < 1 || s.embed_dim % s.num_heads != 0 {
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
        if s.depth < 0 || s.mlp_ratio <= 0.0 {
            return bad("sap.depth must be >= 0 and sap.mlp_ratio > 0".into());
        }
        let h = &self.hap;
        if h.width < 1 || h.layers.iter().any(|&n| n < 1) || h.reduction < 1 {
            return bad(format!(
                "hap.width ({}), hap.layers ({:?}) and hap.reduction ({}) must be positive",
                h.width, h.layers, h.reduction
            ));
        }
        if h.spatial_kernel < 1 || h.spatial_kernel % 2 == 0 {
            return bad(format!(
                "hap.spatial_kernel must be odd, got {}",
                h.spatial_kernel
            ));
        }
        if self.jp.dim < 1
            || self.jp.eh_reduction < 1
            || self.hap_channels()[3] / self.jp.eh_reduction < 1
        {
            return bad(
                "jp.dim and jp.eh_reduction must be positive (eh_reduction <= HAP channels)".into(),
            );
        }
        if self.decoder.channels.iter().any(|&c| c < 1) {
            return bad(format!(
                "decoder.channels must be positive, got {:?}",
                self.decoder.channels
            ));
        }
        Ok(())
    }
}

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
}
