"""Side-by-side speed of danie (libtorch through tch), the PyTorch reference network (eager and
torch.compile) and onnxruntime running danie's own ONNX export.

All run in this one process tree, on the same machine, with the same preset config (the danie
binary prints its config as JSON; reference/danie_ref.py builds the same network from it), batch,
input size, channels (default 1: a CT slice, as danie reads Synapse), thread count, device and
precision:

- training images/s: forward (train mode), 0.5 CE + 0.5 Dice (TransUNet's loss), backward, SGD
  (lr 0.01, momentum 0.9, wd 1e-4), on random inputs made once (the loader is benchmarked apart);
- inference on a whole D x H x W volume: slices resized to the model size (bilinear), forward in
  eval mode without gradients, argmax, labels resized back (nearest), copied to the host as uint8.

Columns: danie; PyTorch eager; with --compile, torch.compile of the same network (default mode,
and with --compile-modes also "reduce-overhead", CUDA graphs on a card), compiled and warmed up
before anything is timed; with --onnxruntime (CPU inference), the network exported by
`danie export --format onnx` (--danie-cli) from the reference's weights, run by onnxruntime's CPU
provider with the same threads, inside the same resize / argmax pipeline as eager. With
--repeats N every column is timed N times, alternating (danie, eager, compile, onnxruntime, then
again), and each keeps its best run, so that a transient disturbance of the machine does not
decide a ratio; every run is kept in the JSON and the table says N. Neither side calls .item() in
the timed loop except what danie-train's loss does (two scalars per step for its log), which is
danie's real cost. Ratios are danie's speed over the other's (> 1: danie faster).

With --flops, the FLOPs of one training step are counted by torch.utils.flop_counter on the
reference, and on a card its measured bf16 matmul rate is reported, for MFU.

Writes a Markdown table (and the targets: danie >= 1.0x every other column) to stdout and
everything to --json.
"""
import argparse
import json
import os
import platform
import subprocess
import sys
import time

import torch
import torch.nn.functional as F

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(ROOT, "reference"))


def run_danie(binary, mode, preset, a, precision, extra=()):
    cmd = [binary, *extra, "--mode", mode, "--preset", preset, "--batch", str(a.batch if mode == "train" else a.infer_batch),
           "--size", str(a.size), "--steps", str(a.steps if mode == "train" else a.infer_reps),
           "--warmup", str(a.warmup), "--threads", str(a.threads), "--device", a.device,
           "--precision", precision, "--volume", a.volume, "--classes", str(a.classes),
           "--channels", str(a.channels)]
    out = subprocess.run(cmd, capture_output=True, text=True)
    if out.returncode != 0:
        raise RuntimeError(f"{' '.join(cmd)} failed:\n{out.stderr}")
    return json.loads(out.stdout.strip().splitlines()[-1])


def sync(device):
    if device.type == "cuda":
        torch.cuda.synchronize()


def autocast(device, precision):
    if precision == "bf16" and device.type == "cuda":
        return torch.autocast("cuda", dtype=torch.bfloat16)
    return torch.autocast("cpu", enabled=False)


def dice_loss(logits, target, n):
    """TransUNet DiceLoss(n)(logits, target, softmax=True)."""
    p = torch.softmax(logits, 1)
    g = F.one_hot(target, n).permute(0, 3, 1, 2).float()
    inter = (p * g).sum((0, 2, 3))
    z = (p * p).sum((0, 2, 3))
    y = (g * g).sum((0, 2, 3))
    return (1 - (2 * inter + 1e-5) / (z + y + 1e-5)).mean()


def build(cfg, device):
    from danie_ref import Danie

    torch.manual_seed(0)
    return Danie(cfg).to(device)


def train_step_fn(net, opt, x, y, n, device, precision):
    def step():
        opt.zero_grad(set_to_none=False)
        with autocast(device, precision):
            logits = net(x)
        logits = logits.float()
        loss = 0.5 * F.cross_entropy(logits, y) + 0.5 * dice_loss(logits, y, n)
        loss.backward()
        opt.step()
    return step


def compile_net(net, mode):
    return torch.compile(net) if mode == "default" else torch.compile(net, mode=mode)


