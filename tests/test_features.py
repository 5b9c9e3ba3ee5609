"""The integer front end: hand-checkable stages, golden vectors, streaming == batch, float agreement."""

import numpy as np
import pytest

from tinykws.config import CONFIG
from tinykws.data import layout
from tinykws.data.wav import fit_clip, read_wav
from tinykws.exact import first_mismatch
from tinykws.features import golden, mfcc, mfcc_float, tables
from tinykws.features.streaming import StreamingFrontend

FC = CONFIG.features


def test_frame_count_follows_window_and_hop():
    assert FC.frames_for(FC.window_samples - 1) == 0
    assert FC.frames_for(FC.window_samples) == 1
    assert FC.frames_for(FC.window_samples + FC.hop_samples - 1) == 1
    assert FC.frames_for(FC.window_samples + FC.hop_samples) == 2
    assert mfcc.mfcc(np.zeros(CONFIG.audio.clip_samples, np.int16)).shape == (49, FC.num_mfcc)


def test_log2_is_exact_on_powers_of_two_and_monotonic():
    k = np.arange(0, 62)
    e = (np.int64(1) << k) - 1  # E + 1 = 2^k
    assert np.array_equal(mfcc.log2_q(e), (k * (1 << FC.log_frac_bits)).astype(np.int16))
    v = np.unique(np.round(np.logspace(0, 18, 5000)).astype(np.int64))
    assert np.all(np.diff(mfcc.log2_q(v).astype(int)) >= 0)
    # Within one table step of the true value everywhere.
    true = np.log2(v.astype(np.float64) + 1) * (1 << FC.log_frac_bits)
    assert np.max(np.abs(mfcc.log2_q(v) - true)) <= 1.0


def test_fft_of_impulse_and_dc():
    # An impulse at 0 has a flat spectrum: 2X[k] = 2 * amplitude for every bin.
    x = np.zeros((1, FC.window_samples), np.int32)
    x[0, 0] = 1000
    re, im = mfcc.real_fft(x)
    assert np.all(np.abs(re - 2000) <= 1) and np.all(np.abs(im) <= 1)
    # A constant has all its energy in bin 0: 2 * sum(x).
    dc = np.full((1, FC.window_samples), 100, np.int32)
    re, im = mfcc.real_fft(dc)
    assert re[0, 0] == 2 * 100 * FC.window_samples and im[0, 0] == 0


def test_fft_matches_numpy_on_random_frames():
    rng = np.random.default_rng(0)
    x = rng.integers(-(1 << 17), 1 << 17, (50, FC.window_samples)).astype(np.int32)
    re, im = mfcc.real_fft(x)
    ref = 2 * np.fft.rfft(x.astype(np.float64), n=FC.fft_size)
    err = np.abs((re + 1j * im) - ref)
    # Q15 twiddles: ~2^-15 per stage; 1e-3 of full scale is -60 dB, far below what log-mel resolves.
    assert err.max() < 1e-3 * np.abs(ref).max()


def test_bit_reverse_of_8():
    assert tables.bit_reverse(8).tolist() == [0, 4, 2, 6, 1, 5, 3, 7]


