"""Context windows: a clip's word whole at the end of the window, after another clip's word; seeded, written
once, and a custom word's recordings in no window at all."""

import dataclasses
from pathlib import Path

import numpy as np

from tinykws.config import CONFIG
from tinykws.data import context, layout
from tinykws.data.wav import read_wav, write_wav

RATE = CONFIG.audio.sample_rate


def _tone_clip(start_s: float, length_s: float, freq: float, amp: float = 8000.0) -> np.ndarray:
    x = np.zeros(CONFIG.audio.clip_samples)
    a, n = int(start_s * RATE), int(length_s * RATE)
    x[a : a + n] = amp * np.sin(2 * np.pi * freq * np.arange(n) / RATE)
    return x.astype(np.int16)


def _clips(tmp_path: Path) -> list[layout.Clip]:
    clips = []
    for i, (word, freq) in enumerate([("yes", 500.0), ("no", 1500.0), ("left", 3000.0), ("yes", 700.0)]):
        path = tmp_path / "src" / word / f"{i:08x}_nohash_0.wav"
        path.parent.mkdir(parents=True, exist_ok=True)
        write_wav(path, _tone_clip(0.3, 0.4, freq))
        clips.append(layout.Clip(path, word, f"{i:08x}", "real", "train"))
    return clips


def _band_power(x: np.ndarray, freq: float) -> float:
    """Energy within 30 Hz of `freq` (Parseval: comparable across lengths)."""
    spec = np.abs(np.fft.rfft(x.astype(np.float64))) ** 2 / len(x)
    f = np.fft.rfftfreq(len(x), 1.0 / RATE)
    return float(spec[np.abs(f - freq) < 30.0].sum())


def test_window_ends_with_the_clip_word_whole_after_the_other_word():
    x, y = _tone_clip(0.3, 0.4, 500.0), _tone_clip(0.2, 0.5, 1500.0)
    tc, held = CONFIG.teacher, 0
    for seed in range(8):
        w = context.window(x, y, np.random.default_rng(seed))
        assert w.dtype == np.int16 and len(w) == CONFIG.audio.clip_samples
        a, b = context.spoken_span(w)
        # The window ends tail seconds after x's word, and x's 0.4 s are all in it.
        lo, hi = tc.context_tail_seconds
        assert lo * RATE - 160 <= len(w) - b <= hi * RATE + 160
        assert _band_power(w[b - int(0.4 * RATE) : b], 500.0) > 0.9 * _band_power(x, 500.0)
        # Before x's word: the gap, and before it y's word (out of the window when the gap is long).
        before = w[: b - int(0.4 * RATE)]
        assert _band_power(before, 500.0) < 0.01 * _band_power(x, 500.0)
        nz = np.flatnonzero(w)
        if nz[0] < len(before) - RATE // 20:  # y's word (or its tail) is in the window
            held += 1
            # what is heard there is y's tone: most of its energy (half a real signal's energy is in rfft's half)
            early = w[: len(before) - RATE // 20]
            assert _band_power(early, 1500.0) > 0.8 * 0.5 * float(np.sum(early.astype(np.float64) ** 2))
            gap = np.diff(nz).max() / RATE
            assert tc.context_gap_seconds[0] - 0.02 <= gap <= tc.context_gap_seconds[1] + 0.02
    assert held >= 3


def test_windows_are_seeded_written_once_and_keep_the_clip_label(tmp_path):
    clips = _clips(tmp_path)
    first = context.context_clips(clips, out_root=tmp_path / "ctx", progress=False)
    assert len(first) == len(clips) * CONFIG.teacher.context_windows
    assert [(c.word, c.speaker, c.split, c.source) for c in first] == [
        (c.word, c.speaker, c.split, c.source) for c in clips for _ in range(CONFIG.teacher.context_windows)
    ]
    stamps = {c.path: c.path.stat().st_mtime_ns for c in first}
    again = context.context_clips(clips, out_root=tmp_path / "ctx", progress=False)
    assert again == first and {c.path: c.path.stat().st_mtime_ns for c in again} == stamps  # nothing rewritten
    # Lost windows (Ctrl-C before they were written) come back identical.
    audio = read_wav(first[3].path)
    first[3].path.unlink()
    context.context_clips(clips, out_root=tmp_path / "ctx", progress=False)
    assert np.array_equal(read_wav(first[3].path), audio)


def test_an_excluded_word_is_in_no_window(tmp_path):
    clips = _clips(tmp_path)
    windows = context.context_clips(clips, exclude=frozenset({"yes"}), out_root=tmp_path / "ctx", progress=False)
    assert windows and all(c.word != "yes" for c in windows)
    for c in windows:  # nor is a "yes" the word before (its tones are 500 and 700 Hz)
        w = read_wav(c.path)
        assert _band_power(w, 500.0) + _band_power(w, 700.0) < 0.01 * (_band_power(w, 1500.0) + _band_power(w, 3000.0))


def test_windows_after_another_list_put_its_words_before_the_clip(tmp_path):
    clips = _clips(tmp_path)
    takes, real = clips[:1], clips[1:3]  # a "yes" take; real "no" (1500 Hz) and "left" (3000 Hz)
    tc = dataclasses.replace(CONFIG.teacher, context_windows=8)
    windows = context.context_clips(takes, before=real, out_root=tmp_path / "ctx", tc=tc, progress=False)
    assert [c.word for c in windows] == ["yes"] * 8
    assert context.context_clips(takes, out_root=tmp_path / "ctx", progress=False) == []  # nothing to follow
    partners = 0
    for c in windows:
        w = read_wav(c.path)
        assert _band_power(w, 700.0) < 0.01 * _band_power(w, 500.0)  # the other "yes" is not in `before`
        before = w[: context.spoken_span(w)[1] - int(0.45 * RATE)]
        partners += _band_power(before, 1500.0) + _band_power(before, 3000.0) > 100 * _band_power(before, 500.0)
    assert partners >= 2
