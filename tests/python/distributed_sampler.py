"""PyTorch's DistributedSampler indices for danie's shard test.

argv[1]: JSON list of [n, world, drop_last] cases. Prints JSON: for each case, one list of
indices per rank (shuffle=False, so the indices are positions in the epoch's order, which
danie's test maps through its own order).
"""
import json
import sys

from torch.utils.data import DistributedSampler

out = []
for n, world, drop_last in json.loads(sys.argv[1]):
    data = list(range(n))
    out.append([
        list(DistributedSampler(data, num_replicas=world, rank=r, shuffle=False,
                                drop_last=bool(drop_last)))
        for r in range(world)
    ])
print(json.dumps(out))
