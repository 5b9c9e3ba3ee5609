"""`tinykws features IN.wav... -o OUT.npz`: int8 model inputs of WAV files, one array per input file.

Every input is checked before anything is written, so a bad file among good ones leaves no output behind.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np

from tinykws.atomic import atomic_path
from tinykws.config import CONFIG
from tinykws.data.wav import read_wav
from tinykws.errors import TinyKwsError
from tinykws.features import mfcc


def array_name(path: Path, taken: set[str]) -> str:
    """The npz key of an input: its file stem, made unique with a counter when two stems clash."""
    name = path.stem
    k = 1
    while name in taken:
        k += 1
        name = f"{path.stem}_{k}"
    taken.add(name)
    return name


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("inputs", nargs="+", type=Path, metavar="IN.wav", help="16 kHz mono 16-bit WAV files")
    parser.add_argument("-o", "--output", required=True, type=Path, metavar="OUT.npz", help="output file")
    parser.add_argument(
        "--convert",
        action="store_true",
        help="convert other rates / channel counts / sample formats to 16 kHz mono int16 (reported)",
    )


def run(args: argparse.Namespace) -> int:
    if args.output.suffix != ".npz":
        raise TinyKwsError(f"{args.output}: output must be a .npz file")
    arrays: dict[str, np.ndarray] = {}
    for path in args.inputs:
        audio = read_wav(path, convert=args.convert, report=lambda m: print(m, file=sys.stderr))
        feats = mfcc.mfcc(audio)
        if len(feats) == 0:
            raise TinyKwsError(
                f"{path}: {len(audio)} samples is shorter than one {CONFIG.features.window_samples}-sample window"
            )
        arrays[array_name(path, set(arrays))] = feats
    with atomic_path(args.output, suffix=".npz") as tmp:
        with open(tmp, "wb") as f:
            np.savez(f, **arrays)
    print(f"wrote {len(arrays)} feature arrays ({CONFIG.features.num_mfcc} coefficients per frame) to {args.output}")
    return 0
