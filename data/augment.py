"""Training-time augmentation on raw int16 audio: time shift, gain, background noise at a random SNR, and
the silence class drawn from the noise recordings.

Every draw comes from a numpy Generator the caller passes in; seeding it from (seed, epoch, clip index)
makes an epoch reproducible regardless of worker order.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from tinykws.config import CONFIG, SHARED_DATA_DIR, AugmentConfig
from tinykws.data import layout
from tinykws.data.wav import read_wav, to_int16
from tinykws.errors import TinyKwsError

_EPS = 1e-9


def load_noises(roots: list[Path], needed_by: str) -> list[np.ndarray]:
    """Background noise beside the data folders, else the real recordings of ../shared/data: one rule for the
    training augmentation and the streams. `needed_by` says in the error what cannot go on without it."""
    files = layout.noise_files(roots) or layout.noise_files([SHARED_DATA_DIR])
    if not files:
        raise TinyKwsError(
            f"no _background_noise_/ folder beside {', '.join(map(str, roots))} or in {SHARED_DATA_DIR}: "
            f"{needed_by} needs one"
        )
    return [read_wav(f) for f in files]


def time_shift(clip: np.ndarray, shift: int) -> np.ndarray:
    """Shift right by `shift` samples (left if negative), zero-filling: the word moves inside the clip."""
    out = np.zeros_like(clip)
    if shift >= 0:
        out[shift:] = clip[: len(clip) - shift]
    else:
        out[:shift] = clip[-shift:]
    return out


def rms(x: np.ndarray) -> float:
    return float(np.sqrt(np.mean(np.square(x.astype(np.float64))) + _EPS))


def mix_at_snr(clip: np.ndarray, noise: np.ndarray, snr_db: float) -> np.ndarray:
    """clip + noise scaled so that 20*log10(rms(clip) / rms(scaled noise)) = snr_db; float64."""
    scale = rms(clip) / (rms(noise) * 10.0 ** (snr_db / 20.0))
    return clip.astype(np.float64) + scale * noise.astype(np.float64)


def change_speed(clip: np.ndarray, factor: float) -> np.ndarray:
    """Play `factor` times faster (linear interpolation; kept at the clip's length, zero-padded)."""
    n = len(clip)
    pos = np.arange(0.0, n - 1, factor)
    out = np.zeros(n, dtype=np.float64)
    fast = np.interp(pos, np.arange(n), clip.astype(np.float64))[:n]
    out[: len(fast)] = fast
    return out


def reverberate(clip: np.ndarray, rt60_s: float, rng: np.random.Generator, sample_rate: int) -> np.ndarray:
    """Convolve with a synthetic room response: unit direct path plus noise decaying 60 dB in rt60_s."""
    from scipy.signal import fftconvolve

    n = int(min(rt60_s, 0.5) * sample_rate)
    t = np.arange(n) / sample_rate
    rir = rng.standard_normal(n) * 10.0 ** (-3.0 * t / rt60_s) * 0.3
    rir[0] = 1.0
    wet = fftconvolve(clip.astype(np.float64), rir)[: len(clip)]
    return wet * rms(clip) / rms(wet)


def noise_segment(noises: list[np.ndarray], length: int, rng: np.random.Generator) -> np.ndarray:
    """A random `length`-sample stretch of a random noise recording."""
    src = noises[int(rng.integers(len(noises)))]
    if len(src) <= length:
        src = np.tile(src, length // max(len(src), 1) + 1)
    start = int(rng.integers(0, len(src) - length + 1))
    return src[start : start + length]


class Augmenter:
    """Applies the config's augmentation to clips; `noises` are int16 background recordings."""

    def __init__(self, noises: list[np.ndarray], cfg: AugmentConfig = CONFIG.augment) -> None:
        if not noises:
            raise ValueError("augmentation needs at least one background-noise recording")
        self.noises = noises
        self.cfg = cfg
        self.sample_rate = CONFIG.audio.sample_rate

    def __call__(self, clip: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        c = self.cfg
        max_shift = int(c.time_shift_ms * self.sample_rate / 1000)
        x = clip.astype(np.float64)
        if rng.random() < c.speed_probability:
            x = change_speed(x, rng.uniform(*c.speed_range))
        if rng.random() < c.reverb_probability:
            x = reverberate(x, rng.uniform(*c.rt60_range_s), rng, self.sample_rate)
        x = time_shift(x, int(rng.integers(-max_shift, max_shift + 1)))
        x *= 10.0 ** (rng.uniform(*c.gain_db_range) / 20.0)
        if rng.random() < c.noise_probability:
            x = mix_at_snr(x, noise_segment(self.noises, len(x), rng), rng.uniform(*c.snr_db_range))
        return to_int16(x)

    def silence(self, length: int, rng: np.random.Generator) -> np.ndarray:
        """A `_silence_` example: background noise at a random level (dBFS of its RMS)."""
        seg = noise_segment(self.noises, length, rng).astype(np.float64)
        level = 32768.0 * 10.0 ** (rng.uniform(*self.cfg.silence_level_dbfs) / 20.0)
        return to_int16(seg * level / rms(seg))
