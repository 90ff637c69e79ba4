//! Helpers of the multi-process tests: each test re-runs its own binary as the ranks
//! (DANIE_DIST_CHILD) on a free local port, and waits for them with a bound.
use std::net::TcpListener;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use danie_dist::{DistEnv, ProcessGroup};

pub const TIMEOUT: Duration = Duration::from_secs(10);

pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("a free local port")
        .port()
}

/// Starts this test binary as rank `rank` of `world` running `test` in its child role.
pub fn spawn_rank(test: &str, rank: usize, world: usize, port: u16) -> Child {
    Command::new(std::env::current_exe().expect("test binary"))
        .args(["--exact", test, "--nocapture", "--test-threads=1"])
        .env("DANIE_DIST_CHILD", "1")
        .env("RANK", rank.to_string())
        .env("WORLD_SIZE", world.to_string())
        .env("LOCAL_RANK", rank.to_string())
        .env("LOCAL_WORLD_SIZE", world.to_string())
        .env("MASTER_ADDR", "127.0.0.1")
        .env("MASTER_PORT", port.to_string())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawning a rank")
}

/// Waits for a child at most `limit`; kills it and fails the test past that (a hang).
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

pub fn child_group() -> Option<ProcessGroup> {
    std::env::var_os("DANIE_DIST_CHILD")?;
    let env = DistEnv::from_env()
        .expect("launcher environment")
        .expect("WORLD_SIZE set");
    Some(ProcessGroup::new_gloo(&env, TIMEOUT).expect("joining the group"))
}
