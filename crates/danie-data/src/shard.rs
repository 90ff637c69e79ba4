//! Which samples each of several data-parallel processes visits in an epoch, with the
//! semantics of PyTorch's `DistributedSampler`: the epoch's order is padded to a multiple of
//! the world size by repeating its first samples (or, with `drop_last`, cut to one), and rank
//! `r` takes every `world`-th sample from position `r`.
//!
//! Taken that way, rank `r`'s `j`-th sample of local batch `s` (local batch size `b = B / world`)
//! is position `s * B + r + world * j` of the order: the ranks' local batches of step `s` are
//! together exactly the single-process global batch `s` of size `B`, whatever the world size
//! (the last, padded batch aside when the epoch does not divide by the world size).
/// A world size or batch size that cannot be sharded, in words.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct ShardError(String);

type Result<T> = std::result::Result<T, ShardError>;

/// The positions of `order` that rank `rank` of `world` visits, in its visiting order.
///
/// # Errors
/// A world size of 0 or a rank not below it.
pub fn shard(order: &[usize], rank: usize, world: usize, drop_last: bool) -> Result<Vec<usize>> {
    if world == 0 || rank >= world {
        return Err(ShardError(format!(
            "rank {rank} of world size {world}: the rank must be below the world size"
        )));
    }
    let n = order.len();
    let total = if drop_last {
        n - n % world
    } else {
        n.div_ceil(world) * world
    };
    if n == 0 {
        return Ok(Vec::new());
    }
    // Padding repeats the order from its start, as often as needed (world may exceed n).
    Ok((rank..total).step_by(world).map(|i| order[i % n]).collect())
}

/// The local batch size of each rank for a global batch of `global` samples over `world` ranks.
///
/// # Errors
/// When `global` does not divide by `world` (the global batch would change with the world
/// size).
pub fn local_batch_size(global: usize, world: usize) -> Result<usize> {
    if world == 0 || !global.is_multiple_of(world) || global < world {
        return Err(ShardError(format!(
            "the batch size {global} does not split evenly over {world} processes: choose a \
             batch size that is a multiple of the number of processes"
        )));
    }
    Ok(global / world)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_rank_visits_the_whole_order() {
        let order = vec![4, 2, 0, 1, 3];
        assert_eq!(shard(&order, 0, 1, false).unwrap(), order);
        assert_eq!(shard(&order, 0, 1, true).unwrap(), order);
    }

    #[test]
    fn ranks_together_give_the_global_batches() {
        let order: Vec<usize> = (0..48).rev().collect();
        let (global, world) = (8, 4);
        let b = local_batch_size(global, world).unwrap();
        let shards: Vec<Vec<usize>> = (0..world)
            .map(|r| shard(&order, r, world, false).unwrap())
            .collect();
        for s in 0..order.len() / global {
            let mut together: Vec<usize> = shards
                .iter()
                .flat_map(|sh| sh[s * b..(s + 1) * b].iter().copied())
                .collect();
            let mut single = order[s * global..(s + 1) * global].to_vec();
            together.sort_unstable();
            single.sort_unstable();
            assert_eq!(together, single, "step {s}");
        }
    }

    #[test]
    fn bad_ranks_and_batches_are_errors() {
        assert!(shard(&[1, 2], 2, 2, false).is_err());
        assert!(shard(&[1, 2], 0, 0, false).is_err());
        assert!(local_batch_size(24, 5)
            .unwrap_err()
            .to_string()
            .contains("24"));
        assert_eq!(local_batch_size(24, 4).unwrap(), 6);
    }
}
