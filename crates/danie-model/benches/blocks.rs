//! Per-block benchmarks: SAP, HAP, ES, EH, JP (fusion incl. ES and EH), decoder and the whole
//! model; forward (no_grad, eval) and forward + backward (train); batch 1 and 8 at 224x224;
//! on the CPU, and on CUDA when libtorch sees a GPU.
//!
//! Environment: `DANIE_BENCH_PRESET` (default `b`), `DANIE_BENCH_BATCHES` (default `1,8`),
//! `DANIE_BENCH_DEVICES` (`cpu`, `cuda` or `cpu,cuda`; default: both where available).
use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion};
use danie_model::{Danie, DanieConfig};
use tch::nn::{Module, ModuleT, VarStore};

use tch::{Device, Kind, Tensor};

/// A block's forward pass given the train flag.
type BlockFn<'a> = Box<dyn Fn(bool) -> Tensor + 'a>;

fn devices() -> Vec<Device> {
    let want = std::env::var("DANIE_BENCH_DEVICES").unwrap_or_else(|_| "cpu,cuda".into());
    let mut out = Vec::new();
    if want.contains("cpu") {
        out.push(Device::Cpu);
    }
    if want.contains("cuda") && tch::Cuda::is_available() {
        out.push(Device::Cuda(0));
    }
    out
}

fn sync(d: Device) {
    if let Device::Cuda(i) = d {
        tch::Cuda::synchronize(i as i64);
    }
}

/// Runs `f` forward-only (eval, no_grad) or forward + backward (train) and waits for the device.
fn run(d: Device, backward: bool, f: &dyn Fn(bool) -> Tensor) {
    if backward {
        f(true).to_kind(Kind::Float).mean(Kind::Float).backward();
    } else {
        let _ = tch::no_grad(|| f(false));
    }
    sync(d);
}

fn bench(c: &mut Criterion) {
    let preset = std::env::var("DANIE_BENCH_PRESET").unwrap_or_else(|_| "b".into());
    let batches: Vec<i64> = std::env::var("DANIE_BENCH_BATCHES")
        .unwrap_or_else(|_| "1,8".into())
        .split(',')
        .filter_map(|s| s.trim().parse().ok())
        .collect();
    let cfg = DanieConfig::preset(&preset).expect("DANIE_BENCH_PRESET names a preset");
    for d in devices() {
        let vs = VarStore::new(d);
        let m = Danie::new(vs.root(), &cfg);
        let sap = m.sap().expect("preset has SAP");
        let hap = m.hap().expect("preset has HAP");
        let dev = if d.is_cuda() { "cuda" } else { "cpu" };
        let mut g = c.benchmark_group(format!("danie-{preset}-{dev}-224"));
        g.sample_size(10)
            .warm_up_time(std::time::Duration::from_secs(1));
        for &b in &batches {
            let x = Tensor::randn([b, cfg.in_channels, 224, 224], (Kind::Float, d));
            let (tokens, grid) = tch::no_grad(|| sap.forward_tokens(&x));
            let feats = tch::no_grad(|| hap.forward_features(&x, false));
            let fused = tch::no_grad(|| {
                m.jp()
                    .fuse_t(Some((&tokens, grid)), Some(&feats.f16), false)
            });
            let skips = [&feats.f8, &feats.f4, &feats.stem];
            let es = m.jp().es().expect("preset uses JP fusion");
            let eh = m.jp().eh().expect("preset uses JP fusion");
            let blocks: Vec<(&str, BlockFn<'_>)> = vec![
                ("sap", Box::new(|_t| sap.forward_tokens(&x).0)),
                ("hap", Box::new(|t| hap.forward_features(&x, t).f16)),
                ("es", Box::new(|_t| es.forward(&tokens))),
                ("eh", Box::new(|t| eh.forward_t(&feats.f16, t))),
                (
                    "jp",
                    Box::new(|t| m.jp().fuse_t(Some((&tokens, grid)), Some(&feats.f16), t)),
                ),
                (
                    "decoder",
                    Box::new(|t| m.decoder().forward_t(&fused, &skips, t)),
                ),
                ("danie", Box::new(|t| m.forward_t(&x, t))),
            ];
            for (name, f) in &blocks {
                for (mode, backward) in [("fwd", false), ("fwd+bwd", true)] {
                    let id = BenchmarkId::new(format!("{name}/{mode}"), format!("b{b}"));
                    g.bench_function(id, |bencher| bencher.iter(|| run(d, backward, f.as_ref())));
                }
            }
        }
        g.finish();
    }
}

criterion_group!(benches, bench);
criterion_main!(benches);
