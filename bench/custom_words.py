"""Custom wake words from text, measured on real people: the four words of ../shared/data/wake_words.

For each word and recipe, exactly what a user runs: `tinykws train --keyword WORD --out DIR` (its own real
recordings are never seen: they are not in the training data, not even as unlabelled audio), then `tinykws
stream-eval --task WORD --model DIR/model.npz --apply` (no real recording of the word: the detector is tuned on
held-out synthetic voices among real negatives), then the measurement: `stream-eval --positives
wake_words/WORD --no-tune` (the real recordings, clean / 20 dB / 10 dB among real other words and LibriSpeech
running speech of validation speakers), C engine. Prints one JSON line per (word, recipe) and a Markdown table.

`python bench/custom_words.py [--words jarvis ...] [--recipes default random frozen hard] [--body FILE] [--hours 1]`
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
from pathlib import Path

from tinykws.config import BUILD_DIR, SHARED_DATA_DIR

WAKE_WORDS = SHARED_DATA_DIR / "wake_words"
WORDS = ("jarvis", "smart_mirror", "snowboy", "view_glass")
TINYKWS = [sys.executable, "-m", "tinykws.cli"]


def _run(args: list[str]) -> tuple[str, float]:
    t0 = time.time()
    out = subprocess.run(TINYKWS + args, capture_output=True, text=True)
    if out.returncode != 0:
        raise SystemExit(f"tinykws {' '.join(args)} failed:\n{out.stderr[-2000:]}")
    return out.stdout, time.time() - t0


RECIPES = {
    "default": [],  # exactly what a user runs: every layer starts from the shipped speech body
    "random": ["--body", "none"],  # the same student from random weights
    "frozen": ["--body-mode", "frozen"],  # the body frozen under a trainable 1x1 head
    "hard": ["--no-teacher"],  # hard labels only, no teacher soft labels
    "local": ["--voices", "local"],  # positives from the local voices alone (espeak-ng, flite, festival)
    "kokoro": ["--voices", "kokoro"],  # positives from Kokoro's natural voices alone
    "context": ["--transfer", "real,running,context"],  # + the takes and real words after real people's words
    "windows": ["--transfer", "real,running,windows"],  # + windows of streams of the takes among real words
}


def measure(word: str, recipe: str, hours: float, out_root: Path, body: Path | None = None) -> dict:
    out = out_root / f"{word}-{recipe}"
    model = out / "model.npz"
    train = ["train", "--keyword", word.replace("_", " "), "--out", str(out), "--no-progress", *RECIPES[recipe]]
    if body is not None and recipe != "random":
        train += ["--body", str(body)]
    row: dict = {"word": word, "recipe": recipe}
    if not model.exists():
        _, row["train_seconds"] = _run(train)
    # Tuned exactly as `make keyword` tunes it (the default hours of negatives); --hours is the measurement's.
    tuned, row["tune_seconds"] = _run(["stream-eval", "--task", word, "--model", str(model), "--apply", "--json",
                                       "--no-progress"])  # fmt: skip
    row["tuned_on_synthetic"] = {k: json.loads(tuned)["tuned"][k] for k in ("frr", "fa_per_hour", "detector")}
    real, _ = _run(["stream-eval", "--task", word, "--model", str(model), "--positives", str(WAKE_WORDS / word),
                    "--no-tune", "--json", "--no-progress", "--hours", str(hours)])  # fmt: skip
    r = json.loads(real)
    row["real"] = {
        "positives": r["positives"],
        "hours": r["hours"],
        "frr": r["frr"],
        "frr_by_stream": r["frr_by_stream"],
        "fa_per_hour": r["fa_per_hour"],
        "frr_at_target_fa": r["model_detector_at_target"]["frr"],  # threshold picked on these streams: optimistic
        "fa_per_hour_at_target": r["model_detector_at_target"]["fa_per_hour"],
    }
    return row


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--words", nargs="+", default=list(WORDS))
    p.add_argument("--recipes", nargs="+", default=["default"], choices=tuple(RECIPES))
    p.add_argument("--body", type=Path, default=None, help="another speech body than the shipped one")
    p.add_argument("--hours", type=float, default=1.0)
    p.add_argument("--out", type=Path, default=BUILD_DIR / "words")
    args = p.parse_args()
    rows = []
    for word in args.words:
        for recipe in args.recipes:
            rows.append(measure(word, recipe, args.hours, args.out, args.body))
            print(json.dumps(rows[-1]), flush=True)
    print("\n| word | recipe | FRR (own detector) | FA/h | FRR at <= 0.5 FA/h (picked on the test) | train s |")
    print("| --- | --- | --- | --- | --- | --- |")
    for r in rows:
        real = r["real"]
        print(f"| {r['word']} | {r['recipe']} | {100 * real['frr']:.1f} % | {real['fa_per_hour']:.2f} | "
              f"{100 * real['frr_at_target_fa']:.1f} % | {r.get('train_seconds', 0):.0f} |")  # fmt: skip
    return 0


if __name__ == "__main__":
    sys.exit(main())
