"""Design-time measurement of the int8 quantisation constants that `FeatureConfig` freezes.

Maps each cepstral coefficient's 0.1 / 99.9 percentiles over the training side of the real clips onto
[-128, 127]. Run it after changing any front-end parameter and paste the printed lines into the config:
the constants are part of the front end's definition (and of its hash), not something a run recomputes.
"""

from __future__ import annotations

import argparse

import numpy as np

from tinykws.config import CONFIG, SHARED_DATA_DIR, FeatureConfig
from tinykws.data import layout
from tinykws.data.wav import fit_clip, read_wav
from tinykws.features import mfcc

PERCENTILES = (0.1, 99.9)


def quant_constants(cepstra: np.ndarray, fc: FeatureConfig = CONFIG.features) -> tuple[list[int], list[int]]:
    """(multipliers, zero points) mapping each column's percentile range onto int8."""
    lo, hi = np.percentile(cepstra.astype(np.float64), PERCENTILES, axis=0)
    span = np.maximum(hi - lo, 1.0)
    mult = np.round((2.0**32) * 255.0 / span).astype(np.int64)
    if np.any(mult >= 2**31):
        raise ValueError("cepstra span too small for a Q32 multiplier below 2^31")
    zero = -128 - np.round(lo * mult / 2.0**32).astype(np.int64)
    return mult.tolist(), zero.tolist()


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--data",
        default=str(SHARED_DATA_DIR / "speech_commands_test_set_v0.02"),
        help="Speech Commands folder whose train split is measured (default: the real clips)",
    )


def run(args: argparse.Namespace) -> int:
    clips = [c for c in layout.scan(args.data) if c.split == "train"]
    audio = np.stack([fit_clip(read_wav(c.path)) for c in clips])
    frames = mfcc.frame_signal(audio).reshape(-1, CONFIG.features.window_samples)
    mult, zero = quant_constants(mfcc.cepstra_of_frames(frames))
    print(f"# {len(clips)} clips, {len(frames)} frames of {args.data} (train split)")
    print(f"    quant_multipliers: tuple[int, ...] = ({', '.join(map(str, mult))})")
    print(f"    quant_zero_points: tuple[int, ...] = ({', '.join(map(str, zero))})")
    return 0
