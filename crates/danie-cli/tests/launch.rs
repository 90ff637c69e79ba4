//! `danie train --nproc-per-node N` as a user runs it: ranks that fail make the launch fail
//! naming them (rank 0's output as is, the others' prefixed `[rank r] `), a rank that waits for
//! a failed one ends within the timeout, a launch under another launcher is refused, and a
//! launched 2-rank training with `sync_bn` ends on the weights one process reaches on the same
//! global batches. Every run here is bounded: a hang fails the test instead of stalling it.
mod support;

use std::io::Read;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use danie_testkit::ranks::{free_port, launcher_env, start, Placement, Running};

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
        .envs(envs.iter().copied());
    let f = start(&mut cmd).finish(limit, &format!("danie {args:?}"));
    (f.code, f.stdout, f.stderr, f.took)
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
    // Both ranks with their status, in the order they ended (rank 1 may take longer to exit
    // than rank 0 takes to see it gone).
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

#[test]
fn more_local_processes_than_any_machine_has_are_refused_before_any_starts() {
    // A typo's 10^19 (usize's largest) and one past the cap: an error at once, not a fork storm
    // or an allocation that aborts.
    for n in ["18446744073709551615", "1025"] {
        let (code, stdout, stderr, took) = danie(
            &["train", "--config", "c.toml", "--nproc-per-node", n],
            &[],
            Duration::from_secs(60),
        );
        assert_eq!(code, Some(1), "{n}: {stderr}");
        assert!(stdout.is_empty(), "{n}: {stdout}");
        assert!(
            stderr.contains(&format!(
                "--nproc-per-node {n}: at most 1024 processes on one machine"
            )),
            "{n}: {stderr}"
        );
        assert!(!stderr.contains("[rank"), "{n}: a rank started: {stderr}");
        assert!(took < Duration::from_secs(30), "{n}: took {took:?}");
    }
}

/// A tiny-preset run on [`support::synthetic_synapse`] data, batch 4, 5 SGD steps.
fn tiny_run(dir: &Path, name: &str, root: &Path) -> String {
    let path = dir.join(format!("{name}.toml"));
    let text = format!(
        "[data]\ndataset = \"synapse\"\nroot = \"{}\"\nimage_size = 32\nbatch_size = 4\n\
         num_workers = 1\naugment = false\n\n[model]\npreset = \"tiny\"\n\n[train]\n\
         device = \"cpu\"\nthreads = 1\nlr = 0.05\nmomentum = 0.9\niterations = 5\n\
         log_every = 1\nval_every = 0\n\n[output]\nrun_dir = \"{}\"\n",
        root.display(),
        dir.join(format!("run_{name}")).display()
    );
    std::fs::write(&path, text).unwrap();
    path.to_str().unwrap().to_string()
}

/// The final weights of a run, by name.
fn weights(run: &Path) -> Vec<(String, tch::Tensor)> {
    danie_model::weights::read_safetensors(&run.join("model.safetensors"))
        .expect("the run's weights")
        .0
}

/// `danie --nproc-per-node 2` trains as the same two ranks started with torchrun's variables
/// by hand (what `torchrun --no-python --nproc-per-node 2` sets): the same weights, exactly,
/// rank 0 reporting for the run. (That 2 ranks equal 1 process or PyTorch's DDP is
/// train_distributed.rs's.)
#[test]
fn a_launched_training_equals_the_same_ranks_started_as_torchrun_starts_them() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let root = support::synthetic_synapse(d);
    let timeout = ("DANIE_DIST_TIMEOUT_S", "30");
    let by_hand = tiny_run(d, "by_hand", &root);
    let port = free_port();
    let ranks: Vec<Running> = (0..2)
        .map(|rank| {
            let mut cmd = Command::new(env!("CARGO_BIN_EXE_danie"));
            cmd.args(["train", "-c", &by_hand])
                .env(timeout.0, timeout.1);
            launcher_env(&mut cmd, rank, 2, port, Placement::OneNode);
            start(&mut cmd)
        })
        .collect();
    for (rank, r) in ranks.into_iter().enumerate() {
        let f = r.finish(Duration::from_secs(300), &format!("rank {rank}"));
        assert_eq!(f.code, Some(0), "{}", f.stderr);
    }
    let launched = tiny_run(d, "launched", &root);
    let (code, stdout, stderr, _) = danie(
        &["train", "-c", &launched, "--nproc-per-node", "2"],
        &[timeout],
        Duration::from_secs(300),
    );
    assert_eq!(code, Some(0), "{stderr}");
    // Rank 0 reports for the run, unprefixed; rank 1 adds no report of its own.
    assert!(
        stdout.lines().any(|l| l.starts_with("trained ")),
        "{stdout}"
    );
    assert!(!stdout.contains("[rank 1] trained"), "{stdout}");
    let (a, b) = (
        weights(&d.join("run_by_hand")),
        weights(&d.join("run_launched")),
    );
    assert_eq!(a.len(), b.len());
    for ((n, x), (m, y)) in a.iter().zip(&b) {
        assert_eq!(n, m);
        assert!(
            x.equal(y),
            "{n} differs between the launched and the by-hand run"
        );
    }
}

/// The pids of `pid`'s children (Linux's /proc).
fn children_of(pid: u32) -> Vec<u32> {
    let mut out = Vec::new();
    for task in std::fs::read_dir(format!("/proc/{pid}/task"))
        .into_iter()
        .flatten()
        .flatten()
    {
        if let Ok(text) = std::fs::read_to_string(task.path().join("children")) {
            out.extend(
                text.split_whitespace()
                    .filter_map(|p| p.parse::<u32>().ok()),
            );
        }
    }
    out
}

#[test]
fn a_signal_to_the_launcher_is_passed_on_and_no_rank_is_left_running() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let root = support::synthetic_synapse(d);
    let cfg = tiny_run(d, "long", &root);
    let mut launcher = Command::new(env!("CARGO_BIN_EXE_danie"))
        .args(["train", "-c", &cfg, "--nproc-per-node", "2"])
        .args(["--set", "train.iterations=100000"])
        .env_remove("WORLD_SIZE")
        .env("DANIE_DIST_TIMEOUT_S", "30")
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    // Training under way: rank 0 has logged an iteration.
    let log = d.join("run_long/log.csv");
    let start = Instant::now();
    while std::fs::read_to_string(&log).map_or(true, |t| !t.contains("\niter,")) {
        assert!(
            start.elapsed() < Duration::from_secs(120),
            "no training after 120 s"
        );
        assert!(
            launcher.try_wait().unwrap().is_none(),
            "the launch ended early"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    let ranks = children_of(launcher.id());
    assert_eq!(ranks.len(), 2, "{ranks:?}");
    // SAFETY: our own child, running.
    unsafe { libc::kill(launcher.id() as i32, libc::SIGTERM) };
    let signalled = Instant::now();
    let status = loop {
        if let Some(s) = launcher.try_wait().unwrap() {
            break s;
        }
        if signalled.elapsed() > Duration::from_secs(30) {
            let _ = launcher.kill();
            panic!("the launcher still runs 30 s after SIGTERM");
        }
        std::thread::sleep(Duration::from_millis(50));
    };
    let mut stderr = String::new();
    launcher
        .stderr
        .take()
        .unwrap()
        .read_to_string(&mut stderr)
        .unwrap();
    assert_eq!(status.code(), Some(1), "{stderr}");
    assert!(
        stderr.contains("error: stopped by signal 15: passed on to rank 0, rank 1"),
        "{stderr}"
    );
    for pid in ranks {
        let state = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
        assert!(state.is_empty(), "rank process {pid} still exists: {state}");
    }
}
