"""What each dataset reader should return, computed with nibabel / h5py / numpy / PIL.

Usage: loader_read_reference.py REQUEST.json
The request is a list of {"kind", "image", "label", "out"}; for each item this writes
OUT_image.npy (float32) and OUT_label.npy (uint8) as the published pipelines preprocess them:
  synapse-npz: np.load keys image / label
  synapse-h5:  h5py keys image / label (slices on axis 0)
  synapse-raw: nibabel; HU clipped to [-125, 275] and scaled to [0, 1]; BTCV ids remapped to the
               8 organs (8,4,3,2,6,11,1,7 -> 1..8, others 0); (x, y, z) transposed to (z, y, x)
  acdc:        nibabel; per-volume min-max to [0, 1]; transposed to (z, y, x)
  acdc-npz:    np.load keys img / label
  isic:        PIL RGB / 255 as (3, H, W); mask == 255
  glas:        PIL RGB / 255 as (3, H, W); instance map > 0
"""
import json
import sys

import numpy as np


def main():
    with open(sys.argv[1]) as f:
        items = json.load(f)
    for it in items:
        kind, img_p, lab_p = it["kind"], it["image"], it["label"]
        if kind == "synapse-npz":
            d = np.load(img_p)
            img, lab = d["image"], d["label"]
        elif kind == "acdc-npz":
            d = np.load(img_p)
            img, lab = d["img"], d["label"]
        elif kind == "synapse-h5":
            import h5py

            with h5py.File(img_p) as f:
                img, lab = f["image"][:], f["label"][:]
        elif kind == "synapse-raw":
            import nibabel as nib

            hu = nib.load(img_p).get_fdata()
            img = (np.clip(hu, -125, 275) + 125) / 400
            raw = np.asarray(nib.load(lab_p).dataobj).astype(np.int64)
            lut = np.zeros(14, dtype=np.uint8)
            for synapse, btcv in enumerate([8, 4, 3, 2, 6, 11, 1, 7], start=1):
                lut[btcv] = synapse
            lab = lut[raw]
            img, lab = img.T, lab.T
        elif kind == "acdc":
            import nibabel as nib

            v = nib.load(img_p).get_fdata()
            img = (v - v.min()) / (v.max() - v.min())
            lab = np.asarray(nib.load(lab_p).dataobj)
            img, lab = img.T, lab.T
        elif kind in ("isic", "glas"):
            from PIL import Image

            img = np.asarray(Image.open(img_p).convert("RGB"), dtype=np.float32) / 255.0
            img = img.transpose(2, 0, 1)
            m = np.asarray(Image.open(lab_p).convert("L"))
            lab = (m == 255) if kind == "isic" else (m > 0)
        else:
            raise SystemExit(f"unknown kind {kind}")
        np.save(it["out"] + "_image.npy", np.ascontiguousarray(img, dtype=np.float32))
        np.save(it["out"] + "_label.npy", np.ascontiguousarray(lab, dtype=np.uint8))


if __name__ == "__main__":
    main()
