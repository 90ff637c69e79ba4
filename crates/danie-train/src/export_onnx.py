"""`danie export --format onnx`: the TorchScript module danie traced, exported to ONNX.

Embedded in the danie binary (include_str! in export.rs) and run with the user's Python, so an
installed danie needs no source tree. The exporter is PyTorch's TorchScript one (dynamo=False,
the path for a ScriptModule); the batch axis stays dynamic, the input is `image`, the output
`logits`. The file is checked with onnx.checker and, where onnxruntime is installed, run at
batch 1 and 4 against the TorchScript module.

usage: export_onnx.py MODULE.pt OUT.onnx CHANNELS SIZE OPSET
prints one JSON line: {"opset": ..., "checks": [{"batch": b, "max_abs_diff": d, "scale": max |logit|}, ...]}
exit 3: a package is missing (the message says which to install)
"""
import json
import sys


def main():
    if len(sys.argv) != 6:
        sys.exit(__doc__)
    module_path, out_path = sys.argv[1], sys.argv[2]
    channels, size, opset = (int(a) for a in sys.argv[3:6])
    try:
        import onnx
        import torch
    except ImportError as e:
        print(
            f"{sys.executable} lacks the Python package `{e.name}`; ONNX export needs torch and "
            f"onnx (and onnxruntime for the check): `{sys.executable} -m pip install torch onnx "
            f"onnxruntime`, or choose another Python with --python / DANIE_PYTHON",
            file=sys.stderr,
        )
        sys.exit(3)
    module = torch.jit.load(module_path, map_location="cpu").eval()
    example = torch.zeros(2, channels, size, size)
    torch.onnx.export(
        module,
        (example,),
        out_path,
        input_names=["image"],
        output_names=["logits"],
        dynamic_axes={"image": {0: "batch"}, "logits": {0: "batch"}},
        opset_version=opset,
        dynamo=False,
    )
    onnx.checker.check_model(onnx.load(out_path), full_check=True)
    checks = []
    try:
        import onnxruntime as ort
    except ImportError:
        ort = None
    if ort is not None:
        session = ort.InferenceSession(out_path, providers=["CPUExecutionProvider"])
        gen = torch.Generator().manual_seed(0)
        for batch in (1, 4):
            x = torch.rand(batch, channels, size, size, generator=gen)
            with torch.no_grad():
                want = module(x).numpy()
            got = session.run(["logits"], {"image": x.numpy()})[0]
            if got.shape != want.shape:
                sys.exit(f"onnxruntime gives shape {got.shape} at batch {batch}, TorchScript {want.shape}")
            checks.append({"batch": batch, "max_abs_diff": float(abs(got - want).max()), "scale": float(abs(want).max())})
    print(json.dumps({"opset": opset, "torch": torch.__version__, "onnx": onnx.__version__, "checks": checks}))


if __name__ == "__main__":
    main()
