//! SyncBatchNorm across two real processes equals libtorch's own single-process `batch_norm`
//! (training) on the whole batch: outputs, input gradients, updated running statistics, and the
//! sum over ranks of the weight and bias gradients (each rank's are local, as under PyTorch's
//! SyncBatchNorm + DDP). An uneven split (3 + 1 samples) checks the count weighting. A rank lost
//! before backward makes the other's backward return an error within the timeout, never a hang
//! or an abort. Each test re-runs this test binary as its ranks (DANIE_DIST_CHILD).
mod common;

use danie_testkit::ranks::Running;
use std::time::{Duration, Instant};

use common::{child_group, finish, free_port, spawn_rank, TIMEOUT};
use danie_dist::sync_bn::sync_batch_norm;
use tch::{Device, Kind, Tensor};

const MOMENTUM: f64 = 0.1;
const EPS: f64 = 1e-5;

/// Runs `test` as two ranks and expects both to print "rank R done".
fn run_two_ranks(test: &str) {
    let port = free_port();
    let ranks: Vec<Running> = (0..2).map(|r| spawn_rank(test, r, 2, port)).collect();
    for (r, child) in ranks.into_iter().enumerate() {
        let (ok, out) = finish(child, Duration::from_secs(60), &format!("rank {r}"));
        assert!(
            ok && out.contains(&format!("rank {r} done")),
            "rank {r} failed:\n{out}"
        );
    }
}

fn max_diff(a: &Tensor, b: &Tensor) -> f64 {
    (a - b).abs().max().double_value(&[])
}

fn assert_close(what: &str, rank: usize, got: &Tensor, want: &Tensor) {
    assert_eq!(got.size(), want.size(), "{what} shape on rank {rank}");
    let d = max_diff(got, want);
    assert!(d <= 1e-5, "{what} on rank {rank} differs by {d:e}");
}

/// One seeded batch (4, 3, 8, 8), the loss weights `r`, and the layer's parameters and running
/// statistics away from their defaults; the same on every rank.
struct Case {
    x: Tensor,
    r: Tensor,
    weight: Tensor,
    bias: Tensor,
    running_mean: Tensor,
    running_var: Tensor,
}

fn case() -> Case {
    tch::manual_seed(20261201);
    let opts = (Kind::Float, Device::Cpu);
    let shift = Tensor::from_slice(&[0.5f32, -1.0, 2.0]).view([1, 3, 1, 1]);
    Case {
        x: Tensor::randn([4, 3, 8, 8], opts) * 1.5 + shift,
        r: Tensor::randn([4, 3, 8, 8], opts),
        weight: Tensor::rand([3], opts) + 0.5,
        bias: Tensor::randn([3], opts),
        running_mean: Tensor::randn([3], opts) * 0.1,
        running_var: Tensor::rand([3], opts) + 0.5,
    }
}

