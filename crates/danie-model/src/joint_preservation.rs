//! Joint Preservation: ES on SAP's tokens, EH on HAP's 1/16 features, a 1x1 projection of
//! each to `jp.dim`, a 3x3 conv block on each, and their sum. `fusion = add | concat` and the
//! single-stream ablations replace parts of it (see docs/architecture.md).
use tch::nn::{self, Module, ModuleT};
use tch::Tensor;

use crate::config::{DanieConfig, Fusion};
use crate::conv_bn_relu::ConvBnRelu;
use crate::efficient_channel_attention::EfficientChannelAttention;
use crate::non_local::NonLocal;

/// One stream's path into the fused map: optional global block, projection, optional conv block.
#[derive(Debug)]
struct Branch {
    proj: nn::Conv2D,
    conv: Option<ConvBnRelu>,
}

impl Branch {
    fn new(p: &nn::Path, suffix: &str, c_in: i64, dim: i64, with_conv: bool) -> Self {
        Self {
            proj: nn::conv2d(
                p / format!("proj_{suffix}"),
                c_in,
                dim,
                1,
                Default::default(),
            ),
            conv: with_conv.then(|| ConvBnRelu::new(p / format!("conv_{suffix}"), dim, dim, 3)),
        }
    }

    /// # Shapes
    /// (B, C_in, h, w) -> (B, dim, h, w)
    fn forward_t(&self, xs: &Tensor, train: bool) -> Tensor {
        let y = xs.apply(&self.proj);
        match &self.conv {
            Some(c) => c.forward_t(&y, train),
            None => y,
        }
    }
}

/// The fusion of SAP and HAP at 1/16 (parameters `es`, `eh`, `proj_s`, `conv_s`, `proj_h`,
/// `conv_h`, `fuse`, each present only when the config needs it).
#[derive(Debug)]
pub struct JointPreservation {
    es: Option<EfficientChannelAttention>,
    eh: Option<NonLocal>,
    sap: Option<Branch>,
    hap: Option<Branch>,
    fuse: Option<ConvBnRelu>,
}

impl JointPreservation {
    /// Builds the parts `cfg` asks for.
    pub fn new(p: nn::Path, cfg: &DanieConfig) -> Self {
        let jp = cfg.jp.fusion == Fusion::Jp;
        let (d, c16, dim) = (cfg.sap.embed_dim, cfg.hap_channels()[3], cfg.jp.dim);
        let es = (jp && cfg.has_sap()).then(|| {
            EfficientChannelAttention::new(&p / "es", d, cfg.jp.es_heads, cfg.sap.norm_eps)
        });
        let eh =
            (jp && cfg.has_hap()).then(|| NonLocal::new(&p / "eh", c16, c16 / cfg.jp.eh_reduction));
        let both = cfg.has_sap() && cfg.has_hap();
        Self {
            es,
            eh,
            sap: cfg.has_sap().then(|| Branch::new(&p, "s", d, dim, jp)),
            hap: cfg.has_hap().then(|| Branch::new(&p, "h", c16, dim, jp)),
            fuse: (both && cfg.jp.fusion == Fusion::Concat)
                .then(|| ConvBnRelu::new(&p / "fuse", 2 * dim, dim, 3)),
        }
    }

    /// ES, when built.
    pub fn es(&self) -> Option<&EfficientChannelAttention> {
        self.es.as_ref()
    }

    /// EH, when built.
    pub fn eh(&self) -> Option<&NonLocal> {
        self.eh.as_ref()
    }

    /// Fused 1/16 features from SAP tokens on an (h, w) grid and/or HAP's 1/16 map.
    ///
    /// # Shapes
    /// sap (B, h*w, D), hap (B, C3, h, w) -> (B, jp.dim, h, w)
    pub fn fuse_t(
        &self,
        sap: Option<(&Tensor, (i64, i64))>,
        hap: Option<&Tensor>,
        train: bool,
    ) -> Tensor {
        let s = match (sap, &self.sap) {
            (Some((t, (h, w))), Some(branch)) => {
                let t = match &self.es {
                    Some(es) => es.forward(t),
                    None => t.shallow_clone(),
                };
                let map = t.transpose(1, 2).unflatten(2, [h, w]); // (B, N, D) -> (B, D, h, w)
                Some(branch.forward_t(&map, train))
            }
            _ => None,
        };
        let hh = match (hap, &self.hap) {
            (Some(x), Some(branch)) => {
                let x = match &self.eh {
                    Some(eh) => eh.forward_t(x, train),
                    None => x.shallow_clone(),
                };
                Some(branch.forward_t(&x, train))
            }
            _ => None,
        };
        match (s, hh, &self.fuse) {
            (Some(s), Some(h), Some(f)) => f.forward_t(&Tensor::cat(&[s, h], 1), train),
            (Some(s), Some(h), None) => s + h,
            (Some(s), None, _) => s,
            (None, Some(h), _) => h,
            (None, None, _) => panic!("joint preservation needs at least one stream"),
        }
    }
}
