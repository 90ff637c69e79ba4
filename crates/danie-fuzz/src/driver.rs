//! The driver: each target's cases run in a child process (this binary re-executed) under an
//! address-space limit and a per-case time limit, so that a panic (caught in the child), an
//! abort, a crash, runaway memory and a hang are all findings, and the run goes on after them.
//!
//! Case `i` of a target is its seed `i` unchanged for the first seeds (so every committed
//! reproducer is re-checked on every run), then a mutation drawn from `(seed, target, i)`: the
//! parent can rebuild any case the child died on.
//!
//! Child protocol, one line each on stdout: `start I` before case I, `panic I FILE MESSAGE`
//! after a panic (FILE holds the minimised input), `beat` while minimising, `end`.
use std::io::{BufRead, BufReader, Write};
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc::{channel, RecvTimeoutError};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use anyhow::{bail, Context};

use crate::mutate::Mutator;
use crate::seeds::seeds;
use crate::targets::{target, Target, TARGETS};

/// What a run does.
#[derive(Clone, Debug)]
pub struct Options {
    /// Targets to fuzz, by name (all when empty).
    pub targets: Vec<String>,
    /// Cases per target (seeds included); unbounded when `None` (then `seconds` bounds it).
    pub cases: Option<u64>,
    /// Seconds per target.
    pub seconds: Option<u64>,
    /// Seed of the mutations.
    pub seed: u64,
    /// Where findings go: `<findings>/<target>/<kind>-<case>.<ext>` with a `.txt` beside.
    pub findings: PathBuf,
    /// A case running longer than this is a finding (a hang).
    pub case_timeout: Duration,
    /// Address space a child may map beyond what it maps at start (libtorch), in bytes
    /// (RLIMIT_AS).
    pub mem_limit: u64,
    /// Stop each target at its first finding (the CI run: fail fast, bounded time).
    pub stop_at_first: bool,
}

/// How a case failed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    /// A panic, caught in the child.
    Panic,
    /// The child died: an abort (a failed allocation under the memory limit), a signal.
    Crash,
    /// The case ran past the time limit.
    Timeout,
}

impl Kind {
    fn as_str(self) -> &'static str {
        match self {
            Kind::Panic => "panic",
            Kind::Crash => "crash",
            Kind::Timeout => "timeout",
        }
    }
}

/// One failing case.
#[derive(Clone, Debug)]
pub struct Finding {
    /// The target's name.
    pub target: &'static str,
    /// How it failed.
    pub kind: Kind,
    /// The case number.
    pub case: u64,
    /// The panic message (with its location), or the exit status and the end of stderr.
    pub message: String,
    /// The reproducer.
    pub file: PathBuf,
}

impl std::fmt::Display for Finding {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{} case {}: {}: {}\n    reproducer: {}",
            self.target,
            self.case,
            self.kind.as_str(),
            self.message,
            self.file.display()
        )
    }
}

/// The bytes of case `i` of `target`.
pub fn case_bytes(target: &Target, seeds: &[Vec<u8>], seed: u64, i: u64) -> Vec<u8> {
    if let Some(s) = usize::try_from(i).ok().and_then(|i| seeds.get(i)) {
        return s.clone();
    }
    let t = TARGETS
        .iter()
        .position(|x| x.name == target.name)
        .unwrap_or(0) as u64;
    let mix = seed
        .wrapping_mul(0x9e37_79b9_7f4a_7c15)
        .wrapping_add(t.wrapping_mul(0xbf58_476d_1ce4_e5b9))
        .wrapping_add(i);
    Mutator::new(mix).mutate(target.format, seeds)
}

