"""Float64 reference of the integer front end: same window, FFT size, filters and DCT, no rounding.

It works in the integer path's units (samples with window_out_frac_bits fraction bits, |2X|^2, Q8 filter
weights, Q6 log2, Q12 DCT), so
`cepstra_float(frames)` and `mfcc.cepstra_of_frames(frames)` are directly comparable: the gap between them is
the integer arithmetic's error, which `tests/test_features.py` bounds.
"""

from __future__ import annotations

import numpy as np

from tinykws.config import CONFIG, FeatureConfig
from tinykws.features import tables


def cepstra_float(frames: np.ndarray, fc: FeatureConfig = CONFIG.features) -> np.ndarray:
    """(..., window_samples) int16 frames -> (..., num_mfcc) float64 cepstra in the integer path's units."""
    n = np.arange(fc.window_samples)
    window = 0.5 - 0.5 * np.cos(2.0 * np.pi * n / fc.window_samples)
    scaled = frames.astype(np.float64) * window * (1 << fc.window_out_frac_bits)
    spec = 2.0 * np.fft.rfft(scaled, n=fc.fft_size, axis=-1)
    power = spec.real**2 + spec.imag**2
    mel = power @ (tables.mel_weights_float(fc) * (1 << fc.mel_weight_frac_bits))
    log_mel = np.log2(mel + 1.0) * (1 << fc.log_frac_bits)
    return log_mel @ (tables.dct_matrix_float(fc) * (1 << fc.dct_frac_bits)).T


def dequantize(q: np.ndarray, fc: FeatureConfig = CONFIG.features) -> np.ndarray:
    """int8 features back to cepstra units: (q - Z) * 2^32 / M."""
    m = np.asarray(fc.quant_multipliers, dtype=np.float64)
    z = np.asarray(fc.quant_zero_points, dtype=np.float64)
    return (q.astype(np.float64) - z) * (2.0**32) / m