def torch_train(cfg, a, device, precision, compile_mode=None):
    """Builds the network, its optimiser and inputs, compiles (compile_mode) and warms up; returns
    a function that times a.steps steps and returns images/s."""
    net = build(cfg, device).train()
    opt = torch.optim.SGD(net.parameters(), lr=0.01, momentum=0.9, weight_decay=1e-4)
    x = torch.rand(a.batch, cfg["in_channels"], a.size, a.size, device=device)
    y = torch.randint(cfg["num_classes"], (a.batch, a.size, a.size), device=device)
    if compile_mode:
        net = compile_net(net, compile_mode)
    step = train_step_fn(net, opt, x, y, cfg["num_classes"], device, precision)
    for _ in range(a.warmup + (2 if compile_mode else 0)):
        step()
    sync(device)

    def timed():
        sync(device)
        t = time.perf_counter()
        for _ in range(a.steps):
            step()
        sync(device)
        return a.batch / ((time.perf_counter() - t) / a.steps)
    return timed


def torch_infer(cfg, a, device, precision, forward=None, compile_mode=None):
    """The whole-volume pipeline around `forward` (default: the reference in eval mode, compiled
    with compile_mode if given), warmed up; returns a function that times it (s/volume)."""
    if forward is None:
        net = build(cfg, device).eval()
        forward = compile_net(net, compile_mode) if compile_mode else net
    d, h, w = (int(v) for v in a.volume.split("x"))
    volume = torch.rand(d, h, w)
    c, s = cfg["in_channels"], a.size

    @torch.no_grad()
    def run():
        out = []
        for start in range(0, d, a.infer_batch):
            sl = volume[start:start + a.infer_batch].to(device).unsqueeze(1)  # (n, 1, H, W)
            x = F.interpolate(sl, size=(s, s), mode="bilinear", align_corners=False).expand(-1, c, -1, -1)
            with autocast(device, precision):
                logits = forward(x)  # (n, K, S, S)
            lab = logits.argmax(1, keepdim=True).float()
            back = F.interpolate(lab, size=(h, w), mode="nearest").squeeze(1).to(torch.uint8).cpu()
            out.append(back)
        return torch.cat(out)

    # compiled: the first run compiles, the second runs what was compiled
    for _ in range(2 if compile_mode else min(a.warmup, 1)):
        run()
    sync(device)

    def timed():
        sync(device)
        t = time.perf_counter()
        for _ in range(max(a.infer_reps, 1)):
            run()
        sync(device)
        return (time.perf_counter() - t) / max(a.infer_reps, 1)
    return timed


def onnxruntime_forward(cfg, preset, a, tmp):
    """danie's ONNX export of the reference's weights (a PyTorch state_dict and the run config
    `danie export` needs), as an onnxruntime CPU session with a.threads threads; returns the
    forward function and the largest logit difference from the reference on one batch."""
    import onnxruntime as ort
    from safetensors.torch import save_file

    if not a.danie_cli:
        raise RuntimeError("--onnxruntime needs --danie-cli (the danie binary, for danie export)")
    if (cfg["in_channels"], cfg["num_classes"]) != (1, 9):
        raise RuntimeError("the onnxruntime column exports a Synapse model: --channels 1 --classes 9")
    net = build(cfg, torch.device("cpu")).eval()
    weights = os.path.join(tmp, f"{preset}.safetensors")
    save_file({k: v.detach().contiguous() for k, v in net.state_dict().items()
               if not k.endswith("num_batches_tracked")}, weights)
    config = os.path.join(tmp, f"{preset}.toml")
    with open(config, "w") as f:
        f.write(f'[data]\ndataset = "synapse"\nroot = "{tmp}"\nimage_size = {a.size}\n'
                f'[model]\npreset = "{preset}"\npretrained = "none"\n'
                f'[train]\niterations = 1\n[output]\nrun_dir = "{tmp}/run"\n')
    model = os.path.join(tmp, f"{preset}.onnx")
    out = subprocess.run([a.danie_cli, "export", "--weights", weights, "--config", config, "--format",
                          "onnx", "--output", model, "--python", sys.executable],
                         capture_output=True, text=True)
    if out.returncode != 0:
        raise RuntimeError(f"danie export failed: {out.stderr.strip()[-300:]}")
    so = ort.SessionOptions()
    so.intra_op_num_threads = a.threads
    so.inter_op_num_threads = 1
    session = ort.InferenceSession(model, so, providers=["CPUExecutionProvider"])

    def forward(x):  # (n, C, S, S) -> (n, K, S, S)
        return torch.from_numpy(session.run(None, {"image": x.contiguous().numpy()})[0])

    x = torch.rand(2, cfg["in_channels"], a.size, a.size)
    with torch.no_grad():
        diff = (forward(x) - net(x)).abs().max().item()
    return forward, diff


