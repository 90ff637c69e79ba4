"""Side-by-side timing of HD95 + ASD: danie vs medpy 0.5.2 vs MONAI 1.5, same arrays, one run.

    python scripts/bench_metrics.py --danie PATH/TO/metrics_timing [--shape 512,512,100]

`metrics_timing` is danie-metrics' example binary, built in release mode
(`cargo build --release -p danie-metrics --example metrics_timing`); this script builds nothing.
It writes a two-mask pair and a 9-class label-map pair (background + 8 organs) with the binary,
times on each:
  medpy   hd95(p, g, spacing) + asd(p, g, spacing) per class (what TransUNet-style code calls),
  MONAI   compute_hausdorff_distance(percentile=95) + compute_average_surface_distance on one-hot
          tensors (one-hot building not timed),
  danie   evaluate_case (all six metrics; medpy convention, then monai convention), median of N,
and prints the times, the ratios and whether the values are identical (1e-9 relative; MONAI's
float32 ASD mean to 2e-6).
"""
import argparse
import json
import os
import subprocess
import tempfile
import time
import warnings

import numpy as np
import torch
from medpy.metric import binary as mb
from monai.metrics import compute_average_surface_distance, compute_hausdorff_distance

warnings.filterwarnings("ignore")
SPACING = (0.8, 0.8, 2.5)


def close(a, b, rel):
    return a == b or abs(a - b) <= rel * max(abs(a), abs(b))


def time_medpy(pred, gt, labels):
    out = {}
    t, c = time.perf_counter(), time.process_time()
    for l in labels:
        p, g = pred == l, gt == l
        out[l] = (mb.hd95(p, g, voxelspacing=SPACING), mb.asd(p, g, voxelspacing=SPACING))
    return time.perf_counter() - t, time.process_time() - c, out


def time_monai(pred, gt, labels):
    yp = torch.from_numpy(np.stack([pred == l for l in labels])[None].astype(np.float32))
    yg = torch.from_numpy(np.stack([gt == l for l in labels])[None].astype(np.float32))
    t, c = time.perf_counter(), time.process_time()
    hd95 = compute_hausdorff_distance(yp, yg, include_background=True, percentile=95, spacing=list(SPACING))
    asd = compute_average_surface_distance(yp, yg, include_background=True, spacing=list(SPACING))
    dt, dc = time.perf_counter() - t, time.process_time() - c
    return dt, dc, {l: (float(hd95[0, i]), float(asd[0, i])) for i, l in enumerate(labels)}


def time_danie(binary, pred_path, gt_path, labels, repeat):
    cmd = [binary, "time", pred_path, gt_path, ",".join(map(str, labels)),
           ",".join(map(str, SPACING)), str(repeat)]
    res = json.loads(subprocess.run(cmd, check=True, capture_output=True, text=True).stdout)
    values = {}
    for conv in ["medpy", "monai"]:
        values[conv] = {c["label"]: (c["hd95"], c["asd"]) for c in res[conv]["case"]["classes"]}
    return res, values


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--danie", required=True, help="path of the release metrics_timing binary")
    ap.add_argument("--shape", default="512,512,100")
    ap.add_argument("--repeat", type=int, default=3, help="danie repetitions (median reported)")
    ap.add_argument("--json", help="also write the results to this JSON file")
    args = ap.parse_args()
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        subprocess.run([args.danie, "generate", tmp, args.shape], check=True)
        for name, labels in [("two_mask", [1]), ("nine_class", list(range(1, 9)))]:
            pp, gp = os.path.join(tmp, f"{name}_pred.npy"), os.path.join(tmp, f"{name}_gt.npy")
            pred, gt = np.load(pp), np.load(gp)
            t_medpy, c_medpy, v_medpy = time_medpy(pred, gt, labels)
            t_monai, c_monai, v_monai = time_monai(pred, gt, labels)
            res, v_danie = time_danie(args.danie, pp, gp, labels, args.repeat)
            same_medpy = all(close(v_danie["medpy"][l][0], v_medpy[l][0], 1e-9)
                             and close(v_danie["medpy"][l][1], v_medpy[l][1], 1e-9) for l in labels)
            same_monai = all(close(v_danie["monai"][l][0], v_monai[l][0], 1e-9)
                             and close(v_danie["monai"][l][1], v_monai[l][1], 2e-6) for l in labels)
            rows.append({
                "pair": f"{name} {args.shape} ({len(labels)} class{'es' if len(labels) > 1 else ''})",
                "medpy_s": t_medpy, "monai_s": t_monai,
                "danie_medpy_s": res["medpy"]["seconds"], "danie_monai_s": res["monai"]["seconds"],
                "medpy_cpu_s": c_medpy, "monai_cpu_s": c_monai,
                "danie_medpy_cpu_s": res["medpy"]["cpu_seconds"], "danie_monai_cpu_s": res["monai"]["cpu_seconds"],
                "danie_threads": res["threads"],
                "identical_to_medpy": same_medpy, "identical_to_monai": same_monai,
                "values": {"medpy": v_medpy, "monai": v_monai, "danie": v_danie},
            })
    print(f"HD95 + ASD, spacing {SPACING}, torch threads {torch.get_num_threads()}, "
          f"danie threads {rows[0]['danie_threads']}, cpus {os.cpu_count()}, "
          f"load average {os.getloadavg()[0]:.1f}\n")
    for kind, suffix in [("wall-clock", "_s"), ("CPU (all threads)", "_cpu_s")]:
        print(f"{kind} seconds")
        print("| pair | medpy | MONAI | danie (medpy conv.) | danie (monai conv.) "
              "| medpy / danie | MONAI / danie | same as medpy | same as MONAI |")
        print("|---|---|---|---|---|---|---|---|---|")
        for r in rows:
            m, mo = r["medpy" + suffix], r["monai" + suffix]
            d, dm = r["danie_medpy" + suffix], r["danie_monai" + suffix]
            if d is None:
                continue
            print(f"| {r['pair']} | {m:.2f} | {mo:.2f} | {d:.3f} | {dm:.3f} | {m / d:.1f}x "
                  f"| {mo / dm:.1f}x | {r['identical_to_medpy']} | {r['identical_to_monai']} |")
        print()
    if args.json:
        with open(args.json, "w") as f:
            json.dump(rows, f, indent=1, default=str)
    if not all(r["identical_to_medpy"] and r["identical_to_monai"] for r in rows):
        raise SystemExit("values differ from the references")


if __name__ == "__main__":
    main()
