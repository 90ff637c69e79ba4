"""nibabel's view of a predicted label map beside its input: prints JSON with both shapes,
both affines, the output dtype and its label values.

Usage: train_nifti_check.py INPUT.nii.gz OUTPUT.nii.gz
"""
import json
import sys

import nibabel as nib
import numpy as np

inp, out = nib.load(sys.argv[1]), nib.load(sys.argv[2])
data = np.asanyarray(out.dataobj)
print(json.dumps({
    "in_shape": list(inp.shape),
    "out_shape": list(out.shape),
    "in_affine": inp.affine.tolist(),
    "out_affine": out.affine.tolist(),
    "out_dtype": str(data.dtype),
    "labels": sorted(int(v) for v in np.unique(data)),
}))
