"""The speech body: the student's conv stack distilled from the teacher's embedding, frozen, shared by word heads.

Labels carry little of what the teacher knows; its 96-d embedding carries all of it. So the body (the student's
feature layers, `KwsNet` minus its classifier) is trained with no word label at all to reproduce, at each of its
output frames, the teacher's embedding of the same moment (z-scored per dimension, mean squared error, through a
1x1 projection that exists only in training). Frozen, it is the student's speech representation: a word head on
it (train/trainer.py, `Run(body=...)`) learns from a few thousand clips what the body learnt from all the audio.

Alignment: student output frame j sees input frames j .. j + RF - 1, i.e. samples [hop j, hop (j + RF - 1) +
window); teacher embedding i of a clip padded by `clip_pad_samples` sees mel frames 8i .. 8i + 75, i.e. samples
[1280 i, 1280 i + 75 * 160 + 400) of the padded clip. The target of frame j is the teacher's embedding track
linearly interpolated at frame j's centre.

`python -m tinykws.train.body [--out DIR]` trains it on the kws12 transfer set (every bank row of `tinykws train
--task kws12`: synthetic and real Speech Commands clips augmented, running speech, noise; never a wake-word
recording) and reports R^2 on the real validation clips.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import sys
import time
from pathlib import Path

import numpy as np
import torch
from torch import nn
from tqdm import tqdm

from tinykws.atomic import atomic_path
from tinykws.config import BUILD_DIR, CONFIG, TinyKwsConfig
from tinykws.errors import TinyKwsError
from tinykws.train.model import BN_EPS, _conv, dequantize_input, layer_specs

DEFAULT_OUT = BUILD_DIR / "body"
# The teacher's mel frames: about 400 samples of audio each (25 ms), one every `mel_frame_hop_samples`.
_TEACHER_MEL_FRAME_SAMPLES = 400


def alignment(windows: int, cfg: TinyKwsConfig = CONFIG) -> np.ndarray:
    """(P, windows) float32: row j interpolates a clip's `windows` teacher embeddings at the centre of student
    output frame j (P = input frames - receptive field + 1)."""
    fc, tc = cfg.features, cfg.teacher
    rf = cfg.model.receptive_field()
    p = fc.frames_for(cfg.audio.clip_samples) - rf + 1
    e = windows
    student_centre = np.arange(p) * fc.hop_samples + ((rf - 1) * fc.hop_samples + fc.window_samples) / 2
    teacher_len = (tc.window_frames - 1) * tc.mel_frame_hop_samples + _TEACHER_MEL_FRAME_SAMPLES
    step = tc.step_frames * tc.mel_frame_hop_samples
    pos = (student_centre + tc.clip_pad_samples - teacher_len / 2) / step  # fractional teacher window index
    a = np.zeros((p, e), np.float32)
    for j, x in enumerate(pos):
        i = int(np.clip(np.floor(x), 0, e - 2))
        f = float(np.clip(x - i, 0.0, 1.0))
        a[j, i], a[j, i + 1] = 1.0 - f, f
    return a


class BodyNet(nn.Module):
    """The student's feature layers (same names as `KwsNet`'s, so a state loads into either) + a 1x1 projection
    to the teacher's dimensions, for training only."""

    def __init__(self, cfg: TinyKwsConfig = CONFIG) -> None:
        super().__init__()
        mc = dataclasses.replace(cfg.model, head_channels=0)  # the body is the blocks; a head comes later
        self.specs = layer_specs(mc, cfg.features.num_mfcc)
        self.convs = nn.ModuleList(_conv(s, bias=False) for s in self.specs)
        self.bns = nn.ModuleList(nn.BatchNorm1d(s["cout"], eps=BN_EPS) for s in self.specs)
        self.proj = nn.Conv1d(self.specs[-1]["cout"], cfg.teacher.embedding_dim, 1)

    def features(self, x: torch.Tensor) -> torch.Tensor:  # (B, Cin, T) -> (B, C, P)
        for conv, bn in zip(self.convs, self.bns, strict=True):
            x = torch.relu(bn(conv(x)))
        return x

    def forward(self, x: torch.Tensor) -> torch.Tensor:  # (B, Cin, T) -> (B, 96, P), z-scored embedding space
        return self.proj(self.features(x))

    def body_state(self) -> dict[str, torch.Tensor]:
        """The state a `KwsNet` loads (strict=False): convs and batch norms, not the projection."""
        return {k: v for k, v in self.state_dict().items() if not k.startswith("proj.")}


def targets(emb: np.ndarray, align: np.ndarray, mean: np.ndarray, std: np.ndarray) -> torch.Tensor:
    """(B, E, 96) teacher embeddings -> (B, 96, P) z-scored targets at the student's output frames."""
    t = np.einsum("pe,bed->bdp", align, emb.astype(np.float32))
    return torch.from_numpy((t - mean[None, :, None]) / std[None, :, None])