/// Runs every selected target; returns the findings.
pub fn fuzz(opts: &Options) -> anyhow::Result<Vec<Finding>> {
    let targets: Vec<&'static Target> = if opts.targets.is_empty() {
        TARGETS.iter().collect()
    } else {
        opts.targets
            .iter()
            .map(|n| {
                target(n).with_context(|| {
                    let names: Vec<_> = TARGETS.iter().map(|t| t.name).collect();
                    format!("unknown target {n:?}; targets: {}", names.join(", "))
                })
            })
            .collect::<anyhow::Result<_>>()?
    };
    anyhow::ensure!(
        opts.cases.is_some() || opts.seconds.is_some(),
        "give --cases or --seconds"
    );
    let exe = std::env::current_exe().context("locating the fuzz binary")?;
    // A private folder of a fresh random name: the per-case files are written plainly (an
    // fsync'd atomic write per case would slow the run tenfold) where no one else can plant
    // a link.
    let work = tempfile::Builder::new()
        .prefix("danie-fuzz-")
        .tempdir()
        .context("creating a scratch folder")?;
    let mut all = Vec::new();
    for t in targets {
        let scratch = work.path().join(t.name);
        std::fs::create_dir_all(&scratch)
            .with_context(|| format!("cannot create {}", scratch.display()))?;
        let started = Instant::now();
        let (found, cases) = fuzz_target(t, opts, &exe, &scratch)?;
        eprintln!(
            "{:<13} {:>6} cases in {:>5.1} s: {}",
            t.name,
            cases,
            started.elapsed().as_secs_f64(),
            if found.is_empty() {
                "ok".to_string()
            } else {
                format!("{} finding(s)", found.len())
            }
        );
        all.extend(found);
    }
    Ok(all)
}

/// One target's run: children started until the cases or the time are used up.
fn fuzz_target(
    t: &'static Target,
    opts: &Options,
    exe: &Path,
    scratch: &Path,
) -> anyhow::Result<(Vec<Finding>, u64)> {
    let end = opts.cases.unwrap_or(u64::MAX);
    let deadline = opts
        .seconds
        .map(|s| Instant::now() + Duration::from_secs(s));
    let mut parent_seeds: Option<Vec<Vec<u8>>> = None;
    let mut found = Vec::new();
    let mut next = 0u64;
    let out_dir = opts.findings.join(t.name);
    while next < end && deadline.is_none_or(|d| Instant::now() < d) {
        let stderr_path = scratch.join("child.stderr");
        let stderr = std::fs::File::create(&stderr_path)
            .with_context(|| format!("cannot create {}", stderr_path.display()))?;
        let mut child = Command::new(exe)
            .args(["child", "--target", t.name])
            .args(["--seed", &opts.seed.to_string()])
            .args(["--from", &next.to_string(), "--to", &end.to_string()])
            .args(["--mem-limit", &opts.mem_limit.to_string()])
            .arg("--findings")
            .arg(&out_dir)
            .arg("--scratch")
            .arg(scratch)
            // the readers' budget well under the address-space limit: a size over it must be
            // an error, not an allocation the limit turns into an abort
            .env(
                "DANIE_MAX_DECODED_BYTES",
                (opts.mem_limit / 8).max(1 << 20).to_string(),
            )
            .env("RAYON_NUM_THREADS", "2")
            .env("RUST_BACKTRACE", "0")
            .env("OMP_NUM_THREADS", "1")
            .env("HDF5_USE_FILE_LOCKING", "FALSE")
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(stderr)
            .spawn()
            .with_context(|| format!("cannot start {}", exe.display()))?;
        let stdout = child.stdout.take().context("child stdout")?;
        let (tx, rx) = channel::<String>();
        let reader = std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines() {
                let Ok(line) = line else { break };
                if tx.send(line).is_err() {
                    break;
                }
            }
        });
        let mut current: Option<u64> = None;
        let mut finished = false;
        let outcome = loop {
            let wait = match deadline {
                Some(d) => opts
                    .case_timeout
                    .min(d.saturating_duration_since(Instant::now())),
                None => opts.case_timeout,
            };
            match rx.recv_timeout(wait) {
                Ok(line) => {
                    let mut parts = line.splitn(4, ' ');
                    match parts.next() {
                        Some("start") => {
                            current = parts.next().and_then(|n| n.parse().ok());
                        }
                        Some("panic") => {
                            let case = parts.next().and_then(|n| n.parse().ok()).unwrap_or(0);
                            let file = PathBuf::from(parts.next().unwrap_or(""));
                            let message = parts.next().unwrap_or("").to_string();
                            if file.as_os_str() == "-" {
                                continue; // a site already reported by this child
                            }
                            found.push(Finding {
                                target: t.name,
                                kind: Kind::Panic,
                                case,
                                message,
                                file,
                            });
                            if opts.stop_at_first {
                                break Outcome::Stop;
                            }
                        }
                        Some("end") => {
                            finished = true;
                        }
                        _ => {}
                    }
                }
                Err(RecvTimeoutError::Timeout) => {
                    if deadline.is_some_and(|d| Instant::now() >= d) {
                        break Outcome::Stop;
                    }
                    break Outcome::Timeout;
                }
                Err(RecvTimeoutError::Disconnected) => break Outcome::Exited,
            }
        };
        if outcome != Outcome::Exited {
            kill(&mut child);
        }
        let status = child.wait().context("waiting for the fuzz child")?;
        let _ = reader.join();
        match outcome {
            Outcome::Stop => return Ok((found, current.map_or(next, |c| c + 1))),
            Outcome::Exited if finished && status.success() => return Ok((found, end)),
            _ => {}
        }
        let Some(case) = current else {
            bail!(
                "the fuzz child for {} failed before its first case ({status}):\n{}",
                t.name,
                tail(&stderr_path)
            );
        };
        // The child died (or hung) on `case`: rebuild the input, keep it, go on after it.
        let seeds = parent_seeds.get_or_insert_with(|| seeds(t, scratch));
        let bytes = case_bytes(t, seeds, opts.seed, case);
        let kind = if outcome == Outcome::Timeout {
            Kind::Timeout
        } else {
            Kind::Crash
        };
        let message = if kind == Kind::Timeout {
            format!("ran over {:?}", opts.case_timeout)
        } else {
            crash_message(status, &tail(&stderr_path))
        };
        let file = save(&out_dir, kind, case, t, &bytes, &message)?;
        found.push(Finding {
            target: t.name,
            kind,
            case,
            message,
            file,
        });
        if opts.stop_at_first {
            return Ok((found, case + 1));
        }
        next = case + 1;
    }
    Ok((found, next))
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Outcome {
    Stop,
    Timeout,
    Exited,
}

