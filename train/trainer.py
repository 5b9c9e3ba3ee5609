"""`tinykws train`: float pre-training, then quantisation-aware fine-tuning, then export of the integer model.

Every epoch ends with an atomic checkpoint (model, optimiser, history, resolved config, git revision), so
Ctrl-C loses at most the epoch in flight and `--resume` continues to the same result: batches are a pure
function of (seed, epoch) and the network has no dropout.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
from tqdm import tqdm

from tinykws.atomic import atomic_path
from tinykws.config import BUILD_DIR, CONFIG, REPO_ROOT, TinyKwsConfig
from tinykws.data import layout
from tinykws.errors import TinyKwsError
from tinykws.train import dataset, metrics

DEFAULT_RUNS = BUILD_DIR / "runs"
FEATURES_NPZ = BUILD_DIR / "features" / "corpus.npz"


def git_revision() -> str:
    try:
        rev = subprocess.run(
            ["git", "rev-parse", "--short=12", "HEAD"], cwd=REPO_ROOT, capture_output=True, text=True, check=True
        ).stdout.strip()
        dirty = subprocess.run(
            ["git", "status", "--porcelain", "--untracked-files=no"], cwd=REPO_ROOT, capture_output=True, text=True
        ).stdout.strip()
        return rev + ("-dirty" if dirty else "")
    except (OSError, subprocess.CalledProcessError):
        return "unknown"


def _torch():
    import torch

    torch.set_num_threads(os.cpu_count() or 1)
    return torch


def _predict(net, feats: np.ndarray, batch: int = 1024) -> np.ndarray:  # noqa: ANN001
    torch = _torch()
    from tinykws.train.model import dequantize_input

    net.eval()
    out = []
    with torch.no_grad():
        for i in range(0, len(feats), batch):
            out.append(net(dequantize_input(feats[i : i + batch])).numpy())
    return np.concatenate(out) if out else np.zeros((0, 1))


class Run:
    """One training run in a folder: data, model, optimiser and history, checkpointed per epoch."""

    def __init__(
        self,
        task: str,
        out: Path,
        roots: list[Path],
        cfg: TinyKwsConfig = CONFIG,
        bank_dir: Path = dataset.BANK_DIR,
        progress: bool = True,
    ) -> None:
        self.task, self.out, self.roots, self.cfg = task, out, roots, cfg
        self.bank_dir, self.progress = bank_dir, progress
        self.names = layout.task_labels(task)
        self.ckpt_path = out / "checkpoint.pt"

    def prepare_data(self) -> None:
        clips = [c for root in self.roots for c in layout.scan(root)]
        self.data_description = {
            "roots": [str(r) for r in self.roots],
            "train_clips": {
                s: sum(1 for c in clips if c.split == "train" and c.source == s) for s in ("real", "synth")
            },
            "validation_clips": {
                s: sum(1 for c in clips if c.split == "validation" and c.source == s) for s in ("real", "synth")
            },
        }
        train = [c for c in clips if c.split == "train"]
        self.bank = dataset.build_bank(train, self.roots, self.cfg, bank_dir=self.bank_dir, progress=self.progress)
        self.bank_labels = dataset.labels_for(self.bank.words, self.task)
        self.val = {}
        for source in ("real", "synth"):
            part = [c for c in clips if c.split == "validation" and c.source == source]
            if part:
                feats = dataset.clean_features(part, FEATURES_NPZ)
                self.val[source] = (feats, dataset.labels_for(np.array([c.word for c in part]), self.task))

    def train(self, resume: bool, epochs: tuple[int, int] | None = None, progress: bool = True) -> dict:
        torch = _torch()
        from tinykws.train.model import KwsNet, QatNet, dequantize_input

        tc = self.cfg.train
        float_epochs, qat_epochs = epochs or (tc.float_epochs, tc.qat_epochs)
        total = float_epochs + qat_epochs
        torch.manual_seed(tc.seed)
        net = KwsNet(len(self.names), self.cfg.model)
        qat = None
        history: list[dict] = []
        start = 0
        state = None
        if resume:
            if not self.ckpt_path.exists():
                raise TinyKwsError(f"{self.ckpt_path}: nothing to resume (no checkpoint)")
            state = torch.load(self.ckpt_path, weights_only=False)
            if state["config"] != self.cfg.to_dict() or state["task"] != self.task:
                raise TinyKwsError(f"{self.ckpt_path}: checkpoint was made with another config or task; start afresh")
            net.load_state_dict(state["float_state"])
            history, start = state["history"], state["epoch"]
        elif self.ckpt_path.exists() and not (self.out / "model.npz").exists():
            raise TinyKwsError(
                f"{self.out}: an unfinished run is there; pass --resume to continue or --fresh to restart"
            )

        def make_optimizer(params, lr, n_epochs):  # noqa: ANN001, ANN202
            opt = torch.optim.AdamW(params, lr=lr, weight_decay=tc.weight_decay)
            steps = n_epochs * (tc.examples_per_epoch // tc.batch_size)
            return opt, torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=lr, total_steps=max(steps, 1), pct_start=0.15)

        opt, sched = make_optimizer(net.parameters(), tc.learning_rate, float_epochs)
        if state is not None and state["epoch"] < float_epochs:
            opt.load_state_dict(state["opt"])
            sched.load_state_dict(state["sched"])
        if start >= float_epochs:
            qat = QatNet(net)
            opt, sched = make_optimizer(qat.parameters(), tc.qat_learning_rate, qat_epochs)
            if state is not None and "qat_state" in state:
                qat.load_state_dict(state["qat_state"])
                opt.load_state_dict(state["opt"])
                sched.load_state_dict(state["sched"])

        loss_fn = torch.nn.CrossEntropyLoss(label_smoothing=tc.label_smoothing)
        steps_per_epoch = tc.examples_per_epoch // tc.batch_size
        bar = tqdm(
            total=total * steps_per_epoch,
            initial=start * steps_per_epoch,
            unit="step",
            desc=f"train {self.task}",
            disable=not progress,
            file=sys.stderr,
            dynamic_ncols=True,
        )
        with bar:
            for epoch in range(start, total):
                if epoch == float_epochs and qat is None:
                    qat = QatNet(net)
                    opt, sched = make_optimizer(qat.parameters(), tc.qat_learning_rate, qat_epochs)
                model = net if qat is None else qat
                if qat is not None and epoch - float_epochs >= tc.observer_epochs:
                    qat.freeze_observers()
                idx = dataset.epoch_indices(self.bank, self.bank_labels, self.task, epoch, self.cfg)
                model.train()
                epoch_start = time.time()
                losses, correct, seen = [], 0, 0
                for b in range(steps_per_epoch):
                    rows = idx[b * tc.batch_size : (b + 1) * tc.batch_size]
                    x = dequantize_input(self.bank.features[rows], self.cfg.model)
                    y = torch.from_numpy(self.bank_labels[rows])
                    logits = model(x)
                    loss = loss_fn(logits, y)
                    opt.zero_grad()
                    loss.backward()
                    opt.step()
                    sched.step()
                    losses.append(loss.item())
                    correct += int((logits.argmax(1) == y).sum())
                    seen += len(rows)
                    bar.update(1)
                    bar.set_postfix(
                        epoch=f"{epoch + 1}/{total}", loss=f"{np.mean(losses[-50:]):.3f}", acc=f"{correct / seen:.3f}"
                    )
                entry = {
                    "epoch": epoch + 1,
                    "phase": "float" if qat is None else "qat",
                    "loss": float(np.mean(losses)),
                    "train_acc": correct / seen,
                    "epoch_seconds": round(time.time() - epoch_start, 2),
                }
                for source, (vf, vl) in self.val.items():
                    entry[f"val_{source}_acc"] = float(np.mean(_predict(model, vf).argmax(1) == vl))
                history.append(entry)
                bar.write(json.dumps(entry))
                self._checkpoint(torch, epoch + 1, net, qat, opt, sched, history)
        self.plot_history(history, float_epochs)
        seconds = sum(h.get("epoch_seconds", 0.0) for h in history)  # over all sessions of a resumed run
        return {"history": history, "seconds": seconds, "float_net": net, "qat_net": qat}

    def restore(self) -> dict:
        """The nets of a finished run's checkpoint, to export again without training."""
        torch = _torch()
        from tinykws.train.model import KwsNet, QatNet

        if not self.ckpt_path.exists():
            raise TinyKwsError(f"{self.ckpt_path}: no checkpoint to export")
        state = torch.load(self.ckpt_path, weights_only=False)
        if "qat_state" not in state:
            raise TinyKwsError(f"{self.ckpt_path}: run has not reached quantisation-aware training; --resume it")
        net = KwsNet(len(self.names), self.cfg.model)
        net.load_state_dict(state["float_state"])
        qat = QatNet(net)
        qat.load_state_dict(state["qat_state"])
        qat.freeze_observers()
        seconds = sum(h.get("epoch_seconds", 0.0) for h in state["history"])
        return {"history": state["history"], "seconds": seconds, "float_net": net, "qat_net": qat}

    def _checkpoint(self, torch, epoch, net, qat, opt, sched, history) -> None:  # noqa: ANN001
        state = {
            "task": self.task,
            "epoch": epoch,
            "float_state": net.state_dict(),
            "opt": opt.state_dict(),
            "sched": sched.state_dict(),
            "history": history,
            "config": self.cfg.to_dict(),
            "git": git_revision(),
            "labels": self.names,
        }
        if qat is not None:
            state["qat_state"] = qat.state_dict()
        with atomic_path(self.ckpt_path, suffix=".pt") as tmp:
            torch.save(state, tmp)

    def plot_history(self, history: list[dict], float_epochs: int) -> None:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt

        ep = [h["epoch"] for h in history]
        fig, (a1, a2) = plt.subplots(1, 2, figsize=(10, 3.6))
        a1.plot(ep, [h["loss"] for h in history], label="train loss")
        a1.set_xlabel("epoch")
        a1.set_ylabel("loss")
        a2.plot(ep, [h["train_acc"] for h in history], label="train (augmented)")
        for key in ("val_real_acc", "val_synth_acc"):
            if history and key in history[0]:
                a2.plot(ep, [h[key] for h in history], label=key.replace("_acc", "").replace("_", " "))
        a2.set_xlabel("epoch")
        a2.set_ylabel("accuracy")
        for a in (a1, a2):
            a.axvline(float_epochs + 0.5, color="gray", ls="--", lw=0.8)
            a.grid(alpha=0.3)
        a2.legend(fontsize=8)
        fig.suptitle(f"tinykws {self.task}: float epochs, then QAT (after the dashed line)", fontsize=10)
        fig.tight_layout()
        with atomic_path(self.out / "training_curve.png", suffix=".png") as tmp:
            fig.savefig(tmp, format="png", dpi=110)
        plt.close(fig)

    def finish(self, result: dict) -> dict:
        """Export the integer model and report float / QAT / int8 accuracy side by side."""
        from tinykws.train.model import count_parameters

        qat, net = result["qat_net"], result["float_net"]
        frames = self.cfg.features.frames_for(self.cfg.audio.clip_samples)
        im = qat.to_int_model(self.names, frames, self.cfg.feature_hash())
        report: dict = {
            "task": self.task,
            "weight_bytes": im.weight_bytes(),
            "macs": im.macs(),
            "macs_per_hop": im.macs_per_hop(),
            "parameters": count_parameters(qat),
            "train_seconds": round(result["seconds"], 1),
            "data": self.data_description,
        }
        for source, (vf, vl) in self.val.items():
            int_logits = im.run_batch(vf)
            qat_logits = _predict(qat, vf)
            report[f"val_{source}"] = {
                "float_acc": float(np.mean(_predict(net, vf).argmax(1) == vl)),
                "qat_acc": float(np.mean(qat_logits.argmax(1) == vl)),
                "int8": metrics.summarize(vl, int_logits, self.names),
                "qat_int8_class_agreement": float(np.mean(qat_logits.argmax(1) == int_logits.argmax(1))),
            }
        im.meta = {"task": self.task, "git": git_revision(), "config": self.cfg.to_dict(), "report": report}
        im.save(self.out / "model.npz")
        with atomic_path(self.out / "report.json", suffix=".json") as tmp:
            tmp.write_text(json.dumps(report, indent=1) + "\n")
        return report