def r_squared(pred: np.ndarray, target: np.ndarray) -> float:
    """1 - residual / total variance over every (dimension, frame) of z-scored targets, pooled."""
    resid = ((pred - target) ** 2).sum()
    total = ((target - target.mean(axis=(0, 2), keepdims=True)) ** 2).sum()
    return float(1.0 - resid / total)


def predict(net: BodyNet, feats: np.ndarray, cfg: TinyKwsConfig = CONFIG, batch: int = 1024) -> np.ndarray:
    net.eval()
    out = []
    with torch.no_grad():
        for i in range(0, len(feats), batch):
            out.append(net(dequantize_input(feats[i : i + batch], cfg.model)).numpy())
    return np.concatenate(out)


def int8_r_squared(model: object, state: dict, feats: np.ndarray, emb: np.ndarray, block: int = 256) -> float:
    """R^2 of the embedding through the integer model's body layers (a model trained on this frozen body):
    int8 body outputs, dequantised, through the float projection. Says whether int8 keeps what the body learnt."""
    n = state["layers"]
    out = []
    for i in range(0, len(feats), block):
        x = feats[i : i + block]
        for layer in model.layers[:n]:
            x = layer.run(x)
        last = model.layers[n - 1]
        out.append((x.astype(np.float32) - last.output_zero_point) * last.output_scale)  # (B, P, C)
    z = torch.from_numpy(np.concatenate(out)).permute(0, 2, 1)
    proj = nn.Conv1d(z.shape[1], emb.shape[2], 1)
    proj.load_state_dict(state["proj"])
    with torch.no_grad():
        pred = proj(z).numpy()
    return r_squared(pred, targets(emb, alignment(emb.shape[1]), state["mean"], state["std"]).numpy())


def epoch_rows(sources: np.ndarray, epoch: int, cfg: TinyKwsConfig = CONFIG) -> np.ndarray:
    bc = cfg.body
    weights = dict(bc.source_weights)
    w = np.array([weights.get(s, 1.0) for s in sources], np.float64)
    rng = np.random.default_rng([bc.seed, epoch])
    return rng.choice(len(sources), size=bc.examples_per_epoch, p=w / w.sum())


