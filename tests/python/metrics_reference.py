"""Reference values for danie-metrics, computed by medpy 0.5.2, MONAI 1.5 and scipy.

Modes (all write JSON; non-finite numbers as the strings "NaN", "inf", "-inf"; a medpy
exception as the string "error"):

  real OUTDIR        Loads tests/data/real/totalseg label maps with nibabel, maps the eight
                     Synapse organs to ids 1..8, writes gt/pred label maps (eroded, dilated,
                     shifted copies) as .npy into OUTDIR and their reference values to
                     OUTDIR/reference.json.
  pairs JOB OUT      JOB lists {"pred", "gt", "labels", "spacing"} label-map pairs (.npy).
  edt JOB OUT        JOB lists {"feature", "spacing"}: scipy distance_transform_edt(~feature).
  pixel JOB OUT      JOB lists {"pred", "gt"} binary pairs: MONAI confusion-matrix metrics per
                     image and pooled, medpy dc/jc per image.
"""
import json
import sys
import warnings
from pathlib import Path

import nibabel as nib
import numpy as np
import torch
from medpy.metric import binary as mb
from monai.metrics import (
    compute_average_surface_distance,
    compute_dice,
    compute_hausdorff_distance,
    compute_iou,
)
from monai.metrics.confusion_matrix import compute_confusion_matrix_metric, get_confusion_matrix
from monai.metrics.utils import get_edge_surface_distance
from scipy import ndimage

warnings.filterwarnings("ignore")
# One thread: torch's pool oversubscribes the CI's two cores (8x slower for MONAI's loops).
torch.set_num_threads(1)
REPO = Path(__file__).resolve().parents[2]
# Synapse id -> (CT label id, MR label id), from /work/shared/data/real/README.md
SYNAPSE = {1: (52, 23), 2: (4, 4), 3: (3, 3), 4: (2, 2), 5: (5, 5), 6: (7, 7), 7: (1, 1), 8: (6, 6)}


def num(x):
    x = float(x)
    if np.isnan(x):
        return "NaN"
    if np.isinf(x):
        return "inf" if x > 0 else "-inf"
    return x


def medpy_all(p, g, spacing):
    out = {"dice": num(mb.dc(p, g)), "iou": num(mb.jc(p, g))}
    for name in ["hd", "hd95", "asd", "assd"]:
        try:
            out[name] = num(getattr(mb, name)(p, g, voxelspacing=spacing))
        except RuntimeError:
            out[name] = "error"
    return out


def calculate_metric_percase(pred, gt, spacing):
    """TransUNet's utils.calculate_metric_percase (spacing passed on to hd95)."""
    pred = pred.copy()
    gt = gt.copy()
    pred[pred > 0] = 1
    gt[gt > 0] = 1
    if pred.sum() > 0 and gt.sum() > 0:
        return mb.dc(pred, gt), mb.hd95(pred, gt, voxelspacing=spacing)
    elif pred.sum() > 0 and gt.sum() == 0:
        return 1, 0
    else:
        return 0, 0


def monai_all(pred_map, gt_map, labels, spacing):
    """MONAI on one-hot (1, C, ...) float32 tensors, one channel per requested label."""
    yp = torch.from_numpy(np.stack([pred_map == l for l in labels])[None].astype(np.float32))
    yg = torch.from_numpy(np.stack([gt_map == l for l in labels])[None].astype(np.float32))
    sp = None if spacing is None else list(spacing)
    kw = dict(include_background=True, spacing=sp)
    res = {
        "dice": compute_dice(yp, yg, include_background=True)[0],
        "iou": compute_iou(yp, yg, include_background=True)[0],
        "hd": compute_hausdorff_distance(yp, yg, **kw)[0],
        "hd95": compute_hausdorff_distance(yp, yg, percentile=95, **kw)[0],
        "asd_f32": compute_average_surface_distance(yp, yg, symmetric=False, **kw)[0],
        "assd_f32": compute_average_surface_distance(yp, yg, symmetric=True, **kw)[0],
    }
    out = []
    for c in range(len(labels)):
        o = {k: num(v[c]) for k, v in res.items()}
        # The same distance tensors MONAI averages, averaged in float64.
        _, (d_pg, d_gp), _ = get_edge_surface_distance(
            yp[0, c], yg[0, c], spacing=sp, symmetric=True
        )
        a = d_pg.numpy().astype(np.float64)
        b = d_gp.numpy().astype(np.float64)
        o["asd"] = num(a.mean()) if a.size else "NaN"
        both = np.concatenate([a, b])
        o["assd"] = num(both.mean()) if both.size else "NaN"
        out.append(o)
    return out


def evaluate(pred_map, gt_map, labels, spacing):
    monai = monai_all(pred_map, gt_map, labels, spacing)
    out = []
    for i, l in enumerate(labels):
        p, g = pred_map == l, gt_map == l
        dice, hd95 = calculate_metric_percase(p.astype(np.uint8), g.astype(np.uint8), spacing)
        out.append(
            {
                "label": int(l),
                "medpy": medpy_all(p, g, spacing),
                "monai": monai[i],
                "transunet": {"dice": num(dice), "hd95": num(hd95)},
            }
        )
    return out


