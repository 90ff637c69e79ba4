"""Independent scores of 2D predictions (PNG masks written by `danie predict`) against the
datasets' own reference files, as the papers compute them:

- isic: one confusion matrix pooled over every pixel of every test image (masks > 0), then
  DSC = 2TP / (2TP + FP + FN), SE = TP / (TP + FN), SP = TN / (TN + FP),
  ACC = (TP + TN) / all, IoU = TP / (TP + FP + FN);
- glas: medpy 0.5.2's dc and jc per image (reference instance map > 0), averaged.

usage: eval_2d_reference.py KIND PAIRS.json OUT.json, PAIRS a list of [prediction, reference].
"""
import json
import sys

import numpy as np
from PIL import Image


def mask(path):
    a = np.asarray(Image.open(path))
    if a.ndim == 3:
        a = a[..., 0]
    return a > 0


def main():
    kind, pairs_path, out_path = sys.argv[1:4]
    pairs = json.load(open(pairs_path))
    if kind == "isic":
        tp = fp = fn = tn = 0
        for p, g in pairs:
            p, g = mask(p), mask(g)
            assert p.shape == g.shape, (p.shape, g.shape)
            tp += int(np.sum(p & g))
            fp += int(np.sum(p & ~g))
            fn += int(np.sum(~p & g))
            tn += int(np.sum(~p & ~g))
        out = {"dice": 2 * tp / (2 * tp + fp + fn), "sensitivity": tp / (tp + fn),
               "specificity": tn / (tn + fp), "accuracy": (tp + tn) / (tp + fp + fn + tn),
               "iou": tp / (tp + fp + fn)}
    else:
        from medpy.metric.binary import dc, jc

        def medpy_or_empty(f, p, g):
            # medpy 0.5.2 returns NaN (numpy 2) or 1 for two empty masks: both are "1" by intent
            return 1.0 if not p.any() and not g.any() else float(f(p, g))

        dices, ious = [], []
        for p, g in pairs:
            p, g = mask(p), mask(g)
            assert p.shape == g.shape, (p.shape, g.shape)
            dices.append(medpy_or_empty(dc, p, g))
            ious.append(medpy_or_empty(jc, p, g))
        out = {"dice": float(np.mean(dices)), "iou": float(np.mean(ious)), "n": len(pairs)}
    json.dump(out, open(out_path, "w"))


if __name__ == "__main__":
    main()
