"""What limits kws12 accuracy on real speech: train on synthetic only, real only, or both, and evaluate each
int8 model on the same real validation speakers (never trained on). Optionally a learning curve over the
share of real training speakers.

    .venv/bin/python bench/ablation.py [--epochs FLOAT QAT] [--real-shares 0.25 0.5 1.0]

Runs go to build/ablation/<name>/; finished runs are reused. Prints one table.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import subprocess
import sys
from pathlib import Path

from tinykws.config import BUILD_DIR, SHARED_DATA_DIR
from tinykws.data import layout

REAL = SHARED_DATA_DIR / "speech_commands_test_set_v0.02"
SYNTH = BUILD_DIR / "data" / "synth"
OUT = BUILD_DIR / "ablation"
TINYKWS = [sys.executable, "-m", "tinykws.cli"]


def real_subset(share: float) -> Path:
    """A test-set-layout folder of links to the real clips of `share` of the training speakers, plus every
    validation clip, so that all runs are scored on the same speakers."""
    dest = OUT / f"real_{int(share * 100)}"
    if dest.exists():
        return dest
    for clip in layout.scan(REAL):
        bucket = int(hashlib.sha1(clip.speaker.encode()).hexdigest(), 16) % 1000
        if clip.split == "validation" or bucket < share * 1000:
            target = dest / clip.path.parent.name / clip.path.name
            target.parent.mkdir(parents=True, exist_ok=True)
            os.symlink(clip.path, target)
    if not (OUT / "_background_noise_").exists():  # augmentation looks for noise beside the data folder
        os.symlink(REAL.parent / "_background_noise_", OUT / "_background_noise_")
    return dest


def train_and_eval(name: str, roots: list[Path], epochs: list[int]) -> dict:
    run = OUT / name
    if not (run / "model.npz").exists():
        cmd = [*TINYKWS, "train", "--task", "kws12", "--out", str(run), "--no-progress", "--epochs", *map(str, epochs),
               "--fresh", "--data", *map(str, roots)]  # fmt: skip
        subprocess.run(cmd, check=True)
    out = subprocess.run(
        [*TINYKWS, "eval", "--task", "kws12", "--model", str(run / "model.npz"), "--data", str(REAL), "--split",
         "validation", "--json", "--png", str(run / "confusion.png")],
        check=True, capture_output=True, text=True,
    )  # fmt: skip
    return json.loads(out.stdout)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--epochs", type=int, nargs=2, default=[12, 4], metavar=("FLOAT", "QAT"))
    ap.add_argument("--real-shares", type=float, nargs="*", default=[])
    args = ap.parse_args()
    OUT.mkdir(parents=True, exist_ok=True)
    runs = {"synthetic only": [SYNTH], "real only": [REAL], "synthetic + real": [SYNTH, REAL]}
    for share in args.real_shares:
        runs[f"synthetic + {int(share * 100)} % real speakers"] = [SYNTH, real_subset(share)]
    rows = []
    for name, roots in runs.items():
        m = train_and_eval(name.replace(" ", "_").replace("+", "and").replace("%", "pct"), roots, args.epochs)
        rows.append((name, f"{100 * m['accuracy']:.2f}", f"{100 * m['per_class']['_unknown_']['recall']:.1f}",
                     f"{100 * m['per_class']['yes']['recall']:.1f}", str(m["n"])))  # fmt: skip
    print(f"kws12 int8 accuracy on real validation speakers ({args.epochs[0]} float + {args.epochs[1]} QAT epochs)")
    head = ("training data", "accuracy %", "unknown recall %", "yes recall %", "n")
    widths = [max(len(r[i]) for r in [head, *rows]) for i in range(len(head))]
    for r in [head, *rows]:
        print("  ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)))


if __name__ == "__main__":
    main()