def synapse_map(raw, col):
    out = np.zeros(raw.shape, np.uint8)
    for sid, ids in SYNAPSE.items():
        out[raw == ids[col]] = sid
    return out


def perturbations(gt):
    """Eroded, dilated and shifted copies, with a missed, an invented and an absent class."""
    eroded = np.zeros_like(gt)
    dilated = gt.copy()
    for l in range(1, 9):
        eroded[ndimage.binary_erosion(gt == l)] = l
        grow = ndimage.binary_dilation(gt == l, iterations=2) & (dilated == 0)
        dilated[grow] = l
    shifted = ndimage.shift(gt, (2, -1, 1), order=0, mode="constant", cval=0)
    shifted[shifted == 2] = 0  # gallbladder missed: reference-only class
    s = tuple(slice(n // 3, n // 3 + max(2, n // 8)) for n in gt.shape)
    shifted[s] = 9  # a class absent from the reference: prediction-only
    return {"eroded": eroded, "dilated": dilated, "shifted": shifted}


def mode_real(outdir):
    outdir = Path(outdir)
    ref = {}
    labels = list(range(1, 11))  # 9: prediction only, 10: in neither
    for name, col in [("example_seg", 0), ("example_seg_mr", 1)]:
        img = nib.load(REPO / "tests/data/real/totalseg" / f"{name}.nii.gz")
        gt = synapse_map(np.asarray(img.dataobj), col)
        np.save(outdir / f"{name}_gt.npy", gt)
        zooms = tuple(float(z) for z in img.header.get_zooms()[:3])
        # Header spacing for every copy; anisotropic and unit spacing for one copy each (the
        # CI's two cores are shared: medpy's full-volume transforms take most of the time).
        extra = {"example_seg": {"dilated": "aniso", "shifted": "unit"},
                 "example_seg_mr": {"shifted": "aniso", "eroded": "unit"}}[name]
        spacings = {"header": zooms, "aniso": (0.75, 0.9, 2.5), "unit": None}
        for kind, pred in perturbations(gt).items():
            np.save(outdir / f"{name}_{kind}.npy", pred)
            for sp_name in ["header"] + ([extra[kind]] if kind in extra else []):
                sp = spacings[sp_name]
                ref[f"{name}/{kind}/{sp_name}"] = {
                    "pred": f"{name}_{kind}.npy",
                    "gt": f"{name}_gt.npy",
                    "labels": labels,
                    "spacing": sp,
                    "classes": evaluate(pred, gt, labels, sp),
                }
    (outdir / "reference.json").write_text(json.dumps(ref))


def mode_pairs(job, out):
    jobs = json.loads(Path(job).read_text())
    res = []
    for j in jobs:
        p, g = np.load(j["pred"]), np.load(j["gt"])
        res.append(evaluate(p, g, j["labels"], j["spacing"]))
    Path(out).write_text(json.dumps(res))


def mode_edt(job, out):
    res = []
    for j in json.loads(Path(job).read_text()):
        f = np.load(j["feature"])
        d = ndimage.distance_transform_edt(~f, sampling=j["spacing"])
        path = j["feature"].replace(".npy", "_edt.npy")
        np.save(path, d)
        res.append(path)
    Path(out).write_text(json.dumps(res))


def mode_pixel(job, out):
    images = []
    tp = fp = tn = fn = 0
    for j in json.loads(Path(job).read_text()):
        p, g = np.load(j["pred"]), np.load(j["gt"])
        cm = get_confusion_matrix(
            torch.from_numpy(p[None, None].astype(np.float32)),
            torch.from_numpy(g[None, None].astype(np.float32)),
        )
        scores = {
            k: num(compute_confusion_matrix_metric(m, cm)[0, 0])
            for k, m in [("accuracy", "accuracy"), ("sensitivity", "sensitivity"),
                         ("specificity", "specificity"), ("dice", "f1 score"), ("iou", "threat score")]
        }
        c = cm[0, 0].to(torch.int64).tolist()
        tp, fp, tn, fn = tp + c[0], fp + c[1], tn + c[2], fn + c[3]
        images.append({"scores": scores, "dc": num(mb.dc(p, g)), "jc": num(mb.jc(p, g))})
    pooled_cm = torch.tensor([[[tp, fp, tn, fn]]], dtype=torch.float64)
    pooled = {
        k: num(compute_confusion_matrix_metric(m, pooled_cm)[0, 0])
        for k, m in [("accuracy", "accuracy"), ("sensitivity", "sensitivity"),
                     ("specificity", "specificity"), ("dice", "f1 score"), ("iou", "threat score")]
    }
    Path(out).write_text(json.dumps({"images": images, "pooled": pooled, "counts": [tp, fp, tn, fn]}))


if __name__ == "__main__":
    mode, args = sys.argv[1], sys.argv[2:]
    {"real": mode_real, "pairs": mode_pairs, "edt": mode_edt, "pixel": mode_pixel}[mode](*args)
