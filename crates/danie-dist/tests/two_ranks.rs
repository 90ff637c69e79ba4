//! Two real processes on 127.0.0.1 joined through libtorch's TCPStore and ProcessGroupGloo: the
//! collectives give the values a hand computation gives; a rank that dies, stops on its own error
//! or stalls makes the other's collective fail within the timeout (never a hang) with a message
//! naming it; and a master nobody serves is an error naming the address. Each test re-runs this
//! test binary as its ranks (DANIE_DIST_CHILD; helpers in common/).
mod common;

use danie_testkit::ranks::Running;
use std::time::{Duration, Instant};

use common::{child_group, finish, free_port, spawn_rank, spawn_with, TIMEOUT};
use danie_dist::{DistEnv, ProcessGroup};
use tch::{Kind, Tensor};

/// Runs `test` as ranks 0 and 1; `dies` is the rank meant to fail. Returns the survivor's
/// output after checking that it stopped cleanly, having seen the error.
fn run_pair(test: &str, dies: usize, vars: &[(&str, &str)]) -> String {
    let port = free_port();
    let ranks: Vec<_> = (0..2).map(|r| spawn_with(test, r, 2, port, vars)).collect();
    let mut outs = Vec::new();
    for (r, child) in ranks.into_iter().enumerate() {
        outs.push(finish(child, Duration::from_secs(60), &format!("rank {r}")));
    }
    assert!(
        !outs[dies].0,
        "rank {dies} was meant to fail:\n{}",
        outs[dies].1
    );
    let (ok, out) = outs.swap_remove(1 - dies);
    assert!(
        ok,
        "the surviving rank should have seen an error and stopped cleanly:\n{out}"
    );
    out
}

#[test]
fn collectives_across_two_processes() {
    if let Some(pg) = child_group() {
        let r = pg.rank() as f64;
        // Sum: (1 + 2, 10 + 20) in float32 and float64, two tensors in one call.
        let mut ts = vec![
            Tensor::from_slice(&[r + 1.0, 10.0 * (r + 1.0)]).to_kind(Kind::Float),
            Tensor::from_slice(&[r * 0.5]),
        ];
        pg.all_reduce_sum(&mut ts).expect("all-reduce");
        assert_eq!(Vec::<f32>::try_from(&ts[0]).unwrap(), vec![3.0, 30.0]);
        assert_eq!(Vec::<f64>::try_from(&ts[1]).unwrap(), vec![0.5]);
        // Broadcast from rank 1.
        let mut b = vec![if pg.rank() == 1 {
            Tensor::from_slice(&[7i64, 8])
        } else {
            Tensor::zeros([2], (Kind::Int64, tch::Device::Cpu))
        }];
        pg.broadcast(&mut b, 1).expect("broadcast");
        assert_eq!(Vec::<i64>::try_from(&b[0]).unwrap(), vec![7, 8]);
        // All-gather in rank order.
        let g = pg
            .all_gather(&Tensor::from_slice(&[r, r + 100.0]))
            .expect("all-gather");
        let got: Vec<Vec<f64>> = g.iter().map(|t| Vec::<f64>::try_from(t).unwrap()).collect();
        assert_eq!(got, vec![vec![0.0, 100.0], vec![1.0, 101.0]]);
        // Bucketed mean: both ranks' tensors are known here (seeded by rank).
        let data = |rank: i64| {
            tch::manual_seed(100 + rank);
            Tensor::randn([1000], (Kind::Float, tch::Device::Cpu))
        };
        let want = (data(0) + data(1)) / 2.0;
        let mut flat = data(pg.rank() as i64);
        pg.all_reduce_mean(std::slice::from_mut(&mut flat), 128)
            .expect("bucketed mean");
        assert!(
            flat.allclose(&want, 1e-6, 1e-6, false),
            "bucketed mean differs"
        );
        // Bytes of different lengths.
        let mine = vec![pg.rank() as u8 + 1; 3 + 5 * pg.rank()];
        let all = pg.all_gather_bytes(&mine).expect("all-gather bytes");
        assert_eq!(all, vec![vec![1u8; 3], vec![2u8; 8]]);
        pg.barrier().expect("barrier");
        println!("rank {} done", pg.rank());
        return;
    }
    let port = free_port();
    let ranks: Vec<Running> = (0..2)
        .map(|r| spawn_rank("collectives_across_two_processes", r, 2, port))
        .collect();
    for (r, child) in ranks.into_iter().enumerate() {
        let (ok, out) = finish(child, Duration::from_secs(60), &format!("rank {r}"));
        assert!(
            ok && out.contains(&format!("rank {r} done")),
            "rank {r} failed:\n{out}"
        );
    }
}

