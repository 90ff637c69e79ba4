//! `danie train --nproc-per-node N`: torchrun's local launcher, built in. Starts N copies of the
//! same command (this executable, the same arguments without `--nproc-per-node`) as ranks
//! 0..N of one run on this machine, with the variables torchrun sets (RANK, LOCAL_RANK,
//! WORLD_SIZE, LOCAL_WORLD_SIZE, MASTER_ADDR=127.0.0.1, MASTER_PORT: the user's, else a free
//! one). Rank 0's output goes to this process's terminal as it is (its progress bar draws
//! there); the others' lines come through this process prefixed `[rank r] `, one write a line,
//! and danie writes its error line in one write, so no line splits another.
//!
//! Faults as torchrun's agent handles them: SIGINT / SIGTERM to the launcher are passed on to
//! the ranks (none is left training alone); when a rank fails, the others get at most the
//! collective timeout to stop on their own (their failed collective names the lost rank), then
//! are stopped; the launch fails naming every failed rank and its exit status, in the order
//! they ended.
use std::ffi::OsString;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpListener;
use std::path::Path;
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::atomic::{AtomicI32, Ordering};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use anyhow::{bail, Context};
use danie_train::config::RunConfig;
use danie_train::distributed::{self, Backend, Dist, DEFAULT_TIMEOUT_S};

/// The flag, as the command line spells it.
pub const FLAG: &str = "--nproc-per-node";
/// Most local ranks one launch starts: beyond any machine's GPUs or cores, and a typo's
/// 10^12 would otherwise fork until the machine gives out.
pub const MAX_LOCAL_RANKS: usize = 1024;

/// Runs `nproc` local ranks of this command and waits for them; `timeout` bounds how long the
/// others may run on after one failed.
pub fn launch(nproc: usize, timeout: Duration) -> anyhow::Result<()> {
    if let Ok(world) = std::env::var("WORLD_SIZE") {
        bail!(
            "{FLAG}: this process already runs under a launcher (WORLD_SIZE={world} is set, as \
             torchrun and srun set it): drop {FLAG}, or unset WORLD_SIZE to let danie start \
             the processes"
        );
    }
    if nproc == 0 {
        bail!("{FLAG} 0: give the number of processes to start (1 or more)");
    }
    if nproc > MAX_LOCAL_RANKS {
        bail!(
            "{FLAG} {nproc}: at most {MAX_LOCAL_RANKS} processes on one machine (one a GPU, or \
             one a few CPU cores); for more, launch on several nodes (docs/distributed.md)"
        );
    }
    if !danie_dist::available() {
        bail!("{FLAG} {nproc}: {}", danie_dist::DistError::Unavailable);
    }
    let port = master_port()?;
    forward_signals();
    let exe = std::env::current_exe().context("finding the danie executable to start")?;
    let args = without_flag(std::env::args_os().skip(1).collect());
    let mut children = Vec::with_capacity(nproc);
    let mut relays = Vec::new();
    for rank in 0..nproc {
        let mut cmd = Command::new(&exe);
        cmd.args(&args)
            .env("RANK", rank.to_string())
            .env("LOCAL_RANK", rank.to_string())
            .env("WORLD_SIZE", nproc.to_string())
            .env("LOCAL_WORLD_SIZE", nproc.to_string())
            .env("MASTER_ADDR", "127.0.0.1")
            .env("MASTER_PORT", port.to_string());
        // Rank 0 keeps the terminal: a progress bar draws only there (indicatif draws nothing
        // into a pipe), and redraws with `\r`, which a line relay would hold back.
        if rank > 0 {
            cmd.stdout(Stdio::piped()).stderr(Stdio::piped());
        }
        let mut child = match cmd.spawn() {
            Ok(c) => c,
            Err(e) => {
                stop_all(&mut children);
                return Err(e).with_context(|| format!("starting rank {rank} ({})", exe.display()));
            }
        };
        if rank > 0 {
            let prefix = format!("[rank {rank}] ");
            if let Some(out) = child.stdout.take() {
                relays.push(relay(out, prefix.clone(), false));
            }
            if let Some(err) = child.stderr.take() {
                relays.push(relay(err, prefix, true));
            }
        }
        children.push(child);
    }
    let outcome = supervise(children, timeout);
    for r in relays {
        let _ = r.join();
    }
    outcome
}

