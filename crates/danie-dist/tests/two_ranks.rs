//! Two real processes on 127.0.0.1 joined through libtorch's TCPStore and ProcessGroupGloo: the
//! collectives give the values a hand computation gives, a rank that dies makes the other's
//! collective fail within the timeout (never a hang), and a master nobody serves is an error
//! naming the address. Each test re-runs this test binary as its ranks (DANIE_DIST_CHILD).
mod common;

use std::process::Child;
use std::time::{Duration, Instant};

use common::{child_group, finish, free_port, spawn_rank, TIMEOUT};
use danie_dist::{DistEnv, ProcessGroup};
use tch::{Kind, Tensor};

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
        pg.all_reduce_mean(&mut flat, 128).expect("bucketed mean");
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
    let ranks: Vec<Child> = (0..2)
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

#[test]
fn a_lost_rank_fails_the_others_collective_within_the_timeout() {
    if let Some(pg) = child_group() {
        if pg.rank() == 1 {
            // Dies between collectives, as a killed process does.
            std::process::exit(3);
        }
        let start = Instant::now();
        let mut ts = vec![Tensor::ones([4], (Kind::Float, tch::Device::Cpu))];
        let err = pg
            .all_reduce_sum(&mut ts)
            .expect_err("a collective with a dead rank");
        println!("error after {:.1} s: {err}", start.elapsed().as_secs_f64());
        assert!(start.elapsed() < TIMEOUT + Duration::from_secs(5));
        assert!(
            err.to_string().starts_with("all-reduce failed on rank 0: "),
            "{err}"
        );
        return;
    }
    let port = free_port();
    let r0 = spawn_rank(
        "a_lost_rank_fails_the_others_collective_within_the_timeout",
        0,
        2,
        port,
    );
    let r1 = spawn_rank(
        "a_lost_rank_fails_the_others_collective_within_the_timeout",
        1,
        2,
        port,
    );
    let (ok1, _) = finish(r1, Duration::from_secs(60), "rank 1");
    assert!(!ok1, "rank 1 was meant to die");
    let (ok0, out0) = finish(r0, Duration::from_secs(60), "rank 0");
    assert!(
        ok0,
        "rank 0 should have seen an error and stopped cleanly:\n{out0}"
    );
    assert!(out0.contains("all-reduce failed on rank 0"), "{out0}");
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