def test_mel_filters_cover_every_band_and_sum_to_at_most_one():
    w = tables.mel_weights()
    assert w.shape == (FC.fft_size // 2 + 1, FC.num_mel_bands)
    assert np.all(w.sum(axis=0) > 0)
    assert np.all(w.sum(axis=1) <= (1 << FC.mel_weight_frac_bits) + 1)  # the bound the int64 sums rely on


@pytest.mark.parametrize("clip", ["fullscale_square", "fullscale_chirp", "white_noise"])
def test_fullscale_input_does_not_overflow(clip):
    audio = golden.synthetic_clips()[clip]
    st = mfcc.frame_stages(mfcc.frame_signal(audio))
    scaled = mfcc.frame_signal(audio).astype(np.float64) * (1 << FC.window_out_frac_bits)
    hann = 0.5 - 0.5 * np.cos(2 * np.pi * np.arange(FC.window_samples) / FC.window_samples)
    power = np.abs(2 * np.fft.rfft(scaled * hann, n=FC.fft_size)) ** 2
    mel = power @ (tables.mel_weights().astype(np.float64))
    # A wrapped int32/int64 would be off by orders of magnitude; the bands that hold the energy agree closely.
    big = mel > 1e-4 * mel.max(axis=1, keepdims=True)
    assert st["mel"].min() >= 0 and st["power"].min() >= 0
    assert np.max(np.abs(st["mel"][big] / mel[big] - 1)) < 0.01


def test_golden_vectors_match_every_stage(real_dir):
    d, manifest = golden.load_manifest()
    assert manifest["feature_hash"] == CONFIG.feature_hash()
    assert len(manifest["clips"]) >= 6
    for name, entry in manifest["clips"].items():
        if entry["kind"] == "real":
            audio = read_wav(real_dir.parent / entry["source"])
        else:
            audio = golden.load_stage(d, entry["stages"]["audio"])
            assert np.array_equal(audio, golden.synthetic_clips()[name]), name
        stages = mfcc.frame_stages(mfcc.frame_signal(audio))
        assert len(entry["stages"]) >= 5
        for stage, spec in entry["stages"].items():
            if stage == "audio":
                continue
            want = golden.load_stage(d, spec)
            assert np.array_equal(stages[stage], want), f"{name}.{stage}: {first_mismatch(stages[stage], want)}"


def _stream(audio: np.ndarray, chunks: list[int]) -> np.ndarray:
    fe = StreamingFrontend()
    out, pos = [], 0
    for n in chunks:
        out.append(fe.push(audio[pos : pos + n]))
        pos += n
    return np.concatenate(out)


@pytest.mark.parametrize("chunk", [1, 160, 161, 320, 16000])
def test_streaming_equals_batch(real_clip, chunk):
    audio = np.concatenate([real_clip, real_clip[:5000]])
    batch = mfcc.mfcc(audio)
    chunks = [chunk] * (len(audio) // chunk + 1)
    assert np.array_equal(_stream(audio, chunks), batch), first_mismatch(_stream(audio, chunks), batch)


def test_streaming_random_chunks_equal_batch(real_clip):
    rng = np.random.default_rng(3)
    audio = np.tile(real_clip, 3)
    chunks = list(rng.integers(0, 2000, 200))
    got = _stream(audio, chunks)
    want = mfcc.mfcc(audio[: sum(chunks)])
    assert np.array_equal(got, want), first_mismatch(got, want)


def test_reset_gives_back_first_frames_and_short_input_gives_none(real_clip):
    fe = StreamingFrontend()
    first = fe.push(real_clip)
    fe.push(real_clip[:777])
    fe.reset()
    assert fe.push(real_clip[: FC.window_samples - 1]).shape == (0, FC.num_mfcc)
    again = fe.push(real_clip[FC.window_samples - 1 :])
    assert np.array_equal(again, first)


def test_streaming_rejects_wrong_dtype():
    with pytest.raises(TypeError):
        StreamingFrontend().push(np.zeros(10, np.float32))


def test_integer_features_track_float_reference(real_dir):
    """Measure: per-coefficient SNR of integer vs float cepstra over the real validation clips, and the
    share of int8 outputs within 1 LSB of the float pipeline quantised the same way."""
    clips = [c for c in layout.scan(real_dir) if c.split == "validation"]
    audio = np.stack([fit_clip(read_wav(c.path)) for c in clips])
    frames = mfcc.frame_signal(audio).reshape(-1, FC.window_samples)
    c_int = mfcc.cepstra_of_frames(frames)
    c_flt = mfcc_float.cepstra_float(frames)
    snr = 10 * np.log10((c_flt**2).sum(0) / ((c_int - c_flt) ** 2).sum(0))
    m = np.asarray(FC.quant_multipliers, np.float64)
    q_flt = np.clip(np.round(c_flt * m / 2**32) + np.asarray(FC.quant_zero_points), -128, 127)
    q_int = mfcc.quantize(c_int)
    within = np.mean(np.abs(q_int - q_flt) <= 1)
    # The README's front-end figures (`pytest -s` shows them).
    print(f"cepstrum SNR c0..c9 (dB): {np.round(snr, 1).tolist()}; int8 within 1 LSB: {100 * within:.1f} %")
    assert np.all(snr >= 35.0), snr
    assert within >= 0.98


def test_int8_quantisation_error_is_half_a_step_except_at_the_limits(real_dir):
    """quantize() rounds to the nearest step of 2^32 / M, so dequantising gives the cepstrum back within half a
    step of its coefficient; only outputs clamped at -128 / 127 are further off (up to ~90 steps of c5 on these
    clips), and always on the clamped side. Clamping is rare by calibration (0.1 / 99.9 percentiles of the
    training side): 0.47 % of the validation clips' outputs."""
    clips = [c for c in layout.scan(real_dir) if c.split == "validation"]
    audio = np.stack([fit_clip(read_wav(c.path)) for c in clips])
    c_int = mfcc.cepstra_of_frames(mfcc.frame_signal(audio).reshape(-1, FC.window_samples))
    q = mfcc.quantize(c_int)
    half_step = np.broadcast_to(0.5 * 2**32 / np.asarray(FC.quant_multipliers, np.float64), q.shape)
    steps = (mfcc_float.dequantize(q) - c_int) / half_step  # error in half steps of its coefficient
    low, high = q == -128, q == 127
    inside = ~(low | high)
    assert np.max(np.abs(steps[inside])) <= 1 + 1e-9, np.max(np.abs(steps[inside]))
    # Clamped outputs under-state the cepstrum's magnitude, never overshoot it.
    assert np.all(steps[low] >= -1) and np.all(steps[high] <= 1)
    assert 0 < np.mean(~inside) <= 0.01, np.mean(~inside)
