"""What nibabel reads from each NIfTI file given: the reference for the hostile-header cases of
crates/danie-data/tests/nifti_crate_comparison.rs.

Usage: nifti_load_summary.py FILE...
Prints a JSON list, per file: {"ok": true, "shape", "affine" (img.affine, nibabel's choice),
"fdata_sum" (NaN left out), "nan_count"} or {"ok": false, "error": "..."}.
"""
import json
import logging
import sys

import nibabel as nib
import numpy as np

logging.disable(logging.CRITICAL)  # nibabel logs the header fixes it makes; the JSON says enough


def summary(path):
    try:
        img = nib.load(path)
        data = img.get_fdata()
        return {
            "ok": True,
            "shape": list(img.shape),
            "affine": img.affine.tolist(),
            "fdata_sum": float(np.nansum(data)),
            "nan_count": int(np.isnan(data).sum()),
        }
    except Exception as e:  # any refusal is an answer here
        return {"ok": False, "error": f"{type(e).__name__}: {e}"}


print(json.dumps([summary(p) for p in sys.argv[1:]]))
