"""`danie train` from pretrained checkpoints against PyTorch: checkpoints written by the real
libraries, and the first iteration's loss of reference/danie_ref.py built from them.

usage: pretrained_first_loss.py write OUT_DIR
    vit_d1.safetensors: a timm VisionTransformer with ViT-S/16's widths and one block (random,
        perturbed so zero-initialised biases and the class token count);
    resnet_b1.pth: a torchvision ResNet of BasicBlocks, one per stage (random, BatchNorm
        randomised), torch.save'd with its layer4 and fc;
    vit_narrow.safetensors: a timm VisionTransformer of width 192 (does not fit ViT-S);
    resnet_bottleneck.pth: a torchvision ResNet of Bottleneck blocks (a resnet50 layout; does
        not fit a ResNet-18 slot), layer4 and fc left out to keep it small.
usage: pretrained_first_loss.py loss RUN_DIR DATA_ROOT VIT_FILE RESNET_FILE
    Builds danie_ref's network from the run's weights metadata, takes its SAP and HAP backbone
    from the checkpoints as timm / torchvision would (resample_abs_pos_embed, adapt_input_conv)
    and everything else (attention, Joint Preservation, decoder) from the run's
    model.safetensors (trained one step with a learning rate of 1e-10: the initial values to
    ~1e-10), and
    prints JSON: the loss on the run's training slices (one batch: 0.5 CE + 0.5 TransUNet Dice,
    train mode), and the largest difference between the run's backbone parameters and the ones
    taken from the checkpoints.
"""
import json
import math
import os
import sys

import numpy as np
import timm
import torch
import torch.nn.functional as F
import torchvision
from safetensors import safe_open
from safetensors.torch import load_file, save_file
from timm.layers import resample_abs_pos_embed
from timm.models._manipulate import adapt_input_conv

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "..", "reference"))
sys.path.insert(0, HERE)
from danie_ref import Danie  # noqa: E402
from train_ref import DiceLoss  # noqa: E402
from model_backbones import randomise_bn  # noqa: E402


def write(out):
    torch.manual_seed(0)
    gen = torch.Generator().manual_seed(1)
    vit = timm.models.VisionTransformer(img_size=224, patch_size=16, embed_dim=384, depth=1, num_heads=6)
    with torch.no_grad():
        for p in vit.parameters():
            p.add_(torch.randn(p.shape, generator=gen) * 0.02)
    save_file({k: v.contiguous() for k, v in vit.state_dict().items()}, os.path.join(out, "vit_d1.safetensors"))
    res = torchvision.models.resnet.ResNet(torchvision.models.resnet.BasicBlock, [1, 1, 1, 1])
    randomise_bn(res, gen)
    torch.save(res.state_dict(), os.path.join(out, "resnet_b1.pth"))

    narrow = timm.models.VisionTransformer(img_size=224, patch_size=16, embed_dim=192, depth=1, num_heads=3)
    save_file({k: v.contiguous() for k, v in narrow.state_dict().items()}, os.path.join(out, "vit_narrow.safetensors"))
    bottle = torchvision.models.resnet.ResNet(torchvision.models.resnet.Bottleneck, [1, 1, 1, 1])
    state = {k: v for k, v in bottle.state_dict().items() if not k.startswith(("layer4.", "fc."))}
    torch.save(state, os.path.join(out, "resnet_bottleneck.pth"))


def loss(run, data, vit_file, resnet_file):
    weights = os.path.join(run, "model.safetensors")
    with safe_open(weights, "pt") as f:
        meta = json.loads(f.metadata()["danie"])
    cfg = meta["model"]
    net = Danie(cfg)
    trained = load_file(weights)
    missing, unexpected = net.load_state_dict(trained, strict=False)
    assert not unexpected and all(k.endswith("num_batches_tracked") for k in missing), (missing, unexpected)

    # The backbones as the libraries adapt them.
    in_ch, grid = cfg["in_channels"], cfg["img_size"] // cfg["sap"]["patch_size"]
    backbone = {}
    for k, v in load_file(vit_file).items():
        if k == "pos_embed":
            v = resample_abs_pos_embed(v, new_size=[grid, grid], num_prefix_tokens=1)
        elif k == "patch_embed.proj.weight":
            v = adapt_input_conv(in_ch, v)
        backbone["sap." + k] = v
    for k, v in torch.load(resnet_file, map_location="cpu", weights_only=True).items():
        if k == "conv1.weight":
            v = adapt_input_conv(in_ch, v)
        backbone["hap." + k] = v
    own = net.state_dict()
    diff = 0.0
    with torch.no_grad():
        for k, v in backbone.items():
            if k not in own or k.endswith("num_batches_tracked"):
                continue
            if not k.endswith(("running_mean", "running_var")):  # updated by the step
                diff = max(diff, (trained[k] - v).abs().max().item())
            own[k].copy_(v)
    names = open(os.path.join(run, "lists", "train.txt")).read().split()
    xs, ys = [], []
    for n in names:
        z = np.load(os.path.join(data, "train_npz", n + ".npz"))
        xs.append(torch.from_numpy(z["image"].astype(np.float32)))
        ys.append(torch.from_numpy(z["label"].astype(np.int64)))
    x, y = torch.stack(xs)[:, None], torch.stack(ys)
    net.train()
    logits = net(x)
    ce = F.cross_entropy(logits, y)
    dice = DiceLoss(cfg["num_classes"])(logits, y, softmax=True)
    total = 0.5 * ce + 0.5 * dice
    assert math.isfinite(total.item())
    print(json.dumps({"loss": total.item(), "backbone_max_diff": diff, "batch": len(names)}))


def main():
    mode = sys.argv[1]
    if mode == "write":
        write(sys.argv[2])
        print("ok")
    else:
        loss(*sys.argv[2:6])


if __name__ == "__main__":
    main()
