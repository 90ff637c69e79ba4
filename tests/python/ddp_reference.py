"""PyTorch's own DistributedDataParallel on the batches a data-parallel `danie train` saw.

usage: ddp_reference.py SPEC.json OUT.safetensors
SPEC: {"model": danie's model config (as in the weights metadata), "init": safetensors of the
       initial weights, "root": the Synapse layout, "world": W, "port": a free port,
       "steps": [[names of rank 0's batch, names of rank 1's, ...], ...], "lrs": [lr of each step],
       "momentum", "weight_decay", "ce_weight", "dice_weight"}

Starts W processes (torch.multiprocessing, gloo on 127.0.0.1), wraps reference/danie_ref.py's
network in DDP (broadcast_buffers=True, PyTorch's default), and trains len(steps) SGD steps.
The loss of each process is its batch's cross-entropy plus TransUNet's Dice taken from per-class
sums totalled over the processes (dist.all_reduce of the detached sums; the local part keeps its
gradient, scaled by W since DDP divides the summed gradients by W): the loss one process would
have on the whole global batch. Rank 0 writes its state_dict (num_batches_tracked left out) to
OUT and prints JSON {"losses": [mean over processes of each step's loss]}.
"""
import json
import os
import sys

import numpy as np
import torch
import torch.distributed as dist
import torch.multiprocessing as mp
import torch.nn.functional as F
from safetensors.torch import load_file, save_file

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "..", "reference"))
from danie_ref import Danie  # noqa: E402


def batch(root, names):
    xs, ys = [], []
    for n in names:
        z = np.load(os.path.join(root, "train_npz", n + ".npz"))
        xs.append(torch.from_numpy(z["image"].astype(np.float32)))
        ys.append(torch.from_numpy(z["label"].astype(np.int64)))
    return torch.stack(xs)[:, None], torch.stack(ys)


def global_dice(logits, y, k, world):
    """TransUNet's Dice over the global batch; gradient through this process's sums only."""
    p = torch.softmax(logits.float(), dim=1)
    g = F.one_hot(y, k).permute(0, 3, 1, 2).float()
    local = torch.stack([(p * g).sum((0, 2, 3)), (p * p).sum((0, 2, 3)), (g * g).sum((0, 2, 3))])
    total = local.detach().clone()
    dist.all_reduce(total)
    sums = total + (local - local.detach())
    dice = (2 * sums[0] + 1e-5) / (sums[1] + sums[2] + 1e-5)
    return (1 - dice).mean()


def worker(rank, spec, out, queue):
    torch.set_num_threads(1)
    world = spec["world"]
    dist.init_process_group(
        "gloo", init_method=f"tcp://127.0.0.1:{spec['port']}", rank=rank, world_size=world
    )
    net = Danie(spec["model"])
    missing, unexpected = net.load_state_dict(load_file(spec["init"]), strict=False)
    assert not unexpected and all(k.endswith("num_batches_tracked") for k in missing), (missing, unexpected)
    model = torch.nn.parallel.DistributedDataParallel(net)
    opt = torch.optim.SGD(
        model.parameters(), lr=spec["lrs"][0], momentum=spec["momentum"],
        weight_decay=spec["weight_decay"],
    )
    k = spec["model"]["num_classes"]
    losses = []
    model.train()
    for names, lr in zip(spec["steps"], spec["lrs"]):
        for group in opt.param_groups:
            group["lr"] = lr
        x, y = batch(spec["root"], names[rank])
        logits = model(x)
        ce = F.cross_entropy(logits, y)
        dice = global_dice(logits, y, k, world)
        loss = spec["ce_weight"] * ce + spec["dice_weight"] * world * dice
        opt.zero_grad()
        loss.backward()
        opt.step()
        value = (spec["ce_weight"] * ce + spec["dice_weight"] * dice).detach().clone()
        dist.all_reduce(value)
        losses.append(value.item() / world)
    if rank == 0:
        state = {k: v.contiguous() for k, v in net.state_dict().items() if not k.endswith("num_batches_tracked")}
        save_file(state, out)
        queue.put(losses)
    dist.barrier()
    dist.destroy_process_group()


def main():
    spec = json.load(open(sys.argv[1]))
    out = sys.argv[2]
    ctx = mp.get_context("spawn")
    queue = ctx.SimpleQueue()
    mp.start_processes(worker, args=(spec, out, queue), nprocs=spec["world"], join=True, start_method="spawn")
    print(json.dumps({"losses": queue.get()}))


if __name__ == "__main__":
    main()