/// The error a surviving rank's all-reduce gives, printed for the parent to read.
fn all_reduce_error(pg: &ProcessGroup) -> (String, Duration) {
    let start = Instant::now();
    let mut ts = vec![Tensor::ones([4], (Kind::Float, tch::Device::Cpu))];
    let err = pg
        .all_reduce_sum(&mut ts)
        .expect_err("a collective with a lost rank")
        .to_string();
    println!("error after {:.1} s: {err}", start.elapsed().as_secs_f64());
    (err, start.elapsed())
}

#[test]
fn a_lost_rank_is_named_in_the_others_error_within_the_timeout() {
    if let Some(pg) = child_group() {
        if pg.rank() == 1 {
            // Dies between collectives, as a killed process does.
            std::process::exit(3);
        }
        let (err, took) = all_reduce_error(&pg);
        // Gloo sees the closed connection at once; the heartbeat check adds a few seconds.
        assert!(took < TIMEOUT + Duration::from_secs(5), "{took:?}");
        assert!(
            err.starts_with("all-reduce failed on rank 0: rank 1 is gone (no heartbeat for "),
            "{err}"
        );
        return;
    }
    let out = run_pair(
        "a_lost_rank_is_named_in_the_others_error_within_the_timeout",
        1,
        &[],
    );
    assert!(
        out.contains("all-reduce failed on rank 0: rank 1 is gone"),
        "{out}"
    );
}

#[test]
fn a_rank_that_stops_on_its_own_error_is_quoted() {
    if let Some(pg) = child_group() {
        if pg.rank() == 1 {
            pg.mark_failed("cannot read data/case0007.h5: permission denied");
            std::process::exit(1);
        }
        let (err, _) = all_reduce_error(&pg);
        assert!(
            err.starts_with(
                "all-reduce failed on rank 0: rank 1 stopped: cannot read data/case0007.h5: \
                 permission denied; c10d said: "
            ),
            "{err}"
        );
        return;
    }
    run_pair("a_rank_that_stops_on_its_own_error_is_quoted", 1, &[]);
}

#[test]
fn a_lost_rank_0_is_named_as_the_store_it_served() {
    if let Some(pg) = child_group() {
        if pg.rank() == 0 {
            std::process::exit(3);
        }
        let (err, took) = all_reduce_error(&pg);
        assert!(took < TIMEOUT + Duration::from_secs(5), "{took:?}");
        let port = std::env::var("MASTER_PORT").unwrap();
        assert!(
            err.starts_with(&format!(
                "all-reduce failed on rank 1: rank 0 (which serves the store at \
                 127.0.0.1:{port}) is gone"
            )),
            "{err}"
        );
        return;
    }
    run_pair("a_lost_rank_0_is_named_as_the_store_it_served", 0, &[]);
}

#[test]
fn a_stalled_rank_times_the_collective_out_saying_every_rank_is_alive() {
    if let Some(pg) = child_group() {
        if pg.rank() == 1 {
            // Alive (its heartbeat goes on) but never reaches the collective.
            std::thread::sleep(Duration::from_secs(12));
            std::process::exit(1);
        }
        let (err, took) = all_reduce_error(&pg);
        assert!(
            took >= Duration::from_secs(3) && took < Duration::from_secs(10),
            "{took:?}"
        );
        assert!(
            err.starts_with("all-reduce failed on rank 0: every rank is alive"),
            "{err}"
        );
        return;
    }
    run_pair(
        "a_stalled_rank_times_the_collective_out_saying_every_rank_is_alive",
        1,
        &[("DANIE_TEST_TIMEOUT_S", "3")],
    );
}

#[test]
fn a_master_nobody_serves_is_an_error_naming_it() {
    let env = DistEnv {
        rank: 1,
        world_size: 2,
        local_rank: 1,
        local_world_size: 2,
        master_addr: "127.0.0.1".into(),
        master_port: free_port(),
    };
    let start = Instant::now();
    let err = match ProcessGroup::new_gloo(&env, Duration::from_secs(2)) {
        Ok(_) => panic!("joined a group nobody serves"),
        Err(e) => e.to_string(),
    };
    assert!(
        start.elapsed() < Duration::from_secs(30),
        "took {:?}",
        start.elapsed()
    );
    assert!(
        err.starts_with(&format!(
            "cannot join the process group at 127.0.0.1:{} as rank 1 of 2: ",
            env.master_port
        )),
        "{err}"
    );
}