fn kill(child: &mut Child) {
    let _ = child.kill();
}

/// The exit status and what stderr says about it: the failed allocation or the panic of an
/// abort, else its last lines.
fn crash_message(status: std::process::ExitStatus, stderr: &str) -> String {
    let said = stderr
        .lines()
        .find(|l| l.contains("memory allocation of") || l.contains("panicked"))
        .map(str::to_string)
        .unwrap_or_else(|| stderr.lines().rev().take(3).collect::<Vec<_>>().join(" | "));
    format!("{status}: {said}")
}

/// The last 600 bytes of a file, as text.
fn tail(path: &Path) -> String {
    let text = std::fs::read(path).unwrap_or_default();
    let start = text.len().saturating_sub(600);
    String::from_utf8_lossy(&text[start..]).trim().to_string()
}

/// Writes a reproducer and its message; returns the reproducer's path.
fn save(
    dir: &Path,
    kind: Kind,
    case: u64,
    t: &Target,
    bytes: &[u8],
    message: &str,
) -> anyhow::Result<PathBuf> {
    std::fs::create_dir_all(dir).with_context(|| format!("cannot create {}", dir.display()))?;
    let file = dir.join(format!("{}-{case}.{}", kind.as_str(), t.ext));
    danie_fs::write_bytes(&file, bytes)?;
    let note = dir.join(format!("{}-{case}.txt", kind.as_str()));
    danie_fs::write_bytes(&note, format!("{} {}: {message}\n", t.name, kind.as_str()))?;
    Ok(file)
}

/// The last panic's message and location, recorded by the hook [`child`] installs.
static LAST_PANIC: Mutex<Option<(String, String)>> = Mutex::new(None);