def train_flops(cfg, a, device):
    """FLOPs of one training step (forward + backward) counted by torch.utils.flop_counter."""
    from torch.utils.flop_counter import FlopCounterMode

    net = build(cfg, device).train()
    x = torch.rand(a.batch, cfg["in_channels"], a.size, a.size, device=device)
    y = torch.randint(cfg["num_classes"], (a.batch, a.size, a.size), device=device)
    with FlopCounterMode(display=False) as fc:
        logits = net(x)
        loss = 0.5 * F.cross_entropy(logits, y) + 0.5 * dice_loss(logits, y, cfg["num_classes"])
        loss.backward()
    return fc.get_total_flops()


def parity(binary, preset, a, device, tmp):
    """Same weights and input through danie and the reference (eval mode, fp32): max |diff|."""
    from safetensors.torch import load_file, save_file

    cfg = json.loads(subprocess.run([binary, "--mode", "config", "--preset", preset, "--size", str(a.size),
                                     "--classes", str(a.classes)], capture_output=True, text=True,
                                    check=True).stdout)
    net = build(cfg, device).eval()
    sd = {k: v.detach().float().contiguous().cpu() for k, v in net.state_dict().items()
          if not k.endswith("num_batches_tracked")}
    # Non-trivial BatchNorm statistics, so that eval-mode normalisation is exercised.
    g = torch.Generator().manual_seed(1)
    for k in sd:
        if k.endswith("running_mean"):
            sd[k] = torch.randn(sd[k].shape, generator=g) * 0.1
        elif k.endswith("running_var"):
            sd[k] = torch.rand(sd[k].shape, generator=g) + 0.5
    net.load_state_dict(sd, strict=False)
    x = torch.rand(2, cfg["in_channels"], a.size, a.size, generator=g)
    w, i, o = (os.path.join(tmp, f"{preset}-{n}.safetensors") for n in ("weights", "input", "output"))
    save_file(sd, w)
    save_file({"x": x}, i)
    subprocess.run([binary, "--mode", "parity", "--preset", preset, "--size", str(a.size), "--classes",
                    str(a.classes), "--device", a.device, "--weights", w, "--input", i, "--output", o],
                   check=True, capture_output=True)
    with torch.no_grad():
        ref = net(x.to(device)).float().cpu()
    got = load_file(o)["y"]
    return {"preset": preset, "max_abs_diff": (got - ref).abs().max().item(),
            "max_abs_ref": ref.abs().max().item()}


def peak_bf16(device):
    """Measured dense bf16 matmul rate of the card (FLOP/s), the MFU denominator."""
    n = 8192
    a = torch.randn(n, n, device=device, dtype=torch.bfloat16)
    b = torch.randn(n, n, device=device, dtype=torch.bfloat16)
    for _ in range(3):
        a @ b
    sync(device)
    reps = 20
    t = time.perf_counter()
    for _ in range(reps):
        a @ b
    sync(device)
    return 2 * n**3 * reps / (time.perf_counter() - t)


# The other columns of a row: JSON key, table heading.
PEERS = [("pytorch_eager", "PyTorch eager"), ("pytorch_compile", "torch.compile"),
         ("pytorch_compile_reduce_overhead", "torch.compile reduce-overhead"),
         ("onnxruntime", "onnxruntime")]


def compile_key(mode):
    return "pytorch_compile" if mode == "default" else "pytorch_compile_" + mode.replace("-", "_")


