"""FLOP reference for danie-model's analytic counter: torch.utils.flop_counter.FlopCounterMode
(FLOPs = 2 x MACs of conv, mm, bmm, ...) on reference/danie_ref.py, block by block, plus each
block's parameter count.

usage: model_flops.py CASES.json OUT.json
CASES.json: [{"name": ..., "config": <DanieConfig JSON>, "size": 224}, ...]
FlopCounterMode does not count the CPU kernel of scaled_dot_product_attention, so it is
replaced by its math form (q k^T, softmax, attn v) while counting.
"""
import json
import os
import sys

import torch
import torch.nn.functional as F
from torch.utils.flop_counter import FlopCounterMode

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "..", "reference"))
from danie_ref import Danie  # noqa: E402


def sdpa_math(q, k, v, attn_mask=None, dropout_p=0.0, is_causal=False, scale=None, enable_gqa=False):
    s = q.shape[-1] ** -0.5 if scale is None else scale
    return ((q * s) @ k.transpose(-2, -1)).softmax(-1) @ v


def flops(fn):
    with FlopCounterMode(display=False) as fc:
        out = fn()
    return fc.get_total_flops(), out


def nparams(m):
    return sum(p.numel() for p in m.parameters()) if m is not None else 0


def main():
    F.scaled_dot_product_attention = sdpa_math
    cases = json.load(open(sys.argv[1]))
    result = {}
    with torch.no_grad():
        for case in cases:
            cfg, s = case["config"], case["size"]
            net = Danie(cfg).eval()
            x = torch.randn(1, cfg["in_channels"], s, s)
            r = {"total": flops(lambda: net(x))[0], "total_params": nparams(net)}
            sap = feats = None
            if net.sap is not None:
                r["sap"], sap = flops(lambda: net.sap.forward_tokens(x))
                r["sap_params"] = nparams(net.sap)
            if net.hap is not None:
                r["hap"], feats = flops(lambda: net.hap(x))
                r["hap_params"] = nparams(net.hap)
                r["hap_attention"] = sum(flops(lambda a=a: a(f))[0] for a, f in
                                         [(net.hap.attn1, feats[1]), (net.hap.attn2, feats[2]), (net.hap.attn3, feats[3])])
                r["hap_attention_params"] = sum(nparams(getattr(net.hap, f"attn{i}")) for i in (1, 2, 3))
            if net.jp.es is not None:
                r["es"] = flops(lambda: net.jp.es(sap[0]))[0]
                r["es_params"] = nparams(net.jp.es)
            if net.jp.eh is not None:
                r["eh"] = flops(lambda: net.jp.eh(feats[3]))[0]
                r["eh_params"] = nparams(net.jp.eh)
            jp_all, fused = flops(lambda: net.jp(sap, feats[3] if feats is not None else None))
            r["jp"] = jp_all - r.get("es", 0) - r.get("eh", 0)
            r["jp_params"] = nparams(net.jp) - r.get("es_params", 0) - r.get("eh_params", 0)
            skips = [feats[2], feats[1], feats[0]] if feats is not None else []
            r["decoder"] = flops(lambda: net.decoder(fused, skips))[0]
            r["decoder_params"] = nparams(net.decoder)
            result[case["name"]] = r
    json.dump(result, open(sys.argv[2], "w"))


if __name__ == "__main__":
    main()
