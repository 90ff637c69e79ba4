"""PyTorch references for danie-train's tests.

Usage: train_ref.py MODE DIR
  loss      DIR/logits.npy (B,C,H,W) f32, DIR/target.npy (B,H,W) i64
            -> DIR/out.json {"ce", "dice", "total"} with CE = F.cross_entropy and TransUNet's
               DiceLoss (softmax, one-hot of every class, per-class 1 - (2I+1e-5)/(z+y+1e-5),
               mean over classes), total = 0.5 ce + 0.5 dice
  adamw     DIR/p_*.npy initial params, DIR/g_*_<step>.npy grads, DIR/lrs.npy, DIR/hp.json
            -> DIR/p_<name>_<step>.out.npy params after each torch.optim.AdamW step
  schedule  DIR/hp.json {"base_lr","max_iterations","power","warmup_iters","warmup_start_factor","steps"}
            -> DIR/out.json {"lrs": lr used at each step}: TransUNet's training loop (lr set
               after each step, before iter_num += 1) times torch LinearLR's warm-up factor
"""
import json
import sys
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F


class DiceLoss(torch.nn.Module):
    """TransUNet's utils.DiceLoss, as published."""

    def __init__(self, n_classes):
        super().__init__()
        self.n_classes = n_classes

    def _one_hot_encoder(self, input_tensor):
        tensor_list = []
        for i in range(self.n_classes):
            temp_prob = input_tensor == i
            tensor_list.append(temp_prob.unsqueeze(1))
        output_tensor = torch.cat(tensor_list, dim=1)
        return output_tensor.float()

    def _dice_loss(self, score, target):
        target = target.float()
        smooth = 1e-5
        intersect = torch.sum(score * target)
        y_sum = torch.sum(target * target)
        z_sum = torch.sum(score * score)
        loss = (2 * intersect + smooth) / (z_sum + y_sum + smooth)
        return 1 - loss

    def forward(self, inputs, target, softmax=False):
        if softmax:
            inputs = torch.softmax(inputs, dim=1)
        target = self._one_hot_encoder(target)
        loss = 0.0
        for i in range(self.n_classes):
            loss += self._dice_loss(inputs[:, i], target[:, i])
        return loss / self.n_classes


def mode_loss(d):
    logits = torch.from_numpy(np.load(d / "logits.npy"))
    target = torch.from_numpy(np.load(d / "target.npy")).long()
    ce = F.cross_entropy(logits, target)
    dice = DiceLoss(logits.shape[1])(logits, target, softmax=True)
    out = {"ce": ce.item(), "dice": dice.item(), "total": (0.5 * ce + 0.5 * dice).item()}
    (d / "out.json").write_text(json.dumps(out))


def mode_adamw(d):
    hp = json.loads((d / "hp.json").read_text())
    names = hp["names"]
    params = [torch.nn.Parameter(torch.from_numpy(np.load(d / f"p_{n}.npy"))) for n in names]
    lrs = np.load(d / "lrs.npy")
    opt = torch.optim.AdamW(params, lr=float(lrs[0]), betas=tuple(hp["betas"]), eps=hp["eps"],
                            weight_decay=hp["weight_decay"])
    for step, lr in enumerate(lrs):
        for g in opt.param_groups:
            g["lr"] = float(lr)
        for n, p in zip(names, params):
            p.grad = torch.from_numpy(np.load(d / f"g_{n}_{step}.npy"))
        opt.step()
        for n, p in zip(names, params):
            np.save(d / f"p_{n}_{step}.out.npy", p.detach().numpy())


def mode_schedule(d):
    hp = json.loads((d / "hp.json").read_text())
    base_lr, max_iterations, power = hp["base_lr"], hp["max_iterations"], hp["power"]
    # TransUNet's trainer_synapse loop, the optimiser reduced to one parameter.
    w = torch.nn.Parameter(torch.zeros(1))
    optimizer = torch.optim.SGD([w], lr=base_lr, momentum=0.9, weight_decay=0.0001)
    # Warm-up factors from torch's LinearLR on a separate optimiser with lr 1.
    v = torch.nn.Parameter(torch.zeros(1))
    wopt = torch.optim.SGD([v], lr=1.0)
    warm = None
    if hp["warmup_iters"] > 0:
        warm = torch.optim.lr_scheduler.LinearLR(wopt, start_factor=hp["warmup_start_factor"],
                                                 end_factor=1.0, total_iters=hp["warmup_iters"])
    used = []
    iter_num = 0
    for _ in range(hp["steps"]):
        factor = wopt.param_groups[0]["lr"]
        used.append(optimizer.param_groups[0]["lr"] * factor)
        optimizer.zero_grad()
        w.sum().backward()
        optimizer.step()
        wopt.step()
        if warm is not None:
            warm.step()
        lr_ = base_lr * (1.0 - iter_num / max_iterations) ** power
        for param_group in optimizer.param_groups:
            param_group["lr"] = lr_
        iter_num = iter_num + 1
    (d / "out.json").write_text(json.dumps({"lrs": used}))


if __name__ == "__main__":
    mode, d = sys.argv[1], Path(sys.argv[2])
    {"loss": mode_loss, "adamw": mode_adamw, "schedule": mode_schedule}[mode](d)