def peer_timers(what, cfg, preset, a, device, precision, tmp, row):
    """key -> timing function of every other column of one row (failures noted in the row)."""
    make = torch_train if what == "train" else torch_infer
    timers = {"pytorch_eager": make(cfg, a, device, precision)}
    if a.compile and preset in (a.compile_presets or a.presets).split(","):
        modes = a.compile_modes if what == "train" else (a.infer_compile_modes or a.compile_modes)
        for mode in modes.split(","):
            key = compile_key(mode)
            try:
                timers[key] = make(cfg, a, device, precision, compile_mode=mode)
            except Exception as e:  # compile needs a C++ toolchain / Triton
                row[key + "_error"] = str(e).strip().splitlines()[0][:200] if str(e).strip() else type(e).__name__
    if what != "train" and a.onnxruntime:
        try:
            forward, diff = onnxruntime_forward(cfg, preset, a, tmp)
            row["onnxruntime_max_abs_logit_diff"] = diff
            timers["onnxruntime"] = torch_infer(cfg, a, torch.device("cpu"), "fp32", forward=forward)
        except Exception as e:
            row["onnxruntime_error"] = str(e).strip().splitlines()[-1][:300]
    return timers


def plan(a):
    """The rows in the order they are measured: per preset its training rows (each precision),
    then its volume rows, so that a run cut short by --deadline-s has answered whole presets,
    the first (the one compiled too) first."""
    infer = [] if a.skip_infer else (a.infer_presets or a.presets).split(",")
    train = [] if a.no_train else a.presets.split(",")
    rows = []
    for preset in dict.fromkeys(train + infer):
        for what, listed in (("train", train), ("infer", infer)):
            if preset in listed:
                rows += [(what, preset, precision) for precision in a.precisions.split(",")]
    return rows


