"""Constant tables of the integer front end, built from the config alone.

The same functions feed the numpy front end and the generated C headers, so a table exists once. Stateless
builders with an lru_cache: a table is computed once per process and treated as read-only.
"""

from __future__ import annotations

from functools import lru_cache

import numpy as np

from tinykws.config import CONFIG, FeatureConfig


def _readonly(a: np.ndarray) -> np.ndarray:
    a.setflags(write=False)
    return a


def _q(x: np.ndarray, frac_bits: int, dtype: type) -> np.ndarray:
    info = np.iinfo(dtype)
    return np.clip(np.round(x * (1 << frac_bits)), info.min, info.max).astype(dtype)


@lru_cache(maxsize=4)
def hann_window(fc: FeatureConfig = CONFIG.features) -> np.ndarray:
    """Periodic Hann window in Q15, int16 (window_samples,)."""
    n = np.arange(fc.window_samples)
    w = 0.5 - 0.5 * np.cos(2.0 * np.pi * n / fc.window_samples)
    return _readonly(_q(w, fc.window_frac_bits, np.int16))


@lru_cache(maxsize=4)
def fft_twiddles(fc: FeatureConfig = CONFIG.features) -> np.ndarray:
    """exp(-2*pi*i*k/fft_size) for k <= fft_size/2 in Q15, int32, shape (fft_size/2 + 1, 2) as (re, im).

    int32 so that 1 and -1 are exact (+-32768): an int16 table would scale every W^0 butterfly by
    32767/32768. The half-size complex FFT uses every other entry; the real-FFT split step uses all of them.
    """
    k = np.arange(fc.fft_size // 2 + 1)
    ang = -2.0 * np.pi * k / fc.fft_size
    tw = np.stack([np.cos(ang), np.sin(ang)], axis=1)
    return _readonly(_q(tw, fc.twiddle_frac_bits, np.int32))


@lru_cache(maxsize=4)
def bit_reverse(n: int) -> np.ndarray:
    """Bit-reversal permutation of range(n) for the in-place radix-2 FFT."""
    bits = n.bit_length() - 1
    idx = np.arange(n)
    rev = np.zeros(n, dtype=np.int64)
    for b in range(bits):
        rev |= ((idx >> b) & 1) << (bits - 1 - b)
    return _readonly(rev.astype(np.int16))


def hz_to_mel(f: np.ndarray | float) -> np.ndarray:
    """HTK mel scale."""
    return 2595.0 * np.log10(1.0 + np.asarray(f, dtype=np.float64) / 700.0)


def mel_to_hz(m: np.ndarray | float) -> np.ndarray:
    return 700.0 * (10.0 ** (np.asarray(m, dtype=np.float64) / 2595.0) - 1.0)


@lru_cache(maxsize=4)
def mel_weights_float(fc: FeatureConfig = CONFIG.features, sample_rate: int = CONFIG.audio.sample_rate) -> np.ndarray:
    """Triangular mel filters on the power spectrum, float64 (fft_size/2 + 1, num_mel_bands)."""
    bins = fc.fft_size // 2 + 1
    freqs = np.arange(bins) * sample_rate / fc.fft_size
    edges = mel_to_hz(np.linspace(hz_to_mel(fc.mel_low_hz), hz_to_mel(fc.mel_high_hz), fc.num_mel_bands + 2))
    lo, mid, hi = edges[:-2, None], edges[1:-1, None], edges[2:, None]
    rise = (freqs[None, :] - lo) / (mid - lo)
    fall = (hi - freqs[None, :]) / (hi - mid)
    w = np.clip(np.minimum(rise, fall), 0.0, None)
    return _readonly(w.T.copy())


@lru_cache(maxsize=4)
def mel_weights(fc: FeatureConfig = CONFIG.features) -> np.ndarray:
    """Mel filters in Q(mel_weight_frac_bits), int16 (fft_size/2 + 1, num_mel_bands)."""
    return _readonly(_q(mel_weights_float(fc), fc.mel_weight_frac_bits, np.int16))


@lru_cache(maxsize=4)
def mel_bin_ranges(fc: FeatureConfig = CONFIG.features) -> np.ndarray:
    """(first, last+1) FFT bin with a non-zero integer weight, per band: the firmware walks only these."""
    w = mel_weights(fc)
    out = np.zeros((fc.num_mel_bands, 2), dtype=np.int16)
    for m in range(fc.num_mel_bands):
        nz = np.nonzero(w[:, m])[0]
        if len(nz) == 0:
            raise ValueError(f"mel band {m} has no FFT bin: too many bands for fft_size {fc.fft_size}")
        out[m] = (nz[0], nz[-1] + 1)
    return _readonly(out)


@lru_cache(maxsize=4)
def log2_table(fc: FeatureConfig = CONFIG.features) -> np.ndarray:
    """round(2^log_frac_bits * log2(1 + i / 2^mantissa_bits)) for the mantissa's top bits, int16."""
    m = 1 << fc.log_mantissa_bits
    t = np.log2(1.0 + np.arange(m) / m)
    return _readonly(np.round(t * (1 << fc.log_frac_bits)).astype(np.int16))


@lru_cache(maxsize=4)
def dct_matrix_float(fc: FeatureConfig = CONFIG.features) -> np.ndarray:
    """Unnormalised DCT-II, cos(pi * j * (m + 0.5) / M), float64 (num_mfcc, num_mel_bands)."""
    j = np.arange(fc.num_mfcc)[:, None]
    m = np.arange(fc.num_mel_bands)[None, :]
    return _readonly(np.cos(np.pi * j * (m + 0.5) / fc.num_mel_bands))


@lru_cache(maxsize=4)
def dct_matrix(fc: FeatureConfig = CONFIG.features) -> np.ndarray:
    """The DCT in Q(dct_frac_bits), int16 (num_mfcc, num_mel_bands)."""
    return _readonly(_q(dct_matrix_float(fc), fc.dct_frac_bits, np.int16))
