"""Heads on the frozen speech body, float, on cached body outputs: which head shape carries the teacher's
knowledge for kws12 and yes (real validation clips), against the distilled end-to-end student.

`python bench/body_heads.py [--body build/body/body.pt] [--task kws12]`: needs `tinykws train --task T
--prepare-only` (bank and teacher soft labels) and a trained body (`python -m tinykws.train.body`).
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np
import torch
from torch import nn

from tinykws.config import BUILD_DIR, CONFIG
from tinykws.data import layout
from tinykws.train import dataset
from tinykws.train.body import BodyNet, load_body
from tinykws.train.distill import distillation_loss
from tinykws.train.model import dequantize_input
from tinykws.train.trainer import Run


def body_outputs(net: BodyNet, feats: np.ndarray, batch: int = 1024) -> np.ndarray:
    out = []
    net.eval()
    with torch.no_grad():
        for i in range(0, len(feats), batch):
            out.append(net.features(dequantize_input(feats[i : i + batch])).numpy().astype(np.float16))
    return np.concatenate(out)


class Head(nn.Module):
    def __init__(self, c: int, hidden: int, classes: int) -> None:
        super().__init__()
        self.pre = nn.Sequential(nn.Conv1d(c, hidden, 1), nn.BatchNorm1d(hidden), nn.ReLU()) if hidden else None
        self.out = nn.Conv1d(hidden or c, classes, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.pre is not None:
            x = self.pre(x)
        return self.out(x.mean(dim=2, keepdim=True))[:, :, 0]


def train_head(z, labels, soft, hard_w, run, hidden, epochs=12, lr=3e-3):  # noqa: ANN001, ANN201
    torch.manual_seed(0)
    head = Head(z.shape[1], hidden, len(run.names))
    opt = torch.optim.AdamW(head.parameters(), lr=lr, weight_decay=1e-4)
    tc = CONFIG.train
    steps = tc.examples_per_epoch // tc.batch_size
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=lr, total_steps=epochs * steps)
    tch = CONFIG.teacher
    for epoch in range(epochs):
        idx = dataset.epoch_indices(run.bank, labels, run.task, epoch)
        head.train()
        for b in range(steps):
            r = idx[b * tc.batch_size : (b + 1) * tc.batch_size]
            logits = head(torch.from_numpy(z[r].astype(np.float32)))
            loss = distillation_loss(logits, torch.from_numpy(labels[r]), torch.from_numpy(soft[r]),
                                     torch.from_numpy(hard_w[r]), tch.temperature, tch.soft_weight, 0.05)  # fmt: skip
            opt.zero_grad()
            loss.backward()
            opt.step()
            sched.step()
    head.eval()
    return head


def main() -> int:
    p = argparse.ArgumentParser()
    p.add_argument("--body", type=Path, default=BUILD_DIR / "body" / "body.pt")
    p.add_argument("--task", default="kws12")
    p.add_argument("--hidden", type=int, nargs="+", default=[0, 32, 64])
    args = p.parse_args()
    state = load_body(args.body)
    net = BodyNet()
    net.load_state_dict({**state["body"], **{f"proj.{k}": v for k, v in state["proj"].items()}})
    run = Run(args.task, BUILD_DIR / "runs" / args.task, layout.default_roots(), teacher=True, progress=False)
    run.prepare_data()
    z = body_outputs(net, run.bank.features)
    vf, vl = run.val["real"]
    zv = torch.from_numpy(body_outputs(net, vf).astype(np.float32))
    rows = []
    for hidden in args.hidden:
        head = train_head(z, run.bank_labels, run.soft, run.hard_weight, run, hidden)
        with torch.no_grad():
            acc = float((head(zv).argmax(1).numpy() == vl).mean())
        params = sum(p.numel() for p in head.parameters())
        rows.append({"task": args.task, "hidden": hidden, "head_params": params, "val_real_acc": acc})
        print(json.dumps(rows[-1]), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
