"""Where the time of one training step goes: torch.profiler over the PyTorch reference's step
(the one scripts/bench_vs_pytorch.py times), eager and under torch.compile.

For each variant: wall time per step, host (CPU) time per step spent issuing work, device time
per step, the number of kernels launched per step, and the ops taking most device (or, on the
CPU, host) time. A step whose host time is close to its wall time while the device is busy for
much less is launch-bound: the lever is fewer launches (CUDA graphs, fusion), not faster
kernels. Prints Markdown; used by scripts/gpu-bench.sh on a card.
"""
import argparse
import json
import os
import subprocess
import sys
import time

import torch
from torch.profiler import ProfilerActivity, profile

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import bench_vs_pytorch as bench  # noqa: E402


def profile_variant(cfg, a, device, compiled):
    net = bench.build(cfg, device).train()
    opt = torch.optim.SGD(net.parameters(), lr=0.01, momentum=0.9, weight_decay=1e-4)
    x = torch.rand(a.batch, cfg["in_channels"], a.size, a.size, device=device)
    y = torch.randint(cfg["num_classes"], (a.batch, a.size, a.size), device=device)
    if compiled:
        net = torch.compile(net)
    step = bench.train_step_fn(net, opt, x, y, cfg["num_classes"], device, a.precision)
    for _ in range(3 + (2 if compiled else 0)):
        step()
    bench.sync(device)
    acts = [ProfilerActivity.CPU] + ([ProfilerActivity.CUDA] if device.type == "cuda" else [])
    t = time.perf_counter()
    with profile(activities=acts) as prof:
        for _ in range(a.steps):
            step()
        bench.sync(device)
    wall = (time.perf_counter() - t) / a.steps
    events = prof.key_averages()
    dev = device.type == "cuda"
    self_dev = lambda e: (e.self_device_time_total if dev else e.self_cpu_time_total)
    kernels = sum(e.count for e in events if dev and e.device_type == torch.autograd.DeviceType.CUDA)
    host = sum(e.self_cpu_time_total for e in events) / 1e6 / a.steps
    device_time = sum(e.self_device_time_total for e in events) / 1e6 / a.steps if dev else None
    top = sorted((e for e in events if self_dev(e) > 0), key=self_dev, reverse=True)[:a.top]
    return {"wall_s": wall, "host_s": host, "device_s": device_time, "kernels": kernels / a.steps,
            "top": [(e.key, self_dev(e) / 1e6 / a.steps, e.count // a.steps) for e in top]}


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--danie-bin", required=True, help="the throughput example (prints the preset's config)")
    ap.add_argument("--preset", default="s")
    ap.add_argument("--batch", type=int, default=24)
    ap.add_argument("--size", type=int, default=224)
    ap.add_argument("--channels", type=int, default=1)
    ap.add_argument("--precision", default="fp32", choices=["fp32", "bf16"])
    ap.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    ap.add_argument("--steps", type=int, default=5)
    ap.add_argument("--top", type=int, default=15)
    ap.add_argument("--no-compile", action="store_true")
    a = ap.parse_args()
    cfg = json.loads(subprocess.run([a.danie_bin, "--mode", "config", "--preset", a.preset, "--size", str(a.size),
                                     "--channels", str(a.channels)], capture_output=True, text=True,
                                    check=True).stdout)
    device = torch.device(a.device)
    print(f"## One training step of the reference, preset {a.preset}, batch {a.batch}, {a.precision}, {a.device}\n")
    for compiled in ([False] if a.no_compile else [False, True]):
        name = "torch.compile" if compiled else "eager"
        try:
            r = profile_variant(cfg, a, device, compiled)
        except Exception as e:  # compile needs Triton / a C++ toolchain
            print(f"### {name}: did not run ({str(e).strip().splitlines()[0][:200]})\n")
            continue
        dev = f", device busy {1e3 * r['device_s']:.1f} ms" if r["device_s"] is not None else ""
        print(f"### {name}: {1e3 * r['wall_s']:.1f} ms a step (profiled), host {1e3 * r['host_s']:.1f} ms{dev}, "
              f"{r['kernels']:.0f} kernels a step\n")
        print(f"| op | self {'device' if r['device_s'] is not None else 'host'} ms a step | calls a step |")
        print("|---|---|---|")
        for key, ms, n in r["top"]:
            print(f"| {key[:70]} | {1e3 * ms:.2f} | {n} |")
        print()


if __name__ == "__main__":
    main()
