"""`tinykws train`: float pre-training, then quantisation-aware fine-tuning, then export of the integer model.

Every epoch ends with an atomic checkpoint (model, optimiser, history, resolved config, git revision), so
Ctrl-C loses at most the epoch in flight and `--resume` continues to the same result: batches are a pure
function of (seed, epoch) and the network has no dropout.
"""

from __future__ import annotations

import argparse
import dataclasses
import functools
import hashlib
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
from tinykws.portable import repo_relative
from tinykws.train import dataset, metrics

DEFAULT_RUNS = BUILD_DIR / "runs"
# The transfer set beyond the main bank (TeacherConfig says how much): extra copies of the real clips, windows of
# running speech, and windows where a real clip's word follows another's (data/context.py); the default leaves
# context out until it is measured to help.
TRANSFER_PARTS = ("real", "running", "context", "stream", "windows", "mined")
DEFAULT_TRANSFER = ("real", "running")
FEATURES_NPZ = BUILD_DIR / "features" / "corpus.npz"
KEYWORD_SYNTH_DIR = BUILD_DIR / "data" / "synth-keywords"  # custom wake words not in the main synthetic corpus
KEYWORD_KOKORO_DIR = BUILD_DIR / "data" / "synth-keywords-kokoro"  # their takes by Kokoro's natural voices
KEYWORD_NEGATIVES_DIR = BUILD_DIR / "data" / "synth-negatives-kokoro"  # other words in Kokoro's voices
# Which TTS families say a custom word's positives (`train --keyword --voices`): both by default; one alone
# measures what each brings (bench/custom_words.py). Negatives are the same whichever is chosen.
KEYWORD_VOICES = ("all", "local", "kokoro")
# The speech body shipped for custom words (models/body/body.json says how it was made). Starting every layer
# from it (init) beat keeping it frozen under a head, for a word from text ("jarvis": README) and for kws12.
SHIPPED_BODY = REPO_ROOT / "models" / "body" / "body.pt"
DEFAULT_BODY_MODE = {"task": "init", "keyword": "init"}


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


def freeze(*modules: object) -> None:
    """No gradient for these layers (a frozen speech body)."""
    for group in modules:
        for m in group:
            m.requires_grad_(False)


def trainable(net: object) -> list:
    return [p for p in net.parameters() if p.requires_grad]


