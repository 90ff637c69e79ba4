//! libtorch's c10d for danie: the launcher environment (torchrun / Slurm variables), a TCPStore
//! rendezvous and a Gloo process group, and the blocking collectives data-parallel training and
//! sharded evaluation need (sum all-reduce, broadcast, all-gather, barrier).
//!
//! The collectives are libtorch's own (the engine of PyTorch's DDP), reached through a small C++
//! shim (csrc/c10d.cpp): no socket or reduction is written here. A build without gloo's headers
//! still compiles; [`ProcessGroup::new_gloo`] then says how to get them. Where the build found
//! NCCL's and CUDA's headers, [`ProcessGroup::new_nccl`] joins an NCCL group instead.
//!
//! Failures name ranks: before the group exists the store checks that each RANK has one process
//! and that all agree on WORLD_SIZE; after, each rank beats a heartbeat into the store, so that a
//! failed collective says which rank is gone, or quotes the reason a rank gave
//! ([`ProcessGroup::mark_failed`]).
pub mod sync_bn;

use std::time::Duration;

use tch::Tensor;

/// What can go wrong, each naming the variable, the address or the collective.
#[derive(Debug, thiserror::Error)]
pub enum DistError {
    #[error("{var}: {problem}")]
    Env { var: &'static str, problem: String },
    #[error(
        "this danie was built without distributed support (gloo's headers were missing): \
         install them (`apt-get install libgloo-dev`, which `cargo xtask setup` does) and rebuild"
    )]
    Unavailable,
    #[error("cannot join the process group at {addr}:{port} as rank {rank} of {world}: {message}")]
    Init {
        addr: String,
        port: u16,
        rank: usize,
        world: usize,
        message: String,
    },
    #[error(
        "this danie was built without NCCL (the build needs a libtorch with CUDA, nccl.h and \
         CUDA's headers: for the CUDA 13 torch wheel, `pip install nvidia-cuda-crt \
         nvidia-cuda-cccl` into its venv, then rebuild; crates/danie-dist/build.rs says more), \
         or set train.dist_backend = \"gloo\""
    )]
    NcclUnavailable,
    #[error("{op} failed on rank {rank}: {message}")]
    Collective {
        op: &'static str,
        rank: usize,
        message: String,
    },
}

/// The launcher's description of this process: torchrun's variables (RANK, WORLD_SIZE,
/// LOCAL_RANK, LOCAL_WORLD_SIZE, MASTER_ADDR, MASTER_PORT), which `srun` lines set the same way.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DistEnv {
    pub rank: usize,
    pub world_size: usize,
    pub local_rank: usize,
    pub local_world_size: usize,
    pub master_addr: String,
    pub master_port: u16,
}

impl DistEnv {
    /// The environment of this process; `Ok(None)` when WORLD_SIZE is unset (one process).
    pub fn from_env() -> Result<Option<Self>, DistError> {
        Self::from_lookup(|k| std::env::var(k).ok())
    }

    /// [`Self::from_env`] over any lookup (tests).
    pub fn from_lookup(get: impl Fn(&str) -> Option<String>) -> Result<Option<Self>, DistError> {
        let Some(world) = get("WORLD_SIZE") else {
            return Ok(None);
        };
        let num = |var: &'static str, v: &str| -> Result<usize, DistError> {
            v.trim().parse::<usize>().map_err(|_| DistError::Env {
                var,
                problem: format!("`{v}` is not a whole number"),
            })
        };
        let world_size = num("WORLD_SIZE", &world)?;
        if world_size == 0 {
            return Err(DistError::Env {
                var: "WORLD_SIZE",
                problem: "must be at least 1".into(),
            });
        }
        let need = |var: &'static str| {
            get(var).ok_or(DistError::Env {
                var,
                problem: format!("not set, although WORLD_SIZE={world_size} is"),
            })
        };
        let rank = num("RANK", &need("RANK")?)?;
        if rank >= world_size {
            return Err(DistError::Env {
                var: "RANK",
                problem: format!("{rank} is not below WORLD_SIZE={world_size}"),
            });
        }
        let local_rank = match get("LOCAL_RANK") {
            Some(v) => num("LOCAL_RANK", &v)?,
            None => rank,
        };
        let local_world_size = match get("LOCAL_WORLD_SIZE") {
            Some(v) => num("LOCAL_WORLD_SIZE", &v)?,
            None => world_size,
        };
        if local_rank >= local_world_size || local_world_size > world_size {
            return Err(DistError::Env {
                var: "LOCAL_RANK",
                problem: format!(
                    "LOCAL_RANK={local_rank}, LOCAL_WORLD_SIZE={local_world_size} do not fit \
                     WORLD_SIZE={world_size}"
                ),
            });
        }
        let master_addr = need("MASTER_ADDR")?;
        let port = need("MASTER_PORT")?;
        let master_port =
            port.trim()
                .parse::<u16>()
                .ok()
                .filter(|p| *p > 0)
                .ok_or(DistError::Env {
                    var: "MASTER_PORT",
                    problem: format!("`{port}` is not a port (1-65535)"),
                })?;
        Ok(Some(Self {
            rank,
            world_size,
            local_rank,
            local_world_size,
            master_addr,
            master_port,
        }))
    }
}

