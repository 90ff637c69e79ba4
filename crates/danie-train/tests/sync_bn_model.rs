//! `[train] sync_bn` on the whole network: two real processes, each with half of one batch and
//! danie-train's SyncBatchNorm adapter installed, give the logits, the updated running
//! statistics and (summed over the ranks, as the data-parallel average does up to its 1/W) the
//! gradients of one process running the tiny DANIE on the whole batch. In float64, so that the
//! comparison is tight: 1e-10 for the logits and statistics; 1e-6 for the gradients, since the
//! position embedding's resampling runs in float32 (every other gradient agrees to ~1e-14).
#[path = "../../danie-dist/tests/common/mod.rs"]
mod common;

use danie_testkit::ranks::Running;
use std::sync::Arc;
use std::time::Duration;

use common::{child_group, finish, free_port, spawn_rank};
use danie_model::batch_norm::install_cross_rank;
use danie_model::{Danie, DanieConfig};
use danie_train::sync_bn::SyncBatchNorm;
use tch::nn::{ModuleT, VarStore};
use tch::{Device, Kind, Tensor};

/// ||a - b|| / ||b||.
fn rel_err(a: &Tensor, b: &Tensor) -> f64 {
    let a = a.to_kind(Kind::Double);
    let b = b.to_kind(Kind::Double);
    (&a - &b).norm().double_value(&[]) / b.norm().double_value(&[]).max(1e-30)
}

/// The tiny DANIE with seeded weights (the same on every rank and for the reference).
fn model() -> (VarStore, Danie) {
    tch::manual_seed(11);
    let mut vs = VarStore::new(Device::Cpu);
    let m = Danie::new(vs.root(), &DanieConfig::preset("tiny").unwrap());
    vs.double();
    (vs, m)
}

#[test]
fn two_ranks_with_sync_bn_equal_one_process_on_the_whole_batch() {
    const NAME: &str = "two_ranks_with_sync_bn_equal_one_process_on_the_whole_batch";
    if let Some(pg) = child_group() {
        let rank = pg.rank() as i64;
        tch::manual_seed(12);
        let x = Tensor::randn([4, 3, 64, 64], (Kind::Double, Device::Cpu));
        let r = Tensor::randn([4, 9, 64, 64], (Kind::Double, Device::Cpu));

        // One process, the whole batch, tch's BatchNorm.
        let (vs_all, m_all) = model();
        let y_all = m_all.forward_t(&x, true);
        (&y_all * &r).sum(Kind::Float).backward();

        // This rank's half through the adapter.
        let pg = Arc::new(pg);
        let norm = Arc::new(SyncBatchNorm::new(pg.clone()));
        install_cross_rank(Some(norm.clone()));
        let (vs, m) = model();
        let y = m.forward_t(&x.narrow(0, 2 * rank, 2), true);
        assert_eq!(norm.take_error(), None);
        (&y * r.narrow(0, 2 * rank, 2))
            .sum(Kind::Float)
            .f_backward()
            .expect("backward");
        install_cross_rank(None);

        let e = rel_err(&y, &y_all.narrow(0, 2 * rank, 2));
        assert!(e < 1e-10, "logits differ: {e:e}");
        let all = vs_all.variables();
        let mut checked = 0;
        // In name order: every rank must all-reduce the same gradients in the same order.
        let mut mine: Vec<(String, Tensor)> = vs.variables().into_iter().collect();
        mine.sort_by(|a, b| a.0.cmp(&b.0));
        for (name, v) in mine {
            let want = &all[&name];
            if v.requires_grad() {
                let mut g = vec![v.grad()];
                pg.all_reduce_sum(&mut g).expect("summing a gradient");
                let e = rel_err(&g[0], &want.grad());
                assert!(e < 1e-6, "gradient of {name} differs: {e:e}");
            } else {
                let e = rel_err(&v, want);
                assert!(e < 1e-10, "{name} differs: {e:e}");
            }
            checked += 1;
        }
        println!("rank {rank} done ({checked} variables)");
        return;
    }
    let port = free_port();
    let ranks: Vec<Running> = (0..2).map(|r| spawn_rank(NAME, r, 2, port)).collect();
    for (r, child) in ranks.into_iter().enumerate() {
        let (ok, out) = finish(child, Duration::from_secs(120), &format!("rank {r}"));
        assert!(
            ok && out.contains(&format!("rank {r} done")),
            "rank {r} failed:\n{out}"
        );
    }
}
