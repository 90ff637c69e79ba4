"""Reference outputs for danie's augmentation and resizing, from scipy / numpy / torch.

Usage: augment_reference.py DIR
DIR holds image.npy (float32, 2D), label.npy (uint8, 2D) and ops.json, a list of operations:
  {"op": "zoom", "order": 0|1|3, "out": [h, w]}          scipy.ndimage.zoom on the image
  {"op": "zoom_label", "out": [h, w]}                     scipy.ndimage.zoom order 0 on the label
  {"op": "rotate", "angle": a, "order": 0|1}              scipy.ndimage.rotate, reshape=False
  {"op": "bilinear", "out": [h, w]}                       torch interpolate bilinear, align_corners=False
  {"op": "transunet", "branch": "rotflip"|"rotate"|"identity", "k": k, "axis": a, "angle": d,
   "out": [h, w]}                                         TransUNet RandomGenerator with fixed draws
Writes out_{i}_image.npy (and out_{i}_label.npy where a label results) into DIR.
"""
import json
import os
import sys

import numpy as np
from scipy import ndimage
from scipy.ndimage import zoom


# --- TransUNet's RandomGenerator (datasets/dataset_synapse.py), draws passed in -------------
def random_rot_flip(image, label, k, axis):
    image = np.rot90(image, k)
    label = np.rot90(label, k)
    image = np.flip(image, axis=axis).copy()
    label = np.flip(label, axis=axis).copy()
    return image, label


def random_rotate(image, label, angle):
    image = ndimage.rotate(image, angle, order=0, reshape=False)
    label = ndimage.rotate(label, angle, order=0, reshape=False)
    return image, label


def random_generator(image, label, op, output_size):
    if op["branch"] == "rotflip":
        image, label = random_rot_flip(image, label, op["k"], op["axis"])
    elif op["branch"] == "rotate":
        image, label = random_rotate(image, label, op["angle"])
    x, y = image.shape
    if x != output_size[0] or y != output_size[1]:
        image = zoom(image, (output_size[0] / x, output_size[1] / y), order=3)
        label = zoom(label, (output_size[0] / x, output_size[1] / y), order=0)
    return image.astype(np.float32), label


def main():
    d = sys.argv[1]
    image = np.load(os.path.join(d, "image.npy"))
    label = np.load(os.path.join(d, "label.npy"))
    with open(os.path.join(d, "ops.json")) as f:
        ops = json.load(f)
    for i, op in enumerate(ops):
        lab = None
        kind = op["op"]
        if kind == "zoom":
            h, w = image.shape
            out = zoom(image, (op["out"][0] / h, op["out"][1] / w), order=op["order"])
            assert out.shape == tuple(op["out"]), (out.shape, op)
        elif kind == "zoom_label":
            h, w = label.shape
            out = zoom(label, (op["out"][0] / h, op["out"][1] / w), order=0)
            assert out.shape == tuple(op["out"]), (out.shape, op)
        elif kind == "rotate":
            out = ndimage.rotate(image, op["angle"], order=op["order"], reshape=False)
            lab = ndimage.rotate(label, op["angle"], order=0, reshape=False)
        elif kind == "bilinear":
            import torch

            t = torch.from_numpy(image)[None, None]
            out = torch.nn.functional.interpolate(
                t, size=tuple(op["out"]), mode="bilinear", align_corners=False
            )[0, 0].numpy()
        elif kind == "transunet":
            out, lab = random_generator(image, label, op, op["out"])
        else:
            raise SystemExit(f"unknown op {kind}")
        np.save(os.path.join(d, f"out_{i}_image.npy"), np.ascontiguousarray(out, dtype=np.float32))
        if lab is not None:
            np.save(os.path.join(d, f"out_{i}_label.npy"), np.ascontiguousarray(lab, dtype=np.uint8))


if __name__ == "__main__":
    main()