/// True when this build has the c10d shim (gloo's headers were found).
pub fn available() -> bool {
    cfg!(danie_c10d)
}

/// True when this build has the NCCL path (libtorch_cuda, nccl.h and CUDA's headers were found).
pub fn nccl_available() -> bool {
    cfg!(danie_nccl)
}

#[cfg(danie_c10d)]
mod ffi {
    use std::os::raw::{c_char, c_int, c_longlong, c_void};

    #[repr(C)]
    pub struct Group {
        _private: [u8; 0],
    }

    extern "C" {
        pub fn danie_c10d_free_str(s: *mut c_char);
        pub fn danie_c10d_new_gloo(
            host: *const c_char,
            port: c_int,
            rank: c_int,
            world: c_int,
            timeout_ms: c_longlong,
            err: *mut *mut c_char,
        ) -> *mut Group;
        #[cfg(danie_nccl)]
        pub fn danie_c10d_new_nccl(
            host: *const c_char,
            port: c_int,
            rank: c_int,
            world: c_int,
            device: c_int,
            timeout_ms: c_longlong,
            err: *mut *mut c_char,
        ) -> *mut Group;
        pub fn danie_c10d_free(g: *mut Group);
        pub fn danie_c10d_mark_failed(g: *mut Group, reason: *const c_char);
        pub fn danie_c10d_diagnose(g: *mut Group) -> *mut c_char;
        pub fn danie_c10d_all_reduce_sum(
            g: *mut Group,
            ts: *mut *mut c_void,
            n: c_int,
            err: *mut *mut c_char,
        ) -> c_int;
        pub fn danie_c10d_broadcast(
            g: *mut Group,
            ts: *mut *mut c_void,
            n: c_int,
            root: c_int,
            err: *mut *mut c_char,
        ) -> c_int;
        pub fn danie_c10d_all_gather(
            g: *mut Group,
            input: *mut c_void,
            outputs: *mut *mut c_void,
            world: c_int,
            err: *mut *mut c_char,
        ) -> c_int;
        pub fn danie_c10d_barrier(g: *mut Group, err: *mut *mut c_char) -> c_int;
    }

    /// The `at::Tensor*` handles of tch tensors, as the shim takes them.
    pub fn handles(tensors: &mut [tch::Tensor]) -> Vec<*mut c_void> {
        tensors.iter_mut().map(|t| t.as_mut_ptr().cast()).collect()
    }

    /// Takes the shim's error string.
    pub fn take(err: *mut c_char) -> String {
        if err.is_null() {
            return "unknown error".into();
        }
        // SAFETY: the shim returns a NUL-terminated malloc'd string, freed once here.
        let s = unsafe { std::ffi::CStr::from_ptr(err) }
            .to_string_lossy()
            .into_owned();
        unsafe { danie_c10d_free_str(err) };
        // c10 appends a C++ backtrace after the first line; the message is what a user reads.
        s.lines()
            .take_while(|l| !l.starts_with("Exception raised from"))
            .collect::<Vec<_>>()
            .join(" ")
            .trim()
            .to_string()
    }
}

/// A c10d process group over Gloo (CPU tensors) or NCCL (CUDA tensors).
pub struct ProcessGroup {
    #[cfg(danie_c10d)]
    group: *mut ffi::Group,
    rank: usize,
    world_size: usize,
}