def train_body(
    feats: np.ndarray,
    emb: np.ndarray,
    sources: np.ndarray,
    val: tuple[np.ndarray, np.ndarray] | None,
    out: Path,
    cfg: TinyKwsConfig = CONFIG,
    progress: bool = True,
) -> dict:
    """Train (or resume) a body in `out`; returns its report. feats (N, T, C) int8, emb (N, E, 96) teacher."""
    from tinykws.train.trainer import save_torch, torch_threads

    torch.set_num_threads(torch_threads())
    bc = cfg.body
    align = alignment(emb.shape[1], cfg)
    sample = np.einsum("pe,bed->bdp", align, emb[:: max(1, len(emb) // 5000)].astype(np.float32))
    mean, std = sample.mean(axis=(0, 2)), sample.std(axis=(0, 2)) + 1e-3
    torch.manual_seed(bc.seed)
    net = BodyNet(cfg)
    steps = bc.examples_per_epoch // bc.batch_size
    opt = torch.optim.AdamW(net.parameters(), lr=bc.learning_rate, weight_decay=bc.weight_decay)
    sched = torch.optim.lr_scheduler.OneCycleLR(
        opt, max_lr=bc.learning_rate, total_steps=bc.epochs * steps, pct_start=0.1
    )
    ckpt = out / "body_checkpoint.pt"
    history: list[dict] = []
    start = 0
    if ckpt.exists():
        state = torch.load(ckpt, weights_only=False)
        if state.get("config") == cfg.to_dict() and state.get("rows") == len(feats):
            net.load_state_dict(state["net"])
            opt.load_state_dict(state["opt"])
            sched.load_state_dict(state["sched"])
            history, start = state["history"], state["epoch"]
            mean, std = state["mean"], state["std"]
    bar = tqdm(total=bc.epochs * steps, initial=start * steps, unit="step", desc="speech body", file=sys.stderr,
               disable=not progress, dynamic_ncols=True)  # fmt: skip
    with bar:
        for epoch in range(start, bc.epochs):
            rows = epoch_rows(sources, epoch, cfg)
            net.train()
            t0, losses = time.time(), []
            for b in range(steps):
                r = np.sort(rows[b * bc.batch_size : (b + 1) * bc.batch_size])
                x = dequantize_input(feats[r], cfg.model)
                loss = nn.functional.mse_loss(net(x), targets(emb[r], align, mean, std))
                opt.zero_grad()
                loss.backward()
                opt.step()
                sched.step()
                losses.append(loss.item())
                bar.update(1)
                bar.set_postfix(epoch=f"{epoch + 1}/{bc.epochs}", mse=f"{np.mean(losses[-50:]):.3f}")
            entry = {"epoch": epoch + 1, "mse": float(np.mean(losses)), "seconds": round(time.time() - t0, 1)}
            if val is not None:
                entry["val_real_r2"] = r_squared(predict(net, val[0], cfg), targets(val[1], align, mean, std).numpy())
            history.append(entry)
            bar.write(json.dumps(entry))
            save_torch({"net": net.state_dict(), "opt": opt.state_dict(), "sched": sched.state_dict(),
                        "history": history, "epoch": epoch + 1, "mean": mean, "std": std,
                        "config": cfg.to_dict(), "rows": len(feats)}, ckpt)  # fmt: skip
    report = {
        "history": history,
        "rows": len(feats),
        "parameters": sum(p.numel() for m in (net.convs, net.bns) for p in m.parameters()),
    }
    if history and "val_real_r2" in history[-1]:
        report["val_real_r2"] = history[-1]["val_real_r2"]
    save_torch({"body": net.body_state(), "layers": len(net.specs), "specs": net.specs,
                "proj": net.proj.state_dict(), "mean": mean, "std": std, "config": cfg.to_dict(),
                "summary": {"parameters": report["parameters"], "val_real_r2": report.get("val_real_r2")},
                "report": report}, out / "body.pt")  # fmt: skip
    with atomic_path(out / "body_report.json", suffix=".json") as tmp:
        tmp.write_text(json.dumps(report, indent=1) + "\n")
    return report


def load_body(path: Path, cfg: TinyKwsConfig = CONFIG) -> dict:
    """A trained body's state; one line if it is unreadable or was trained for another model or front end."""
    try:
        state = torch.load(path, weights_only=False)
    except Exception as e:  # noqa: BLE001 - every unreadable file is one message
        raise TinyKwsError(f"{path}: not a readable speech body ({type(e).__name__})") from None
    if not isinstance(state, dict) or not {"body", "layers", "specs", "config"} <= set(state):
        raise TinyKwsError(f"{path}: not a tinykws speech body")
    for part in ("features", "audio"):
        if state["config"].get(part) != cfg.to_dict()[part]:
            raise TinyKwsError(f"{path}: body was trained on another front end ({part} config differs)")
    if layer_specs(cfg.model, cfg.features.num_mfcc)[: state["layers"]] != state["specs"]:
        raise TinyKwsError(f"{path}: body layers do not match the model config's first {state['layers']} layers")
    return state


def transfer_set(
    progress: bool = True, main_only: bool = False
) -> tuple[np.ndarray, np.ndarray, np.ndarray, tuple[np.ndarray, np.ndarray]]:
    """The kws12 run's bank (features, teacher embeddings, sources) and the real validation clips (features,
    embeddings), as `tinykws train --task kws12 --prepare-only` caches them; `main_only`: the main bank alone,
    without the transfer set's extra real copies and running speech."""
    from tinykws.data import layout
    from tinykws.train import dataset, teacher
    from tinykws.train.trainer import FEATURES_NPZ, Run

    roots = layout.default_roots()
    run = Run(layout.KWS12, BUILD_DIR / "runs" / layout.KWS12, roots, teacher=False,
              transfer=() if main_only else ("real", "running"), progress=progress)  # fmt: skip
    run.prepare_data()
    emb = np.concatenate([teacher.embeddings(c, roots, pc, progress=progress) for c, pc in run.parts])
    val_emb = teacher.embeddings(run.val_clips, roots, CONFIG, augment=False, progress=False)
    val_feats = dataset.clean_features(run.val_clips, FEATURES_NPZ)
    return run.bank.features, emb, run.bank.sources, (val_feats, val_emb)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tinykws.train.body", description=__doc__.split("\n")[0])
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT)
    parser.add_argument(
        "--main-only", action="store_true", help="the main bank only (no extra real copies, no running speech)"
    )
    parser.add_argument(
        "--epochs",
        type=int,
        default=None,
        help=f"epochs of {CONFIG.body.examples_per_epoch} rows (default {CONFIG.body.epochs})",
    )
    parser.add_argument("--no-progress", action="store_true")
    args = parser.parse_args(argv)
    if args.epochs is not None and args.epochs < 1:
        raise TinyKwsError("--epochs must be at least 1")
    cfg = CONFIG if args.epochs is None else dataclasses.replace(
        CONFIG, body=dataclasses.replace(CONFIG.body, epochs=args.epochs)
    )  # fmt: skip
    args.out.mkdir(parents=True, exist_ok=True)
    feats, emb, sources, val = transfer_set(not args.no_progress, args.main_only)
    report = train_body(feats, emb, sources, val, args.out, cfg=cfg, progress=not args.no_progress)
    print(
        f"speech body: {report['parameters']} parameters, {report['rows']} rows, "
        f"R^2 on real validation clips {report.get('val_real_r2', float('nan')):.3f} -> {args.out / 'body.pt'}"
    )
    return 0


if __name__ == "__main__":
    from tinykws.errors import run_script

    sys.exit(run_script(main))