fn take_panic() -> (String, String) {
    LAST_PANIC
        .lock()
        .ok()
        .and_then(|mut p| p.take())
        .unwrap_or_else(|| ("unknown".into(), "a panic without a message".into()))
}

/// Runs one input through `t` in this process; `Some((location, message))` if it panicked.
pub fn run_case(t: &Target, path: &Path) -> Option<(String, String)> {
    match catch_unwind(AssertUnwindSafe(|| (t.run)(path))) {
        Ok(()) => None,
        Err(_) => Some(take_panic()),
    }
}

/// Installs a hook that records panics instead of printing them (the driver reports them).
pub fn quiet_panics() {
    std::panic::set_hook(Box::new(|info| {
        let msg = info
            .payload()
            .downcast_ref::<&str>()
            .map(|s| s.to_string())
            .or_else(|| info.payload().downcast_ref::<String>().cloned())
            .unwrap_or_else(|| "a panic without a message".into());
        // The site is the first danie frame: a capacity overflow's own location is in std,
        // which would make every such bug one.
        let bt = std::backtrace::Backtrace::force_capture().to_string();
        let loc = bt
            .lines()
            .filter_map(|l| l.trim().strip_prefix("at "))
            .find(|l| l.contains("crates/danie-") && !l.contains("danie-fuzz"))
            .map(|l| {
                // file:line, without the column (one expression, one site)
                let l = l.trim_start_matches("./");
                match l.rsplit_once(':') {
                    Some((head, col)) if col.parse::<u32>().is_ok() => head.to_string(),
                    _ => l.to_string(),
                }
            })
            .or_else(|| {
                info.location()
                    .map(|l| format!("{}:{}", l.file(), l.line()))
            })
            .unwrap_or_default();
        if let Ok(mut p) = LAST_PANIC.lock() {
            *p = Some((loc, msg));
        }
    }));
}

/// Caps this process's address space (RLIMIT_AS) at `bytes`.
pub fn limit_memory(bytes: u64) -> anyhow::Result<()> {
    let lim = libc::rlimit {
        rlim_cur: bytes as libc::rlim_t,
        rlim_max: bytes as libc::rlim_t,
    };
    // SAFETY: setrlimit reads a valid, initialised rlimit; it only lowers this process's limit.
    let r = unsafe { libc::setrlimit(libc::RLIMIT_AS, &lim) };
    if r != 0 {
        bail!("setrlimit(RLIMIT_AS): {}", std::io::Error::last_os_error());
    }
    Ok(())
}

/// This process's mapped address space (VmSize), 0 where /proc does not say.
fn mapped_bytes() -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            let line = s.lines().find(|l| l.starts_with("VmSize:"))?;
            let kib: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
            kib.checked_mul(1024)
        })
        .unwrap_or(0)
}

/// What the child is asked to do.
pub struct ChildArgs {
    pub target: String,
    pub seed: u64,
    pub from: u64,
    pub to: u64,
    pub mem_limit: u64,
    pub findings: PathBuf,
    pub scratch: PathBuf,
}

/// The child: runs cases `from..to` of a target in-process, reporting on stdout.
pub fn child(a: &ChildArgs) -> anyhow::Result<()> {
    let t = target(&a.target).with_context(|| format!("unknown target {}", a.target))?;
    let seeds = seeds(t, &a.scratch);
    anyhow::ensure!(!seeds.is_empty(), "target {} has no seeds", t.name);
    // The limit counts from what the process already maps: libtorch (with CUDA, more than
    // a gigabyte of libraries) must not eat the allowance of the cases.
    limit_memory(mapped_bytes().saturating_add(a.mem_limit))?;
    quiet_panics();
    let path = a.scratch.join(format!("case.{}", t.ext));
    let mut out = std::io::stdout().lock();
    let mut seen = std::collections::HashSet::new();
    for i in a.from..a.to {
        let bytes = case_bytes(t, &seeds, a.seed, i);
        std::fs::write(&path, &bytes)
            .with_context(|| format!("cannot write {}", path.display()))?;
        writeln!(out, "start {i}")?;
        out.flush()?;
        if let Some((loc, msg)) = run_case(t, &path) {
            // one reproducer per panic site (a site hit by many cases is one bug)
            let file = if seen.insert(loc.clone()) {
                let small = minimise(t, &path, bytes, &loc, &mut out);
                save(
                    &a.findings,
                    Kind::Panic,
                    i,
                    t,
                    &small,
                    &format!("{loc}: {msg}"),
                )?
            } else {
                PathBuf::from("-") // the same site as an earlier case
            };
            let one_line = format!("{loc}: {msg}").replace('\n', " | ");
            writeln!(out, "panic {i} {} {one_line}", file.display())?;
            out.flush()?;
        }
    }
    writeln!(out, "end")?;
    out.flush()?;
    Ok(())
}

