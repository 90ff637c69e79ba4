"""Backbone reference for danie-model: torchvision resnet18/resnet50 and timm
vit_tiny_patch16_224 with random (seeded) weights, saved as a torch.save .pth (ResNets) and
.safetensors (ViT), with their features on fixed inputs.

usage: model_backbones.py OUT_DIR
writes resnet18.pth, resnet50.pth, vit_tiny.safetensors, features.safetensors
"""
import os
import sys

import timm
import torch
import torchvision
from safetensors.torch import save_file


def randomise_bn(net, gen):
    with torch.no_grad():
        for m in net.modules():
            if isinstance(m, torch.nn.BatchNorm2d):
                m.weight.copy_(torch.rand(m.weight.shape, generator=gen) + 0.5)
                m.bias.copy_(torch.randn(m.bias.shape, generator=gen) * 0.1)
                m.running_mean.copy_(torch.randn(m.running_mean.shape, generator=gen) * 0.1)
                m.running_var.copy_(torch.rand(m.running_var.shape, generator=gen) + 0.5)


def resnet_features(net, x):
    stem = net.relu(net.bn1(net.conv1(x)))
    l1 = net.layer1(net.maxpool(stem))
    l2 = net.layer2(l1)
    return [stem, l1, l2, net.layer3(l2)]


def main():
    out = sys.argv[1]
    torch.manual_seed(0)
    gen = torch.Generator().manual_seed(1)
    feats = {}
    x = torch.randn(2, 3, 64, 64, generator=gen)
    gray = torch.randn(2, 1, 64, 64, generator=gen)
    feats["x_resnet"], feats["gray_resnet"] = x, gray
    for name in ["resnet18", "resnet50"]:
        net = getattr(torchvision.models, name)().eval()
        randomise_bn(net, gen)
        torch.save(net.state_dict(), os.path.join(out, f"{name}.pth"))
        with torch.no_grad():
            for i, f in enumerate(resnet_features(net, x)):
                feats[f"{name}.{i}"] = f
            # A 1-channel model gets the summed RGB filters: equal to the 3-channel net on
            # the slice repeated three times.
            for i, f in enumerate(resnet_features(net, gray.repeat(1, 3, 1, 1))):
                feats[f"{name}.gray.{i}"] = f
    vit = timm.create_model("vit_tiny_patch16_224", pretrained=False, dynamic_img_size=True).eval()
    with torch.no_grad():
        for p in vit.parameters():  # timm zero-inits biases and the cls token: make them count
            p.add_(torch.randn(p.shape, generator=gen) * 0.02)
    save_file({k: v.contiguous() for k, v in vit.state_dict().items()}, os.path.join(out, "vit_tiny.safetensors"))
    for size in [224, 160]:
        xv = torch.randn(1, 3, size, size, generator=gen)
        feats[f"x_vit_{size}"] = xv
        with torch.no_grad():
            feats[f"vit_{size}"] = vit.forward_features(xv)[:, 1:]  # (B, N, D), cls dropped
    save_file({k: v.contiguous() for k, v in feats.items()}, os.path.join(out, "features.safetensors"))
    print("ok")


if __name__ == "__main__":
    main()
