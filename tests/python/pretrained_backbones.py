"""Pretrained-initialisation reference for danie-model's `pretrained` module: checkpoints
written by the real libraries (random init) and the features and position embeddings they
give.

usage: pretrained_backbones.py features OUT_DIR
    vit_small.pth / vit_small.safetensors: timm vit_small_patch16_224 (random, perturbed so the
        zero-initialised biases and class token count), torch.save'd state_dict and safetensors;
    resnet18.pth / resnet18.safetensors: torchvision resnet18 (random, BatchNorm randomised);
    features.safetensors: their inputs and features (timm forward_features without the class
        token, at 224 and, with the embedding resampled by timm, at 64; torchvision's relu,
        layer1, layer2, layer3 outputs, for RGB and for a 1-channel slice repeated to RGB);
    pos_embed.safetensors: timm's resample_abs_pos_embed for 224 -> 64, 224 -> 512, 384 -> 224.
"""
import os
import sys

import timm
import torch
import torchvision
from safetensors.torch import save_file
from timm.layers import resample_abs_pos_embed

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from model_backbones import randomise_bn, resnet_features  # noqa: E402


def save_both(state, out, stem):
    torch.save(state, os.path.join(out, f"{stem}.pth"))
    save_file({k: v.contiguous() for k, v in state.items()}, os.path.join(out, f"{stem}.safetensors"))


def features(out):
    torch.manual_seed(0)
    gen = torch.Generator().manual_seed(1)
    feats = {}
    vit = timm.create_model("vit_small_patch16_224", pretrained=False, dynamic_img_size=True).eval()
    with torch.no_grad():
        for p in vit.parameters():
            p.add_(torch.randn(p.shape, generator=gen) * 0.02)
    save_both(vit.state_dict(), out, "vit_small")
    for size, batch in [(224, 1), (64, 2)]:
        x = torch.randn(batch, 3, size, size, generator=gen)
        feats[f"x_vit_{size}"] = x
        with torch.no_grad():
            feats[f"vit_{size}"] = vit.forward_features(x)[:, 1:]  # (B, N, D), class token dropped

    net = torchvision.models.resnet18().eval()
    randomise_bn(net, gen)
    save_both(net.state_dict(), out, "resnet18")
    x = torch.randn(2, 3, 64, 64, generator=gen)
    gray = torch.randn(2, 1, 64, 64, generator=gen)
    feats["x_resnet"], feats["gray_resnet"] = x, gray
    with torch.no_grad():
        for i, f in enumerate(resnet_features(net, x)):
            feats[f"resnet18.{i}"] = f
        # The summed RGB filters on one channel equal the RGB net on the slice repeated.
        for i, f in enumerate(resnet_features(net, gray.repeat(1, 3, 1, 1))):
            feats[f"resnet18.gray.{i}"] = f
    save_file({k: v.contiguous() for k, v in feats.items()}, os.path.join(out, "features.safetensors"))

    pos = {}
    for name, tokens, new in [("224_to_64", 196, 4), ("224_to_512", 196, 32), ("384_to_224", 576, 14)]:
        src = torch.randn(1, 1 + tokens, 384, generator=gen)
        pos[f"{name}.in"] = src
        pos[f"{name}.out"] = resample_abs_pos_embed(src, new_size=[new, new], num_prefix_tokens=1)
    save_file({k: v.contiguous() for k, v in pos.items()}, os.path.join(out, "pos_embed.safetensors"))


def main():
    mode, out = sys.argv[1], sys.argv[2]
    {"features": features}[mode](out)
    print("ok")


if __name__ == "__main__":
    main()