def train_step(model, opt, sched, loss_fn, x, y, *targets) -> tuple[float, int]:  # noqa: ANN001
    """One optimiser step on a batch: (loss, correct predictions). `targets` (teacher logits, hard-label weights)
    go to the loss after the labels. bench/speed.py times this same step."""
    logits = model(x)
    loss = loss_fn(logits, y, *targets)
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
        teacher: bool = False,
        transfer: tuple[str, ...] = (),
        running_root: Path | None = None,
        body: Path | None = None,
        freeze_body: bool = True,
        seed: int | None = None,
        voices: str | None = None,
    ) -> None:
        self.task, self.out, self.roots, self.cfg = task, out, roots, cfg
        self.voices = voices  # a custom word's positive voice families (KEYWORD_VOICES); None for a task
        # A run seed (weights' initialisation and each epoch's draw of bank rows) apart from the bank's own
        # augmentation seed: repeating a run with other seeds measures its noise without rebuilding the bank.
        self.seed = cfg.train.seed if seed is None else seed
        self.bank_dir, self.progress = bank_dir, progress
        # Extra folders (a custom wake word's synthetic clips) get a bank of their own, so the big shared
        # bank of `roots` stays cached; with `synthetic_positives` real clips of the wake word are never
        # trained on (they are what a synthetic-only wake word is measured on).
        self.extra_roots = list(extra_roots or [])
        self.synthetic_positives = synthetic_positives
        # Distillation: the teacher's soft labels on every bank row, and the transfer set's extra audio
        # ("real": more augmented copies of the real clips, "running": windows of running speech).
        self.teacher, self.transfer = teacher, check_transfer(tuple(transfer))
        if "windows" in self.transfer and task == layout.KWS12:
            raise TinyKwsError("--transfer windows: stream windows are cut around a wake word; kws12 has none")
        # A speech body (train/body.py): its layers are loaded and frozen, only the head above them learns
        # (a 1x1 layer and the classifier); or, not frozen, the starting point of the whole student.
        self.body_path, self.freeze_body = body, freeze_body
        self.body = None
        if body is not None:
            from tinykws.train.body import load_body

            self.body = load_body(body, cfg)
            if freeze_body:
                self.cfg = cfg = dataclasses.replace(
                    cfg, model=dataclasses.replace(cfg.model, head_channels=cfg.body.head_channels)
                )
        self.running_root = running_root or layout.default_running_speech_root()
        self.soft: np.ndarray | None = None
        self.names = layout.task_labels(task)
        self.ckpt_path = out / "checkpoint.pt"

    def _trainable(self, clip: layout.Clip) -> bool:
        return clip.split == "train" and not (
            self.synthetic_positives and clip.source == "real" and clip.word == self.task
        )

    def prepare_data(self) -> None:
        main = [c for root in self.roots for c in layout.scan(root)]
        extra = [
            c
            for root in self.extra_roots
            for c in layout.scan(root)
            if not self.synthetic_positives or keyword_folder_keeps(root, c.word, self.task)
        ]
        clips = main + extra
        self.data_description = {
            "roots": [repo_relative(r) for r in self.roots + self.extra_roots],
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
        # The bank in parts, each (clips, config) so the teacher can hear exactly the audio of every row.
        train = [c for c in main if c.split == "train"]
        self.parts = [(train, self.cfg)]
        if extra:
            self.parts.append(([c for c in extra if c.split == "train"], dataset.with_train(self.cfg, silence_clips=0)))
        tc = self.cfg.teacher
        real = [c for c in train if c.source == "real"]
        # A custom word's real recordings reach no window or view, not even as the word before another (the
        # bank drops their own rows below).
        real_others = [c for c in real if c.word != self.task] if self.synthetic_positives else real
        if "real" in self.transfer:
            self.parts.append(
                (real, dataset.with_train(self.cfg, silence_clips=0, augment_copies=tc.extra_real_copies, seed=tc.seed))
            )
        if "running" in self.transfer:
            window, hop = self.cfg.audio.clip_samples, round(tc.running_window_hop_seconds * self.cfg.audio.sample_rate)
            running = [c for c in layout.scan_running_speech(self.running_root, window, hop) if c.split == "train"]
            part_cfg = dataset.with_train(self.cfg, silence_clips=0, augment_copies=tc.running_copies, seed=tc.seed + 1)
            self.parts.append((running, part_cfg))
            self.data_description["running_speech_windows"] = len(running) * tc.running_copies
        if "context" in self.transfer:
            from tinykws.data.context import context_clips

            windows = context_clips(real_others, progress=self.progress)
            if self.synthetic_positives:
                # The word's synthetic takes get windows of their own, after real people's words.
                takes = [c for part, _ in self.parts for c in part if c.word == self.task and c.source == "synth"]
                windows += context_clips(takes, before=real_others, progress=self.progress)
            part_cfg = dataset.with_train(self.cfg, silence_clips=0, augment_copies=tc.context_copies, seed=tc.seed + 2)
            self.parts.append((windows, part_cfg))
            self.data_description["context_windows"] = len(windows) * tc.context_copies
        teacher_parts = []  # parts whose rows only the teacher labels
        if "stream" in self.transfer:
            aug = dataclasses.replace(
                self.cfg.augment, time_shift_ms=tc.stream_shift_ms, gain_db_range=tc.stream_gain_db_range
            )
            part_cfg = dataset.with_train(
                dataclasses.replace(self.cfg, augment=aug), silence_clips=0, augment_copies=tc.stream_copies,
                seed=tc.seed + 3,
            )  # fmt: skip
            teacher_parts.append(len(self.parts))
            self.parts.append((real_others, part_cfg))
            self.data_description["stream_views"] = len(real_others) * tc.stream_copies
        if "windows" in self.transfer:
            from tinykws.data.stream_windows import stream_windows

            opts = dict(tc=tc, sc=self.cfg.stream, progress=self.progress)
            if self.synthetic_positives:
                # A word from text: its takes streamed among real people's other words (its own real
                # recordings in no stream); a window is a mixture, sampled as synthetic (no real-clip weight).
                takes = [c for c in extra if c.split == "train" and c.word == self.task and c.source == "synth"]
                windows = stream_windows(real_others + takes, self.task, self.roots, source="synth", **opts)
            else:
                windows = stream_windows(real, self.task, self.roots, **opts)
            part_cfg = dataset.with_train(self.cfg, silence_clips=0, augment_copies=1, seed=tc.seed + 5)
            teacher_parts.append(len(self.parts))
            self.parts.append((windows, part_cfg))
            self.data_description["stream_windows"] = len(windows)
        if "mined" in self.transfer:
            if self.synthetic_positives:
                raise TinyKwsError(
                    "--transfer mined: the windows hold real recordings of the word, which a word learnt from text "
                    "(--keyword) never trains on"
                )
            mined = mined_clips(self.task)
            part_cfg = dataset.with_train(self.cfg, silence_clips=0, augment_copies=1, seed=tc.seed + 4)
            teacher_parts.append(len(self.parts))
            self.parts.append((mined, part_cfg))
            self.data_description["mined_windows"] = len(mined)
        banks = [
            dataset.build_bank(c, self.roots, pc, bank_dir=self.bank_dir, progress=self.progress)
            for c, pc in self.parts
        ]
        part_of_row = np.concatenate([np.full(len(b), i) for i, b in enumerate(banks)])
        self.bank = banks[0]
        for b in banks[1:]:
            self.bank = dataset.concat_banks(self.bank, b)
        self.keep = np.ones(len(self.bank), bool)
        if self.synthetic_positives:
            self.keep = ~((self.bank.sources == "real") & (self.bank.words == self.task))
            self.bank = self.bank.select(self.keep)
        part_of_row = part_of_row[self.keep]
        self.bank_labels = dataset.labels_for(self.bank.words, self.task)
        # Windows of running speech may hold any word, and a stream view or a mined window may have cut its word:
        # with a teacher they are its to label (hard weight 0).
        self.teacher_part_rows = np.isin(part_of_row, teacher_parts)
        teacher_only = (self.bank.sources == "running") | self.teacher_part_rows
        self.hard_weight = np.where(teacher_only & self.teacher, 0.0, 1.0).astype(np.float32)
        self.val = {}
        for source in ("real", "synth"):
            part = [c for c in clips if c.split == "validation" and c.source == source]
            if part:
                feats = dataset.clean_features(part, FEATURES_NPZ)
                self.val[source] = (feats, dataset.labels_for(np.array([c.word for c in part]), self.task))
        self.val_clips = [c for c in clips if c.split == "validation" and c.source == "real"]
        if self.teacher:
            self.prepare_teacher()

    def prepare_teacher(self) -> None:
        """Teacher embeddings of every bank row (cached by audio), its head trained on the rows whose labels are
        trusted, and its logits on every row: the soft targets. The head and logits are kept in the run folder
        under a key of everything they depend on, so a resumed run skips even the head."""
        from tinykws.train import teacher

        key = teacher.fingerprint(self.cfg.teacher) + json.dumps(
            [self.task, self.cfg.to_dict()["teacher"], [dataset.bank_key(c, pc) for c, pc in self.parts]]
        )
        key = hashlib.sha256(key.encode()).hexdigest()[:16]
        cached = self.out / "teacher.npz"
        if cached.exists():
            with np.load(cached) as z:
                if str(z["key"]) == key:
                    self.soft = z["logits"]
                    self.teacher_report = json.loads(str(z["report"]))
                    return
        parts = [teacher.embeddings(c, self.roots, pc, progress=self.progress) for c, pc in self.parts]
        emb = np.concatenate(parts)[self.keep]
        # kws12: running speech is no class (a window may say "on" or "no"); for a wake word it is a negative.
        # A stream view or a mined window may have cut its word: the head learns from neither.
        trusted = (self.bank.sources != "running") if self.task == layout.KWS12 else np.ones(len(emb), bool)
        trusted &= ~self.teacher_part_rows
        rows = np.nonzero(trusted)[0]
        sub, labels = self.bank.select(rows), self.bank_labels[rows]
        head = teacher.train_head(
            emb[rows],
            labels,
            lambda epoch: dataset.epoch_indices(sub, labels, self.task, epoch, self.cfg),
            len(self.names),
            self.cfg,
            progress=self.progress,
        )
        self.soft = teacher.head_logits(head, emb).astype(np.float32)
        self.teacher_report = {"head_parameters": sum(p.numel() for p in head.parameters())}
        if self.val_clips:
            val_emb = teacher.embeddings(self.val_clips, self.roots, self.cfg, augment=False, progress=False)
            val_labels = dataset.labels_for(np.array([c.word for c in self.val_clips]), self.task)
            self.teacher_report["val_real"] = metrics.summarize(
                val_labels, teacher.head_logits(head, val_emb), self.names
            )
        torch = _torch()
        blob = io.BytesIO()
        torch.save({"task": self.task, "labels": self.names, "windows": emb.shape[1], "state": head.state_dict()}, blob)
        with atomic_path(self.out / "teacher_head.pt", suffix=".pt") as tmp:
            tmp.write_bytes(blob.getbuffer())
        with atomic_path(cached, suffix=".npz") as tmp:
            with open(tmp, "wb") as f:
                np.savez(f, key=key, logits=self.soft, report=json.dumps(self.teacher_report))

    def train(self, resume: bool, epochs: tuple[int, int] | None = None, progress: bool = True) -> dict:
        torch = _torch()
        from tinykws.train.model import KwsNet, QatNet, dequantize_input

        tc = self.cfg.train
        float_epochs, qat_epochs = epochs or (tc.float_epochs, tc.qat_epochs)
        total = float_epochs + qat_epochs
        torch.manual_seed(self.seed)
        draw_cfg = dataclasses.replace(self.cfg, train=dataclasses.replace(tc, seed=self.seed))
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

        if self.body is not None and state is None:
            net.load_state_dict(self.body["body"], strict=False)
        frozen = self.body["layers"] if self.body is not None and self.freeze_body else 0
        freeze(net.convs[:frozen], net.bns[:frozen])
        opt, sched = make_optimizer(trainable(net), tc.learning_rate, float_epochs)
        if state is not None and state["epoch"] < float_epochs:
            opt.load_state_dict(state["opt"])
            sched.load_state_dict(state["sched"])
        if start >= float_epochs:
            qat = QatNet(net)
            freeze(qat.convs[:frozen])
            opt, sched = make_optimizer(trainable(qat), tc.qat_learning_rate, qat_epochs)
            if state is not None and "qat_state" in state:
                qat.load_state_dict(state["qat_state"])
                opt.load_state_dict(state["opt"])
                sched.load_state_dict(state["sched"])

        if self.soft is not None:
            from tinykws.train.distill import distillation_loss

            dc = self.cfg.teacher
            loss_fn = functools.partial(
                distillation_loss,
                temperature=dc.temperature,
                soft_weight=dc.soft_weight,
                label_smoothing=tc.label_smoothing,
            )
        else:
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
                    freeze(qat.convs[:frozen])
                    opt, sched = make_optimizer(trainable(qat), tc.qat_learning_rate, qat_epochs)
                model = net if qat is None else qat
                if qat is not None and epoch - float_epochs >= tc.observer_epochs:
                    qat.freeze_observers()
                idx = dataset.epoch_indices(self.bank, self.bank_labels, self.task, epoch, draw_cfg)
                model.train()
                for bn in net.bns[:frozen]:
                    bn.eval()  # a frozen body keeps the batch statistics it was trained with
                epoch_start = time.time()
                losses, correct, seen = [], 0, 0
                for b in range(steps_per_epoch):
                    rows = idx[b * tc.batch_size : (b + 1) * tc.batch_size]
                    x = dequantize_input(self.bank.features[rows], self.cfg.model)
                    y = torch.from_numpy(self.bank_labels[rows])
                    targets = () if self.soft is None else (
                        torch.from_numpy(self.soft[rows]), torch.from_numpy(self.hard_weight[rows])
                    )  # fmt: skip
                    loss, right = train_step(model, opt, sched, loss_fn, x, y, *targets)
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
        if state.get("seed", self.cfg.train.seed) != self.seed:
            raise TinyKwsError(
                f"{self.ckpt_path}: checkpoint was made with --seed {state.get('seed')}, not {self.seed}; "
                "resume with the same --seed or pass --fresh"
            )
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
            "seed": self.seed,
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
        if self.teacher:
            report["teacher"] = self.teacher_report
        report["recipe"] = {"teacher": self.teacher, "transfer": list(self.transfer), "seed": self.seed}
        if self.voices is not None:
            report["recipe"]["voices"] = self.voices
        if self.body is not None:
            report["recipe"]["body"] = {
                "file": self.body_path.name,
                "sha256": hashlib.sha256(self.body_path.read_bytes()).hexdigest(),
                "frozen": self.freeze_body,
                **self.body.get("summary", {}),
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
        help="a custom wake word or short phrase: its positives are synthesised with the local TTS voices, and "
        "Kokoro's natural ones with the [tts] extra (real clips of it are never trained on); task name = the words "
        "joined by '_'",
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
    parser.add_argument(
        "--no-teacher",
        action="store_true",
        help="train on hard labels only, without the pretrained speech-embedding teacher (no pyopen-wakeword needed)",
    )
    parser.add_argument(
        "--transfer",
        type=_transfer_parts,
        default=DEFAULT_TRANSFER,
        metavar="PARTS",
        help="audio added to the bank for the teacher to label, comma-separated: real (more augmented copies of "
        "the real clips), running (windows of running speech), context (a real clip's word after another's tail, "
        "as in a stream), stream (more real clips shifted up to 0.5 s and quieter, as a stream's hops meet them), "
        "windows (1 s windows of streams of the training clips: a wake word's real ones, a custom word's takes "
        "among real words), mined (windows of "
        "training-speaker streams picked by half-speaker students, bench/mine_windows.py), or none; default: "
        "real,running",
    )
    parser.add_argument(
        "--running-speech",
        type=Path,
        default=None,
        metavar="DIR",
        help="LibriSpeech-style running speech (<speaker>-<chapter>-<n>.wav; default ../shared/data/librispeech)",
    )
    parser.add_argument(
        "--body",
        default=None,
        metavar="FILE|none",
        help="start from a speech body distilled from the teacher's embedding (body.pt of python -m "
        "tinykws.train.body); default: the shipped models/body/body.pt for --keyword, none (random weights) for "
        "--task",
    )
    parser.add_argument(
        "--body-mode",
        choices=("init", "frozen"),
        default=None,
        help="init: every layer starts from the body and all are trained; frozen: the body's layers stay as they "
        f"are under a trainable 1x1 head; default: {DEFAULT_BODY_MODE['keyword']}",
    )
    parser.add_argument(
        "--seed",
        type=int,
        default=None,
        help="run seed: initial weights and the order of training rows (default: the config's; the feature bank "
        "and teacher labels stay the same, so repeats measure a recipe's noise)",
    )
    parser.add_argument(
        "--voices",
        choices=KEYWORD_VOICES,
        default=None,
        help="--keyword only: which TTS voices say the word, the local ones, Kokoro's natural ones or all "
        "(default; measuring one family alone is what the others are for)",
    )
    parser.add_argument("--no-progress", action="store_true")
    parser.add_argument("--export-only", action="store_true", help="export the integer model of a finished run again")
    parser.add_argument(
        "--prepare-only",
        action="store_true",
        help="build the feature banks, teacher embeddings and teacher head, then stop (make run does this once "
        "before training both tasks side by side, so they share the cached embeddings)",
    )


def body_file(arg: str | None, keyword: bool) -> Path | None:
    """--body: a file that must exist, or none; by default the shipped body for a custom word, none for a task."""
    if arg is None:
        return SHIPPED_BODY if keyword and SHIPPED_BODY.exists() else None
    if arg == "none":
        return None
    if not Path(arg).is_file():
        raise TinyKwsError(f"--body {arg}: no such file (python -m tinykws.train.body makes one)")
    return Path(arg)


def check_transfer(parts: tuple[str, ...]) -> tuple[str, ...]:
    """`parts` if each names a part of the transfer set, else one line naming the unknown ones."""
    unknown = sorted(set(parts) - set(TRANSFER_PARTS))
    if unknown:
        raise TinyKwsError(
            f"--transfer: unknown part(s) {', '.join(unknown)}; choose from {', '.join(TRANSFER_PARTS)}, none"
        )
    return parts


def _transfer_parts(text: str) -> tuple[str, ...]:
    return check_transfer(tuple(p for p in text.split(",") if p and p != "none"))


def keyword_roots(task: str, roots: list[Path], progress: bool, voices: str = "all") -> list[Path]:
    """Folders to add for a custom wake word: its takes by every local voice (synthesised on first use into
    build/data/synth-keywords at SynthConfig.keyword_speed_range unless a synthetic corpus in `roots` already says
    it), and mixed into them, not instead of them, its takes by Kokoro's natural voices
    (build/data/synth-keywords-kokoro) when the [tts] extra is here,
    with other words in those voices as negatives (build/data/synth-negatives-kokoro, shared by every word).
    `voices` "local" or "kokoro" leaves the other family's takes of the word out (KEYWORD_VOICES). These folders
    are caches of tinykws's own: made with other synth settings, they are made again (synth's remake_stale)."""
    from tinykws.data import kokoro, synth

    says = [r for r in roots if layout.is_synthetic(r) and any((Path(r) / task).glob("*.wav"))]
    if voices == "kokoro" and any(not kokoro.is_kokoro_corpus(r) for r in says):
        raise TinyKwsError(f"--voices kokoro: the synthetic corpus already says {task!r} in the local voices")
    extra = []
    for natural, out in ((False, KEYWORD_SYNTH_DIR), (True, KEYWORD_KOKORO_DIR)):
        if any(kokoro.is_kokoro_corpus(r) == natural for r in says) or voices == ("local" if natural else "kokoro"):
            continue
        try:
            report = synth.build_corpus(
                out=out,
                words=[task],
                engines=[kokoro.ENGINE] if natural else None,
                progress=progress,
                takes=CONFIG.synth.kokoro.keyword_takes_per_voice if natural else CONFIG.synth.keyword_takes_per_voice,
                speed_range=CONFIG.synth.keyword_speed_range,
                remake_stale=True,
            )
        except kokoro.KokoroMissing as e:
            if voices == "kokoro":
                raise TinyKwsError(f"--voices kokoro: {e}") from None
            # Optional: the word is still learnt, from the robotic voices alone (fewer real people found).
            print(f"note: {e}; --keyword {task} trains on the local voices only", file=sys.stderr)
            continue
        if report.clips == 0:
            raise TinyKwsError(f"no voice could say {task.replace('_', ' ')!r}; see the failures above")
        print(synth.format_report(report), file=sys.stderr)
        extra.append(out)
    try:
        report = synth.build_corpus(
            out=KEYWORD_NEGATIVES_DIR,
            words=list(kokoro_negative_words(task)),
            engines=[kokoro.ENGINE],
            progress=progress,
            takes=CONFIG.synth.kokoro.negative_takes_per_voice,
            remake_stale=True,
        )
    except kokoro.KokoroMissing:
        return extra  # said above
    print(synth.format_report(report), file=sys.stderr)
    return [*extra, KEYWORD_NEGATIVES_DIR]


MINED_DIR = BUILD_DIR / "data" / "mined"


def mined_clips(task: str) -> list[layout.Clip]:
    """Windows of training-speaker streams picked by a student (bench/mine_windows.py writes them into
    build/data/mined/TASK/<word>/), sampled as real clips of their folder's class; the trainer gives their hard
    label no weight (a window around a wake word may hold part of it), so the teacher alone labels them."""
    folder = MINED_DIR / task
    paths = sorted(folder.glob("*/*.wav"))
    if not paths:
        raise TinyKwsError(
            f"--transfer mined: no windows in {folder}; `python bench/mine_windows.py --task {task}` mines them"
        )
    return [layout.Clip(p, p.parent.name, "00000000", "real", "train") for p in paths]


def keyword_folder_keeps(root: Path, word: str, task: str) -> bool:
    """Whether a clip of `word` under `root` is data of custom word `task`. The keyword folders collect every word
    trained so far: a word takes its own takes only (and the negatives meant for it), so what it learns and how it
    is measured do not depend on which words came before."""
    root = Path(root)
    if root == KEYWORD_NEGATIVES_DIR:
        return word in kokoro_negative_words(task)
    if root in (KEYWORD_SYNTH_DIR, KEYWORD_KOKORO_DIR):
        return word == task
    return True


def kokoro_negative_words(task: str) -> tuple[str, ...]:
    """The everyday words Kokoro's voices say as negatives of a custom word: all but those in the word itself."""
    return tuple(w for w in CONFIG.synth.kokoro.negative_words if w not in task.split("_"))


def _what(args: argparse.Namespace) -> str:
    return f"--keyword {shlex.quote(args.keyword)}" if args.keyword is not None else f"--task {args.task}"


def run(args: argparse.Namespace) -> int:
    extra: list[Path] = []
    if args.voices is not None and args.keyword is None:
        raise TinyKwsError("--voices chooses who says a custom word: it goes with --keyword")
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
        extra = keyword_roots(args.task, roots, not args.no_progress, args.voices or "all")
    r = Run(
        args.task,
        out,
        roots,
        progress=not args.no_progress,
        extra_roots=extra,
        synthetic_positives=args.keyword is not None,
        teacher=not args.no_teacher,
        transfer=args.transfer,
        running_root=args.running_speech,
        body=body_file(args.body, args.keyword is not None),
        freeze_body=(args.body_mode or DEFAULT_BODY_MODE["keyword" if args.keyword is not None else "task"])
        == "frozen",
        seed=args.seed,
        voices=(args.voices or "all") if args.keyword is not None else None,
    )
    if args.resume or args.export_only:
        r.load_checkpoint()  # a bad checkpoint is refused before minutes of data preparation, not after
    r.prepare_data()
    if args.prepare_only:
        print(f"{args.task}: {len(r.bank)} training rows prepared" + (" with teacher soft labels" if r.teacher else ""))
        return 0
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