// SAFETY: libtorch's process groups are thread-safe (PyTorch calls them from any thread, and
// DDP's autograd hooks call them from the backward thread); the handle is freed once, in Drop.
unsafe impl Send for ProcessGroup {}
unsafe impl Sync for ProcessGroup {}

impl ProcessGroup {
    /// Joins the Gloo group `env` describes: rank 0 serves the TCPStore at
    /// MASTER_ADDR:MASTER_PORT, every rank connects to it; `timeout` bounds the rendezvous and
    /// every collective.
    pub fn new_gloo(env: &DistEnv, timeout: Duration) -> Result<Self, DistError> {
        #[cfg(not(danie_c10d))]
        {
            let _ = (env, timeout);
            Err(DistError::Unavailable)
        }
        #[cfg(danie_c10d)]
        {
            Self::join(env, timeout, |host, ms, err| {
                // SAFETY: valid C string and out-pointer; the shim catches every C++ exception.
                unsafe {
                    ffi::danie_c10d_new_gloo(
                        host,
                        i32::from(env.master_port),
                        env.rank as i32,
                        env.world_size as i32,
                        ms,
                        err,
                    )
                }
            })
        }
    }

    /// Joins the NCCL group `env` describes, on `cuda:LOCAL_RANK` (one GPU per process), with
    /// the same rendezvous and checks as [`Self::new_gloo`].
    pub fn new_nccl(env: &DistEnv, timeout: Duration) -> Result<Self, DistError> {
        #[cfg(not(danie_c10d))]
        {
            let _ = (env, timeout);
            Err(DistError::Unavailable)
        }
        #[cfg(all(danie_c10d, not(danie_nccl)))]
        {
            let _ = (env, timeout);
            Err(DistError::NcclUnavailable)
        }
        #[cfg(all(danie_c10d, danie_nccl))]
        {
            Self::join(env, timeout, |host, ms, err| {
                // SAFETY: as in new_gloo.
                unsafe {
                    ffi::danie_c10d_new_nccl(
                        host,
                        i32::from(env.master_port),
                        env.rank as i32,
                        env.world_size as i32,
                        env.local_rank as i32,
                        ms,
                        err,
                    )
                }
            })
        }
    }

    /// The rendezvous both backends share; `create` calls the shim's constructor.
    #[cfg(danie_c10d)]
    fn join(
        env: &DistEnv,
        timeout: Duration,
        create: impl FnOnce(
            *const std::os::raw::c_char,
            i64,
            *mut *mut std::os::raw::c_char,
        ) -> *mut ffi::Group,
    ) -> Result<Self, DistError> {
        let init_err = |message: String| DistError::Init {
            addr: env.master_addr.clone(),
            port: env.master_port,
            rank: env.rank,
            world: env.world_size,
            message,
        };
        let host = std::ffi::CString::new(env.master_addr.as_str())
            .map_err(|_| init_err("MASTER_ADDR holds a NUL byte".into()))?;
        let ms = i64::try_from(timeout.as_millis()).unwrap_or(i64::MAX);
        let mut err = std::ptr::null_mut();
        let group = create(host.as_ptr(), ms, &mut err);
        if group.is_null() {
            return Err(init_err(ffi::take(err)));
        }
        Ok(Self {
            group,
            rank: env.rank,
            world_size: env.world_size,
        })
    }

    /// Tells the other ranks why this one stops (its own error: a file it cannot read, a full
    /// disk), before it exits: their failed collective then quotes `reason` instead of only
    /// saying this rank is gone. Bounded (a few seconds at most); never fails.
    pub fn mark_failed(&self, reason: &str) {
        #[cfg(not(danie_c10d))]
        let _ = reason;
        #[cfg(danie_c10d)]
        {
            let reason = std::ffi::CString::new(reason.replace('\0', " "))
                .unwrap_or_else(|_| c"(reason not representable)".into());
            // SAFETY: live group, valid C string; the shim swallows store errors.
            unsafe { ffi::danie_c10d_mark_failed(self.group, reason.as_ptr()) };
        }
    }

    pub fn rank(&self) -> usize {
        self.rank
    }

    /// The shim's handle of the group, for the other C++ of the shim (csrc/sync_bn.cpp).
    #[cfg(danie_c10d)]
    pub(crate) fn raw(&self) -> *mut ffi::Group {
        self.group
    }

    pub fn world_size(&self) -> usize {
        self.world_size
    }

