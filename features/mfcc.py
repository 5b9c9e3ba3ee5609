"""The integer MFCC front end: the definition of tinykws's features.

Every stage is integer arithmetic with the widths and rounding written in `FeatureConfig`'s docstring, so
the C firmware can reproduce it bit for bit. All functions are vectorised over leading axes: the batch path
runs thousands of frames per call, the streaming path one frame at a time, through the same code.

Rounding everywhere is `(v + 2^(s-1)) >> s` with an arithmetic (floor) shift, the rounding of TFLite's and
CMSIS-NN's reference kernels; numpy's `>>` on signed ints and C's `>>` on int32/int64 (gcc, arm-none-eabi-gcc)
both floor.
"""

from __future__ import annotations

import numpy as np

from tinykws.config import CONFIG, FeatureConfig
from tinykws.features import tables

# Frames per call of the batch path: bounds the int64 FFT scratch (frames x 256 x 8 B x a few arrays).
_BLOCK_FRAMES = 4096


def _round_shift(v: np.ndarray, s: int) -> np.ndarray:
    return (v + (1 << (s - 1))) >> s


def frame_signal(audio: np.ndarray, fc: FeatureConfig = CONFIG.features) -> np.ndarray:
    """(..., samples) int16 -> (..., frames, window_samples) int16 view; frames start every hop."""
    audio = np.asarray(audio)
    if audio.dtype != np.int16:
        raise TypeError(f"front end takes int16 audio, got {audio.dtype}")
    n = fc.frames_for(audio.shape[-1])
    if n == 0:
        return np.zeros((*audio.shape[:-1], 0, fc.window_samples), dtype=np.int16)
    view = np.lib.stride_tricks.sliding_window_view(audio, fc.window_samples, axis=-1)
    return view[..., : (n - 1) * fc.hop_samples + 1 : fc.hop_samples, :]


def apply_window(frames: np.ndarray, fc: FeatureConfig = CONFIG.features) -> np.ndarray:
    """x * hann (Q15), rounded to Q(window_out_frac_bits); int32 (..., window_samples)."""
    w = tables.hann_window(fc).astype(np.int32)
    return _round_shift(frames.astype(np.int32) * w, fc.window_frac_bits - fc.window_out_frac_bits)


