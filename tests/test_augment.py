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