    /// Sums each tensor over the ranks, in place (same shapes and kinds on every rank).
    pub fn all_reduce_sum(&self, tensors: &mut [Tensor]) -> Result<(), DistError> {
        #[cfg(not(danie_c10d))]
        {
            let _ = tensors;
            Err(DistError::Unavailable)
        }
        #[cfg(danie_c10d)]
        {
            let mut ptrs = ffi::handles(tensors);
            let mut err = std::ptr::null_mut();
            // SAFETY: live tch tensors (at::Tensor*), count matches.
            let rc = unsafe {
                ffi::danie_c10d_all_reduce_sum(
                    self.group,
                    ptrs.as_mut_ptr(),
                    ptrs.len() as i32,
                    &mut err,
                )
            };
            self.check(rc, err, "all-reduce")
        }
    }

    /// Replaces each tensor with rank `root`'s, in place.
    pub fn broadcast(&self, tensors: &mut [Tensor], root: usize) -> Result<(), DistError> {
        #[cfg(not(danie_c10d))]
        {
            let _ = (tensors, root);
            Err(DistError::Unavailable)
        }
        #[cfg(danie_c10d)]
        {
            let mut ptrs = ffi::handles(tensors);
            let mut err = std::ptr::null_mut();
            // SAFETY: as in all_reduce_sum.
            let rc = unsafe {
                ffi::danie_c10d_broadcast(
                    self.group,
                    ptrs.as_mut_ptr(),
                    ptrs.len() as i32,
                    root as i32,
                    &mut err,
                )
            };
            self.check(rc, err, "broadcast")
        }
    }

    /// Every rank's `input` (same shape and kind on every rank), in rank order.
    pub fn all_gather(&self, input: &Tensor) -> Result<Vec<Tensor>, DistError> {
        #[cfg(not(danie_c10d))]
        {
            let _ = input;
            Err(DistError::Unavailable)
        }
        #[cfg(danie_c10d)]
        {
            let mut input = input.contiguous();
            let mut outputs: Vec<Tensor> =
                (0..self.world_size).map(|_| input.empty_like()).collect();
            let mut ptrs = ffi::handles(&mut outputs);
            let mut err = std::ptr::null_mut();
            // SAFETY: as in all_reduce_sum; one output per rank.
            let rc = unsafe {
                ffi::danie_c10d_all_gather(
                    self.group,
                    input.as_mut_ptr().cast(),
                    ptrs.as_mut_ptr(),
                    self.world_size as i32,
                    &mut err,
                )
            };
            self.check(rc, err, "all-gather")?;
            Ok(outputs)
        }
    }

    /// Averages flat (1-D, contiguous) tensors over the ranks in place, in buckets of at most
    /// `bucket_elems` elements: every bucket's all-reduce is started before the first is waited
    /// for, so Gloo overlaps them (PyTorch's DDP buckets gradients the same way, 25 MiB each by
    /// default).
    pub fn all_reduce_mean(
        &self,
        flats: &mut [Tensor],
        bucket_elems: i64,
    ) -> Result<(), DistError> {
        if let Some(bad) = flats.iter().find(|f| f.dim() != 1 || !f.is_contiguous()) {
            return Err(self.misuse(format!(
                "expects contiguous 1-D tensors (got shape {:?})",
                bad.size()
            )));
        }
        if bucket_elems < 1 {
            return Err(self.misuse(format!("buckets of {bucket_elems} elements")));
        }
        // Views of the tensors: reducing them reduces the tensors.
        let mut buckets: Vec<Tensor> = flats
            .iter()
            .flat_map(|f| f.split(bucket_elems, 0))
            .collect();
        self.all_reduce_sum(&mut buckets)?;
        for f in flats.iter_mut() {
            let _ = f.g_div_scalar_(self.world_size as f64);
        }
        Ok(())
    }

    /// A collective called with arguments it cannot take.
    fn misuse(&self, message: String) -> DistError {
        DistError::Collective {
            op: "all-reduce",
            rank: self.rank,
            message,
        }
    }

