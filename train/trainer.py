"""`tinykws train`: float pre-training, then quantisation-aware fine-tuning, then export of the integer model.

Every epoch ends with an atomic checkpoint (model, optimiser, history, resolved config, git revision), so
Ctrl-C loses at most the epoch in flight and `--resume` continues to the same result: batches are a pure
function of (seed, epoch) and the network has no dropout.
"""

from __future__ import annotations

import argparse
import dataclasses
import io
import json
import os
import shlex
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
KEYWORD_SYNTH_DIR = BUILD_DIR / "data" / "synth-words"  # custom wake words not in the main synthetic corpus


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


def torch_threads() -> int:
    """TINYKWS_TORCH_THREADS, else 1. The network is small (batches of 128 x 49 x 10): on an idle 2-core machine
    a second thread gains ~40 % in float epochs and loses ~15 % in QAT ones, but on cores busy with other work
    torch's threads wait on each other (bench/speed.py measured 2 threads 5-14x slower than 1 there)."""
    value = os.environ.get("TINYKWS_TORCH_THREADS", "")
    if value and not (value.isdigit() and int(value) >= 1):
        raise TinyKwsError(f"TINYKWS_TORCH_THREADS must be a positive integer, got {value!r}")
    return int(value) if value else 1


def _torch():
    import torch

    torch.set_num_threads(torch_threads())
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


def save_torch(obj: object, path: Path) -> None:
    """torch.save, atomically, and a full disk as one line (TinyKwsError via atomic_path)."""
    torch = _torch()
    # Serialised in memory first: torch's own file writer reports a full disk as a bare RuntimeError.
    blob = io.BytesIO()
    torch.save(obj, blob)
    with atomic_path(path, suffix=".pt") as tmp:
        tmp.write_bytes(blob.getbuffer())


def train_step(model, opt, sched, loss_fn, x, y) -> tuple[float, int]:  # noqa: ANN001
    """One optimiser step on a batch: (loss, correct predictions). bench/speed.py times this same step."""
    logits = model(x)
    loss = loss_fn(logits, y)
    opt.zero_grad()
    loss.backward()
    opt.step()
    sched.step()
    return loss.item(), int((logits.argmax(1) == y).sum())


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
        extra_roots: list[Path] | None = None,
        synthetic_positives: bool = False,
    ) -> None:
        self.task, self.out, self.roots, self.cfg = task, out, roots, cfg
        self.bank_dir, self.progress = bank_dir, progress
        # Extra folders (a custom wake word's synthetic clips) get a bank of their own, so the big shared
        # bank of `roots` stays cached; with `synthetic_positives` real clips of the wake word are never
        # trained on (they are what a synthetic-only wake word is measured on).
        self.extra_roots = list(extra_roots or [])
        self.synthetic_positives = synthetic_positives
        self.names = layout.task_labels(task)
        self.ckpt_path = out / "checkpoint.pt"

    def _trainable(self, clip: layout.Clip) -> bool:
        return clip.split == "train" and not (
            self.synthetic_positives and clip.source == "real" and clip.word == self.task
        )

    def prepare_data(self) -> None:
        main = [c for root in self.roots for c in layout.scan(root)]
        extra = [c for root in self.extra_roots for c in layout.scan(root)]
        clips = main + extra
        self.data_description = {
            "roots": [str(r) for r in self.roots + self.extra_roots],
            "positives": "synthetic only" if self.synthetic_positives else "real and synthetic",
            "train_clips": {
                s: sum(1 for c in clips if self._trainable(c) and c.source == s) for s in ("real", "synth")
            },
            "validation_clips": {
                s: sum(1 for c in clips if c.split == "validation" and c.source == s) for s in ("real", "synth")
            },
        }
        # A class without training clips is refused now, not by epoch_indices after the feature bank is built.
        words = [c.word for c in clips if self._trainable(c)] + [self.cfg.labels.silence_label] * bool(
            self.cfg.train.silence_clips
        )
        have = set(dataset.labels_for(np.array(words), self.task).tolist())
        missing = [name for i, name in enumerate(self.names) if i not in have]
        if missing:
            where = ", ".join(map(str, self.roots + self.extra_roots))
            raise TinyKwsError(f"{where}: no training clips of {', '.join(missing)} (task {self.task})")
        train = [c for c in main if c.split == "train"]
        self.bank = dataset.build_bank(train, self.roots, self.cfg, bank_dir=self.bank_dir, progress=self.progress)
        if extra:
            no_silence = dataclasses.replace(self.cfg, train=dataclasses.replace(self.cfg.train, silence_clips=0))
            more = [c for c in extra if c.split == "train"]
            extra_bank = dataset.build_bank(
                more, self.roots, no_silence, bank_dir=self.bank_dir, progress=self.progress
            )
            self.bank = dataset.concat_banks(self.bank, extra_bank)
        if self.synthetic_positives:
            self.bank = self.bank.select(~((self.bank.sources == "real") & (self.bank.words == self.task)))
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
            state = self.load_checkpoint()
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
                    loss, right = train_step(model, opt, sched, loss_fn, x, y)
                    losses.append(loss)
                    correct += right
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
                self._checkpoint(epoch + 1, net, qat, opt, sched, history)
        self.plot_history(history, float_epochs)
        seconds = sum(h.get("epoch_seconds", 0.0) for h in history)  # over all sessions of a resumed run
        return {"history": history, "seconds": seconds, "float_net": net, "qat_net": qat}

    def load_checkpoint(self) -> dict:
        """The state `_checkpoint` saved; one line if it is unreadable or was made for another task or config."""
        torch = _torch()
        if not self.ckpt_path.exists():
            raise TinyKwsError(f"{self.ckpt_path}: no checkpoint (nothing to resume or export)")
        try:
            state = torch.load(self.ckpt_path, weights_only=False)
        except Exception as e:  # a truncated zip, random bytes, a foreign pickle: all one message
            raise TinyKwsError(
                f"{self.ckpt_path}: not a readable checkpoint ({type(e).__name__}); pass --fresh to start over"
            ) from None
        keys = ("task", "epoch", "float_state", "opt", "sched", "history", "config")
        missing = [k for k in keys if k not in state] if isinstance(state, dict) else list(keys)
        if missing:
            raise TinyKwsError(f"{self.ckpt_path}: not a tinykws checkpoint (no {', '.join(missing)})")
        if state["task"] != self.task:
            raise TinyKwsError(f"{self.ckpt_path}: checkpoint is of task {state['task']}, not {self.task}")
        want = self.cfg.to_dict()
        differ = sorted(k for k in {*want, *state["config"]} if state["config"].get(k) != want.get(k))
        if differ:
            raise TinyKwsError(
                f"{self.ckpt_path}: checkpoint was made with another config ({', '.join(differ)} differ); "
                "pass --fresh to start afresh"
            )
        return state

    def restore(self) -> dict:
        """The nets of a finished run's checkpoint, to export again without training."""
        from tinykws.train.model import KwsNet, QatNet

        state = self.load_checkpoint()
        if "qat_state" not in state:
            raise TinyKwsError(f"{self.ckpt_path}: run has not reached quantisation-aware training; --resume it")
        net = KwsNet(len(self.names), self.cfg.model)
        net.load_state_dict(state["float_state"])
        qat = QatNet(net)
        qat.load_state_dict(state["qat_state"])
        qat.freeze_observers()
        seconds = sum(h.get("epoch_seconds", 0.0) for h in state["history"])
        return {"history": state["history"], "seconds": seconds, "float_net": net, "qat_net": qat}

    def _checkpoint(self, epoch, net, qat, opt, sched, history) -> None:  # noqa: ANN001
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
        save_torch(state, self.ckpt_path)

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
    what = parser.add_mutually_exclusive_group(required=True)
    what.add_argument("--task", type=layout.check_task, metavar="TASK", help="kws12, or a wake word with real clips")
    what.add_argument(
        "--keyword",
        metavar="WORD",
        help="a custom wake word or short phrase: its positives are synthesised with the local TTS voices "
        "(real clips of it are never trained on); task name = the words joined by '_'",
    )
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


