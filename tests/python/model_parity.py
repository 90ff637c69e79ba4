"""Parity reference for danie-model: builds reference/danie_ref.py from each case's config,
randomises every parameter and BatchNorm buffer (seeded), and writes for each case
  <out>/<name>/weights.safetensors  the state_dict (num_batches_tracked dropped)
  <out>/<name>/io.safetensors       x, target, y_eval, y_train1, losses, after.<key> (after 2 SGD steps)

usage: model_parity.py CASES.json OUT_DIR
CASES.json: [{"name": ..., "config": <DanieConfig JSON>, "size": 64, "batch": 2, "seed": 0}, ...]
"""
import copy
import json
import os
import sys

import torch
import torch.nn.functional as F
from safetensors.torch import save_file

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "..", "reference"))
from danie_ref import Danie  # noqa: E402


def randomise(net, gen):
    """Non-trivial BatchNorm statistics/affines, temperatures and non-local gammas."""
    with torch.no_grad():
        for name, m in net.named_modules():
            if isinstance(m, torch.nn.BatchNorm2d):
                m.weight.copy_(torch.rand(m.weight.shape, generator=gen) + 0.5)
                m.bias.copy_(torch.randn(m.bias.shape, generator=gen) * 0.1)
                m.running_mean.copy_(torch.randn(m.running_mean.shape, generator=gen) * 0.1)
                m.running_var.copy_(torch.rand(m.running_var.shape, generator=gen) + 0.5)
        for name, p in net.named_parameters():
            if name.endswith("temperature"):
                p.copy_(torch.rand(p.shape, generator=gen) + 0.5)


def state(net):
    return {k: v.detach().clone().contiguous() for k, v in net.state_dict().items() if not k.endswith("num_batches_tracked")}


def main():
    cases = json.load(open(sys.argv[1]))
    out = sys.argv[2]
    torch.set_num_threads(max(1, os.cpu_count() or 1))
    for case in cases:
        torch.manual_seed(case["seed"])
        gen = torch.Generator().manual_seed(case["seed"] + 1)
        cfg = case["config"]
        net = Danie(cfg)
        randomise(net, gen)
        d = os.path.join(out, case["name"])
        os.makedirs(d, exist_ok=True)
        save_file(state(net), os.path.join(d, "weights.safetensors"))
        b, s = case["batch"], case["size"]
        x = torch.randn(b, cfg["in_channels"], s, s, generator=gen)
        target = torch.randint(0, cfg["num_classes"], (b, s, s), generator=gen)
        io = {"x": x, "target": target}
        net.eval()
        with torch.no_grad():
            io["y_eval"] = net(x)
        net.train()
        steps = case.get("steps", 2)
        if steps == 0:
            with torch.no_grad():
                io["y_train1"] = net(x)
        opt = torch.optim.SGD(net.parameters(), lr=0.01, momentum=0.9, weight_decay=1e-4)
        losses = [torch.zeros(())]
        for step in range(steps):
            opt.zero_grad()
            y = net(x)
            if step == 0:
                io["y_train1"] = y.detach().clone()
            loss = F.cross_entropy(y, target)
            loss.backward()
            opt.step()
            losses.append(loss.detach())
        losses = losses[1:] or losses
        io["losses"] = torch.stack(losses)
        for k, v in state(net).items():
            io["after." + k] = v
        save_file({k: v.contiguous() for k, v in io.items()}, os.path.join(d, "io.safetensors"))
    print(json.dumps({"cases": len(cases)}))


if __name__ == "__main__":
    main()
