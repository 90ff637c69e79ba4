//! Criterion benchmarks: the exact EDT, and a case's metrics for a two-mask pair and a 9-class
//! label-map pair (reduced size; `scripts/bench_metrics.py` times the full 512x512x100 against
//! medpy and MONAI).
#[path = "support/synthetic_pair.rs"]
mod synthetic_pair;

use criterion::{criterion_group, criterion_main, Criterion};
use danie_metrics::edt::distance_transform;
use danie_metrics::{evaluate_case, surface_distances, Convention};
use synthetic_pair::{label_map_pair, mask_pair};

const SHAPE: [usize; 3] = [256, 256, 50];
const SPACING: [f64; 3] = [0.8, 0.8, 2.5];

fn benches(c: &mut Criterion) {
    let mut g = c.benchmark_group("metrics_256x256x50");
    g.sample_size(10);
    let (p, gt) = mask_pair(SHAPE, 1);
    g.bench_function("edt_full_volume", |b| {
        b.iter(|| distance_transform(gt.view().into_dyn(), &SPACING))
    });
    g.bench_function("two_mask_surface_distances", |b| {
        b.iter(|| surface_distances(p.view().into_dyn(), gt.view().into_dyn(), &SPACING).unwrap())
    });
    let (lp, lg) = label_map_pair(SHAPE, 8, 2);
    let labels: Vec<u32> = (1..=8).collect();
    for conv in [Convention::Medpy, Convention::Monai] {
        g.bench_function(format!("nine_class_case_{conv}"), |b| {
            b.iter(|| {
                evaluate_case(
                    lp.view().into_dyn(),
                    lg.view().into_dyn(),
                    &labels,
                    &SPACING,
                    conv,
                )
                .unwrap()
            })
        });
    }
    g.finish();
}

criterion_group!(surface, benches);
criterion_main!(surface);
