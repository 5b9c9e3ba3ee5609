"""Which real recordings of a custom word a model misses in streams, by how long the word is said.

`python bench/stream_misses.py MODEL.npz [--word WORD] [--takes DIR ...]`

Streams every recording of ../shared/data/wake_words/WORD (clean, 20 dB, 10 dB among validation speakers' words,
as `stream-eval --positives` builds them) through the C engine with the model's own detector, then splits the
misses by the word's spoken length: the loud part of the recording, 10 ms frames within 25 dB of its loudest.
With --takes, the same length for the TTS takes the word was trained on, so the two can be compared. This is how
issue 19 found that people say a wake word slower than the local voices do (real "jarvis" 0.62 s, takes 0.47 s;
misses 7 % at 0.45-0.55 s, 42 % over 0.75 s).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np

from tinykws.config import CONFIG, SHARED_DATA_DIR
from tinykws.data import layout
from tinykws.data.context import spoken_span
from tinykws.data.wav import read_wav
from tinykws.firmware.engine import CEngine
from tinykws.train import stream_eval as se
from tinykws.train.detector import detector_config
from tinykws.train.int_model import IntModel

BUCKETS = (0.0, 0.45, 0.55, 0.65, 0.75, 0.9, 10.0)  # seconds of spoken word


def spoken_seconds(x: np.ndarray, floor_db: float = 25.0) -> float:
    """Length of the loud part (data/context.py's spoken_span: 10 ms frames within `floor_db` of the loudest).
    25 dB, not the context windows' 30: the README's word lengths were measured so."""
    a, b = spoken_span(x, floor_db)
    return (b - a) / CONFIG.audio.sample_rate


def quantiles(values: list[float]) -> str:
    q = np.percentile(values, [10, 50, 90])
    return " / ".join(f"{v:.2f}" for v in q)


def main(argv: list[str]) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("model", type=Path)
    p.add_argument("--word", help="folder of ../shared/data/wake_words (default: the model's keyword)")
    p.add_argument("--takes", type=Path, nargs="*", default=[], help="folders of the word's TTS takes")
    args = p.parse_args(argv)
    model = IntModel.load(args.model)
    word = args.word or model.labels[-1]
    folder = SHARED_DATA_DIR / "wake_words" / word
    roots = [SHARED_DATA_DIR / "speech_commands_test_set_v0.02"]
    built = se.build_folder_streams(folder, roots, "validation", word, 0.0, layout.default_running_speech_root())
    dc = detector_config(model)
    rows = []  # (clip, stream, seconds spoken, best smoothed score per hop, hit)
    for s in (s for s in built if s.positives):
        logits = se.stream_logits(model, s.audio, lambda m, record=True: CEngine(m, record=record))
        sm = se.smooth(logits, model.labels, dc.smoothing_hops)
        fired = se.fire(sm, dc.threshold, dc.smoothing_hops, dc.refractory_hops)
        hits = se.score(s, fired, sm.best_class, model.labels, model.input_frames - 1).hits
        ends = CONFIG.features.hop_end_sample(np.arange(len(sm.best_sum)) + model.input_frames - 1)
        tail = int(CONFIG.stream.hit_tail_seconds * CONFIG.audio.sample_rate)
        for e, hit in zip(s.positives, hits, strict=True):
            a, b = np.searchsorted(ends, [e.start, e.start + e.length + tail])
            best = float(sm.best_sum[a:b].max()) / dc.smoothing_hops if b > a else float("nan")
            rows.append((e.clip, s.name, best, bool(hit)))
    files = sorted(folder.rglob("*.wav"))
    seconds = [spoken_seconds(read_wav(f)) for f in files]
    clean = dict(enumerate(seconds))  # positives are the folder's files, first in the clip list
    print(f"{word}: {len(files)} recordings x {len(rows) // max(len(files), 1)} streams, detector {dc}")
    print(f"spoken seconds of the recordings (10/50/90 %): {quantiles(seconds)}")
    for d in args.takes:
        takes = sorted(Path(d).rglob("*.wav"))
        if takes:
            spoken = quantiles([spoken_seconds(read_wav(t)) for t in takes])
            print(f"spoken seconds of {len(takes)} takes in {d}: {spoken}")
    dur = np.array([clean[r[0]] for r in rows])
    hit = np.array([r[3] for r in rows])
    best = np.array([r[2] for r in rows])
    print("| spoken s | streamed | missed | best score of the missed (median) |")
    print("| --- | --- | --- | --- |")
    for lo, hi in zip(BUCKETS[:-1], BUCKETS[1:], strict=True):
        m = (dur >= lo) & (dur < hi)
        if m.any():
            missed = m & ~hit
            med = f"{np.median(best[missed]):.0f}" if missed.any() else "-"
            print(f"| {lo:.2f}-{hi:.2f} | {m.sum()} | {missed.sum() / m.sum():.1%} | {med} |")
    med = f"{np.median(best[~hit]):.0f}" if (~hit).any() else "-"
    print(f"| all | {len(hit)} | {1 - hit.mean():.1%} | {med} |")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
