//! Running the `danie` binary as a user does, and measuring what it cost through the OS.
//!
//! Shared by the CLI tests (`mod support;`). [`run`] reports the exit status, both streams and
//! the peak resident memory of the child process (`wait4`'s `ru_maxrss`), so bad-input tests can
//! assert "a clear error, a non-zero exit, no panic, bounded memory" in one place.
#![allow(dead_code)]
use std::collections::BTreeMap;
use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

/// What one run of `danie` did.
#[derive(Debug)]
pub struct Outcome {
    /// Exit code, or `None` when a signal ended the process (an abort, a kill).
    pub code: Option<i32>,
    /// The signal that ended it, if any.
    pub signal: Option<i32>,
    pub stdout: String,
    pub stderr: String,
    /// Peak resident set size of the process in bytes.
    pub peak_rss: u64,
}

impl Outcome {
    /// Asserts exit code 0, showing stderr and stdout otherwise; returns the outcome.
    pub fn assert_success(&self) -> &Self {
        assert_eq!(
            self.code,
            Some(0),
            "stderr: {}\nstdout: {}",
            self.stderr,
            self.stdout
        );
        self
    }

    /// Asserts a clean failure: exit code 1 or 2 (no signal, no panic's 101), a stderr that
    /// contains every `needles`, no panic message, and a peak RSS under `max_rss` bytes.
    pub fn assert_clean_failure(&self, needles: &[&str], max_rss: u64) {
        assert!(
            self.signal.is_none(),
            "danie was killed by signal {:?} (abort?)\nstderr: {}",
            self.signal,
            self.stderr
        );
        assert!(
            matches!(self.code, Some(1 | 2)),
            "expected exit 1 or 2, got {:?}\nstderr: {}",
            self.code,
            self.stderr
        );
        assert!(
            !self.stderr.contains("panicked") && !self.stderr.contains("RUST_BACKTRACE"),
            "danie panicked: {}",
            self.stderr
        );
        for n in needles {
            assert!(
                self.stderr.contains(n),
                "stderr lacks {n:?}:\n{}",
                self.stderr
            );
        }
        assert!(
            self.peak_rss <= max_rss,
            "peak memory {} MiB over the bound of {} MiB\nstderr: {}",
            self.peak_rss >> 20,
            max_rss >> 20,
            self.stderr
        );
    }
}

/// The built `danie` binary.
pub fn danie_bin() -> PathBuf {
    PathBuf::from(env!("CARGO_BIN_EXE_danie"))
}

/// The repository's real test scans.
pub fn real_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../tests/data/real")
}

/// Runs `danie args` with extra environment `envs`, no standard input, and waits for it.
pub fn run(args: &[&str], envs: &[(&str, &str)]) -> Outcome {
    let mut cmd = Command::new(danie_bin());
    cmd.args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    for (k, v) in envs {
        cmd.env(k, v);
    }
    run_command(cmd)
}

/// Runs a prepared command (stdout and stderr piped) and measures it.
pub fn run_command(mut cmd: Command) -> Outcome {
    let mut child = cmd.spawn().expect("start danie");
    // Drain both pipes on threads so a chatty child never blocks on a full pipe.
    let mut out = child.stdout.take().expect("piped stdout");
    let mut err = child.stderr.take().expect("piped stderr");
    let t_out = std::thread::spawn(move || {
        let mut s = Vec::new();
        let _ = out.read_to_end(&mut s);
        s
    });
    let t_err = std::thread::spawn(move || {
        let mut s = Vec::new();
        let _ = err.read_to_end(&mut s);
        s
    });
    let pid = child.id() as libc::pid_t;
    let mut status: libc::c_int = 0;
    // SAFETY: an all-zero rusage is a valid value of this plain C struct.
    let mut usage: libc::rusage = unsafe { std::mem::zeroed() };
    // SAFETY: `pid` is our own child, not yet reaped (std's Child is dropped without waiting).
    let r = unsafe { libc::wait4(pid, &mut status, 0, &mut usage) };
    assert_eq!(r, pid, "wait4 failed: {}", std::io::Error::last_os_error());
    std::mem::forget(child);
    let stdout = String::from_utf8_lossy(&t_out.join().unwrap()).into_owned();
    let stderr = String::from_utf8_lossy(&t_err.join().unwrap()).into_owned();
    let (code, signal) = if libc::WIFEXITED(status) {
        (Some(libc::WEXITSTATUS(status)), None)
    } else if libc::WIFSIGNALED(status) {
        (None, Some(libc::WTERMSIG(status)))
    } else {
        (None, None)
    };
    Outcome {
        code,
        signal,
        stdout,
        stderr,
        // Linux reports ru_maxrss in KiB.
        peak_rss: (usage.ru_maxrss as u64) * 1024,
    }
}

/// A bound for peak memory: what `danie --version` takes (libtorch loaded) plus `extra` bytes.
pub fn baseline_plus(extra: u64) -> u64 {
    static BASE: std::sync::OnceLock<u64> = std::sync::OnceLock::new();
    *BASE.get_or_init(|| run(&["--version"], &[]).peak_rss) + extra
}

pub const MIB: u64 = 1 << 20;

/// Every file under `dir` (relative path -> bytes).
pub fn files(dir: &Path) -> BTreeMap<PathBuf, Vec<u8>> {
    let mut out = BTreeMap::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).unwrap() {
            let p = e.unwrap().path();
            if p.is_dir() {
                stack.push(p);
            } else {
                let rel = p.strip_prefix(dir).unwrap().to_path_buf();
                out.insert(rel, std::fs::read(&p).unwrap());
            }
        }
    }
    out
}

/// A synthetic Synapse layout in `dir/synapse`: 4 cases of 3 one-channel 32 px slices (2 cases
/// train: 6 slices).
pub fn synthetic_synapse(dir: &Path) -> PathBuf {
    let root = dir.join("synapse");
    danie_data::synthetic::generate(
        danie_data::datasets::DatasetKind::Synapse,
        &root,
        &danie_data::synthetic::SyntheticConfig {
            cases: Some(4),
            size: 32,
            slices: Some(3),
            seed: 5,
            overwrite: false,
            progress: false,
        },
    )
    .expect("synthetic Synapse");
    root
}

/// Writes, at `path`, the weights of a freshly built model of `meta`'s config with `meta` as
/// its `danie` metadata: a real weights file as `danie train` writes one.
pub fn model_weights(path: &Path, meta: &danie_train::weights_meta::WeightsMeta) {
    let vs = tch::nn::VarStore::new(tch::Device::Cpu);
    let _m = danie_model::Danie::new(vs.root(), &meta.model);
    let tensors = danie_model::weights::named_variables(&vs);
    danie_model::weights::write_safetensors(path, &tensors, &meta.to_metadata().unwrap()).unwrap();
}