def measure_row(what, preset, a, device, precision, tmp):
    """danie and every other column, alternating a.repeats times; each keeps its best run."""
    train = what == "train"
    mode = "train" if train else "infer"
    best = max if train else min  # images/s, or s/volume
    key = "throughput" if train else "seconds_per"
    runs = [run_danie(a.danie_bin, mode, preset, a, precision)]
    cfg = runs[0]["config"]
    row = {"what": "train" if train else f"infer {a.volume}", "preset": preset, "precision": precision,
           "batch": a.batch if train else a.infer_batch, "size": a.size, "channels": a.channels,
           "unit": "images/s" if train else "s/volume", "repeats": a.repeats, "params": runs[0]["params"]}
    timers = peer_timers(what, cfg, preset, a, device, precision, tmp, row)
    times = {k: [] for k in timers}
    for i in range(a.repeats):
        if i:
            runs.append(run_danie(a.danie_bin, mode, preset, a, precision))
        for k, timed in timers.items():
            times[k].append(timed())
    del timers
    if a.compile:
        torch._dynamo.reset()  # the next row compiles afresh, without this one's caches
    d = best(runs, key=lambda r: r[key])
    row["danie"], row["danie_all"] = d[key], [r[key] for r in runs]
    for k, v in times.items():
        row[k], row[k + "_all"] = best(v), v
        ratio = row["danie"] / row[k] if train else row[k] / row["danie"]
        row["ratio" if k == "pytorch_eager" else "ratio_" + k.removeprefix("pytorch_")] = ratio
    row["config"], row["best_run"] = cfg, d
    return row


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--danie-bin", required=True, help="the throughput example binary")
    ap.add_argument("--danie-cli", default=os.environ.get("DANIE_BIN"),
                    help="the danie binary, for `danie export` (--onnxruntime; default $DANIE_BIN)")
    ap.add_argument("--presets", default="tiny,s")
    ap.add_argument("--infer-presets", default=None, help="presets for the volume test (default: --presets)")
    ap.add_argument("--batch", type=int, default=8)
    ap.add_argument("--infer-batch", type=int, default=8)
    ap.add_argument("--size", type=int, default=224)
    ap.add_argument("--classes", type=int, default=9)
    ap.add_argument("--channels", type=int, default=1, help="input channels (1: a CT slice, Synapse)")
    ap.add_argument("--steps", type=int, default=5)
    ap.add_argument("--warmup", type=int, default=2)
    ap.add_argument("--infer-reps", type=int, default=1)
    ap.add_argument("--volume", default="100x512x512", help="DxHxW")
    ap.add_argument("--threads", type=int, default=os.cpu_count())
    ap.add_argument("--device", default="cpu", choices=["cpu", "cuda"])
    ap.add_argument("--precisions", default="fp32", help="comma list of fp32,bf16 (bf16 autocast: CUDA only)")
    ap.add_argument("--compile", action="store_true", help="also time torch.compile (a failure is noted, not fatal)")
    ap.add_argument("--compile-modes", default="default",
                    help="torch.compile modes, comma list (default, reduce-overhead, max-autotune)")
    ap.add_argument("--infer-compile-modes", default=None,
                    help="torch.compile modes for the volume rows (default: --compile-modes)")
    ap.add_argument("--compile-presets", default=None,
                    help="presets to time under torch.compile (default: all of --presets)")
    ap.add_argument("--onnxruntime", action="store_true",
                    help="also time inference with onnxruntime on danie's ONNX export (CPU)")
    ap.add_argument("--flops", action="store_true", help="count training FLOPs and report MFU (needs --device cuda for a peak)")
    ap.add_argument("--skip-infer", action="store_true")
    ap.add_argument("--cuda-graph", action="store_true",
                    help="also time danie's training step replayed from a CUDA graph, and compare its losses with eager")
    ap.add_argument("--nhwc-presets", default="",
                    help="presets whose training danie also runs channels-last (--layout nhwc; with --cuda-graph, graphed too)")
    ap.add_argument("--parity", action="store_true", help="first check danie's logits against the reference's")
    ap.add_argument("--no-train", action="store_true", help="skip the training comparison")
    ap.add_argument("--repeats", type=int, default=1,
                    help="time every column this many times, alternating; each keeps its best run")
    ap.add_argument("--deadline-s", type=float, default=0,
                    help="start no new row this many seconds after the start (0: none); the rows "
                         "left are listed as skipped (a short GPU lease answers the first rows of plan())")
    ap.add_argument("--json", default=None)
    a = ap.parse_args()
    started = time.monotonic()

    torch.set_num_threads(a.threads)
    device = torch.device("cuda" if a.device == "cuda" else "cpu")
    results = {"torch": torch.__version__, "threads": a.threads, "device": a.device,
               "cpu": platform.processor() or platform.machine(), "repeats": a.repeats,
               "channels": a.channels, "rows": []}
    if device.type == "cuda":
        results["card"] = torch.cuda.get_device_name(0)
        if a.flops:
            results["peak_bf16_flops"] = peak_bf16(device)
    if a.onnxruntime:
        import onnxruntime
        results["onnxruntime"] = onnxruntime.__version__

    import tempfile

    with tempfile.TemporaryDirectory() as tmp:
        if a.parity:
            results["parity"] = [parity(a.danie_bin, p, a, device, tmp) for p in a.presets.split(",")]
            for r in results["parity"]:
                print(json.dumps(r), file=sys.stderr, flush=True)
            save(results, a.json)

        for what, preset, precision in plan(a):
            if a.deadline_s and time.monotonic() - started > a.deadline_s:
                results.setdefault("skipped", []).append(f"{what} {preset} {precision}")
                print(f"skipped (past --deadline-s {a.deadline_s}): {what} {preset} {precision}",
                      file=sys.stderr, flush=True)
                save(results, a.json)
                continue
            row_started = time.monotonic()
            if what == "train":
                row = measure_row("train", preset, a, device, precision, tmp)
                if a.flops:
                    f = train_flops(row["config"], a, device)
                    row["flops_per_step"] = f
                    if "peak_bf16_flops" in results:
                        row["mfu"] = f * (row["danie"] / a.batch) / results["peak_bf16_flops"]
                if a.cuda_graph and a.device == "cuda":
                    add_graph_run(row, row["best_run"], a, preset, precision)
                if preset in a.nhwc_presets.split(","):
                    add_nhwc_runs(row, a, preset, precision)
            else:
                row = measure_row("infer", preset, a, device, precision, tmp)
            row["seconds"] = round(time.monotonic() - row_started, 1)  # the row's cost, compiling included
            results["rows"].append(row)
            print(json.dumps(brief(row)), file=sys.stderr, flush=True)
            save(results, a.json)

    if a.parity:
        print("| parity (eval, fp32) | max abs diff | max abs logit |")
        print("|---|---|---|")
        for r in results["parity"]:
            print(f"| {r['preset']} | {r['max_abs_diff']:.2e} | {r['max_abs_ref']:.3g} |")
        print()
    print(table(results["rows"]))
    if results.get("skipped"):
        print(f"\nNot measured (past --deadline-s {a.deadline_s:g}): " + ", ".join(results["skipped"]))
    save(results, a.json)


def brief(row):
    return {k: v for k, v in row.items() if k not in ("config", "best_run")}