def _complex_fft(re: np.ndarray, im: np.ndarray, fc: FeatureConfig) -> tuple[np.ndarray, np.ndarray]:
    """In-place-style radix-2 DIT FFT of size fft_size/2 on int64 arrays (frames, n), no scaling."""
    n = re.shape[-1]
    tw = tables.fft_twiddles(fc).astype(np.int64)
    s = fc.twiddle_frac_bits
    perm = tables.bit_reverse(n)
    re, im = re[:, perm], im[:, perm]
    half = 1
    while half < n:
        # Blocks of 2*half: first half a, second half b; twiddle W_n^j = W_fft^(j * fft/(2*half)).
        step = fc.fft_size // (2 * half)
        wr = tw[: half * step : step, 0]
        wi = tw[: half * step : step, 1]
        re4 = re.reshape(re.shape[0], n // (2 * half), 2, half)
        im4 = im.reshape(im.shape[0], n // (2 * half), 2, half)
        ar, ai, br, bi = re4[:, :, 0], im4[:, :, 0], re4[:, :, 1], im4[:, :, 1]
        tr = _round_shift(br * wr - bi * wi, s)
        ti = _round_shift(br * wi + bi * wr, s)
        # b' = a - t must be written before a' = a + t overwrites a.
        np.subtract(ar, tr, out=br)
        np.subtract(ai, ti, out=bi)
        ar += tr
        ai += ti
        half *= 2
    return re, im


def real_fft(windowed: np.ndarray, fc: FeatureConfig = CONFIG.features) -> tuple[np.ndarray, np.ndarray]:
    """2 * DFT of the zero-padded frame, bins 0..fft_size/2, as int32 (re, im), each (frames, bins).

    The 512-point real FFT is a 256-point complex FFT of (even, odd) sample pairs plus a split step.
    Keeping 2X instead of halving avoids a rounding step; the factor 4 in power is a constant log offset.
    """
    frames = windowed.reshape(-1, windowed.shape[-1]).astype(np.int64)
    n = fc.fft_size // 2
    padded = np.zeros((frames.shape[0], fc.fft_size), dtype=np.int64)
    padded[:, : frames.shape[1]] = frames
    zr, zi = _complex_fft(padded[:, 0::2], padded[:, 1::2], fc)
    k = np.arange(n + 1)
    a_r, a_i = zr[:, k % n], zi[:, k % n]
    c_r, c_i = zr[:, (n - k) % n], -zi[:, (n - k) % n]  # conj(Z[n - k])
    e_r, e_i = a_r + c_r, a_i + c_i  # 2 * even-sample spectrum
    o_r, o_i = a_r - c_r, a_i - c_i  # 2j * odd-sample spectrum
    d_r, d_i = o_i, -o_r  # -j * (o): 2 * odd-sample spectrum
    tw = tables.fft_twiddles(fc).astype(np.int64)
    wr, wi = tw[:, 0], tw[:, 1]
    s = fc.twiddle_frac_bits
    x_r = e_r + _round_shift(d_r * wr - d_i * wi, s)
    x_i = e_i + _round_shift(d_r * wi + d_i * wr, s)
    shape = (*windowed.shape[:-1], n + 1)
    return x_r.astype(np.int32).reshape(shape), x_i.astype(np.int32).reshape(shape)


def power_spectrum(x_r: np.ndarray, x_i: np.ndarray) -> np.ndarray:
    """|2X|^2 as int64 (..., bins)."""
    r, i = x_r.astype(np.int64), x_i.astype(np.int64)
    return r * r + i * i


def mel_energies(power: np.ndarray, fc: FeatureConfig = CONFIG.features) -> np.ndarray:
    """Q8 triangular filterbank sums, int64 (..., num_mel_bands)."""
    # Exact integer result through float64 BLAS: split power (< 2^52) into two 26-bit halves; each half's
    # dot product is < 257 * 2^26 * 2^8 < 2^53, so float64 holds it exactly.
    w = tables.mel_weights(fc).astype(np.float64)
    hi = (power >> 26).astype(np.float64) @ w
    lo = (power & ((1 << 26) - 1)).astype(np.float64) @ w
    return (hi.astype(np.int64) << 26) + lo.astype(np.int64)


def log2_q(energy: np.ndarray, fc: FeatureConfig = CONFIG.features) -> np.ndarray:
    """round-down log2(E + 1) in Q(log_frac_bits) via MSB position + mantissa table; int16 (...)."""
    v = energy.astype(np.int64) + 1
    msb = np.zeros(v.shape, dtype=np.int64)
    for step in (32, 16, 8, 4, 2, 1):
        hit = (v >> (msb + step)) != 0
        msb += step * hit
    mb = fc.log_mantissa_bits
    mask = (1 << mb) - 1
    down = np.maximum(msb - mb, 0)
    up = np.maximum(mb - msb, 0)
    mant = ((v >> down) << up) & mask
    return (msb * (1 << fc.log_frac_bits) + tables.log2_table(fc)[mant]).astype(np.int16)


def dct(log_mel: np.ndarray, fc: FeatureConfig = CONFIG.features) -> np.ndarray:
    """Q12 DCT-II of the log mel energies; int32 (..., num_mfcc)."""
    d = tables.dct_matrix(fc).astype(np.int32)
    return (log_mel.astype(np.int32) @ d.T).astype(np.int32)


def quantize(cepstra: np.ndarray, fc: FeatureConfig = CONFIG.features) -> np.ndarray:
    """Per-coefficient int8: clamp(((C * M + 2^31) >> 32) + Z); int8 (..., num_mfcc)."""
    m = np.asarray(fc.quant_multipliers, dtype=np.int64)
    z = np.asarray(fc.quant_zero_points, dtype=np.int64)
    q = _round_shift(cepstra.astype(np.int64) * m, 32) + z
    return np.clip(q, -128, 127).astype(np.int8)


def frame_stages(frames: np.ndarray, fc: FeatureConfig = CONFIG.features) -> dict[str, np.ndarray]:
    """Every intermediate stage of a (frames, window_samples) int16 block, for golden vectors and tests."""
    windowed = apply_window(frames, fc)
    x_r, x_i = real_fft(windowed, fc)
    power = power_spectrum(x_r, x_i)
    mel = mel_energies(power, fc)
    log_mel = log2_q(mel, fc)
    cep = dct(log_mel, fc)
    return {
        "windowed": windowed,
        "fft_re": x_r,
        "fft_im": x_i,
        "power": power,
        "mel": mel,
        "log_mel": log_mel,
        "cepstra": cep,
        "features": quantize(cep, fc),
    }


def log_mel_of_frames(frames: np.ndarray, fc: FeatureConfig = CONFIG.features) -> np.ndarray:
    """(N, window_samples) int16 -> (N, num_mel_bands) int16 log mel energies, in blocks (the FFT's int64
    intermediates of a whole bank shard at once would not fit in memory)."""
    out = np.empty((frames.shape[0], fc.num_mel_bands), dtype=np.int16)
    for i in range(0, frames.shape[0], _BLOCK_FRAMES):
        block = frames[i : i + _BLOCK_FRAMES]
        x_r, x_i = real_fft(apply_window(block, fc), fc)
        out[i : i + len(block)] = log2_q(mel_energies(power_spectrum(x_r, x_i), fc), fc)
    return out


def cepstra_of_frames(frames: np.ndarray, fc: FeatureConfig = CONFIG.features) -> np.ndarray:
    """(N, window_samples) int16 -> (N, num_mfcc) int32 cepstra, before int8 quantisation."""
    return dct(log_mel_of_frames(frames, fc), fc)


def features_of_frames(frames: np.ndarray, fc: FeatureConfig = CONFIG.features) -> np.ndarray:
    """(N, window_samples) int16 -> (N, num_mfcc) int8 model inputs."""
    return quantize(cepstra_of_frames(frames, fc), fc)


def mfcc(audio: np.ndarray, fc: FeatureConfig = CONFIG.features) -> np.ndarray:
    """Batch front end: (..., samples) int16 -> (..., frames, num_mfcc) int8."""
    frames = frame_signal(audio, fc)
    lead = frames.shape[:-1]
    flat = frames.reshape(-1, fc.window_samples)
    return features_of_frames(flat, fc).reshape(*lead, fc.num_mfcc)
