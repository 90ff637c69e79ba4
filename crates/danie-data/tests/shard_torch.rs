//! danie's data-parallel shards against PyTorch's own `DistributedSampler` (shuffle off, so its
//! indices are positions in the epoch's order): the same samples per rank, in the same order,
//! for padded and dropped epochs, worlds larger than the epoch included.
use danie_data::shard::shard;

#[test]
fn shards_equal_torch_distributed_sampler() {
    let mut cases = Vec::new();
    for n in [1usize, 5, 7, 8, 24, 25] {
        for world in [1usize, 2, 3, 4, 8] {
            for drop_last in [false, true] {
                cases.push((n, world, drop_last));
            }
        }
    }
    let json: Vec<[usize; 3]> = cases
        .iter()
        .map(|&(n, w, d)| [n, w, usize::from(d)])
        .collect();
    let torch = danie_testkit::run_python_json(
        "distributed_sampler.py",
        &[serde_json::to_string(&json).unwrap()],
    );
    for (i, &(n, world, drop_last)) in cases.iter().enumerate() {
        // An order that is not the identity, so that positions and samples differ.
        let order: Vec<usize> = (0..n).map(|k| (k * 7 + 3) % n).collect();
        for rank in 0..world {
            let want: Vec<usize> = torch[i][rank]
                .as_array()
                .expect("a list per rank")
                .iter()
                .map(|v| order[v.as_u64().expect("an index") as usize])
                .collect();
            assert_eq!(
                shard(&order, rank, world, drop_last).unwrap(),
                want,
                "n {n}, world {world}, rank {rank}, drop_last {drop_last}"
            );
        }
    }
}
