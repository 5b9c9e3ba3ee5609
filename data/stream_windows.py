"""Windows of training-speaker streams: the transfer set's `windows` part (a wake word's listening device view).

A student classifies a 1 s window every hop of a stream (data/streams.py); training clips show it only windows
that hold one whole word. Here the real training clips of a wake-word task are built into streams exactly as
stream-eval builds its test streams (the word after other words, at several SNRs, and hours of other words over
noise), and 1 s windows are cut from them: one every `tc.windows_every_hops` hops of the positive streams (the
word arriving, whole, leaving; the words around it) and `tc.windows_negatives` at random from the negative
stream. The teacher alone labels them (a window may hold part of a word); the folder a window sits in (the word
or not_<word>, by whether a wake word ends in it) only balances the sampler. Measured on "yes" (README): the
first transfer part that lowered the streamed FRR at every false-accept rate on two seeds.

Windows are written as WAVs under build/data/windows/<task>-<key>/ (key: the clips, the stream recipe and these
settings), so the feature bank and the teacher read and cache them like any clip; a rerun writes nothing, and
Ctrl-C keeps the windows already written (each one is a temp file + rename).
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import sys
from pathlib import Path

import numpy as np
from tqdm import tqdm

from tinykws.atomic import atomic_path
from tinykws.config import BUILD_DIR, CONFIG, StreamConfig, TeacherConfig
from tinykws.data import layout, streams
from tinykws.data.wav import read_wav, write_wav
from tinykws.errors import TinyKwsError

WINDOWS_DIR = BUILD_DIR / "data" / "windows"


def windows_key(clips: list[layout.Clip], task: str, tc: TeacherConfig, sc: StreamConfig) -> str:
    # The trailing number is the cutting recipe's version: windows cut by an older one are not reused.
    settings = [task, tc.windows_every_hops, tc.windows_negatives, tc.windows_hours, list(tc.windows_word_span_seconds)]
    h = hashlib.sha256(json.dumps([*settings, dataclasses.asdict(sc), CONFIG.audio.clip_samples, tc.seed, 1]).encode())
    for c in clips:
        h.update(f"{c.path}@{c.offset}:{c.word}\n".encode())
    return h.hexdigest()[:16]


def word_spans(stream: streams.Stream, tc: TeacherConfig = CONFIG.teacher) -> tuple[np.ndarray, np.ndarray]:
    """(first, last) end sample of the windows that count as holding each wake word of a stream: from
    windows_word_span_seconds[0] into the word to windows_word_span_seconds[1] after it."""
    rate = CONFIG.audio.sample_rate
    into, after = tc.windows_word_span_seconds
    lo = np.array([e.start + int(into * rate) for e in stream.positives], dtype=np.int64)
    hi = np.array([e.start + e.length + int(after * rate) for e in stream.positives], dtype=np.int64)
    return lo, hi


def cut(built: list[streams.Stream], task: str, tc: TeacherConfig, rng: np.random.Generator) -> list[tuple]:
    """(stream index, end sample, folder word) of every window to cut: every windows_every_hops hops of the
    positive streams, windows_negatives random ones of the negative stream; only whole 1 s windows."""
    n, fc = CONFIG.audio.clip_samples, CONFIG.features
    out = []
    for i, s in enumerate(built):
        ends = fc.hop_end_sample(np.arange(fc.frames_for(len(s.audio)), dtype=np.int64))
        ends = ends[ends >= n]
        if s.positives:
            pick = ends[:: tc.windows_every_hops]
            lo, hi = word_spans(s, tc)
        else:
            pick = np.sort(rng.choice(ends, min(tc.windows_negatives, len(ends)), replace=False))
            lo = hi = np.zeros(0, dtype=np.int64)
        for e in pick.tolist():
            j = int(np.searchsorted(lo, e, side="right")) - 1
            out.append((i, e, task if j >= 0 and e <= hi[j] else f"not_{task}"))
    return out


def stream_windows(
    clips: list[layout.Clip], task: str, roots: list[Path], out_root: Path | None = None,
    tc: TeacherConfig = CONFIG.teacher, sc: StreamConfig = CONFIG.stream, source: str = "real",
    progress: bool = True,
) -> list[layout.Clip]:  # fmt: skip
    """The windows of streams of `clips` (training clips of wake-word task `task`: real ones, or for a word
    learnt from text its synthetic takes among real people's other words) over the background noise beside
    `roots`, written once under out_root; each is a training clip of its folder's word from `source`."""
    clips = [c for c in clips if c.word != CONFIG.labels.silence_label]
    positive = [c.word == task for c in clips]
    if not any(positive) or all(positive):
        raise TinyKwsError(f"--transfer windows: the training clips need both {task!r} and other words to stream")
    out = (WINDOWS_DIR if out_root is None else out_root) / f"{task}-{windows_key(clips, task, tc, sc)}"
    done = out / "windows.json"  # written last: the list of a finished cut, so a rerun builds no stream
    if done.exists():
        return _clips(out, json.loads(done.read_text()), source)
    audio, words = [read_wav(c.path) for c in clips], [c.word for c in clips]
    built = streams.over_noise(audio, words, positive, roots, tc.windows_hours, sc)
    n = CONFIG.audio.clip_samples
    names = []
    todo = cut(built, task, tc, np.random.default_rng([tc.seed, 5]))
    for k, (i, e, word) in enumerate(tqdm(todo, unit="window", desc="stream windows", file=sys.stderr,
                                          disable=not progress)):  # fmt: skip
        name = f"{word}/{i}_nohash_{k}.wav"
        if not (out / name).exists():
            (out / word).mkdir(parents=True, exist_ok=True)
            write_wav(out / name, built[i].audio[e - n : e])
        names.append(name)
    with atomic_path(done) as tmp:
        tmp.write_text(json.dumps(names))
    return _clips(out, names, source)


def _clips(out: Path, names: list[str], source: str) -> list[layout.Clip]:
    return [layout.Clip(out / p, p.split("/")[0], "00000000", source, "train") for p in names]
