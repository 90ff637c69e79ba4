//! `danie train --nproc-per-node N` as a user runs it: ranks that fail make the launch fail
//! naming them (rank 0's output as is, the others' prefixed `[rank r] `), a rank that waits for
//! a failed one ends within the timeout, and a launch under another launcher is refused. Every
//! run here is bounded: a hang fails the test instead of stalling it.
use std::io::Read;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// `danie args` with `envs`, killed (and the test failed) past `limit`: (exit code, stdout,
/// stderr, time taken).
fn danie(
    args: &[&str],
    envs: &[(&str, &str)],
    limit: Duration,
) -> (Option<i32>, String, String, Duration) {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_danie"));
    cmd.args(args)
        .env_remove("WORLD_SIZE")
        .env_remove("RANK")
        .env_remove("MASTER_PORT")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    for (k, v) in envs {
        cmd.env(k, v);
    }
    let start = Instant::now();
    let mut child = cmd.spawn().expect("starting danie");
    let mut out = child.stdout.take().unwrap();
    let mut err = child.stderr.take().unwrap();
    let t_out = std::thread::spawn(move || {
        let mut s = String::new();
        let _ = out.read_to_string(&mut s);
        s
    });
    let t_err = std::thread::spawn(move || {
        let mut s = String::new();
        let _ = err.read_to_string(&mut s);
        s
    });
    let status = loop {
        if let Some(s) = child.try_wait().unwrap() {
            break s;
        }
        if start.elapsed() > limit {
            let _ = child.kill();
            let _ = child.wait();
            panic!(
                "danie {args:?} still running after {limit:?} (a hang); stderr:\n{}",
                t_err.join().unwrap()
            );
        }
        std::thread::sleep(Duration::from_millis(50));
    };
    let took = start.elapsed();
    (
        status.code(),
        t_out.join().unwrap(),
        t_err.join().unwrap(),
        took,
    )
}

#[test]
fn ranks_that_fail_make_the_launch_fail_naming_them() {
    let missing = std::env::temp_dir().join("danie-launch-test-no-such-config.toml");
    let missing = missing.to_str().unwrap();
    let (code, _, stderr, _) = danie(
        &["train", "--config", missing, "--nproc-per-node", "2"],
        &[],
        Duration::from_secs(120),
    );
    assert_eq!(code, Some(1), "{stderr}");
    // Each rank's own error: rank 0's as is, rank 1's prefixed.
    assert!(
        stderr
            .lines()
            .any(|l| l.starts_with("error: ") && l.contains(missing)),
        "{stderr}"
    );
    assert!(
        stderr
            .lines()
            .any(|l| l.starts_with("[rank 1] error: ") && l.contains(missing)),
        "{stderr}"
    );
    // The launcher's: both ranks with their status.
    let last = stderr.lines().last().unwrap_or_default();
    assert!(
        last.starts_with("error: rank ")
            && last.contains("rank 0 (exit status 1)")
            && last.contains("rank 1 (exit status 1)")
            && last.ends_with(" failed"),
        "{stderr}"
    );
}

#[test]
fn a_rank_waiting_for_a_failed_one_ends_within_the_timeout_naming_it() {
    // Rank 1 joins the group and stops on its own error; rank 0 waits for it at a barrier.
    let (code, _, stderr, took) = danie(
        &["train", "--config", "unused.toml", "--nproc-per-node", "2"],
        &[("DANIE_TEST_FAIL_RANK", "1"), ("DANIE_DIST_TIMEOUT_S", "5")],
        Duration::from_secs(120),
    );
    assert_eq!(code, Some(1), "{stderr}");
    assert!(took < Duration::from_secs(60), "took {took:?}\n{stderr}");
    assert!(
        stderr.contains("[rank 1] error: DANIE_TEST_FAIL_RANK=1 (a test's failing rank)"),
        "{stderr}"
    );
    // Rank 0 names rank 1 and quotes its reason.
    assert!(
        stderr.lines().any(|l| l.starts_with(
            "error: barrier failed on rank 0: rank 1 stopped: DANIE_TEST_FAIL_RANK=1"
        )),
        "{stderr}"
    );
    // Both ranks with their status; rank 1 first unless both ended within one poll.
    let last = stderr.lines().last().unwrap_or_default();
    assert!(
        [
            "error: rank 1 (exit status 1), then rank 0 (exit status 1) failed",
            "error: rank 0 (exit status 1) and rank 1 (exit status 1) failed",
        ]
        .contains(&last),
        "{stderr}"
    );
}

#[test]
fn nproc_per_node_under_a_launcher_is_an_error() {
    let (code, stdout, stderr, _) = danie(
        &["train", "--config", "c.toml", "--nproc-per-node", "2"],
        &[("WORLD_SIZE", "2")],
        Duration::from_secs(60),
    );
    assert_eq!(code, Some(1), "{stderr}");
    assert!(stdout.is_empty(), "{stdout}");
    assert!(
        stderr.contains(
            "--nproc-per-node: this process already runs under a launcher (WORLD_SIZE=2 is set"
        ),
        "{stderr}"
    );
}
