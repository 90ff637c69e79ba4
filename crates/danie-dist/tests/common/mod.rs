//! Running a test of this binary as the ranks of a run: each test re-runs its own test binary
//! as N processes (DANIE_DIST_CHILD set, the launcher's variables as torchrun sets them), every
//! wait bounded.
#![allow(dead_code)]
use std::process::Command;
use std::time::Duration;

use danie_dist::{DistEnv, ProcessGroup};

/// The collective timeout of the child ranks (DANIE_TEST_TIMEOUT_S overrides it, in seconds).
pub const TIMEOUT: Duration = Duration::from_secs(10);

pub use danie_testkit::ranks::free_port;
use danie_testkit::ranks::{launcher_env, start, Placement, Running};

/// Starts this test binary as rank `rank` of `world` running `test` in its child role.
pub fn spawn_rank(test: &str, rank: usize, world: usize, port: u16) -> Running {
    spawn_with(test, rank, world, port, &[])
}

/// [`spawn_rank`] with further variables (or the standard ones overridden).
pub fn spawn_with(
    test: &str,
    rank: usize,
    world: usize,
    port: u16,
    vars: &[(&str, &str)],
) -> Running {
    let mut cmd = Command::new(std::env::current_exe().expect("test binary"));
    cmd.args(["--exact", test, "--nocapture", "--test-threads=1"])
        .env("DANIE_DIST_CHILD", "1");
    launcher_env(&mut cmd, rank, world, port, Placement::OneNode);
    cmd.envs(vars.iter().copied());
    start(&mut cmd)
}

/// Waits for a rank at most `limit` (a hang fails the test); whether it succeeded, and its
/// stdout + stderr.
pub fn finish(rank: Running, limit: Duration, what: &str) -> (bool, String) {
    let f = rank.finish(limit, what);
    (f.success(), format!("{}{}", f.stdout, f.stderr))
}

/// This process's launcher environment when it runs as a child rank, else None (the parent).
pub fn child_env() -> Option<DistEnv> {
    std::env::var_os("DANIE_DIST_CHILD")?;
    Some(
        DistEnv::from_env()
            .expect("launcher environment")
            .expect("WORLD_SIZE set"),
    )
}

/// This child rank's Gloo group, with [`TIMEOUT`] or DANIE_TEST_TIMEOUT_S; None in the parent.
pub fn child_group() -> Option<ProcessGroup> {
    let env = child_env()?;
    let timeout = std::env::var("DANIE_TEST_TIMEOUT_S")
        .ok()
        .and_then(|s| s.parse().ok())
        .map_or(TIMEOUT, Duration::from_secs);
    Some(ProcessGroup::new_gloo(&env, timeout).expect("joining the group"))
}
