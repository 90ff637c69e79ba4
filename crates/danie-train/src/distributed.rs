//! Data-parallel runs (docs/distributed.md): the process group a launcher describes (torchrun,
//! `srun`, or `danie train --nproc-per-node`), this process's device, and the two ways work is
//! split: training batches through the loader's shard ([`danie_data::shard`]), and whole cases
//! for validation, evaluation and prediction ([`Dist::cases`], gathered back in case order by
//! [`Dist::gather_in_order`]; [`crate::sharded`] agrees on each round's failures).
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use danie_dist::{DistEnv, ProcessGroup};
use serde::de::DeserializeOwned;
use serde::Serialize;
use tch::Device;

use crate::device_spec::DeviceSpec;

/// Seconds a collective waits when neither the config nor the environment says otherwise.
pub const DEFAULT_TIMEOUT_S: f64 = 300.0;

/// The environment variable that overrides every timeout of a data-parallel run (seconds).
pub const TIMEOUT_ENV: &str = "DANIE_DIST_TIMEOUT_S";

/// The c10d backend of a run.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    /// CPU tensors.
    Gloo,
    /// CUDA tensors.
    Nccl,
}

impl Backend {
    /// `train.dist_backend` (`auto`, `gloo`, `nccl`) for a run on `device`.
    pub fn choose(name: &str, device: Device) -> anyhow::Result<Self> {
        match name {
            "auto" if device.is_cuda() => Ok(Self::Nccl),
            "auto" | "gloo" => Ok(Self::Gloo),
            "nccl" => Ok(Self::Nccl),
            other => anyhow::bail!(
                "train.dist_backend = \"{other}\" is not one of \"auto\", \"gloo\", \"nccl\""
            ),
        }
    }
}

/// The timeout of collectives: `DANIE_DIST_TIMEOUT_S` if set, else `configured_s`.
pub fn timeout(configured_s: f64) -> anyhow::Result<Duration> {
    let s = match std::env::var(TIMEOUT_ENV) {
        Ok(v) => v
            .trim()
            .parse::<f64>()
            .ok()
            .filter(|s| (1.0..=86_400.0).contains(s))
            .with_context(|| format!("{TIMEOUT_ENV}={v}: give seconds between 1 and 86400"))?,
        Err(_) => configured_s,
    };
    Ok(Duration::from_secs_f64(s))
}

/// One process of a data-parallel run.
pub struct Dist {
    env: DistEnv,
    group: Arc<ProcessGroup>,
}

impl Dist {
    /// Joins the run the environment describes; `Ok(None)` when WORLD_SIZE is unset (one
    /// process, nothing to join).
    pub fn join(backend: Backend, timeout: Duration) -> anyhow::Result<Option<Self>> {
        let Some(env) = DistEnv::from_env()? else {
            return Ok(None);
        };
        let group = match backend {
            Backend::Gloo => ProcessGroup::new_gloo(&env, timeout)?,
            Backend::Nccl => ProcessGroup::new_nccl(&env, timeout)?,
        };
        Ok(Some(Self {
            env,
            group: Arc::new(group),
        }))
    }

    /// This process's rank.
    pub fn rank(&self) -> usize {
        self.env.rank
    }

    /// The number of processes.
    pub fn world_size(&self) -> usize {
        self.env.world_size
    }

    /// Whether this process writes the run's files (rank 0).
    pub fn is_main(&self) -> bool {
        self.env.rank == 0
    }

    /// The process group.
    pub fn group(&self) -> &Arc<ProcessGroup> {
        &self.group
    }

    /// The device of this process: `cuda:LOCAL_RANK` where the config asks for CUDA (one GPU per
    /// process, as torchrun users expect), the CPU otherwise.
    ///
    /// # Errors
    /// When this machine has no GPU `LOCAL_RANK` (more processes per node than GPUs).
    pub fn device(&self, configured: Device) -> anyhow::Result<Device> {
        match configured {
            Device::Cuda(_) => DeviceSpec::Cuda(self.env.local_rank)
                .resolve()
                .with_context(|| {
                    format!(
                        "rank {} (LOCAL_RANK {}): one GPU per process",
                        self.env.rank, self.env.local_rank
                    )
                }),
            d => Ok(d),
        }
    }

    /// The cases of `0..n` this rank handles: `rank, rank + world, ...` (each case exactly once
    /// over all ranks; no padding, unlike training batches).
    pub fn cases(&self, n: usize) -> Vec<usize> {
        shard_cases(n, self.rank(), self.world_size())
    }

    /// Every rank's `(case, value)` pairs, merged into one list in case order: each of `0..n`
    /// must come from exactly one rank.
    pub fn gather_in_order<T: Serialize + DeserializeOwned>(
        &self,
        n: usize,
        mine: Vec<(usize, T)>,
    ) -> anyhow::Result<Vec<T>> {
        let bytes = serde_json::to_vec(&mine).context("serialising this rank's results")?;
        let all = self.group.all_gather_bytes(&bytes)?;
        let mut slots: Vec<Option<T>> = (0..n).map(|_| None).collect();
        for (rank, b) in all.iter().enumerate() {
            let part: Vec<(usize, T)> = serde_json::from_slice(b)
                .with_context(|| format!("reading the results gathered from rank {rank}"))?;
            for (i, v) in part {
                let slot = slots
                    .get_mut(i)
                    .with_context(|| format!("rank {rank} sent case {i} of {n}"))?;
                anyhow::ensure!(slot.is_none(), "case {i} came from two ranks");
                *slot = Some(v);
            }
        }
        slots
            .into_iter()
            .enumerate()
            .map(|(i, v)| v.with_context(|| format!("no rank sent case {i} of {n}")))
            .collect()
    }

    /// Waits for every rank.
    pub fn barrier(&self) -> anyhow::Result<()> {
        Ok(self.group.barrier()?)
    }
}

/// [`Dist::cases`] for any rank and world size (`Dist`-free, for `--num-parts K --part-id I`).
pub fn shard_cases(n: usize, rank: usize, world: usize) -> Vec<usize> {
    (rank..n).step_by(world.max(1)).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cases_cover_every_index_once() {
        for world in 1..5 {
            let mut all: Vec<usize> = (0..world).flat_map(|r| shard_cases(11, r, world)).collect();
            all.sort_unstable();
            assert_eq!(all, (0..11).collect::<Vec<_>>(), "world {world}");
        }
        assert_eq!(shard_cases(5, 1, 2), vec![1, 3]);
    }

    #[test]
    fn backend_follows_the_device() {
        assert_eq!(Backend::choose("auto", Device::Cpu).unwrap(), Backend::Gloo);
        assert_eq!(
            Backend::choose("auto", Device::Cuda(0)).unwrap(),
            Backend::Nccl
        );
        assert_eq!(
            Backend::choose("gloo", Device::Cuda(0)).unwrap(),
            Backend::Gloo
        );
        assert!(Backend::choose("mpi", Device::Cpu).is_err());
    }
}
