"""Convert a PyTorch checkpoint (.pth, e.g. torchvision's ImageNet ResNets) to safetensors.

`cargo xtask download weights NAME` runs this on arrival when the registry entry says
`convert = "pth-to-safetensors"`, so that danie (libtorch through tch) loads plain safetensors
and never unpickles anything.

- `torch.load(..., weights_only=True)`: no arbitrary code from the file runs.
- A checkpoint that wraps its weights (`{"state_dict": ...}` or `{"model": ...}`) is unwrapped.
- `--drop PREFIX` (repeatable) leaves out keys such as the ImageNet classifier `fc.`.
- `--prefix P` puts P before every remaining key (the model's name for the backbone).
- Tensors are saved contiguous, in their own dtype; `num_batches_tracked` counters are kept.

Prints one JSON line: {"tensors": N, "dropped": M, "out": PATH}.
"""
import argparse
import json
import sys

import torch
from safetensors.torch import save_file


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--in", dest="src", required=True, help=".pth file written by torch.save")
    ap.add_argument("--out", required=True, help="safetensors file to write")
    ap.add_argument("--prefix", default="", help="string put before every kept key")
    ap.add_argument("--drop", action="append", default=[], help="key prefix to leave out")
    a = ap.parse_args()

    try:
        obj = torch.load(a.src, map_location="cpu", weights_only=True)
    except Exception as e:  # corrupt or not a torch file
        print(f"error: {a.src} is not a readable PyTorch checkpoint: {e}", file=sys.stderr)
        return 2
    for wrapper in ("state_dict", "model"):
        if isinstance(obj, dict) and wrapper in obj and isinstance(obj[wrapper], dict):
            obj = obj[wrapper]
    if not isinstance(obj, dict) or not all(isinstance(v, torch.Tensor) for v in obj.values()):
        print(f"error: {a.src} holds no state_dict of tensors", file=sys.stderr)
        return 2

    kept, dropped = {}, 0
    for key, tensor in obj.items():
        if any(key.startswith(d) for d in a.drop):
            dropped += 1
            continue
        kept[a.prefix + key] = tensor.detach().contiguous()
    save_file(kept, a.out, metadata={"source": a.src.rsplit("/", 1)[-1], "format": "pt"})
    print(json.dumps({"tensors": len(kept), "dropped": dropped, "out": a.out}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