/// Shrinks a panicking input by deleting chunks while it still panics at `loc` (at most 200
/// tries, so a finding costs seconds, not minutes).
fn minimise(
    t: &Target,
    path: &Path,
    mut best: Vec<u8>,
    loc: &str,
    out: &mut impl Write,
) -> Vec<u8> {
    let mut tries = 0;
    let mut chunk = best.len() / 2;
    while chunk >= 1 && tries < 200 {
        let mut at = 0;
        let mut shrunk = false;
        while at < best.len() && tries < 200 {
            let end = (at + chunk).min(best.len());
            let mut cand = best[..at].to_vec();
            cand.extend_from_slice(&best[end..]);
            tries += 1;
            let _ = writeln!(out, "beat");
            let _ = out.flush();
            let same = std::fs::write(path, &cand).is_ok()
                && run_case(t, path).is_some_and(|(l, _)| l == loc);
            if same {
                best = cand;
                shrunk = true;
            } else {
                at += chunk;
            }
        }
        if !shrunk {
            chunk /= 2;
        }
    }
    best
}

/// Runs a saved input through a target in this process; the panic, if any.
pub fn reproduce(target_name: &str, file: &Path) -> anyhow::Result<Option<(String, String)>> {
    let t = target(target_name).with_context(|| format!("unknown target {target_name}"))?;
    quiet_panics();
    // readers pick the format by extension: run a copy with the target's
    let dir = tempfile::Builder::new()
        .prefix("danie-fuzz-repro-")
        .tempdir()
        .context("creating a scratch folder")?;
    let tmp = dir.path().join(format!("case.{}", t.ext));
    let bytes = std::fs::read(file).with_context(|| format!("cannot read {}", file.display()))?;
    danie_fs::write_bytes(&tmp, bytes)?;
    Ok(run_case(t, &tmp))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::targets::Format;

    #[test]
    fn a_panic_in_a_case_is_caught_with_its_message() {
        quiet_panics();
        let boom = Target {
            name: "boom",
            ext: "bin",
            format: Format::Nifti,
            run: |_| panic!("boom at the header"),
        };
        let fine = Target {
            run: |_| (),
            ..boom
        };
        let (site, msg) = run_case(&boom, Path::new("x")).expect("a panic");
        assert_eq!(msg, "boom at the header");
        assert!(site.contains("driver.rs"), "{site}");
        assert!(run_case(&fine, Path::new("x")).is_none());
    }

    #[test]
    fn the_first_cases_are_the_seeds_and_later_ones_are_reproducible() {
        let t = target("npy").unwrap();
        let seeds = vec![
            b"\x93NUMPY\x01\x00v\x00{'descr': '<f4', 'fortran_order': False, 'shape': (2,), }\n"
                .to_vec(),
        ];
        assert_eq!(case_bytes(t, &seeds, 3, 0), seeds[0]);
        assert_eq!(case_bytes(t, &seeds, 3, 9), case_bytes(t, &seeds, 3, 9));
        assert_ne!(case_bytes(t, &seeds, 3, 9), case_bytes(t, &seeds, 4, 9));
    }
}