/// How long the others may run on after a rank failed: the run's collective timeout
/// (`DANIE_DIST_TIMEOUT_S`, else the config's `train.dist_timeout_s`). A config that does not
/// load leaves the default: each rank then reports the config's error itself.
pub fn timeout_for(config: &Path, sets: &[String]) -> anyhow::Result<Duration> {
    let configured = RunConfig::load(config, sets)
        .map(|c| c.train.dist_timeout_s)
        .unwrap_or(DEFAULT_TIMEOUT_S);
    distributed::timeout(configured)
}

/// MASTER_PORT if the user set it (checked), else a port free on 127.0.0.1 now.
fn master_port() -> anyhow::Result<u16> {
    if let Ok(p) = std::env::var("MASTER_PORT") {
        return p
            .trim()
            .parse::<u16>()
            .ok()
            .filter(|p| *p > 0)
            .with_context(|| format!("MASTER_PORT: `{p}` is not a port (1-65535)"));
    }
    let listener =
        TcpListener::bind("127.0.0.1:0").context("finding a free port for MASTER_PORT")?;
    Ok(listener.local_addr()?.port())
}

/// `args` without `--nproc-per-node N` / `--nproc-per-node=N`.
fn without_flag(args: Vec<OsString>) -> Vec<OsString> {
    let mut out = Vec::with_capacity(args.len());
    let mut it = args.into_iter();
    while let Some(a) = it.next() {
        if a == FLAG {
            it.next();
        } else if a
            .to_str()
            .is_some_and(|s| s.starts_with(&format!("{FLAG}=")))
        {
        } else {
            out.push(a);
        }
    }
    out
}

/// Copies a rank's stream line by line to ours with `prefix` (stderr when `to_stderr`).
fn relay(stream: impl Read + Send + 'static, prefix: String, to_stderr: bool) -> JoinHandle<()> {
    std::thread::spawn(move || {
        let mut reader = BufReader::new(stream);
        let mut line = Vec::new();
        while matches!(reader.read_until(b'\n', &mut line), Ok(n) if n > 0) {
            let mut text = prefix.clone().into_bytes();
            text.extend_from_slice(&line);
            if !text.ends_with(b"\n") {
                text.push(b'\n');
            }
            // One write per line: lines of different ranks never interleave mid-line.
            let _ = if to_stderr {
                std::io::stderr().lock().write_all(&text)
            } else {
                std::io::stdout().lock().write_all(&text)
            };
            line.clear();
        }
    })
}

