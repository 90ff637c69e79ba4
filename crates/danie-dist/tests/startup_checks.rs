//! Start-up mistakes are found through the store before the process group is created, each
//! named with the variable and the values, none waiting past the timeout: MASTER_PORT already
//! in use on the master, two processes with the same RANK, processes disagreeing on WORLD_SIZE,
//! and a rank that never comes.
mod common;

use std::net::TcpListener;
use std::time::{Duration, Instant};

use common::{child_env, finish, free_port, spawn_with};
use danie_dist::{DistEnv, ProcessGroup};

const TIMEOUT: Duration = Duration::from_secs(10);

fn env(rank: usize, world: usize, port: u16) -> DistEnv {
    DistEnv {
        rank,
        world_size: world,
        local_rank: rank,
        local_world_size: world,
        master_addr: "127.0.0.1".into(),
        master_port: port,
    }
}

/// The join error of a child rank, printed for the parent; nothing in the parent.
fn child_join_error() -> bool {
    let Some(env) = child_env() else {
        return false;
    };
    match ProcessGroup::new_gloo(&env, TIMEOUT) {
        Ok(_) => println!("rank {} joined", env.rank),
        Err(e) => println!("join error: {e}"),
    }
    true
}

/// Runs `test` as the given (RANK, WORLD_SIZE) processes on one port; their outputs.
fn run(test: &str, ranks: &[(usize, usize)]) -> Vec<String> {
    let port = free_port();
    let children: Vec<_> = ranks
        .iter()
        .map(|&(r, w)| spawn_with(test, r, w, port, &[]))
        .collect();
    let start = Instant::now();
    let outs = children
        .into_iter()
        .enumerate()
        .map(|(i, c)| finish(c, Duration::from_secs(60), &format!("process {i}")).1)
        .collect();
    assert!(
        start.elapsed() < TIMEOUT + Duration::from_secs(10),
        "took {:?}",
        start.elapsed()
    );
    outs
}

#[test]
fn a_master_port_in_use_says_so() {
    let busy = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = busy.local_addr().unwrap().port();
    let start = Instant::now();
    let err = match ProcessGroup::new_gloo(&env(0, 2, port), TIMEOUT) {
        Ok(_) => panic!("served a store on a port in use"),
        Err(e) => e.to_string(),
    };
    assert!(start.elapsed() < TIMEOUT, "took {:?}", start.elapsed());
    assert_eq!(
        err,
        format!(
            "cannot join the process group at 127.0.0.1:{port} as rank 0 of 2: port {port} on \
             127.0.0.1 is in use: choose another MASTER_PORT"
        )
    );
}

#[test]
fn two_processes_with_one_rank_are_named_by_all() {
    if child_join_error() {
        return;
    }
    // RANK=1 twice, RANK=2 never: nobody may go on, and all three say why.
    let outs = run(
        "two_processes_with_one_rank_are_named_by_all",
        &[(0, 3), (1, 3), (1, 3)],
    );
    for out in &outs {
        assert!(
            out.contains("join error: cannot join the process group at 127.0.0.1:")
                && out.contains(": RANK=1 is claimed by two processes (pid ")
                && out.contains("give each process its own RANK"),
            "{outs:#?}"
        );
    }
}

#[test]
fn processes_disagreeing_on_world_size_are_named() {
    if child_join_error() {
        return;
    }
    let outs = run(
        "processes_disagreeing_on_world_size_are_named",
        &[(0, 2), (1, 3)],
    );
    for out in &outs {
        assert!(
            out.contains(
                "the processes disagree on WORLD_SIZE: rank 0 has WORLD_SIZE=2, rank 1 (pid "
            ) && out.contains(") has WORLD_SIZE=3"),
            "{outs:#?}"
        );
    }
}

#[test]
fn a_rank_that_never_comes_is_named_after_the_timeout() {
    let port = free_port();
    let start = Instant::now();
    let err = match ProcessGroup::new_gloo(&env(0, 3, port), Duration::from_secs(2)) {
        Ok(_) => panic!("joined without ranks 1 and 2"),
        Err(e) => e.to_string(),
    };
    let took = start.elapsed();
    assert!(
        took >= Duration::from_secs(2) && took < Duration::from_secs(6),
        "{took:?}"
    );
    assert_eq!(
        err,
        format!(
            "cannot join the process group at 127.0.0.1:{port} as rank 0 of 3: rank(s) 1, 2 of \
             WORLD_SIZE=3 did not join within 2 s (are they started, with this MASTER_ADDR and \
             MASTER_PORT?)"
        )
    );
}

#[test]
fn nccl_without_a_gpu_is_a_clear_error() {
    if tch::Cuda::is_available() {
        return; // a GPU machine runs NCCL for real (scripts/gpu-bench.sh)
    }
    let port = free_port();
    let err = match ProcessGroup::new_nccl(&env(0, 1, port), TIMEOUT) {
        Ok(_) => panic!("an NCCL group without a GPU"),
        Err(e) => e.to_string(),
    };
    println!("{err}");
    if danie_dist::nccl_available() {
        // Compiled in, but no device: CUDA's own error, from the shim, not an abort.
        assert!(
            err.starts_with(&format!(
                "cannot join the process group at 127.0.0.1:{port} as rank 0 of 1: "
            )),
            "{err}"
        );
    } else {
        assert!(
            err.starts_with("this danie was built without NCCL"),
            "{err}"
        );
    }
}
