"""Long test streams for streaming evaluation: held-out clips placed among other words, pauses and noise.

A 1 s clip classified on its own is not what a listening device meets: the word arrives at any offset, after
other words, over a noise bed that never resets. These streams are built from clips the model was not trained
on (see StreamConfig in tinykws/config.py for the recipe) and remember where each word went, so a detector's
output can be scored as hits, misses and false accepts.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from tinykws.config import CONFIG, StreamConfig
from tinykws.data.augment import load_noises, noise_segment, rms
from tinykws.data.wav import to_int16

_FADE = 160  # 10 ms ramps at a clip's edges: its own recording noise must not start with a click


@dataclass(frozen=True)
class Event:
    start: int  # first sample of the clip in the stream
    length: int  # samples
    word: str
    positive: bool  # a wake word the detector should fire on
    clip: int  # index into the clip list the stream was built from


@dataclass
class Stream:
    name: str  # "positive clean", "positive 10 dB", "negative"
    audio: np.ndarray  # int16
    events: list[Event] = field(default_factory=list)
    snr_db: float | None = None  # nominal SNR of the noise bed; None = no added noise (mixed for "negative")

    @property
    def seconds(self) -> float:
        return len(self.audio) / CONFIG.audio.sample_rate

    @property
    def positives(self) -> list[Event]:
        return [e for e in self.events if e.positive]


def active_rms(clip: np.ndarray, frame: int = 160, floor_db: float = 30.0) -> float:
    """RMS over the 10 ms frames within `floor_db` of the loudest: the level of the word, not of its pauses."""
    x = clip.astype(np.float64)
    n = max(len(x) // frame, 1)
    frames = np.resize(x, n * frame).reshape(n, frame) if len(x) >= frame else x[None, :]
    power = np.mean(frames**2, axis=1) + 1e-9
    loud = power >= power.max() * 10.0 ** (-floor_db / 10.0)
    return float(np.sqrt(power[loud].mean()))


def _dbfs_to_rms(dbfs: float) -> float:
    return 32768.0 * 10.0 ** (dbfs / 20.0)


def _fade(x: np.ndarray) -> np.ndarray:
    """`x` with 10 ms linear ramps in and out (in place): no click where it starts or ends."""
    ramp = np.linspace(0.0, 1.0, min(_FADE, len(x) // 2))
    x[: len(ramp)] *= ramp
    x[len(x) - len(ramp) :] *= ramp[::-1]
    return x


def _levelled(clip: np.ndarray, rng: np.random.Generator, sc: StreamConfig) -> np.ndarray:
    """The clip at a random active level, with short fades so its own noise floor does not click in."""
    level = _dbfs_to_rms(rng.uniform(*sc.speech_dbfs))
    x = _fade(clip.astype(np.float64) * (level / max(active_rms(clip), 1.0)))
    return x.astype(np.float32)  # hours of placed clips: half the memory of float64, far finer than int16


def _noise_bed(
    noises: Sequence[np.ndarray],
    length: int,
    snrs: Sequence[float | None],
    rng: np.random.Generator,
    sc: StreamConfig,
    switch: bool,
) -> np.ndarray:
    """Noise from the recordings at `reference_dbfs - snr`; with `switch`, recording and SNR change every
    `noise_segment_seconds`, else one recording (looped) and snrs[0] throughout."""
    rate = CONFIG.audio.sample_rate
    bed = np.zeros(length, dtype=np.float32)
    pos = 0
    while pos < length:
        seg = length - pos if not switch else min(length - pos, int(rng.uniform(*sc.noise_segment_seconds) * rate))
        snr = snrs[int(rng.integers(len(snrs)))] if switch else snrs[0]
        if snr is not None and noises:
            x = noise_segment(list(noises), seg, rng).astype(np.float64)
            x *= _dbfs_to_rms(sc.reference_dbfs - snr) / rms(x)
            bed[pos : pos + seg] = _fade(x)  # no click where one recording meets the next
        pos += seg
    return bed


def _assemble(
    name: str,
    order: Iterable[tuple[int, bool]],
    clips: Sequence[np.ndarray],
    words: Sequence[str],
    noises: Sequence[np.ndarray],
    snrs: Sequence[float | None],
    rng: np.random.Generator,
    sc: StreamConfig,
    switch: bool,
    snr_db: float | None,
    until: int = 0,
) -> Stream:
    """Words of `order` one after another; with `until`, stops at the first word ending past that sample."""
    rate = CONFIG.audio.sample_rate
    placed: list[tuple[int, np.ndarray, int, bool]] = []
    pos = rate  # one second of noise first: the front end and detector start in a steady state
    for idx, positive in order:
        x = _levelled(clips[idx], rng, sc)
        placed.append((pos, x, idx, positive))
        pos += len(x) + int(rng.uniform(*sc.gap_seconds) * rate)
        if not positive and rng.random() < sc.pause_probability:
            pos += int(rng.uniform(*sc.pause_seconds) * rate)
        if until and pos >= until:
            break
    length = pos + rate
    audio = _noise_bed(noises, length, snrs, rng, sc, switch)
    events = []
    for start, x, idx, positive in placed:
        audio[start : start + len(x)] += x
        events.append(Event(start, len(x), words[idx], positive, idx))
    pcm = to_int16(audio)
    return Stream(name, pcm, events, snr_db)


def snr_name(snr: float | None) -> str:
    return "clean" if snr is None else f"{snr:g} dB"


def positive_streams(
    clips: Sequence[np.ndarray],
    words: Sequence[str],
    positive: Sequence[bool],
    noises: Sequence[np.ndarray],
    sc: StreamConfig = CONFIG.stream,
) -> list[Stream]:
    """One stream per SNR: every positive clip once, each after one or two negative clips."""
    pos = [i for i, p in enumerate(positive) if p]
    neg = [i for i, p in enumerate(positive) if not p]
    if not pos or not neg:
        raise ValueError("positive streams need both wake-word clips and other clips")
    streams = []
    for k, snr in enumerate(sc.snrs_db):
        rng = np.random.default_rng([sc.seed, 1, k])
        order: list[tuple[int, bool]] = []
        for i in rng.permutation(pos):
            order += [(int(j), False) for j in rng.choice(neg, size=int(rng.integers(1, 3)), replace=False)]
            order.append((int(i), True))
        order.append((int(rng.choice(neg)), False))
        streams.append(_assemble(f"positive {snr_name(snr)}", order, clips, words, noises, [snr], rng, sc, False, snr))
    return streams


def negative_stream(
    clips: Sequence[np.ndarray],
    words: Sequence[str],
    positive: Sequence[bool],
    noises: Sequence[np.ndarray],
    hours: float,
    sc: StreamConfig = CONFIG.stream,
) -> Stream:
    """At least `hours` of every non-wake-word clip, cycled in fresh random orders, levels and noise."""
    neg = np.array([i for i, p in enumerate(positive) if not p])
    if len(neg) == 0:
        raise ValueError("a negative stream needs clips other than the wake word")
    rng = np.random.default_rng([sc.seed, 2])
    until = int(hours * 3600.0 * CONFIG.audio.sample_rate)

    def cycle() -> Iterator[tuple[int, bool]]:  # every clip once per round, a fresh order each round
        for _ in itertools.count():
            yield from ((int(i), False) for i in rng.permutation(neg))

    return _assemble("negative", cycle(), clips, words, noises, sc.negative_snrs_db, rng, sc, True, None, until)


def over_noise(
    audio: list[np.ndarray], words: list[str], positive: list[bool], roots: list[Path], hours: float,
    sc: StreamConfig = CONFIG.stream,
) -> list[Stream]:  # fmt: skip
    """The positive streams and (hours > 0) the negative one, over the background noise beside `roots` (else
    the real recordings of ../shared/data)."""
    noises = load_noises(roots, "a stream's noise bed")
    out = positive_streams(audio, words, positive, noises, sc)
    if hours > 0:
        out.append(negative_stream(audio, words, positive, noises, hours, sc))
    return out
