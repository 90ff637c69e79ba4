"""Read NIfTI files that danie wrote with nibabel and compare them with their template headers.

Usage: nifti_read_check.py MANIFEST.json

MANIFEST lists {"file", "template", "expected", "dtype", "shape"}: `expected` holds the values
danie meant to store (little-endian `dtype`, Fortran order). Prints, per file, what nibabel reads
and whether data, affine and the kept header fields agree.
"""
import json
import sys

import nibabel as nib
import numpy as np


def main(manifest_path):
    results = []
    for entry in json.load(open(manifest_path)):
        img = nib.load(entry["file"])
        tpl = nib.load(entry["template"])
        raw = np.asanyarray(img.dataobj.get_unscaled())
        expected = np.frombuffer(open(entry["expected"], "rb").read(), dtype=np.dtype(entry["dtype"]).newbyteorder("<"))
        expected = expected.reshape(entry["shape"], order="F")
        kind = raw.dtype.kind
        data_equal = bool(np.array_equal(raw, expected, equal_nan=(kind == "f")))
        h, th = img.header, tpl.header
        ext = [(int(e.get_code()), e.get_content()) for e in h.extensions]
        text = [(int(e.get_code()), e.get_content()) for e in th.extensions]
        results.append(
            {
                "file": entry["file"],
                "dtype": raw.dtype.name,
                "shape": list(img.shape),
                "data_equal": data_equal,
                "endianness_kept": h.endianness == th.endianness,
                "version": 2 if isinstance(img, nib.Nifti2Image) else 1,
                "template_version": 2 if isinstance(tpl, nib.Nifti2Image) else 1,
                "affine_max_diff": float(np.abs(img.affine - tpl.affine).max()),
                "qform_code": int(h["qform_code"]),
                "template_qform_code": int(th["qform_code"]),
                "sform_code": int(h["sform_code"]),
                "template_sform_code": int(th["sform_code"]),
                "zooms_kept": bool(np.array_equal(h["pixdim"][1:4], th["pixdim"][1:4])),
                "xyzt_units_kept": int(h["xyzt_units"]) == int(th["xyzt_units"]),
                "descrip_kept": h["descrip"].item() == th["descrip"].item(),
                "extensions_kept": ext == text,
                "n_extensions": len(ext),
                "slope_inter": [float(img.dataobj.slope), float(img.dataobj.inter)],
            }
        )
    json.dump(results, sys.stdout)


if __name__ == "__main__":
    main(sys.argv[1])
