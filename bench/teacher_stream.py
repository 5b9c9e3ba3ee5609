"""The teacher streamed: its head run live over the same streams as `tinykws stream-eval`, the way openWakeWord
runs it (a mel chunk every 80 ms, an embedding every 80 ms, the head on the newest 16), through the student's
detector and scoring. It says how far streaming distillation can go: a student is unlikely to stream better
than the teacher it copies.

The head's logits become per-hop int8 logits (x `--scale`, 16 steps per logit by default; the newest output
held for the student's 20 ms hops), dated when a clip-sized window holding the word ends (train/teacher.py
`hop_logits`): detection quality, not openWakeWord's extra 0.5 s of latency. The detector (window, threshold,
refractory) is picked at <= --target-fa false accepts per hour, either on these streams (optimistic: the test
picks its own threshold) or, with `--tune-on-synthetic`, on held-out synthetic voices among the same real
negatives, as `make keyword` tunes a custom word's student.

`python bench/teacher_stream.py --task yes --head build/runs/yes/teacher_head.pt`
`python bench/teacher_stream.py --task jarvis --head RUN/teacher_head.pt --hours 1 --tune-on-synthetic \\
    --positives ../shared/data/wake_words/jarvis`
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import numpy as np
from tqdm import tqdm

from tinykws.config import CONFIG
from tinykws.data import layout
from tinykws.errors import TinyKwsError, run_script
from tinykws.train import stream_eval, teacher
from tinykws.train.detector import keyword_mask
from tinykws.train.evaluate import load_model

_CLIP_VIEW_HOPS = 4  # --view clip: a teacher output every 80 ms, as live


def _clip_view_embeddings(clips: np.ndarray) -> np.ndarray:
    return teacher.shared_embedder().embed(clips)


def clip_view_logits(
    head: object, audio: np.ndarray, ends: np.ndarray, keywords: np.ndarray, scale: float, jobs: int
) -> np.ndarray:
    """(len(ends), classes) int8: the head on the last second before each of `ends` alone, zero-padded as in
    training (the student's view), computed every `_CLIP_VIEW_HOPS` hops and held in between."""
    n = CONFIG.audio.clip_samples
    every = ends[(np.arange(len(ends)) % _CLIP_VIEW_HOPS == 0) & (ends >= n)]
    parts = (np.stack([audio[e - n : e] for e in every[i : i + 256]]) for i in range(0, len(every), 256))
    with ProcessPoolExecutor(max_workers=jobs) as pool:
        emb = np.concatenate(list(pool.map(_clip_view_embeddings, parts)))
    return teacher.held_hop_logits(teacher.head_logits(head, emb), every, ends, keywords, scale)


def record(
    built: list, head: object, windows: int, labels: tuple[str, ...], first_hop: int, scale: float, progress: bool,
    view: str = "stream", jobs: int = 2,
) -> list[tuple]:  # fmt: skip
    """(stream, per-hop int8 logits) for each stream, the student's hop grid from `first_hop` on."""
    embedder = teacher.Embedder()
    keywords = keyword_mask(labels)
    out = []
    for s in tqdm(built, desc="teacher streams", unit="stream", disable=not progress, file=sys.stderr):
        hops = CONFIG.features.frames_for(len(s.audio))
        ends = CONFIG.features.hop_end_sample(np.arange(first_hop, hops))
        if view == "clip":
            out.append((s, clip_view_logits(head, s.audio, ends, keywords, scale, jobs)))
            continue
        emb = teacher.stream_embeddings(embedder, s.audio)
        logits = teacher.stream_window_logits(head, emb, windows)
        out.append((s, teacher.hop_logits(logits, windows, ends, keywords, scale)))
    return out


def main(argv: list[str]) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--task", type=layout.check_task, default="yes")
    p.add_argument("--head", type=Path, required=True, help="teacher_head.pt of a training run")
    p.add_argument("--model", type=Path, default=None, help="student model (its hop grid; default beside --head)")
    p.add_argument("--positives", type=Path, default=None, metavar="DIR", help="as stream-eval --positives")
    p.add_argument("--running-speech", type=Path, default=None)
    p.add_argument("--data", type=Path, action="append", default=None)
    p.add_argument("--split", default="validation")
    p.add_argument("--hours", type=float, default=CONFIG.stream.negative_hours)
    p.add_argument("--target-fa", type=float, default=CONFIG.stream.target_fa_per_hour)
    p.add_argument("--scale", type=float, default=16.0, help="int8 steps per teacher logit (default 16)")
    p.add_argument("--tune-on-synthetic", action="store_true", help="pick the detector on held-out synthetic voices")
    p.add_argument(
        "--view",
        choices=("stream", "clip"),
        default="stream",
        help="stream: openWakeWord's live ~2 s view (default); clip: the last 1 s alone, zero-padded, every 80 ms "
        "(the student's view, as the teacher learnt it)",
    )
    p.add_argument("--jobs", type=int, default=2, help="processes for --view clip")
    p.add_argument("--no-progress", action="store_true")
    args = p.parse_args(argv)
    t0 = time.time()
    model_path = args.model or args.head.parent / "model.npz"
    head, labels = teacher.load_head(args.head, args.task)
    model, _ = load_model(args.task, model_path)
    windows = head[1].normalized_shape[0] // CONFIG.teacher.embedding_dim
    first_hop = model.input_frames - 1
    progress = not args.no_progress

    row: dict = {"task": args.task, "head": str(args.head), "scale": args.scale, "view": args.view}
    built, _ = stream_eval.streams_for(args.task, args.hours, args.split, args.data, args.positives,
                                       args.running_speech)  # fmt: skip
    recorded = record(built, head, windows, labels, first_hop, args.scale, progress, args.view, args.jobs)
    hours = sum(s.seconds for s, _ in recorded) / 3600.0
    picked = stream_eval.evaluate(model, recorded, tune=True, target=args.target_fa)["tuned"]
    row["picked_on_test"] = {k: picked[k] for k in ("frr", "fa_per_hour", "false_accepts", "frr_by_stream", "detector")}
    row["hours"], row["positives"] = hours, int(sum(len(s.positives) for s, _ in recorded))
    if args.tune_on_synthetic:
        if args.positives is None:
            raise TinyKwsError("--tune-on-synthetic goes with --positives (real recordings to measure on)")
        synth_built, _ = stream_eval.streams_for(args.task, args.hours, args.split, args.data)
        synth_rec = record(synth_built, head, windows, labels, first_hop, args.scale, progress, args.view, args.jobs)
        tuned = stream_eval.evaluate(model, synth_rec, tune=True, target=args.target_fa)["tuned"]
        d = tuned["detector"]
        points = stream_eval.sweep(
            recorded, labels, first_hop, d["smoothing_hops"], d["refractory_hops"], hours, sc=CONFIG.stream
        )
        p_real = stream_eval.at_threshold(points, d["threshold"])
        row["tuned_on_synthetic"] = {"detector": d, "frr_synthetic": tuned["frr"], "frr": p_real.frr,
                                     "fa_per_hour": p_real.fa_per_hour, "false_accepts": p_real.false_accepts,
                                     "frr_by_stream": p_real.frr_by_stream}  # fmt: skip
    row["seconds"] = time.time() - t0
    print(json.dumps(row))
    return 0


if __name__ == "__main__":
    run_script(lambda: main(sys.argv[1:]))
