"""The speech body with another input or width: is it the body's input or its size that limits it?

`python bench/body_variants.py [--input mfcc|logmel] [--channels N] [--epochs 40] [--out DIR]`

Trains the body of `python -m tinykws.train.body` (train/body.py) on the same kws12 transfer set and prints its
float R^2 of the teacher's embedding on the real validation clips, one JSON line. The shipped body is `--input
mfcc --channels 56 --epochs 40` (R^2 0.562).

`--input logmel` feeds the body the front end's own 40 integer log-mel bands (features/mfcc.py up to log2_q,
without the DCT) instead of 10 MFCC, each band quantised to int8 from its 0.1 / 99.9 % percentiles on real
training clips. This is a measuring harness, not a model the firmware can run: it swaps the batch front end and
the config's feature and model settings in this process only; the banks are cached under their own feature hash.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import sys
import time
from pathlib import Path

import numpy as np

from tinykws.config import BUILD_DIR, CONFIG
from tinykws.features import mfcc

_CALIBRATION_CLIPS = 1500


def log_mel_bands(audio: np.ndarray) -> np.ndarray:
    """(..., samples) int16 -> (..., frames, num_mel_bands): the front end's log-mel stage (Q6 log2)."""
    fc = CONFIG.features
    frames = mfcc.frame_signal(audio, fc)
    bands = mfcc.log_mel_of_frames(frames.reshape(-1, fc.window_samples), fc)
    return bands.reshape(*frames.shape[:-1], fc.num_mel_bands)


def _calibration() -> tuple[np.ndarray, np.ndarray]:
    """Per-band (low, high): the 0.1 / 99.9 % percentiles over real training clips."""
    from tinykws.data import layout
    from tinykws.data.wav import read_wav

    clips = [c for r in layout.default_roots() for c in layout.scan(r) if c.split == "train" and c.source == "real"]
    pick = np.random.default_rng(0).choice(len(clips), min(_CALIBRATION_CLIPS, len(clips)), replace=False)
    bands = np.concatenate([log_mel_bands(read_wav(clips[i].path)[None])[0] for i in sorted(pick)])
    return np.percentile(bands, 0.1, axis=0), np.percentile(bands, 99.9, axis=0)


def _use_log_mel() -> None:
    low, high = _calibration()
    scale = 255.0 / np.maximum(high - low, 1.0)

    def features(audio: np.ndarray, fc: object = None) -> np.ndarray:
        q = np.round((log_mel_bands(audio).astype(np.float64) - low) * scale) - 128
        return np.clip(q, -128, 127).astype(np.int8)

    mfcc.mfcc = features  # the banks' batch front end (their worker processes are forked after this)
    # The calibration goes into the feature settings, so the banks' cache key (the feature hash) is this input's.
    fc = dataclasses.replace(
        CONFIG.features,
        num_mfcc=CONFIG.features.num_mel_bands,
        quant_multipliers=tuple(int(s * 1e6) for s in scale),
        quant_zero_points=tuple(int(v) for v in low),
    )
    # The bank builders read CONFIG.features for their cache key: this process only (CONFIG is frozen).
    object.__setattr__(CONFIG, "features", fc)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--input", choices=("mfcc", "logmel"), default="mfcc")
    p.add_argument("--channels", type=int, default=CONFIG.model.channels)
    p.add_argument("--epochs", type=int, default=40)
    p.add_argument("--out", type=Path, default=None, help="default build/body-variants/INPUT-CHANNELS")
    args = p.parse_args(argv)
    if args.channels < 1 or args.epochs < 1:
        p.error("--channels and --epochs must be at least 1")
    out = args.out or BUILD_DIR / "body-variants" / f"{args.input}-{args.channels}"
    if args.input == "logmel":
        _use_log_mel()
    # The body's width and epochs are settings train_body takes; only the input (above) is swapped in-process.
    cfg = dataclasses.replace(
        CONFIG,
        model=dataclasses.replace(CONFIG.model, channels=args.channels),
        body=dataclasses.replace(CONFIG.body, epochs=args.epochs),
    )
    from tinykws.train import body

    feats, emb, sources, val = body.transfer_set(progress=False)
    t0 = time.time()
    report = body.train_body(feats, emb, sources, val, out, cfg=cfg, progress=False)
    row = {"input": args.input, "channels": args.channels, "epochs": args.epochs, "input_shape": list(feats.shape[1:])}
    row |= {k: report[k] for k in ("parameters", "rows", "val_real_r2")}
    print(json.dumps({**row, "train_seconds": round(time.time() - t0)}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
