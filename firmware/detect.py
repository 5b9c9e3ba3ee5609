"""`tinykws detect`: streaming keyword detection over a WAV of any length, with the Python reference engine
(train/engine.py) or the C engine (firmware/, through ctypes). Both print identical lines:

    {"t": 2.87, "hop": 142, "keyword": "down", "score": 42.0}        one per detection (--jsonl)
    {"t": 2.87, "hop": 142, "logits": [...], "scores": {...}}       with --scores, one per hop that has logits

`t` is the end of the hop's analysis window in seconds (when the detection became possible), `score` the
smoothed score, sum / smoothing_hops, in int8 logit steps; `scores` are every keyword's smoothed scores
(absent until the detector's window is full). The audio goes in fixed chunks (--chunk) to show the engines
streaming; any chunking gives the same lines.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Iterator, Sequence
from pathlib import Path

import numpy as np

from tinykws.data import layout
from tinykws.errors import TinyKwsError
from tinykws.train.detector import Detection, detector_config, keyword_mask
from tinykws.train.engine import hop_end_seconds
from tinykws.train.int_model import IntModel

DEFAULT_CHUNK = 1000  # samples per push: deliberately not a multiple of the hop


def detection_record(model: IntModel, det: Detection) -> dict:
    n = detector_config(model).smoothing_hops
    return {
        "t": round(hop_end_seconds(det.hop), 6),
        "hop": det.hop,
        "keyword": model.labels[det.keyword],
        "score": round(det.score_sum / n, 6),
    }


def scores_record(model: IntModel, hop: int, logits: np.ndarray, sums: np.ndarray | None) -> dict:
    rec: dict = {"t": round(hop_end_seconds(hop), 6), "hop": hop, "logits": [int(v) for v in logits]}
    if sums is not None:
        n = detector_config(model).smoothing_hops
        mask = keyword_mask(model.labels)
        pairs = zip(model.labels, sums, mask, strict=True)
        rec["scores"] = {label: round(int(s) / n, 6) for label, s, k in pairs if k}
    return rec


def _text(rec: dict) -> str:
    if "keyword" in rec:
        return f"{rec['t']:9.3f} s  {rec['keyword']:<10} score {rec['score']:.1f}"
    scores = "  ".join(f"{k} {v:.1f}" for k, v in rec.get("scores", {}).items())
    return f"{rec['t']:9.3f} s  logits {rec['logits']}  {scores}"


def output_lines(
    model: IntModel,
    detections: Sequence[Detection],
    hops: Sequence[tuple[int, np.ndarray, np.ndarray | None]] | None,
    jsonl: bool,
) -> Iterator[str]:
    """Detections (and, if `hops` is given, per-hop score lines before them), in hop order."""
    records = [(d.hop, 1, detection_record(model, d)) for d in detections]
    if hops is not None:
        records += [(h, 0, scores_record(model, h, lg, sm)) for h, lg, sm in hops if lg is not None]
    for _, _, rec in sorted(records, key=lambda r: (r[0], r[1])):
        yield json.dumps(rec) if jsonl else _text(rec)


def run_engine(engine: object, audio: np.ndarray, chunk: int) -> list[Detection]:
    detections: list[Detection] = []
    for start in range(0, len(audio), chunk):
        detections += engine.process(audio[start : start + chunk])
    return detections


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--task", type=layout.check_task, metavar="TASK", required=True)
    parser.add_argument("--model", type=Path, default=None, help="integer model .npz (default: the shipped model)")
    parser.add_argument("--engine", choices=("python", "c"), default="python", help="default python")
    parser.add_argument("wav", type=Path, metavar="IN.wav")
    parser.add_argument("--jsonl", action="store_true", help="one JSON object per line")
    parser.add_argument("--scores", action="store_true", help="also a line per hop with logits and smoothed scores")
    parser.add_argument("--convert", action="store_true", help="mix / resample / requantise other WAV formats")
    parser.add_argument("--chunk", type=int, default=DEFAULT_CHUNK, help=f"samples per push (default {DEFAULT_CHUNK})")


def run(args: argparse.Namespace) -> int:
    from tinykws.data.wav import read_wav
    from tinykws.train.evaluate import load_model

    if args.chunk < 1:
        raise TinyKwsError(f"--chunk must be >= 1, got {args.chunk}")
    model, path = load_model(args.task, args.model)
    audio = read_wav(args.wav, convert=args.convert, report=lambda s: print(f"tinykws: {s}", file=sys.stderr))
    if args.engine == "c":
        from tinykws.firmware.engine import CEngine

        engine = CEngine(model, record=args.scores, source=str(path))
    else:
        from tinykws.train.engine import PythonEngine

        engine = PythonEngine(model, record=args.scores)
    detections = run_engine(engine, audio, args.chunk)
    hops = [(h.hop, h.logits, h.sums) for h in engine.hops] if args.scores else None
    for line in output_lines(model, detections, hops, args.jsonl):
        print(line)
    return 0