def cell(row, key):
    if key in row:
        return f"{row[key]:.3g}"
    return "failed" if key + "_error" in row else "-"


def table(rows):
    """The Markdown table of every row, then the targets: danie >= 1.0x each other column."""
    peers = [(k, h) for k, h in PEERS if any(k in r or k + "_error" in r for r in rows)]
    head = ["what", "preset", "precision", "batch", "danie"] + [h for _, h in peers] + \
        [f"danie / {h}" for _, h in peers] + ["best of"]
    out = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    ratio_key = lambda k: "ratio" if k == "pytorch_eager" else "ratio_" + k.removeprefix("pytorch_")
    rows = sorted(rows, key=lambda r: r["what"] != "train")  # training rows first, as measured per preset
    for r in rows:
        cells = [r["what"], r["preset"], r["precision"], str(r["batch"]), f"{r['danie']:.3g} {r['unit']}"]
        cells += [cell(r, k) for k, _ in peers]
        cells += [f"{r[ratio_key(k)]:.2f}" if ratio_key(k) in r else "-" for k, _ in peers]
        cells.append(f"{r['repeats']} alternating" if r["repeats"] > 1 else "1 run")
        out.append("| " + " | ".join(cells) + " |")
    out.append("")
    out.append("Ratios are speeds, danie's over the other's (> 1: danie faster; s/volume inverted).")
    out.append("")
    out.append("Targets (danie >= 1.0x each):")
    out.append("")
    for r in rows:
        for k, h in peers:
            if ratio_key(k) in r:
                x = r[ratio_key(k)]
                out.append(f"- {r['what']} {r['preset']} {r['precision']}: danie {x:.2f}x {h}: "
                           f"{'PASS' if x >= 1.0 else 'FAIL'}")
            elif k + "_error" in r:
                out.append(f"- {r['what']} {r['preset']} {r['precision']}: {h} did not run: {r[k + '_error']}")
    return "\n".join(out)


def error_line(e):
    """The `Error: ...` line of a failed danie run (its last line if none), for a report cell."""
    lines = str(e).strip().splitlines()
    return next((l for l in lines if l.startswith("Error:")), lines[-1])[:300]


def add_graph_run(row, eager_run, a, preset, precision):
    """danie's step replayed from a CUDA graph: images/s, and its losses against the eager run's
    (same seed, same inputs, same number of steps): a replay that skipped the update or read stale
    inputs would drift from the eager losses by about the loss's own change over the run."""
    try:
        graph = [run_danie(a.danie_bin, "train", preset, a, precision, ["--cuda-graph"])
                 for _ in range(a.repeats)]
    except RuntimeError as e:
        row["danie_graph_error"] = error_line(e)
        return
    best = max(graph, key=lambda r: r["throughput"])
    row["danie_graph"] = best["throughput"]
    row["danie_graph_all"] = [r["throughput"] for r in graph]
    row["graph_ratio"] = best["throughput"] / row["pytorch_eager"]
    e, g = eager_run.get("losses", []), graph[0].get("losses", [])
    if e and len(e) == len(g):
        diff = max(abs(x - y) for x, y in zip(e, g))
        change = max(e) - min(e)
        row["graph_loss_max_abs_diff"] = diff
        row["graph_loss_eager_change"] = change
        row["graph_losses_match"] = diff <= 1e-2 * max(abs(x) for x in e) and diff <= 0.05 * change


def add_nhwc_runs(row, a, preset, precision):
    """danie's training with channels-last weights and input (eager, and graphed with --cuda-graph)."""
    variants = [("danie_nhwc", ["--layout", "nhwc"])]
    if a.cuda_graph and a.device == "cuda":
        variants.append(("danie_graph_nhwc", ["--layout", "nhwc", "--cuda-graph"]))
    for key, extra in variants:
        try:
            row[key] = max(run_danie(a.danie_bin, "train", preset, a, precision, extra)["throughput"]
                           for _ in range(a.repeats))
        except RuntimeError as e:
            row[key + "_error"] = error_line(e)


def save(results, path):
    """Writes the results so far (rows without their configs), so a run cut short keeps them."""
    if not path:
        return
    out = dict(results, rows=[brief(r) for r in results["rows"]])
    with open(path + ".tmp", "w") as f:
        json.dump(out, f, indent=1)
    os.replace(path + ".tmp", path)


if __name__ == "__main__":
    main()
