"""Independent check of `danie export`: the TorchScript file under torch.jit.load and the ONNX file
under onnxruntime (CPU), on the inputs danie saw, against danie's own logits; plus the deploy
JSON's sha256 (hashlib), the ONNX graph's input/output names and dynamic batch axis, and the
operators the TorchScript graph runs.

usage: export_check.py MODEL.pt MODEL.onnx IO.safetensors WEIGHTS
IO.safetensors: x1, y1 (batch 1), x4, y4 (batch 4): danie's inputs and logits
prints JSON: {"torchscript": {"1": d, "4": d}, "onnx": {"1": d, "4": d}, "scale": {"1": max |y|, ...},
              "sha256": ..., "onnx_graph": {...}, "torchscript_ops": {kind: count}}
       (d: largest |logit - danie's logit|; torchscript_ops: the nodes of the TorchScript
       module's inlined graph by kind, what it runs at every call)
"""
import collections
import hashlib
import json
import sys

import onnx
import onnxruntime as ort
import torch
from safetensors.torch import load_file


def main():
    ts_path, onnx_path, io_path, weights = sys.argv[1:5]
    io = load_file(io_path)
    ts = torch.jit.load(ts_path, map_location="cpu").eval()
    sess = ort.InferenceSession(onnx_path, providers=["CPUExecutionProvider"])
    out = {"torchscript": {}, "onnx": {}, "scale": {}}
    for b in ("1", "4"):
        x, want = io["x" + b], io["y" + b]
        out["scale"][b] = float(want.abs().max())
        with torch.no_grad():
            got = ts(x)
        out["torchscript"][b] = float((got - want).abs().max())
        got = torch.from_numpy(sess.run(["logits"], {"image": x.numpy()})[0])
        assert got.shape == want.shape, (got.shape, want.shape)
        out["onnx"][b] = float((got - want).abs().max())
    out["torchscript_ops"] = dict(collections.Counter(n.kind() for n in ts.inlined_graph.nodes()))
    with open(weights, "rb") as f:
        out["sha256"] = hashlib.sha256(f.read()).hexdigest()
    model = onnx.load(onnx_path)
    dim = lambda v: [d.dim_param or d.dim_value for d in v.type.tensor_type.shape.dim]
    out["onnx_graph"] = {
        "inputs": {i.name: dim(i) for i in model.graph.input},
        "outputs": {o.name: dim(o) for o in model.graph.output},
        "opset": max(o.version for o in model.opset_import if o.domain in ("", "ai.onnx")),
    }
    print(json.dumps(out))


if __name__ == "__main__":
    main()