/// The child's side: this rank's `split[rank]` samples through SyncBatchNorm against libtorch's
/// batch_norm on all of them.
fn compare_with_single_process(split: [i64; 2]) {
    let Some(pg) = child_group() else { return };
    let rank = pg.rank();
    let c = case();
    let leaf = |t: &Tensor| t.copy().set_requires_grad(true);

    // libtorch on the whole batch.
    let (x_all, w_all, b_all) = (leaf(&c.x), leaf(&c.weight), leaf(&c.bias));
    let (rm_all, rv_all) = (c.running_mean.copy(), c.running_var.copy());
    let y_all = Tensor::batch_norm(
        &x_all,
        Some(&w_all),
        Some(&b_all),
        Some(&rm_all),
        Some(&rv_all),
        true,
        MOMENTUM,
        EPS,
        false,
    );
    (&y_all * &c.r).sum(Kind::Float).backward();

    // This rank's share.
    let start = if rank == 0 { 0 } else { split[0] };
    let len = split[rank];
    let (x, w, b) = (
        leaf(&c.x.narrow(0, start, len)),
        leaf(&c.weight),
        leaf(&c.bias),
    );
    let (rm, rv) = (c.running_mean.copy(), c.running_var.copy());
    let y = sync_batch_norm(&pg, &x, &w, &b, &rm, &rv, MOMENTUM, EPS).expect("sync batch norm");
    (&y * c.r.narrow(0, start, len))
        .sum(Kind::Float)
        .f_backward()
        .expect("backward");

    assert_close("output", rank, &y, &y_all.narrow(0, start, len));
    assert_close(
        "input gradient",
        rank,
        &x.grad(),
        &x_all.grad().narrow(0, start, len),
    );
    assert_close("running mean", rank, &rm, &rm_all);
    assert_close("running var", rank, &rv, &rv_all);
    let mut affine = vec![w.grad(), b.grad()];
    pg.all_reduce_sum(&mut affine)
        .expect("summing the affine gradients");
    assert_close(
        "weight gradient (sum over ranks)",
        rank,
        &affine[0],
        &w_all.grad(),
    );
    assert_close(
        "bias gradient (sum over ranks)",
        rank,
        &affine[1],
        &b_all.grad(),
    );

    // bfloat16 input (autocast): output and input gradient in bfloat16, float affine gradients,
    // near the float32 results (bfloat16 keeps 8 bits of mantissa).
    let x16 = leaf(&c.x.narrow(0, start, len).to_kind(Kind::BFloat16));
    let (w16, b16) = (leaf(&c.weight), leaf(&c.bias));
    let (rm16, rv16) = (c.running_mean.copy(), c.running_var.copy());
    let y16 = sync_batch_norm(&pg, &x16, &w16, &b16, &rm16, &rv16, MOMENTUM, EPS)
        .expect("sync batch norm in bfloat16");
    (&y16.to_kind(Kind::Float) * c.r.narrow(0, start, len))
        .sum(Kind::Float)
        .f_backward()
        .expect("backward in bfloat16");
    assert_eq!(
        (y16.kind(), x16.grad().kind()),
        (Kind::BFloat16, Kind::BFloat16)
    );
    assert_eq!(
        (w16.grad().kind(), b16.grad().kind()),
        (Kind::Float, Kind::Float)
    );
    let d = max_diff(&y16.to_kind(Kind::Float), &y);
    assert!(d < 0.05, "bfloat16 output on rank {rank} differs by {d}");
    let d = max_diff(&x16.grad().to_kind(Kind::Float), &x.grad());
    assert!(
        d < 0.05,
        "bfloat16 input gradient on rank {rank} differs by {d}"
    );
    println!("rank {rank} done");
}

#[test]
fn two_ranks_equal_one_process_batch_norm() {
    if std::env::var_os("DANIE_DIST_CHILD").is_some() {
        return compare_with_single_process([2, 2]);
    }
    run_two_ranks("two_ranks_equal_one_process_batch_norm");
}

#[test]
fn an_uneven_split_weights_each_rank_by_its_count() {
    if std::env::var_os("DANIE_DIST_CHILD").is_some() {
        return compare_with_single_process([3, 1]);
    }
    run_two_ranks("an_uneven_split_weights_each_rank_by_its_count");
}

#[test]
fn a_rank_lost_before_backward_fails_the_others_backward_within_the_timeout() {
    const NAME: &str = "a_rank_lost_before_backward_fails_the_others_backward_within_the_timeout";
    if let Some(pg) = child_group() {
        let c = case();
        let x =
            c.x.narrow(0, 2 * pg.rank() as i64, 2)
                .copy()
                .set_requires_grad(true);
        let w = c.weight.copy().set_requires_grad(true);
        let y = sync_batch_norm(
            &pg,
            &x,
            &w,
            &c.bias,
            &c.running_mean,
            &c.running_var,
            0.1,
            EPS,
        )
        .expect("forward while both ranks live");
        if pg.rank() == 1 {
            // Dies before backward, as a killed process does.
            std::process::exit(3);
        }
        let start = Instant::now();
        let err = (&y * c.r.narrow(0, 0, 2))
            .sum(Kind::Float)
            .f_backward()
            .expect_err("backward with a dead rank");
        println!("error after {:.1} s: {err}", start.elapsed().as_secs_f64());
        assert!(start.elapsed() < TIMEOUT + Duration::from_secs(5));
        assert!(
            err.to_string().contains(
                "sync batch norm backward: the all-reduce of the gradient sums failed on rank 0: "
            ),
            "{err}"
        );
        println!("rank 0 done");
        return;
    }
    let port = free_port();
    let r0 = spawn_rank(NAME, 0, 2, port);
    let r1 = spawn_rank(NAME, 1, 2, port);
    let (ok1, _) = finish(r1, Duration::from_secs(60), "rank 1");
    assert!(!ok1, "rank 1 was meant to die");
    let (ok0, out0) = finish(r0, Duration::from_secs(60), "rank 0");
    assert!(
        ok0 && out0.contains("rank 0 done"),
        "rank 0 should have seen an error and stopped cleanly:\n{out0}"
    );
}
