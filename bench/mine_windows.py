"""Cross-fitted window mining for a wake word (the `mined` transfer part; an experiment, not in `make run`).

A student trained on half of the training speakers is run over streams of the other half (people it never
heard, as validation speakers are to the full student), and the windows of those streams where it is most
likely to go wrong are kept: its highest-scoring hops on the negative stream (false-accept candidates) and hops
around each wake word of the positive streams. Both halves, each mined by the other's student. The windows go
to build/data/mined/TASK/<word>/ (written to a temporary folder, then renamed), where `tinykws train --transfer
...,mined` reads them; the teacher alone labels them.

`python bench/mine_windows.py --task yes`   (~30 min on 2 cores: two half-speaker students, then the streams)

It gave no reliable gain (README). Windows cut from the streams of all training speakers without any student
picking them did, and are the `windows` part of the trainer (data/stream_windows.py); the measurement of
README's "sliding" rows, `--sliding 6000`, is that part's recipe (`--transfer ...,windows` since).
"""

from __future__ import annotations

import argparse
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Callable
from pathlib import Path

import numpy as np

from tinykws.config import BUILD_DIR, CONFIG, SHARED_DATA_DIR
from tinykws.data import layout, streams
from tinykws.data.stream_windows import word_spans
from tinykws.errors import TinyKwsError, run_script

ROOT = SHARED_DATA_DIR / "speech_commands_test_set_v0.02"


def half_of(speaker: str) -> int:
    """0 or 1 by the speaker hash; -1 for a pseudo-speaker (silence clips), which both halves keep."""
    try:
        return int(speaker, 16) % 2
    except ValueError:
        return -1


def training_streams(task: str, hours: float, keep: Callable[[layout.Clip], bool]) -> list:
    """The positive streams and the negative stream (data/streams.py, as stream-eval builds them) of the training
    clips that `keep` keeps."""
    from tinykws.data.wav import read_wav

    clips = [c for c in layout.scan(ROOT) if c.split == "train" and keep(c)]
    words = [c.word for c in clips]
    return streams.over_noise(
        [read_wav(c.path) for c in clips], words, [w == task for w in words], [ROOT], hours, CONFIG.stream
    )


def train_half(task: str, half: int, out: Path, body: str) -> None:
    """`tinykws train` (make run's recipe) with the real training clips of the other half's speakers removed."""
    from tinykws import cli

    scan = layout.scan

    def one_half(root: Path, *a: object, **k: object) -> list[layout.Clip]:
        clips = scan(root, *a, **k)
        return [c for c in clips if not (c.source == "real" and c.split == "train" and half_of(c.speaker) == 1 - half)]

    layout.scan = one_half
    args = ["train", "--task", task, "--no-progress", "--transfer", "real,running,context", "--out", str(out)]
    rc = cli.main(args + (["--body", body] if body != "none" else []))
    if rc:
        raise SystemExit(rc)


def mine(task: str, half: int, model_path: Path, out: Path, hours: float, negatives: int, every: int) -> dict:
    """Windows of the streams of the speakers NOT of `half`, picked by the student of `half`."""
    from tinykws.data.wav import write_wav
    from tinykws.firmware.engine import CEngine
    from tinykws.train import stream_eval
    from tinykws.train.detector import hop_scores
    from tinykws.train.int_model import IntModel

    model = IntModel.load(model_path)
    built = training_streams(task, hours, lambda c: half_of(c.speaker) == 1 - half)
    n, first = CONFIG.audio.clip_samples, model.input_frames - 1
    count = {"negative": 0, "positive": 0}
    for s in built:
        score = hop_scores(stream_eval.stream_logits(model, s.audio, CEngine))[:, 1].astype(np.int64)
        ends = CONFIG.features.hop_end_sample(np.arange(first, first + len(score)))
        if not s.positives:
            # The best 5-hop sums, at least 10 hops apart, each window a whole second.
            sums = np.convolve(score, np.ones(5, np.int64))[: len(score)]
            sums[ends < n] = np.iinfo(np.int64).min // 2
            taken = np.zeros(len(sums), bool)
            picks = []
            for i in np.argsort(-sums, kind="stable"):
                if len(picks) == negatives:
                    break
                if not taken[max(0, i - 10) : i + 11].any():
                    taken[i] = True
                    picks.append(i)
            (out / f"not_{task}").mkdir(parents=True, exist_ok=True)
            for k, i in enumerate(picks):
                write_wav(out / f"not_{task}" / f"h{half}_nohash_{k}.wav", s.audio[ends[i] - n : ends[i]])
            count["negative"] += len(picks)
        else:
            (out / task).mkdir(parents=True, exist_ok=True)
            name = s.name.replace(" ", "_")
            for j, (lo, hi) in enumerate(zip(*word_spans(s), strict=True)):
                for i in np.flatnonzero((ends >= lo) & (ends <= hi) & (ends >= n))[::every]:
                    write_wav(out / task / f"h{half}_nohash_{name}_{j}_{i}.wav", s.audio[ends[i] - n : ends[i]])
                    count["positive"] += 1
    return count


def main(argv: list[str]) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--task", default="yes", help="a wake-word task whose word has real clips (default yes)")
    p.add_argument("--body", default="models/body/body.pt", help="speech body of the half students, or none")
    p.add_argument("--hours", type=float, default=2.0, help="hours of each negative stream (default 2)")
    p.add_argument("--negatives", type=int, default=300, help="windows per half from the negative stream")
    p.add_argument("--positive-every", type=int, default=24, help="a positive window every this many hops")
    p.add_argument("--runs", type=Path, default=BUILD_DIR / "runs", help="where the half students are trained")
    p.add_argument("--train-half", type=int, choices=(0, 1), default=None, help=argparse.SUPPRESS)
    p.add_argument("--out", type=Path, default=None, help=argparse.SUPPRESS)
    args = p.parse_args(argv)
    if args.train_half is not None:  # the child process of one half student (layout patched in it alone)
        train_half(args.task, args.train_half, args.out, args.body)
        return 0
    layout.check_task(args.task)
    if args.task == layout.KWS12 or not any(c.word == args.task for c in layout.scan(ROOT)):
        raise TinyKwsError(f"--task {args.task}: mining needs a wake-word task whose word has clips in {ROOT}")
    final = BUILD_DIR / "data" / "mined" / args.task
    final.parent.mkdir(parents=True, exist_ok=True)
    models = []
    for half in (0, 1):
        out = args.runs / f"{args.task}-half{half}"
        if not (out / "model.npz").exists():
            print(f"training the student of speaker half {half} into {out}", file=sys.stderr)
            cmd = [sys.executable, __file__, "--task", args.task, "--body", args.body, "--train-half", str(half)]
            if subprocess.run([*cmd, "--out", str(out)]).returncode:
                raise TinyKwsError(f"the student of speaker half {half} failed to train (above)")
        models.append(out / "model.npz")
    with tempfile.TemporaryDirectory(dir=final.parent, prefix=f".{args.task}-") as tmp:
        for half, model in enumerate(models):
            count = mine(args.task, half, model, Path(tmp), args.hours, args.negatives, args.positive_every)
            print(f"half {half}: {count}", file=sys.stderr)
        if final.exists():
            shutil.rmtree(final)
        Path(tmp).rename(final)
        Path(tmp).mkdir()  # for TemporaryDirectory's own cleanup
    print(f"mined windows in {final}: --transfer real,running,context,mined", file=sys.stderr)
    return 0


if __name__ == "__main__":
    run_script(lambda: main(sys.argv[1:]))
