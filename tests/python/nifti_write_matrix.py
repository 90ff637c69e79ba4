"""Write NIfTI files with nibabel over every dtype x byte order x .nii/.nii.gz/.hdr+.img x NIfTI-1/2.

Usage: nifti_write_matrix.py OUT_DIR

For each file also writes, as the independent reference danie is checked against:
  NAME.raw.bin    the on-disk values in Fortran order, little-endian, in the file's dtype
  NAME.fdata.bin  nibabel's get_fdata() (float64, Fortran order, little-endian)
and prints a JSON manifest: per file the header facts nibabel reads back.
"""
import gzip
import json
import os
import sys

import nibabel as nib
import numpy as np

DTYPES = ["uint8", "int8", "int16", "uint16", "int32", "uint32", "int64", "uint64", "float32", "float64"]


def quat_affine(i):
    """A rotated, anisotropic affine (rotation from a unit quaternion)."""
    q = np.array([0.9, 0.1 * (i % 3), -0.2, 0.3 + 0.01 * i])
    q /= np.linalg.norm(q)
    R = nib.quaternions.quat2mat(q)
    aff = np.eye(4)
    aff[:3, :3] = R @ np.diag([0.8, 1.25, 2.5])
    aff[:3, 3] = [-10.5 + i, 20.25, -3.0]
    return aff


def sample(dtype, shape, rng):
    dt = np.dtype(dtype)
    n = int(np.prod(shape))
    if dt.kind in "iu":
        info = np.iinfo(dt)
        vals = rng.integers(max(info.min, -1000), min(info.max, 1000), size=n, endpoint=True).astype(dt)
        vals[0], vals[-1] = info.min, info.max  # extremes exercise every byte
    else:
        vals = (rng.standard_normal(n) * 1000).astype(dt)
        vals[0] = np.finfo(dt).max
        vals[1] = np.nan
        vals[2] = -np.inf
    return vals.reshape(shape, order="F")


def patch_header(path, hklass, slope, inter):
    """Set scl_slope/scl_inter in a written file (nibabel recomputes them on save)."""
    opener = gzip.open if path.endswith(".gz") else open
    with opener(path, "rb") as f:
        data = bytearray(f.read())
    hdr = hklass.from_fileobj(__import__("io").BytesIO(bytes(data)))
    hdr["scl_slope"], hdr["scl_inter"] = slope, inter
    block = hdr.binaryblock
    data[: len(block)] = block
    with opener(path, "wb") as f:
        f.write(bytes(data))


def main(out):
    rng = np.random.default_rng(20240501)
    manifest = []
    i = 0
    for version in (1, 2):
        for endian in ("<", ">"):
            for ext in (".nii", ".nii.gz", ".hdr"):  # .hdr: a .hdr/.img pair (magic ni1 / ni2)
                for dtype in DTYPES:
                    i += 1
                    shape = (4, 3, 2) if i % 4 else (3, 2, 2, 2)
                    arr = sample(dtype, shape, rng)
                    klass, hklass = (
                        (nib.Nifti1Image, nib.Nifti1Header) if version == 1 else (nib.Nifti2Image, nib.Nifti2Header)
                    )
                    if ext == ".hdr":
                        klass = nib.Nifti1Pair if version == 1 else nib.Nifti2Pair
                    hdr = hklass(endianness=endian)
                    hdr.set_data_dtype(np.dtype(dtype))
                    aff = quat_affine(i)
                    img = klass(arr, None, header=hdr)
                    mode = i % 3  # 0: sform + qform, 1: qform only, 2: no transform (base affine)
                    if mode != 2:
                        img.set_qform(aff, code=1)
                    if mode == 0:
                        sform = aff.copy()
                        sform[0, 3] += 0.5  # differs from the qform: danie must pick the sform
                        img.set_sform(sform, code=2)
                    else:
                        img.set_sform(None, code=0)
                    img.header.set_zooms(img.header.get_zooms())
                    if i % 5 == 0:
                        img.header.extensions.append(nib.nifti1.Nifti1Extension("comment", b"danie test extension %d" % i))
                    img.header["descrip"] = b"danie matrix %d" % i
                    name = f"v{version}_{'le' if endian == '<' else 'be'}_{dtype}_{i}{ext}"
                    path = os.path.join(out, name)
                    nib.save(img, path)
                    scaled = dtype in ("int16", "uint8", "float32") and i % 3 == 0
                    if scaled:
                        patch_header(path, hklass, 0.5, -3.25)
                    back = nib.load(path)
                    raw = np.asanyarray(back.dataobj.get_unscaled())
                    with open(path + ".raw.bin", "wb") as f:
                        f.write(raw.astype(raw.dtype.newbyteorder("<")).tobytes(order="F"))
                    fdata = back.get_fdata()
                    with open(path + ".fdata.bin", "wb") as f:
                        f.write(fdata.astype("<f8").tobytes(order="F"))
                    # a loaded image moves the scaling into its array proxy
                    slope, inter = float(back.dataobj.slope), float(back.dataobj.inter)
                    with (gzip.open if ext == ".nii.gz" else open)(path, "rb") as f:
                        on_disk = hklass.from_fileobj(f)  # nibabel zeroes vox_offset in loaded images
                    manifest.append(
                        {
                            "file": name,
                            "version": version,
                            "endianness": "little" if back.header.endianness == "<" else "big",
                            "dtype": back.get_data_dtype().name,
                            "shape": list(back.shape),
                            "affine": back.affine.tolist(),
                            "zooms": [float(z) for z in back.header.get_zooms()],
                            "slope": slope,
                            "inter": inter,
                            "qform_code": int(back.header["qform_code"]),
                            "sform_code": int(back.header["sform_code"]),
                            "vox_offset": int(on_disk["vox_offset"]),
                            "extension_codes": [int(e.get_code()) for e in back.header.extensions],
                            "descrip": back.header["descrip"].item().decode(),
                        }
                    )
    json.dump(manifest, sys.stdout)


if __name__ == "__main__":
    main(sys.argv[1])