    /// Every rank's bytes, in rank order (lengths may differ): the per-case scores of a sharded
    /// evaluation travel this way, serialised.
    pub fn all_gather_bytes(&self, bytes: &[u8]) -> Result<Vec<Vec<u8>>, DistError> {
        let len = Tensor::from_slice(&[bytes.len() as i64]);
        let lens: Vec<usize> = self
            .all_gather(&len)?
            .iter()
            .map(|t| t.int64_value(&[0]).max(0) as usize)
            .collect();
        let longest = lens.iter().copied().max().unwrap_or(0);
        let mut padded = bytes.to_vec();
        padded.resize(longest, 0);
        let gathered = self.all_gather(&Tensor::from_slice(&padded))?;
        Ok(gathered
            .iter()
            .zip(&lens)
            .map(|(t, &n)| {
                let mut v = vec![0u8; t.numel()];
                t.copy_data(&mut v, t.numel());
                v.truncate(n);
                v
            })
            .collect())
    }

    /// Waits until every rank has reached it.
    pub fn barrier(&self) -> Result<(), DistError> {
        #[cfg(not(danie_c10d))]
        {
            Err(DistError::Unavailable)
        }
        #[cfg(danie_c10d)]
        {
            let mut err = std::ptr::null_mut();
            // SAFETY: live group.
            let rc = unsafe { ffi::danie_c10d_barrier(self.group, &mut err) };
            self.check(rc, err, "barrier")
        }
    }

    #[cfg(danie_c10d)]
    fn check(
        &self,
        rc: i32,
        err: *mut std::os::raw::c_char,
        op: &'static str,
    ) -> Result<(), DistError> {
        if rc == 0 {
            return Ok(());
        }
        let raw = ffi::take(err);
        // Which rank is lost, from the store's heartbeats (a few seconds at most).
        // SAFETY: live group; the shim returns a malloc'd string (never null but for OOM).
        let diagnosis = ffi::take(unsafe { ffi::danie_c10d_diagnose(self.group) });
        Err(DistError::Collective {
            op,
            rank: self.rank,
            message: format!("{diagnosis}; c10d said: {raw}"),
        })
    }
}

impl Drop for ProcessGroup {
    fn drop(&mut self) {
        #[cfg(danie_c10d)]
        // SAFETY: created by danie_c10d_new_gloo / _nccl, freed once.
        unsafe {
            ffi::danie_c10d_free(self.group)
        };
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    fn env(pairs: &[(&str, &str)]) -> Result<Option<DistEnv>, DistError> {
        let m: HashMap<String, String> = pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        DistEnv::from_lookup(|k| m.get(k).cloned())
    }

    #[test]
    fn torchrun_environment() {
        assert_eq!(env(&[]).unwrap(), None);
        let e = env(&[
            ("WORLD_SIZE", "4"),
            ("RANK", "3"),
            ("LOCAL_RANK", "1"),
            ("LOCAL_WORLD_SIZE", "2"),
            ("MASTER_ADDR", "node0"),
            ("MASTER_PORT", "29500"),
        ])
        .unwrap()
        .unwrap();
        assert_eq!(
            (e.rank, e.world_size, e.local_rank, e.local_world_size),
            (3, 4, 1, 2)
        );
        assert_eq!((e.master_addr.as_str(), e.master_port), ("node0", 29500));
    }

    #[test]
    fn disagreeing_environment_is_named() {
        let base = [("MASTER_ADDR", "h"), ("MASTER_PORT", "1234")];
        let with = |extra: &[(&'static str, &'static str)]| {
            let mut v: Vec<(&str, &str)> = base.to_vec();
            v.extend_from_slice(extra);
            env(&v).unwrap_err().to_string()
        };
        assert!(with(&[("WORLD_SIZE", "2"), ("RANK", "2")])
            .contains("RANK: 2 is not below WORLD_SIZE=2"));
        assert!(with(&[("WORLD_SIZE", "two"), ("RANK", "0")]).starts_with("WORLD_SIZE:"));
        assert!(with(&[("WORLD_SIZE", "2")]).starts_with("RANK: not set"));
        assert!(
            with(&[("WORLD_SIZE", "2"), ("RANK", "0"), ("LOCAL_RANK", "3")])
                .starts_with("LOCAL_RANK:")
        );
        let e = env(&[
            ("WORLD_SIZE", "1"),
            ("RANK", "0"),
            ("MASTER_ADDR", "h"),
            ("MASTER_PORT", "0"),
        ]);
        assert!(e.unwrap_err().to_string().starts_with("MASTER_PORT:"));
    }
}
