"""Augmentation: seeded, SNR as asked, shift moves the word, silence drawn from noise."""

import numpy as np

from tinykws.data.augment import Augmenter, mix_at_snr, rms, time_shift


def _noise():
    return [np.random.default_rng(1).integers(-3000, 3000, 50000).astype(np.int16)]


def test_mix_hits_requested_snr():
    rng = np.random.default_rng(0)
    clip = (np.sin(np.arange(16000) / 7.0) * 5000).astype(np.int16)
    noise = rng.standard_normal(16000) * 100
    for snr in (0.0, 10.0, 20.0):
        mixed = mix_at_snr(clip, noise, snr)
        added = mixed - clip
        assert abs(20 * np.log10(rms(clip) / rms(added)) - snr) < 1e-6


def test_time_shift_moves_and_zero_fills():
    x = np.arange(1, 11, dtype=np.int16)
    assert time_shift(x, 3).tolist() == [0, 0, 0, 1, 2, 3, 4, 5, 6, 7]
    assert time_shift(x, -2).tolist() == [3, 4, 5, 6, 7, 8, 9, 10, 0, 0]


def test_augmenter_is_seeded_and_changes_audio():
    aug = Augmenter(_noise())
    clip = (np.sin(np.arange(16000) / 9.0) * 8000).astype(np.int16)
    a = aug(clip, np.random.default_rng([5, 0, 17]))
    b = aug(clip, np.random.default_rng([5, 0, 17]))
    c = aug(clip, np.random.default_rng([5, 0, 18]))
    assert a.dtype == np.int16 and len(a) == len(clip)
    assert np.array_equal(a, b) and not np.array_equal(a, c) and not np.array_equal(a, clip)


def test_silence_levels_within_config_range():
    aug = Augmenter(_noise())
    lo, hi = aug.cfg.silence_level_dbfs
    for i in range(20):
        s = aug.silence(16000, np.random.default_rng(i))
        level = 20 * np.log10(rms(s) / 32768)
        assert lo - 1 <= level <= hi + 1


def test_speed_change_stretches_a_tone():
    from tinykws.data.augment import change_speed

    t = np.arange(16000)
    tone = np.sin(2 * np.pi * 500 * t / 16000) * 1000
    fast = change_speed(tone, 1.1)
    spec = np.abs(np.fft.rfft(fast[:14000]))
    assert abs(np.argmax(spec) * 16000 / 14000 - 550) < 5  # 500 Hz played 1.1x faster is 550 Hz
    assert np.all(fast[-1400:] == 0)  # the clip ends earlier; the rest is padding


def test_reverb_keeps_level_and_adds_a_tail():
    from tinykws.data.augment import reverberate

    clip = np.zeros(16000)
    clip[1000:1400] = np.sin(np.arange(400) / 3.0) * 5000
    wet = reverberate(clip, 0.4, np.random.default_rng(0), 16000)
    assert abs(rms(wet) / rms(clip) - 1) < 1e-9
    assert np.abs(wet[2000:4000]).max() > 10 * np.abs(clip[2000:4000]).max() + 1
