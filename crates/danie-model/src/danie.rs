//! `Danie`: the whole network. SAP and HAP encode the image, Joint Preservation fuses them at
//! 1/16, the decoder upsamples with HAP skips to per-pixel logits.
use tch::nn::{self, ModuleT};
use tch::{Kind, Tensor};

use crate::config::DanieConfig;
use crate::decoder::Decoder;
use crate::error::ModelError;
use crate::hap::Hap;
use crate::joint_preservation::JointPreservation;
use crate::sap::Sap;

/// DANIE. Variables live under `sap.*`, `hap.*`, `jp.*`, `decoder.*` of the given path.
#[derive(Debug)]
pub struct Danie {
    cfg: DanieConfig,
    sap: Option<Sap>,
    hap: Option<Hap>,
    jp: JointPreservation,
    decoder: Decoder,
}

impl Danie {
    /// Builds the network in `p` (its device is the model's device).
    ///
    /// # Panics
    /// If `cfg` is invalid; check with [`DanieConfig::validate`] or use [`Danie::try_new`].
    pub fn new(p: nn::Path, cfg: &DanieConfig) -> Self {
        Self::try_new(p, cfg).unwrap_or_else(|e| panic!("{e}"))
    }

    /// Builds the network, or says why the config cannot be built.
    pub fn try_new(p: nn::Path, cfg: &DanieConfig) -> Result<Self, ModelError> {
        cfg.validate()?;
        Ok(Self {
            cfg: cfg.clone(),
            sap: cfg
                .has_sap()
                .then(|| Sap::new(&p / "sap", &cfg.sap, cfg.in_channels, cfg.img_size)),
            hap: cfg
                .has_hap()
                .then(|| Hap::new(&p / "hap", &cfg.hap, cfg.in_channels)),
            jp: JointPreservation::new(&p / "jp", cfg),
            decoder: Decoder::new(&p / "decoder", cfg),
        })
    }

    /// The config the model was built from.
    pub fn config(&self) -> &DanieConfig {
        &self.cfg
    }

    /// The SAP stream, if built.
    pub fn sap(&self) -> Option<&Sap> {
        self.sap.as_ref()
    }

    /// The HAP stream, if built.
    pub fn hap(&self) -> Option<&Hap> {
        self.hap.as_ref()
    }

    /// The Joint Preservation fusion.
    pub fn jp(&self) -> &JointPreservation {
        &self.jp
    }

    /// The decoder.
    pub fn decoder(&self) -> &Decoder {
        &self.decoder
    }

    /// Checks that `x` is a float (B, in_channels, H, W) batch with H, W multiples of 16.
    pub fn check_input(&self, x: &Tensor) -> Result<(), ModelError> {
        let size = x.size();
        let bad = |m: String| Err(ModelError::Input(m));
        if size.len() != 4 {
            return bad(format!(
                "expected a (B, C, H, W) tensor, got shape {size:?}"
            ));
        }
        if size[1] != self.cfg.in_channels {
            return bad(format!(
                "expected {} input channels, got shape {size:?}",
                self.cfg.in_channels
            ));
        }
        if size[0] < 1 || size[2] < 16 || size[3] < 16 || size[2] % 16 != 0 || size[3] % 16 != 0 {
            return bad(format!(
                "height and width must be positive multiples of 16, got shape {size:?}"
            ));
        }
        if !matches!(
            x.kind(),
            Kind::Float | Kind::Double | Kind::Half | Kind::BFloat16
        ) {
            return bad(format!(
                "expected a floating-point tensor, got {:?}",
                x.kind()
            ));
        }
        Ok(())
    }

    /// [`ModuleT::forward_t`] after [`Danie::check_input`]: an error instead of a panic.
    pub fn try_forward_t(&self, x: &Tensor, train: bool) -> Result<Tensor, ModelError> {
        self.check_input(x)?;
        Ok(self.forward_t(x, train))
    }
}

impl ModuleT for Danie {
    /// Per-pixel class logits; `train` selects BatchNorm's batch statistics (and updates the
    /// running ones, momentum 0.1).
    ///
    /// # Shapes
    /// (B, C, H, W) -> (B, num_classes, H, W)
    fn forward_t(&self, x: &Tensor, train: bool) -> Tensor {
        if let Err(e) = self.check_input(x) {
            panic!("{e}");
        }
        let sap = self.sap.as_ref().map(|s| s.forward_tokens(x)); // (B, N, D), (h, w)
        let hap = self.hap.as_ref().map(|h| h.forward_features(x, train));
        let fused = self.jp.fuse_t(
            sap.as_ref().map(|(t, g)| (t, *g)),
            hap.as_ref().map(|f| &f.f16),
            train,
        ); // (B, jp.dim, H/16, W/16)
        let skips: Vec<&Tensor> = match &hap {
            Some(f) => vec![&f.f8, &f.f4, &f.stem],
            None => vec![],
        };
        self.decoder.forward_t(&fused, &skips, train) // (B, classes, H, W)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::{Fusion, Streams};

    #[test]
    fn every_switch_gives_full_resolution_logits() {
        let base = DanieConfig::preset("tiny").unwrap();
        for streams in [Streams::Both, Streams::Sap, Streams::Hap] {
            for fusion in [Fusion::Jp, Fusion::Add, Fusion::Concat] {
                let mut cfg = base.clone();
                cfg.streams = streams;
                cfg.jp.fusion = fusion;
                cfg.num_classes = 4;
                let vs = nn::VarStore::new(tch::Device::Cpu);
                let m = Danie::new(vs.root(), &cfg);
                let y = m.forward_t(&Tensor::randn([2, 3, 32, 48], tch::kind::FLOAT_CPU), true);
                assert_eq!(y.size(), [2, 4, 32, 48], "{streams:?} {fusion:?}");
            }
        }
    }

    #[test]
    fn bad_inputs_are_errors() {
        let vs = nn::VarStore::new(tch::Device::Cpu);
        let m = Danie::new(vs.root(), &DanieConfig::preset("tiny").unwrap());
        let e = m
            .try_forward_t(&Tensor::zeros([1, 3, 30, 32], tch::kind::FLOAT_CPU), false)
            .unwrap_err();
        assert!(e.to_string().contains("multiples of 16"), "{e}");
        let e = m
            .try_forward_t(&Tensor::zeros([1, 1, 32, 32], tch::kind::FLOAT_CPU), false)
            .unwrap_err();
        assert!(e.to_string().contains("3 input channels"), "{e}");
        let e = m
            .try_forward_t(&Tensor::zeros([3, 32, 32], tch::kind::FLOAT_CPU), false)
            .unwrap_err();
        assert!(e.to_string().contains("(B, C, H, W)"), "{e}");
    }
}
