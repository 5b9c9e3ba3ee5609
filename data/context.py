"""Windows in which a word follows another: the transfer set's `context` part.

A listening device never hears a word alone in its 1 s window: in a stream (data/streams.py) a "yes" often
comes a few tenths of a second after another word, whose tail is then in the window the student classifies.
Training clips never hold a neighbour, and the streamed "yes" of issue 12 paid for it: a "yes" within 0.5 s of
the word before was missed 9 times in 17, against 4-25 % otherwise. Each window here is one real training clip
X (its word whole, near the window's end) after the tail of another real training clip Y, at another level and
gap, as the stream builder places them. X's word is the window's label, and the teacher labels it too.

Windows are written as WAVs under build/data/context/<key>/ (key: the clips, the config and the seed), so the
feature bank and the teacher read them like any clip and cache them by path; a rerun writes nothing, and Ctrl-C
keeps the windows already written (each one is a temp file + rename).
"""

from __future__ import annotations

import hashlib
import json
import sys
from pathlib import Path

import numpy as np
from tqdm import tqdm

from tinykws.config import BUILD_DIR, CONFIG, TeacherConfig
from tinykws.data import layout
from tinykws.data.wav import fit_clip, read_wav, to_int16, write_wav

CONTEXT_DIR = BUILD_DIR / "data" / "context"


def spoken_span(x: np.ndarray, floor_db: float = 30.0) -> tuple[int, int]:
    """First and one-past-last sample of the loud part: 10 ms frames within `floor_db` of the loudest."""
    frame = CONFIG.audio.sample_rate // 100
    n = max(len(x) // frame, 1)
    power = np.mean(np.resize(x.astype(np.float64), n * frame).reshape(n, frame) ** 2, axis=1) + 1e-9
    loud = np.flatnonzero(power >= power.max() * 10.0 ** (-floor_db / 10.0))
    return int(loud[0]) * frame, min(int(loud[-1] + 1) * frame, len(x))


def _level(x: np.ndarray) -> float:
    a, b = spoken_span(x)
    return float(np.sqrt(np.mean(x[a:b].astype(np.float64) ** 2))) + 1.0


def window(x: np.ndarray, y: np.ndarray, rng: np.random.Generator, tc: TeacherConfig = CONFIG.teacher) -> np.ndarray:
    """One clip-length int16 window: y's word, a gap, then x's word, ending a little after x's word ends, so x's
    word is whole and what comes before it is y's tail. Each word is cut at its loud part (with 10 ms fades)."""
    n, rate = CONFIG.audio.clip_samples, CONFIG.audio.sample_rate
    (ya, yb), (xa, xb) = spoken_span(y), spoken_span(x)
    gain = _level(x) / _level(y) * 10.0 ** (rng.uniform(-tc.context_level_db, tc.context_level_db) / 20.0)
    gap = int(rng.uniform(*tc.context_gap_seconds) * rate)
    tail = int(rng.uniform(*tc.context_tail_seconds) * rate)
    seq = np.concatenate([np.zeros(n), _faded(y[ya:yb]) * gain, np.zeros(gap), _faded(x[xa:xb]), np.zeros(tail)])
    return to_int16(seq[len(seq) - n :])


def _faded(x: np.ndarray) -> np.ndarray:
    x = x.astype(np.float64)
    ramp = np.linspace(0.0, 1.0, min(CONFIG.audio.sample_rate // 100, len(x) // 2))
    x[: len(ramp)] *= ramp
    x[len(x) - len(ramp) :] *= ramp[::-1]
    return x


def context_key(clips: list[layout.Clip], tc: TeacherConfig = CONFIG.teacher, before: list | None = None) -> str:
    # The trailing number is the window recipe's version: windows made by an older window() are not reused.
    settings = [CONFIG.audio.clip_samples, tc.context_windows, list(tc.context_gap_seconds), tc.context_level_db]
    h = hashlib.sha256(json.dumps([*settings, list(tc.context_tail_seconds), tc.seed, 2]).encode())
    for c in clips:
        h.update(f"{c.path}@{c.offset}:{c.word}\n".encode())
    if before is not None:
        h.update(b"before\n")
        for c in before:
            h.update(f"{c.path}@{c.offset}:{c.word}\n".encode())
    return h.hexdigest()[:16]


def context_clips(
    clips: list[layout.Clip], exclude: frozenset[str] = frozenset(), out_root: Path | None = None,
    tc: TeacherConfig = CONFIG.teacher, progress: bool = True, before: list[layout.Clip] | None = None,
) -> list[layout.Clip]:  # fmt: skip
    """`tc.context_windows` windows per clip of `clips` (silence excluded), each after the word of another clip
    of `before` (default: of `clips`), written once under out_root; words in `exclude` are in no window at all
    (a custom word's real recordings). The windows keep their clip's word, speaker, source and split."""
    silence = CONFIG.labels.silence_label
    pool = [c for c in clips if c.word != silence and c.word not in exclude]
    others = pool if before is None else [c for c in before if c.word != silence and c.word not in exclude]
    same = before is None  # a clip never follows itself
    if not pool or len(others) - same < 1:
        return []
    out = (CONTEXT_DIR if out_root is None else out_root) / context_key(pool, tc, None if same else others)
    rng = np.random.default_rng([tc.seed, 3])
    # The pairs are drawn up front, so they do not depend on which windows a previous run already wrote.
    partners = [rng.integers(0, len(others) - same, size=tc.context_windows) for _ in pool]
    result = []
    for i, c in enumerate(tqdm(pool, unit="clip", desc="context windows", file=sys.stderr, disable=not progress)):
        x = None
        for k, j in enumerate(partners[i]):
            j = int(j) + (same and int(j) >= i)
            path = out / c.word / f"{c.speaker}_nohash_{i}_{k}.wav"
            if not path.exists():
                if x is None:
                    x = _read(c)
                path.parent.mkdir(parents=True, exist_ok=True)
                write_wav(path, window(x, _read(others[j]), np.random.default_rng([tc.seed, 4, i, k]), tc))
            result.append(layout.Clip(path, c.word, c.speaker, c.source, c.split))
    return result


def _read(c: layout.Clip) -> np.ndarray:
    return fit_clip(read_wav(c.path)[c.offset :])  # as the feature bank reads a clip