def keyword_roots(task: str, roots: list[Path], progress: bool) -> list[Path]:
    """Folders to add for a custom wake word: none if a synthetic corpus in `roots` already says it, else its
    synthetic clips (synthesised on first use into build/data/synth-words, every local voice)."""
    if any(any((Path(r) / task).glob("*.wav")) for r in roots if layout.is_synthetic(r)):
        return []
    from tinykws.data import synth

    out = KEYWORD_SYNTH_DIR
    report = synth.build_corpus(out=out, words=[task], progress=progress)
    if report.clips == 0:
        raise TinyKwsError(f"no voice could say {task.replace('_', ' ')!r}; see the failures above")
    print(synth.format_report(report), file=sys.stderr)
    return [out]


def _what(args: argparse.Namespace) -> str:
    return f"--keyword {shlex.quote(args.keyword)}" if args.keyword is not None else f"--task {args.task}"


def run(args: argparse.Namespace) -> int:
    extra: list[Path] = []
    if args.keyword is not None:
        args.task = layout.keyword_task(args.keyword)
        if args.task == layout.KWS12:
            raise TinyKwsError("--keyword names a wake word; kws12 is the 12-class task (--task kws12)")
    out = args.out or DEFAULT_RUNS / args.task
    out.mkdir(parents=True, exist_ok=True)
    if args.fresh:
        for name in ("checkpoint.pt", "model.npz"):
            (out / name).unlink(missing_ok=True)
    roots = args.data or layout.default_roots()
    if not roots:
        raise TinyKwsError("no training data: run `tinykws data synth` or pass --data DIR")
    if args.keyword is not None:
        extra = keyword_roots(args.task, roots, not args.no_progress)
    r = Run(
        args.task,
        out,
        roots,
        progress=not args.no_progress,
        extra_roots=extra,
        synthetic_positives=args.keyword is not None,
    )
    if args.resume or args.export_only:
        r.load_checkpoint()  # a bad checkpoint is refused before minutes of data preparation, not after
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
            f"`tinykws train {_what(args)} --resume` continues",
            file=sys.stderr,
        )
        return 130
    report = r.finish(result)
    print("\n".join(summary_lines(report)))
    print(f"model: {out / 'model.npz'}  curve: {out / 'training_curve.png'}  report: {out / 'report.json'}")
    return 0
