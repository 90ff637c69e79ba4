//! The processes of a data-parallel run in tests, started as torchrun starts them (RANK,
//! WORLD_SIZE, LOCAL_RANK, LOCAL_WORLD_SIZE, MASTER_ADDR, MASTER_PORT on 127.0.0.1), and the one
//! bounded wait for a child process: its output read while it runs (a chatty child never blocks
//! on a full pipe), and a child still running past its limit killed and the test failed (a hang).
use std::io::Read;
use std::net::TcpListener;
use std::process::{Child, Command, Stdio};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

/// A port free on 127.0.0.1 now.
pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("a free local port")
        .port()
}

/// Where a rank runs: one machine (`local_rank = rank`) or one "node" per process (each its own
/// LOCAL_RANK 0, as two machines would run it).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Placement {
    OneNode,
    NodePerRank,
}

/// Sets torchrun's variables on `cmd` for `rank` of `world` with the master at 127.0.0.1:`port`.
pub fn launcher_env(
    cmd: &mut Command,
    rank: usize,
    world: usize,
    port: u16,
    placement: Placement,
) -> &mut Command {
    let (local_rank, local_world) = match placement {
        Placement::OneNode => (rank, world),
        Placement::NodePerRank => (0, 1),
    };
    cmd.env("RANK", rank.to_string())
        .env("WORLD_SIZE", world.to_string())
        .env("LOCAL_RANK", local_rank.to_string())
        .env("LOCAL_WORLD_SIZE", local_world.to_string())
        .env("MASTER_ADDR", "127.0.0.1")
        .env("MASTER_PORT", port.to_string())
}

/// A started child whose output is being read.
pub struct Running {
    child: Child,
    stdout: JoinHandle<String>,
    stderr: JoinHandle<String>,
    started: Instant,
}

/// How a child ended.
#[derive(Debug)]
pub struct Finished {
    /// Exit code; `None` when a signal ended it.
    pub code: Option<i32>,
    pub stdout: String,
    pub stderr: String,
    /// From the start to the end of the process.
    pub took: Duration,
}

impl Finished {
    /// Exit code 0.
    pub fn success(&self) -> bool {
        self.code == Some(0)
    }

    /// stderr then stdout, for messages.
    pub fn text(&self) -> String {
        format!("{}{}", self.stderr, self.stdout)
    }
}

/// Starts `cmd` with stdin closed and its output piped and read in the background.
pub fn start(cmd: &mut Command) -> Running {
    let mut child = cmd
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("cannot start {cmd:?}: {e}"));
    let read = |mut r: Box<dyn Read + Send>| {
        std::thread::spawn(move || {
            let mut s = String::new();
            let _ = r.read_to_string(&mut s);
            s
        })
    };
    let stdout = read(Box::new(child.stdout.take().expect("piped")));
    let stderr = read(Box::new(child.stderr.take().expect("piped")));
    Running {
        child,
        stdout,
        stderr,
        started: Instant::now(),
    }
}

impl Running {
    /// The child's process id.
    pub fn id(&self) -> u32 {
        self.child.id()
    }

    /// Kills the child (SIGKILL) and reaps it.
    pub fn kill(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }

    /// Waits at most `limit`; past it, kills the child and fails the test naming `what` (a hang).
    pub fn finish(mut self, limit: Duration, what: &str) -> Finished {
        let status = loop {
            if let Some(s) = self.child.try_wait().expect("waiting for a child") {
                break s;
            }
            if self.started.elapsed() > limit {
                self.kill();
                panic!(
                    "{what} still running after {limit:?} (a hang); stderr:\n{}",
                    self.stderr.join().unwrap_or_default()
                );
            }
            std::thread::sleep(Duration::from_millis(50));
        };
        let took = self.started.elapsed();
        Finished {
            code: status.code(),
            stdout: self.stdout.join().unwrap_or_default(),
            stderr: self.stderr.join().unwrap_or_default(),
            took,
        }
    }
}
