//! An installed cross-rank normaliser (danie-train's `[train] sync_bn`) serves every BatchNorm
//! of the network in training mode and none in evaluation mode; removing it restores tch's
//! BatchNorm. Its own test binary: the normaliser is process-wide, and the other tests of
//! danie-model must not see it.
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use danie_model::batch_norm::{install_cross_rank, CrossRankNorm};
use danie_model::{Danie, DanieConfig};
use tch::nn::{self, ModuleT};
use tch::{Device, Kind, Tensor};

/// Counts its calls and normalises with this process's batch, as tch's BatchNorm does.
#[derive(Default)]
struct CountingNorm {
    calls: AtomicUsize,
}

impl CrossRankNorm for CountingNorm {
    fn forward(
        &self,
        x: &Tensor,
        weight: &Tensor,
        bias: &Tensor,
        running_mean: &Tensor,
        running_var: &Tensor,
        momentum: f64,
        eps: f64,
    ) -> Tensor {
        self.calls.fetch_add(1, Ordering::SeqCst);
        Tensor::batch_norm(
            x,
            Some(weight),
            Some(bias),
            Some(running_mean),
            Some(running_var),
            true,
            momentum,
            eps,
            false,
        )
    }
}

#[test]
fn an_installed_normaliser_serves_every_batch_norm_in_training_only() {
    tch::manual_seed(3);
    let cfg = DanieConfig::preset("tiny").unwrap();
    let vs = nn::VarStore::new(Device::Cpu);
    let model = Danie::new(vs.root(), &cfg);
    let layers = vs
        .variables()
        .keys()
        .filter(|k| k.ends_with(".running_mean"))
        .count();
    assert!(layers > 5, "the tiny preset has {layers} BatchNorm layers");
    let x = Tensor::randn(
        [2, cfg.in_channels, cfg.img_size, cfg.img_size],
        (Kind::Float, Device::Cpu),
    );

    let plain = model.forward_t(&x, true);
    let norm = Arc::new(CountingNorm::default());
    install_cross_rank(Some(norm.clone()));
    let served = model.forward_t(&x, true);
    assert_eq!(
        norm.calls.load(Ordering::SeqCst),
        layers,
        "one call per BatchNorm"
    );
    let d = (&served - &plain).abs().max().double_value(&[]);
    assert!(d < 1e-5, "the same statistics gave outputs {d:e} apart");

    let _ = model.forward_t(&x, false);
    assert_eq!(
        norm.calls.load(Ordering::SeqCst),
        layers,
        "evaluation used the normaliser"
    );

    install_cross_rank(None);
    let _ = model.forward_t(&x, true);
    assert_eq!(
        norm.calls.load(Ordering::SeqCst),
        layers,
        "a removed normaliser was called"
    );
}