def summary_lines(report: dict) -> list[str]:
    lines = [
        f"{report['task']}: {report['weight_bytes']} bytes int8, {report['macs']} MACs/inference, "
        f"{report['macs_per_hop']} MACs/hop streaming, trained in {report['train_seconds']:.0f} s"
    ]
    for source in ("real", "synth"):
        v = report.get(f"val_{source}")
        if v:
            lines.append(
                f"  validation {source:<5}: float {100 * v['float_acc']:.2f} %  QAT {100 * v['qat_acc']:.2f} %  "
                f"int8 {100 * v['int8']['accuracy']:.2f} %  (n={v['int8']['n']})"
            )
    return lines


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--task", choices=("kws12", "yes"), required=True)
    parser.add_argument(
        "--data",
        nargs="+",
        type=Path,
        default=None,
        help="Speech Commands folders (default: synthetic corpus + ../shared/data real clips)",
    )
    parser.add_argument("--out", type=Path, default=None, help="run folder (default build/runs/TASK)")
    group = parser.add_mutually_exclusive_group()
    group.add_argument("--resume", action="store_true", help="continue an interrupted run from its last epoch")
    group.add_argument("--fresh", action="store_true", help="discard an unfinished run in --out and start over")
    parser.add_argument(
        "--epochs",
        type=int,
        nargs=2,
        metavar=("FLOAT", "QAT"),
        default=None,
        help="override the config's float and QAT epoch counts (quick experiments)",
    )
    parser.add_argument("--no-progress", action="store_true")
    parser.add_argument("--export-only", action="store_true", help="export the integer model of a finished run again")


def run(args: argparse.Namespace) -> int:
    out = args.out or DEFAULT_RUNS / args.task
    out.mkdir(parents=True, exist_ok=True)
    if args.fresh:
        for name in ("checkpoint.pt", "model.npz"):
            (out / name).unlink(missing_ok=True)
    roots = args.data or layout.default_roots()
    if not roots:
        raise TinyKwsError("no training data: run `tinykws data synth` or pass --data DIR")
    r = Run(args.task, out, roots, progress=not args.no_progress)
    r.prepare_data()
    if args.export_only:
        report = r.finish(r.restore())
        print("\n".join(summary_lines(report)))
        return 0
    try:
        result = r.train(args.resume, tuple(args.epochs) if args.epochs else None, progress=not args.no_progress)
    except KeyboardInterrupt:
        print(
            f"tinykws: interrupted; the last finished epoch is saved in {r.ckpt_path}: "
            f"`tinykws train --task {args.task} --resume` continues",
            file=sys.stderr,
        )
        return 130
    report = r.finish(result)
    print("\n".join(summary_lines(report)))
    print(f"model: {out / 'model.npz'}  curve: {out / 'training_curve.png'}  report: {out / 'report.json'}")
    return 0