/// Waits for every rank; once one fails, the others get `timeout` to end on their own, then
/// are stopped. Ok only when every rank exited with status 0.
fn supervise(mut children: Vec<Child>, timeout: Duration) -> anyhow::Result<()> {
    let mut status: Vec<Option<ExitStatus>> = vec![None; children.len()];
    // The failed ranks, in the order seen: one group per poll (their order within one is
    // unknown).
    let mut failed: Vec<Vec<usize>> = Vec::new();
    let mut first_failure: Option<Instant> = None;
    let mut stopped: Vec<usize> = Vec::new();
    loop {
        let signal = SIGNALLED.load(Ordering::SeqCst);
        if signal != 0 {
            return Err(stop_on_signal(&mut children, &mut status, signal));
        }
        let mut now_failed = Vec::new();
        for (rank, child) in children.iter_mut().enumerate() {
            if status[rank].is_some() {
                continue;
            }
            if let Ok(Some(s)) = child.try_wait() {
                status[rank] = Some(s);
                if !s.success() {
                    now_failed.push(rank);
                    first_failure.get_or_insert_with(Instant::now);
                }
            }
        }
        if !now_failed.is_empty() {
            failed.push(now_failed);
        }
        if status.iter().all(Option::is_some) {
            break;
        }
        if first_failure.is_some_and(|t| t.elapsed() > timeout) {
            for (rank, child) in children.iter_mut().enumerate() {
                if status[rank].is_none() {
                    stop(child);
                    status[rank] = child.wait().ok();
                    stopped.push(rank);
                }
            }
            break;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    if failed.is_empty() {
        return Ok(());
    }
    let describe = |rank: usize| match status[rank] {
        Some(s) => format!("rank {rank} ({})", describe_status(s)),
        None => format!("rank {rank}"),
    };
    let mut message = format!(
        "{} failed",
        failed
            .iter()
            .map(|group| group
                .iter()
                .map(|&r| describe(r))
                .collect::<Vec<_>>()
                .join(" and "))
            .collect::<Vec<_>>()
            .join(", then ")
    );
    if !stopped.is_empty() {
        let names: Vec<String> = stopped.iter().map(|r| format!("rank {r}")).collect();
        message.push_str(&format!(
            "; {} still running {} s after the first failure, stopped",
            names.join(", "),
            timeout.as_secs()
        ));
    }
    bail!("{message}")
}

/// The SIGINT or SIGTERM the launcher got (0: none yet).
static SIGNALLED: AtomicI32 = AtomicI32::new(0);

extern "C" fn on_signal(signal: libc::c_int) {
    SIGNALLED.store(signal, Ordering::SeqCst);
}

/// SIGINT and SIGTERM to the launcher are passed on to the ranks (as torchrun's agent does), so
/// that stopping the launcher never leaves ranks training on their own.
fn forward_signals() {
    for signal in [libc::SIGINT, libc::SIGTERM] {
        // SAFETY: the handler only stores to an atomic (async-signal-safe); exec resets it in
        // the ranks.
        unsafe {
            libc::signal(signal, on_signal as *const () as libc::sighandler_t);
        }
    }
}

/// Passes `signal` on to the running ranks, gives them a few seconds, stops the rest.
fn stop_on_signal(
    children: &mut [Child],
    status: &mut [Option<ExitStatus>],
    signal: i32,
) -> anyhow::Error {
    let mut running = Vec::new();
    for (rank, child) in children.iter_mut().enumerate() {
        if status[rank].is_none() {
            if let Ok(pid) = i32::try_from(child.id()) {
                // SAFETY: our own child, not yet reaped.
                unsafe {
                    libc::kill(pid, signal);
                }
            }
            running.push(rank);
        }
    }
    let start = Instant::now();
    for &rank in &running {
        let child = &mut children[rank];
        while start.elapsed() < Duration::from_secs(5) && matches!(child.try_wait(), Ok(None)) {
            std::thread::sleep(Duration::from_millis(50));
        }
        stop(child);
        status[rank] = child.wait().ok();
    }
    let names: Vec<String> = running.iter().map(|r| format!("rank {r}")).collect();
    anyhow::anyhow!(
        "stopped by signal {signal}: passed on to {}",
        if names.is_empty() {
            "no running rank".to_string()
        } else {
            names.join(", ")
        }
    )
}

fn describe_status(s: ExitStatus) -> String {
    use std::os::unix::process::ExitStatusExt;
    match (s.code(), s.signal()) {
        (Some(c), _) => format!("exit status {c}"),
        (None, Some(sig)) => format!("killed by signal {sig}"),
        _ => s.to_string(),
    }
}

/// SIGTERM, then SIGKILL after a few seconds, as torchrun stops its workers.
fn stop(child: &mut Child) {
    if matches!(child.try_wait(), Ok(Some(_))) {
        return; // ended (and reaped): its pid may be another process's now
    }
    if let Ok(pid) = i32::try_from(child.id()) {
        // SAFETY: signalling our own child, which has not been reaped (try_wait just saw it
        // running).
        unsafe {
            libc::kill(pid, libc::SIGTERM);
        }
    }
    let start = Instant::now();
    while start.elapsed() < Duration::from_secs(3) {
        if matches!(child.try_wait(), Ok(Some(_))) {
            return;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    let _ = child.kill();
}

fn stop_all(children: &mut [Child]) {
    for c in children {
        stop(c);
        let _ = c.wait();
    }
}

/// The variable of the launch tests' failing rank (tests/launch.rs).
pub const TEST_FAIL_RANK: &str = "DANIE_TEST_FAIL_RANK";

/// Test-only, inert without DANIE_TEST_FAIL_RANK: under a launcher, every rank joins the Gloo
/// group; rank DANIE_TEST_FAIL_RANK then stops on its own error (telling the others, as a rank
/// whose data failed does) and the others wait for it at a barrier, as they would in a
/// collective. tests/launch.rs uses it to check that such a launch ends, naming the rank, within
/// the timeout; a real training's fault is the lead's test.
pub fn test_failure() -> anyhow::Result<()> {
    let Ok(value) = std::env::var(TEST_FAIL_RANK) else {
        return Ok(());
    };
    let fail_rank: usize = value
        .trim()
        .parse()
        .with_context(|| format!("{TEST_FAIL_RANK}={value}: not a rank"))?;
    let timeout = distributed::timeout(DEFAULT_TIMEOUT_S)?;
    let Some(dist) = Dist::join(Backend::Gloo, timeout)? else {
        bail!("{TEST_FAIL_RANK} is set outside a launcher (no WORLD_SIZE)");
    };
    if dist.rank() == fail_rank {
        let reason = format!("{TEST_FAIL_RANK}={fail_rank} (a test's failing rank)");
        dist.group().mark_failed(&reason);
        bail!("{reason}");
    }
    dist.barrier()?;
    bail!("rank {fail_rank} passed the barrier although {TEST_FAIL_RANK} makes it fail")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sh(script: &str) -> Child {
        Command::new("sh")
            .args(["-c", script])
            .spawn()
            .expect("spawning sh")
    }

    #[test]
    fn the_flag_is_removed_in_both_spellings() {
        let args = |v: &[&str]| v.iter().map(OsString::from).collect::<Vec<_>>();
        assert_eq!(
            without_flag(args(&[
                "train",
                "--nproc-per-node",
                "2",
                "--config",
                "c.toml"
            ])),
            args(&["train", "--config", "c.toml"])
        );
        assert_eq!(
            without_flag(args(&["train", "--nproc-per-node=4", "-c", "c.toml"])),
            args(&["train", "-c", "c.toml"])
        );
    }

    #[test]
    fn all_ranks_succeeding_is_success() {
        supervise(vec![sh("exit 0"), sh("exit 0")], Duration::from_secs(5)).unwrap();
    }

    #[test]
    fn a_failed_rank_is_named_and_a_hanging_one_stopped_after_the_timeout() {
        let start = Instant::now();
        let err = supervise(
            vec![sh("exec sleep 60"), sh("exit 3")],
            Duration::from_secs(1),
        )
        .unwrap_err()
        .to_string();
        // 1 s of grace, then SIGTERM (which ends sleep at once).
        assert!(
            start.elapsed() < Duration::from_secs(10),
            "{:?}",
            start.elapsed()
        );
        assert!(err.starts_with("rank 1 (exit status 3) failed; "), "{err}");
        assert!(
            err.contains("rank 0 still running 1 s after the first failure, stopped"),
            "{err}"
        );
    }

    #[test]
    fn every_failed_rank_is_named_first_failure_first() {
        let err = supervise(
            vec![sh("sleep 0.5; exit 2"), sh("exit 5")],
            Duration::from_secs(10),
        )
        .unwrap_err()
        .to_string();
        assert_eq!(
            err,
            "rank 1 (exit status 5), then rank 0 (exit status 2) failed"
        );
    }
}
