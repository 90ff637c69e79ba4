"""PyTorch round-trip of danie's weights through reference/danie_ref.py.

usage:
  export_roundtrip.py to-ref WEIGHTS.safetensors IO.safetensors
      danie's weights file into danie_ref's network with strict=True (load_danie_weights); the
      network's logits on IO's x against danie's y. Prints {"max_abs_diff": d, "scale": max |y|,
      "keys": n}.
  export_roundtrip.py from-ref CONFIG.json SEED OUT_DIR IMAGE.png
      a danie_ref network (randomised parameters and BatchNorm statistics), saved as
      OUT_DIR/ref.pth and OUT_DIR/ref.safetensors (save_state_dict), and its mask of an RGB
      8-bit IMAGE at the model's size (x = v / 255, argmax of the logits) with each pixel's
      margin between the two largest logits: OUT_DIR/ref_mask.npy, OUT_DIR/ref_margin.npy.
  export_roundtrip.py compare DANIE_MASK.png OUT_DIR
      danie's mask (binary PNG, 0 / 255) against ref_mask.npy. Prints {"pixels", "disagree",
      "disagree_clear"} (clear: the reference's margin over 1e-4, so not a float tie).
"""
import json
import os
import sys

import numpy as np
import torch
from PIL import Image
from safetensors.torch import load_file

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "..", "reference"))
sys.path.insert(0, HERE)
from danie_ref import Danie, load_danie_weights, save_state_dict  # noqa: E402
from model_parity import randomise  # noqa: E402


def to_ref(weights, io_path):
    net, meta = load_danie_weights(weights)
    io = load_file(io_path)
    with torch.no_grad():
        y = net(io["x"])
    print(json.dumps({"max_abs_diff": float((y - io["y"]).abs().max()), "scale": float(io["y"].abs().max()), "keys": len(net.state_dict()), "dataset": meta["dataset"]}))


def from_ref(cfg_path, seed, out, image):
    cfg = json.load(open(cfg_path))
    torch.manual_seed(seed)
    net = Danie(cfg)
    randomise(net, torch.Generator().manual_seed(seed + 1))
    net.eval()
    rgb = np.asarray(Image.open(image).convert("RGB"), dtype=np.float32) / 255.0  # (H, W, 3)
    x = torch.from_numpy(rgb).permute(2, 0, 1).unsqueeze(0)
    with torch.no_grad():
        # A random network tends to one class everywhere: shift the head's last bias by the
        # median logit gap so about half the pixels go each way (a mask worth comparing).
        gap = net(x)[0]
        net.decoder.head.bias[-1] -= (gap[-1] - gap[0]).median()
        logits = net(x)[0]  # (K, H, W)
    os.makedirs(out, exist_ok=True)
    save_state_dict(net, os.path.join(out, "ref.pth"))
    save_state_dict(net, os.path.join(out, "ref.safetensors"))
    top2 = logits.topk(2, dim=0).values
    np.save(os.path.join(out, "ref_mask.npy"), logits.argmax(0).numpy().astype(np.uint8))
    np.save(os.path.join(out, "ref_margin.npy"), (top2[0] - top2[1]).numpy())
    print(json.dumps({"keys": len(net.state_dict())}))


def compare(mask_png, out):
    danie = np.asarray(Image.open(mask_png)) // 255
    ref = np.load(os.path.join(out, "ref_mask.npy"))
    margin = np.load(os.path.join(out, "ref_margin.npy"))
    assert danie.shape == ref.shape, (danie.shape, ref.shape)
    differ = danie != ref
    print(json.dumps({
        "pixels": int(ref.size),
        "disagree": int(differ.sum()),
        "disagree_clear": int((differ & (margin > 1e-4)).sum()),
        "foreground": int(ref.sum()),
    }))


if __name__ == "__main__":
    mode = sys.argv[1]
    if mode == "to-ref":
        to_ref(*sys.argv[2:4])
    elif mode == "from-ref":
        from_ref(sys.argv[2], int(sys.argv[3]), sys.argv[4], sys.argv[5])
    elif mode == "compare":
        compare(*sys.argv[2:4])
    else:
        sys.exit(__doc__)
