"""Write the non-NIfTI formats danie reads, with their reference libraries, plus reference decodes.

Usage: nifti_sibling_formats.py OUT_DIR

- .npy with numpy: every numeric dtype and bool, C and Fortran order, both byte orders;
- .npz with np.savez and np.savez_compressed (TransUNet's keys `image`, `label`);
- .h5 with h5py (TransUNet's `image` / `label` volumes and other dtypes);
- PNG / BMP / JPEG with Pillow in each colour mode.

For every array, NAME.ref.bin holds the values numpy / h5py / Pillow decode, little-endian, C
order. Prints a JSON manifest of {file, format, key, shape, dtype, ref, rgb_ref}.
"""
import json
import os
import sys

import h5py
import numpy as np
from PIL import Image

rng = np.random.default_rng(7)
out = sys.argv[1]
manifest = []


def ref(name, arr):
    path = os.path.join(out, name + ".ref.bin")
    arr = np.ascontiguousarray(arr)
    dt = np.dtype("uint8") if arr.dtype == np.bool_ else arr.dtype
    with open(path, "wb") as f:
        f.write(arr.astype(dt.newbyteorder("<")).tobytes(order="C"))
    return path, list(arr.shape), dt.name


def values(dtype, shape):
    dt = np.dtype(dtype)
    n = int(np.prod(shape))
    if dt == np.bool_:
        return (rng.integers(0, 2, n) == 1).reshape(shape)
    if dt.kind in "iu":
        info = np.iinfo(dt)
        v = rng.integers(max(info.min, -500), min(info.max, 500), n, endpoint=True).astype(dt)
        v[0], v[-1] = info.min, info.max
    else:
        v = rng.standard_normal(n).astype(dt)
        v[1] = np.nan
    return v.reshape(shape)


# npy
for dtype in ["bool", "uint8", "int8", "int16", "uint16", "int32", "uint32", "int64", "uint64", "float32", "float64"]:
    for order in "CF":
        for endian in "<>":
            if dtype in ("bool", "uint8", "int8") and endian == ">":
                continue
            a = values(dtype, (3, 4, 5))
            a = a.astype(a.dtype.newbyteorder(endian)) if a.dtype.itemsize > 1 else a
            a = np.asfortranarray(a) if order == "F" else a
            name = f"a_{dtype}_{order}_{'le' if endian == '<' else 'be'}.npy"
            np.save(os.path.join(out, name), a)
            r, shape, dt = ref(name, a)
            manifest.append({"file": name, "format": "npy", "key": None, "shape": shape, "dtype": dt, "ref": r})

# npz: a TransUNet training slice, stored and compressed
for compressed in (False, True):
    name = f"case0005_slice{'012' if compressed else '011'}.npz"
    image = rng.random((16, 12)).astype(np.float32)
    label = rng.integers(0, 9, (16, 12)).astype(np.uint8)
    (np.savez_compressed if compressed else np.savez)(os.path.join(out, name), image=image, label=label)
    for key, arr in (("image", image), ("label", label)):
        r, shape, dt = ref(f"{name}.{key}", arr)
        manifest.append({"file": name, "format": "npz", "key": key, "shape": shape, "dtype": dt, "ref": r})

# h5: a TransUNet test volume (D, H, W) and other dtypes
name = "case0001.npy.h5"
with h5py.File(os.path.join(out, name), "w") as f:
    arrays = {
        "image": rng.random((4, 16, 12)).astype(np.float32),
        "label": rng.integers(0, 9, (4, 16, 12)).astype(np.float32),
        "u8": values("uint8", (3, 5)),
        "i16be": values("int16", (2, 3, 4)).astype(">i2"),
        "f64": values("float64", (7,)),
        "flags": values("bool", (2, 2)),
        "i64": values("int64", (3, 3)),
    }
    for key, arr in arrays.items():
        f.create_dataset(key, data=arr, compression="gzip" if key == "image" else None)
for key, arr in arrays.items():
    r, shape, dt = ref(f"{name}.{key}", arr)
    manifest.append({"file": name, "format": "h5", "key": key, "shape": shape, "dtype": dt, "ref": r})

# images
h, w = 23, 31
yy, xx = np.mgrid[0:h, 0:w]
rgb = np.stack([(xx * 8) % 256, (yy * 11) % 256, ((xx + yy) * 5) % 256], -1).astype(np.uint8)
rgb = np.clip(rgb.astype(int) + rng.integers(-20, 20, rgb.shape), 0, 255).astype(np.uint8)
images = {
    "gray.png": Image.fromarray(rgb[..., 0], "L"),
    "gray_alpha.png": Image.fromarray(rgb[..., :2], "LA"),
    "rgb.png": Image.fromarray(rgb, "RGB"),
    "rgba.png": Image.fromarray(np.dstack([rgb, rgb[..., :1]]), "RGBA"),
    "gray16.png": Image.fromarray(rgb[..., 0].astype(np.uint16) * 257 + 3),
    "palette.png": Image.fromarray(rgb, "RGB").quantize(16),
    "gray.bmp": Image.fromarray(rgb[..., 0], "L"),
    "rgb.bmp": Image.fromarray(rgb, "RGB"),
    "palette.bmp": Image.fromarray(rgb, "RGB").quantize(16),
    "gray.jpg": Image.fromarray(rgb[..., 0], "L"),
    "rgb.jpg": Image.fromarray(rgb, "RGB"),
}
for name, im in images.items():
    path = os.path.join(out, name)
    if name.endswith(".jpg"):
        im.save(path, quality=90)
    else:
        im.save(path)
    back = Image.open(path)
    native = np.asarray(back)
    if native.ndim == 2:
        native = native[..., None]
    entry = {"file": name, "format": "image", "key": None, "mode": back.mode}
    r, shape, dt = ref(name + ".native", native)
    entry.update({"shape": shape, "dtype": dt, "ref": r})
    if back.mode != "I;16":
        entry["rgb_ref"] = ref(name + ".rgb", np.asarray(back.convert("RGB")))[0]
    manifest.append(entry)

json.dump(manifest, sys.stdout)
