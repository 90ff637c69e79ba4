"""PyTorch reference of DANIE, with the same parameter names as the Rust crate danie-model.

Built from the JSON of a `DanieConfig` (serde field names), so both sides use one config. Every
block mirrors its Rust module one to one; the docstrings name the Rust file. Used by the parity
tests (tests/python/model_*.py) and usable on its own:

    cfg = json.load(open("tiny.json")); net = Danie(cfg); net(torch.randn(1, 3, 224, 224))

Weights in and out of danie (docs/deploy.md): `load_danie_weights("model.safetensors")` builds the
network from the file's own `danie` metadata and loads every tensor with strict=True;
`save_state_dict(net, "net.pth")` (or ".safetensors") writes a state_dict that `danie predict
--weights net.pth --config run.toml` reads.
"""
import json

import torch
import torch.nn as nn
import torch.nn.functional as F


class PatchEmbed(nn.Module):
    """patch_embed.rs: 16x16 strided conv -> tokens."""

    def __init__(self, in_chans, dim, patch):
        super().__init__()
        self.proj = nn.Conv2d(in_chans, dim, patch, stride=patch)

    def forward(self, x):
        y = self.proj(x)  # (B, D, h, w)
        return y.flatten(2).transpose(1, 2), y.shape[2:]


class VitAttention(nn.Module):
    """vit_attention.rs: timm multi-head self-attention."""

    def __init__(self, dim, heads, qkv_bias):
        super().__init__()
        self.heads = heads
        self.qkv = nn.Linear(dim, 3 * dim, bias=qkv_bias)
        self.proj = nn.Linear(dim, dim)

    def forward(self, x):
        b, n, d = x.shape
        q, k, v = self.qkv(x).reshape(b, n, 3, self.heads, d // self.heads).permute(2, 0, 3, 1, 4).unbind(0)
        y = F.scaled_dot_product_attention(q, k, v)
        return self.proj(y.transpose(1, 2).reshape(b, n, d))


class VitMlp(nn.Module):
    """vit_mlp.rs."""

    def __init__(self, dim, hidden):
        super().__init__()
        self.fc1 = nn.Linear(dim, hidden)
        self.fc2 = nn.Linear(hidden, dim)

    def forward(self, x):
        return self.fc2(F.gelu(self.fc1(x)))


class VitBlock(nn.Module):
    """vit_block.rs: pre-norm transformer block."""

    def __init__(self, dim, heads, hidden, qkv_bias, eps):
        super().__init__()
        self.norm1 = nn.LayerNorm(dim, eps=eps)
        self.attn = VitAttention(dim, heads, qkv_bias)
        self.norm2 = nn.LayerNorm(dim, eps=eps)
        self.mlp = VitMlp(dim, hidden)

    def forward(self, x):
        x = x + self.attn(self.norm1(x))
        return x + self.mlp(self.norm2(x))


class Sap(nn.Module):
    """sap.rs: ViT stream with timm names."""

    def __init__(self, c, in_chans, img_size):
        super().__init__()
        d = c["embed_dim"]
        self.grid = img_size // c["patch_size"]
        self.prefix = 1 if c["cls_token"] else 0
        self.patch_embed = PatchEmbed(in_chans, d, c["patch_size"])
        self.cls_token = nn.Parameter(torch.randn(1, 1, d) * 0.02) if c["cls_token"] else None
        self.pos_embed = nn.Parameter(torch.randn(1, self.prefix + self.grid**2, d) * 0.02)
        hidden = int(c["mlp_ratio"] * d)
        self.blocks = nn.ModuleList(
            VitBlock(d, c["num_heads"], hidden, c["qkv_bias"], c["norm_eps"]) for _ in range(c["depth"])
        )
        self.norm = nn.LayerNorm(d, eps=c["norm_eps"])

    def pos_embed_for(self, h, w):
        if h == self.grid and w == self.grid:
            return self.pos_embed
        d = self.pos_embed.shape[2]
        patches = self.pos_embed[:, self.prefix:].reshape(1, self.grid, self.grid, d).permute(0, 3, 1, 2)
        resized = F.interpolate(patches, size=(h, w), mode="bicubic", antialias=True, align_corners=False)
        resized = resized.flatten(2).transpose(1, 2)
        return torch.cat([self.pos_embed[:, : self.prefix], resized], 1) if self.prefix else resized

    def forward_tokens(self, x):
        x, (h, w) = self.patch_embed(x)
        if self.cls_token is not None:
            x = torch.cat([self.cls_token.expand(x.shape[0], -1, -1), x], 1)
        x = x + self.pos_embed_for(h, w)
        for blk in self.blocks:
            x = blk(x)
        x = self.norm(x)
        return x[:, self.prefix:], (h, w)


def conv(cin, cout, k, stride=1):
    return nn.Conv2d(cin, cout, k, stride=stride, padding=k // 2, bias=False)


class BasicBlock(nn.Module):
    """basic_block.rs (torchvision BasicBlock)."""

    expansion = 1

    def __init__(self, cin, planes, stride):
        super().__init__()
        self.conv1 = conv(cin, planes, 3, stride)
        self.bn1 = nn.BatchNorm2d(planes)
        self.conv2 = conv(planes, planes, 3)
        self.bn2 = nn.BatchNorm2d(planes)
        self.downsample = downsample(cin, planes, stride)

    def forward(self, x):
        y = F.relu(self.bn1(self.conv1(x)))
        y = self.bn2(self.conv2(y))
        return F.relu(y + (self.downsample(x) if self.downsample is not None else x))


class Bottleneck(nn.Module):
    """bottleneck.rs (torchvision Bottleneck v1.5)."""

    expansion = 4

    def __init__(self, cin, planes, stride):
        super().__init__()
        self.conv1 = conv(cin, planes, 1)
        self.bn1 = nn.BatchNorm2d(planes)
        self.conv2 = conv(planes, planes, 3, stride)
        self.bn2 = nn.BatchNorm2d(planes)
        self.conv3 = conv(planes, planes * 4, 1)
        self.bn3 = nn.BatchNorm2d(planes * 4)
        self.downsample = downsample(cin, planes * 4, stride)

    def forward(self, x):
        y = F.relu(self.bn1(self.conv1(x)))
        y = F.relu(self.bn2(self.conv2(y)))
        y = self.bn3(self.conv3(y))
        return F.relu(y + (self.downsample(x) if self.downsample is not None else x))


def downsample(cin, cout, stride):
    """downsample.rs."""
    if stride == 1 and cin == cout:
        return None
    return nn.Sequential(nn.Conv2d(cin, cout, 1, stride=stride, bias=False), nn.BatchNorm2d(cout))


class ChannelAttention(nn.Module):
    """channel_attention.rs (CBAM channel gate)."""

    def __init__(self, c, r):
        super().__init__()
        hidden = max(c // r, 1)
        self.fc1 = nn.Linear(c, hidden, bias=False)
        self.fc2 = nn.Linear(hidden, c, bias=False)

    def forward(self, x):
        b = x.shape[0]
        flat = x.flatten(2)
        a = self.fc2(F.relu(self.fc1(torch.cat([flat.mean(-1), flat.amax(-1)], 0))))
        return x * torch.sigmoid(a[:b] + a[b:])[:, :, None, None]


class SpatialAttention(nn.Module):
    """spatial_attention.rs (CBAM spatial gate)."""

    def __init__(self, k):
        super().__init__()
        self.conv = nn.Conv2d(2, 1, k, padding=k // 2, bias=False)

    def forward(self, x):
        desc = torch.cat([x.mean(1, keepdim=True), x.amax(1, keepdim=True)], 1)
        return x * torch.sigmoid(self.conv(desc))


class DynamicCalibration(nn.Module):
    """dynamic_calibration.rs."""

    def __init__(self, c, r):
        super().__init__()
        hidden = max(c // r, 8)
        self.fc1 = nn.Linear(2 * c, hidden)
        self.fc2 = nn.Linear(hidden, 2 * c)

    def forward(self, attended, incoming):
        b, c = attended.shape[:2]
        ctx = torch.cat([attended.mean((2, 3)), incoming.mean((2, 3))], 1)
        w = self.fc2(F.relu(self.fc1(ctx))).reshape(b, 2, c, 1, 1).softmax(1)
        return attended * w[:, 0] + incoming * w[:, 1]


class StageAttention(nn.Module):
    """stage_attention.rs."""

    def __init__(self, c, h):
        super().__init__()
        self.channel = ChannelAttention(c, h["reduction"])
        self.spatial = SpatialAttention(h["spatial_kernel"])
        self.calib = DynamicCalibration(c, h["reduction"]) if h["calibration"] else None
        self.channel_first = h["attention_order"] == "channel_first"

    def forward(self, x):
        if self.channel_first:
            a = self.spatial(self.channel(x))
        else:
            a = self.channel(self.spatial(x))
        return self.calib(a, x) if self.calib is not None else a


class Hap(nn.Module):
    """hap.rs: torchvision ResNet stem + layer1..3, attention after each stage."""

    def __init__(self, h, in_chans):
        super().__init__()
        w = h["width"]
        block = BasicBlock if h["block"] == "basic" else Bottleneck
        e = block.expansion
        self.conv1 = conv(in_chans, w, 7, 2)
        self.bn1 = nn.BatchNorm2d(w)

        def stage(cin, planes, n, stride):
            return nn.Sequential(*[block(cin if i == 0 else planes * e, planes, stride if i == 0 else 1) for i in range(n)])

        self.layer1 = stage(w, w, h["layers"][0], 1)
        self.layer2 = stage(w * e, 2 * w, h["layers"][1], 2)
        self.layer3 = stage(2 * w * e, 4 * w, h["layers"][2], 2)
        self.attn1 = StageAttention(w * e, h)
        self.attn2 = StageAttention(2 * w * e, h)
        self.attn3 = StageAttention(4 * w * e, h)

    def forward(self, x, attend=True):
        stem = F.relu(self.bn1(self.conv1(x)))
        x = F.max_pool2d(stem, 3, 2, 1)
        outs = []
        for layer, attn in [(self.layer1, self.attn1), (self.layer2, self.attn2), (self.layer3, self.attn3)]:
            x = layer(x)
            if attend:
                x = attn(x)
            outs.append(x)
        return stem, outs[0], outs[1], outs[2]


class ConvBnRelu(nn.Module):
    """conv_bn_relu.rs."""

    def __init__(self, cin, cout, k):
        super().__init__()
        self.conv = conv(cin, cout, k)
        self.bn = nn.BatchNorm2d(cout)

    def forward(self, x):
        return F.relu(self.bn(self.conv(x)))


class EfficientChannelAttention(nn.Module):
    """efficient_channel_attention.rs (ES: XCiT transposed attention)."""

    def __init__(self, dim, heads, eps):
        super().__init__()
        self.heads = heads
        self.norm = nn.LayerNorm(dim, eps=eps)
        self.qkv = nn.Linear(dim, 3 * dim)
        self.proj = nn.Linear(dim, dim)
        self.temperature = nn.Parameter(torch.ones(heads, 1, 1))

    def forward(self, x):
        b, n, d = x.shape
        q, k, v = self.qkv(self.norm(x)).reshape(b, n, 3, self.heads, d // self.heads).permute(2, 0, 3, 4, 1).unbind(0)
        q = F.normalize(q, dim=-1) * self.temperature
        k = F.normalize(k, dim=-1)
        y = F.scaled_dot_product_attention(q, k, v, scale=1.0)
        return x + self.proj(y.permute(0, 3, 1, 2).reshape(b, n, d))


class NonLocal(nn.Module):
    """non_local.rs (EH: embedded-Gaussian non-local block)."""

    def __init__(self, c, inner):
        super().__init__()
        self.theta = nn.Conv2d(c, inner, 1)
        self.phi = nn.Conv2d(c, inner, 1)
        self.g = nn.Conv2d(c, inner, 1)
        self.w = nn.Conv2d(inner, c, 1)
        self.bn = nn.BatchNorm2d(c)
        nn.init.zeros_(self.bn.weight)

    def forward(self, x):
        b, _, h, w = x.shape

        def tok(m):
            return m(x).flatten(2).transpose(1, 2)

        y = F.scaled_dot_product_attention(tok(self.theta), tok(self.phi), tok(self.g), scale=1.0)
        return x + self.bn(self.w(y.transpose(1, 2).reshape(b, -1, h, w)))


class JointPreservation(nn.Module):
    """joint_preservation.rs."""

    def __init__(self, cfg):
        super().__init__()
        jp = cfg["jp"]["fusion"] == "jp"
        has_sap, has_hap = cfg["streams"] != "hap", cfg["streams"] != "sap"
        d, c16, dim = cfg["sap"]["embed_dim"], hap_channels(cfg)[3], cfg["jp"]["dim"]
        self.es = EfficientChannelAttention(d, cfg["jp"]["es_heads"], cfg["sap"]["norm_eps"]) if jp and has_sap else None
        self.eh = NonLocal(c16, c16 // cfg["jp"]["eh_reduction"]) if jp and has_hap else None
        self.proj_s = nn.Conv2d(d, dim, 1) if has_sap else None
        self.conv_s = ConvBnRelu(dim, dim, 3) if has_sap and jp else None
        self.proj_h = nn.Conv2d(c16, dim, 1) if has_hap else None
        self.conv_h = ConvBnRelu(dim, dim, 3) if has_hap and jp else None
        both = has_sap and has_hap
        self.fuse = ConvBnRelu(2 * dim, dim, 3) if both and cfg["jp"]["fusion"] == "concat" else None

    def forward(self, sap, hap):
        s = h = None
        if sap is not None:
            t, (gh, gw) = sap
            if self.es is not None:
                t = self.es(t)
            s = self.proj_s(t.transpose(1, 2).reshape(t.shape[0], t.shape[2], gh, gw))
            if self.conv_s is not None:
                s = self.conv_s(s)
        if hap is not None:
            h = self.eh(hap) if self.eh is not None else hap
            h = self.proj_h(h)
            if self.conv_h is not None:
                h = self.conv_h(h)
        if s is not None and h is not None:
            return self.fuse(torch.cat([s, h], 1)) if self.fuse is not None else s + h
        return s if s is not None else h


class DecoderBlock(nn.Module):
    """decoder_block.rs."""

    def __init__(self, cin, cskip, cout):
        super().__init__()
        self.conv1 = ConvBnRelu(cin + cskip, cout, 3)
        self.conv2 = ConvBnRelu(cout, cout, 3)

    def forward(self, x, skip):
        h, w = x.shape[2:]
        x = F.interpolate(x, size=(2 * h, 2 * w), mode="bilinear", align_corners=False)
        if skip is not None:
            x = torch.cat([x, skip], 1)
        return self.conv2(self.conv1(x))


class Decoder(nn.Module):
    """decoder.rs."""

    def __init__(self, cfg):
        super().__init__()
        c = cfg["decoder"]["channels"]
        hc = hap_channels(cfg)
        skips = [hc[2], hc[1], hc[0], 0] if cfg["streams"] != "sap" else [0] * 4
        ins = [cfg["jp"]["dim"], c[0], c[1], c[2]]
        self.blocks = nn.ModuleList(DecoderBlock(ins[i], skips[i], c[i]) for i in range(4))
        self.head = nn.Conv2d(c[3], cfg["num_classes"], 1)

    def forward(self, x, skips):
        for i, blk in enumerate(self.blocks):
            x = blk(x, skips[i] if i < len(skips) else None)
        return self.head(x)


def hap_channels(cfg):
    e = 1 if cfg["hap"]["block"] == "basic" else 4
    w = cfg["hap"]["width"]
    return [w, w * e, 2 * w * e, 4 * w * e]


class Danie(nn.Module):
    """danie.rs: the whole network."""

    def __init__(self, cfg):
        super().__init__()
        self.sap = Sap(cfg["sap"], cfg["in_channels"], cfg["img_size"]) if cfg["streams"] != "hap" else None
        self.hap = Hap(cfg["hap"], cfg["in_channels"]) if cfg["streams"] != "sap" else None
        self.jp = JointPreservation(cfg)
        self.decoder = Decoder(cfg)

    def forward(self, x):
        sap = self.sap.forward_tokens(x) if self.sap is not None else None
        feats = self.hap(x) if self.hap is not None else None
        fused = self.jp(sap, feats[3] if feats is not None else None)
        skips = [feats[2], feats[1], feats[0]] if feats is not None else []
        return self.decoder(fused, skips)


def load_danie_weights(path):
    """A weights file written by `danie train` as (network in eval mode, its `danie` metadata).

    The metadata holds the full model config (`meta["model"]`), the dataset, class names, input
    size and intensity preprocessing. Every tensor is loaded with strict=True; BatchNorm's
    `num_batches_tracked`, which danie does not keep, is filled in by PyTorch itself (a plain
    dict carries no state_dict version, so BatchNorm treats it as written before the counter
    existed).
    """
    from safetensors import safe_open
    from safetensors.torch import load_file

    with safe_open(path, "pt") as f:
        metadata = f.metadata() or {}
    if "danie" not in metadata:
        raise ValueError(f"{path}: no `danie` metadata, not a weights file written by danie train")
    meta = json.loads(metadata["danie"])
    net = Danie(meta["model"])
    net.load_state_dict(load_file(path), strict=True)
    return net.eval(), meta


def save_state_dict(net, path):
    """The network's state_dict for `danie predict/eval/export --weights PATH --config RUN.toml`:
    torch.save for .pth / .pt, safetensors for .safetensors."""
    state = {k: v.detach().cpu().contiguous() for k, v in net.state_dict().items()}
    if str(path).endswith(".safetensors"):
        from safetensors.torch import save_file

        save_file(state, path)
    else:
        torch.save(state, path)
