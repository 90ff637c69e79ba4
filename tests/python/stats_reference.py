"""scipy 1.17 reference for danie-metrics' stats module (crates/danie-metrics/tests/stats_reference.rs).

Usage: stats_reference.py INPUT.json
INPUT: {"wilcoxon": [[x, y], ...], "bootstrap": [d, ...], "n_resamples": N}
Prints {"wilcoxon": [{"statistic", "pvalue"}, ...],
        "bootstrap": [{"low", "high", "standard_error"}, ...]} with scipy.stats.wilcoxon(x, y)'s
defaults and scipy.stats.bootstrap((d,), np.mean, method='percentile'), 95 %.
"""
import json
import sys
import warnings

import numpy as np
import scipy
from scipy import stats

assert scipy.__version__.startswith("1.17"), scipy.__version__

with open(sys.argv[1]) as f:
    spec = json.load(f)

out = {"wilcoxon": [], "bootstrap": []}
for x, y in spec["wilcoxon"]:
    with warnings.catch_warnings():
        # scipy warns on all-zero differences (a NaN or 1.0 p-value); danie matches the value.
        warnings.simplefilter("ignore")
        try:
            r = stats.wilcoxon(np.asarray(x, dtype=float), np.asarray(y, dtype=float))
        except ValueError as e:
            # One pair with a zero difference: scipy's permutation test wants two or more.
            out["wilcoxon"].append({"error": str(e)})
            continue
    p = float(r.pvalue)
    out["wilcoxon"].append({"statistic": float(r.statistic), "pvalue": None if np.isnan(p) else p})
for d in spec["bootstrap"]:
    r = stats.bootstrap((np.asarray(d, dtype=float),), np.mean, method="percentile",
                        confidence_level=0.95, n_resamples=spec["n_resamples"],
                        rng=np.random.default_rng(12345))
    out["bootstrap"].append({
        "low": float(r.confidence_interval.low),
        "high": float(r.confidence_interval.high),
        "standard_error": float(r.standard_error),
    })
json.dump(out, sys.stdout)
