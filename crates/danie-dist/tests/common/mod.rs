//! Running a test of this binary as the ranks of a run: each test re-runs its own test binary
//! as N processes (DANIE_DIST_CHILD set, the launcher's variables as torchrun sets them), every
//! wait bounded.
#![allow(dead_code)]
use std::net::TcpListener;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use danie_dist::{DistEnv, ProcessGroup};

/// The collective timeout of the child ranks (DANIE_TEST_TIMEOUT_S overrides it, in seconds).
pub const TIMEOUT: Duration = Duration::from_secs(10);

/// A port free on 127.0.0.1 now.
pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("a free local port")
        .port()
}

/// Starts this test binary as rank `rank` of `world` running `test` in its child role.
pub fn spawn_rank(test: &str, rank: usize, world: usize, port: u16) -> Child {
    spawn_with(test, rank, world, port, &[])
}

/// [`spawn_rank`] with further variables (or the standard ones overridden).
pub fn spawn_with(
    test: &str,
    rank: usize,
    world: usize,
    port: u16,
    vars: &[(&str, &str)],
) -> Child {
    let mut cmd = Command::new(std::env::current_exe().expect("test binary"));
    cmd.args(["--exact", test, "--nocapture", "--test-threads=1"])
        .env("DANIE_DIST_CHILD", "1")
        .env("RANK", rank.to_string())
        .env("WORLD_SIZE", world.to_string())
        .env("LOCAL_RANK", rank.to_string())
        .env("LOCAL_WORLD_SIZE", world.to_string())
        .env("MASTER_ADDR", "127.0.0.1")
        .env("MASTER_PORT", port.to_string());
    for (k, v) in vars {
        cmd.env(k, v);
    }
    cmd.stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawning a rank")
}

/// Waits for a child at most `limit`; kills it and fails the test past that (a hang). Returns
/// whether it succeeded and its stdout + stderr.
pub fn finish(mut child: Child, limit: Duration, what: &str) -> (bool, String) {
    let start = Instant::now();
    loop {
        if let Some(status) = child.try_wait().expect("waiting for a rank") {
            let out = child.wait_with_output().expect("rank output");
            let text = format!(
                "{}{}",
                String::from_utf8_lossy(&out.stdout),
                String::from_utf8_lossy(&out.stderr)
            );
            return (status.success(), text);
        }
        if start.elapsed() > limit {
            let _ = child.kill();
            let out = child.wait_with_output().expect("rank output");
            panic!(
                "{what} still running after {limit:?} (a hang):\n{}",
                String::from_utf8_lossy(&out.stderr)
            );
        }
        std::thread::sleep(Duration::from_millis(50));
    }
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
