"""Stream windows (data/stream_windows.py): 1 s windows cut from streams of the real training clips."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest

from tinykws.config import CONFIG
from tinykws.data import layout, streams
from tinykws.data.stream_windows import stream_windows, word_spans
from tinykws.data.wav import read_wav
from tinykws.errors import TinyKwsError

TC = dataclasses.replace(CONFIG.teacher, windows_negatives=25, windows_hours=0.01, windows_every_hops=16)


def _train_clips(root):
    return [c for c in layout.scan(root) if c.split == "train" and c.source == "real"]


def test_windows_are_slices_of_the_streams_in_the_folder_of_the_word_they_hold(tiny_data, tmp_path, monkeypatch):
    clips = _train_clips(tiny_data)
    built = []
    real_positive = streams.positive_streams
    monkeypatch.setattr(streams, "positive_streams", lambda *a, **k: built.extend(real_positive(*a, **k)) or built)
    out = stream_windows(clips, "yes", [tiny_data], tmp_path, TC, progress=False)
    n, rate = CONFIG.audio.clip_samples, CONFIG.audio.sample_rate
    negative = [w for w in out if w.path.name.startswith(f"{len(built) - 1}_")]
    assert len(negative) == TC.windows_negatives
    assert {w.word for w in negative} == {"not_yes"}, "no wake word in the negative stream"
    hops = CONFIG.features.hop_samples * TC.windows_every_hops
    positive_streams = built[:-1]
    assert len(positive_streams) == len(CONFIG.stream.snrs_db)
    for i, s in enumerate(positive_streams):
        mine = [w for w in out if w.path.name.startswith(f"{i}_")]
        # Every windows_every_hops hops of the whole stream, so ~its length / that many samples.
        assert abs(len(mine) - (len(s.audio) - n) / hops) <= 2
        lo, hi = word_spans(s, TC)
        assert np.all(hi - lo > 0.3 * rate)
        for w in mine[::7]:
            x = read_wav(w.path)
            assert len(x) == n
            # Find the window in its stream: its end decides its folder.
            fc = CONFIG.features  # a window ends where a hop's frame ends
            end = next(e for e in range(fc.window_samples, len(s.audio) + 1, fc.hop_samples)
                       if e >= n and np.array_equal(s.audio[e - n : e], x))  # fmt: skip
            holds = np.any((lo <= end) & (end <= hi))
            assert w.word == ("yes" if holds else "not_yes")
        assert any(w.word == "yes" for w in mine) and any(w.word == "not_yes" for w in mine)
    assert all(w.source == "real" and w.split == "train" for w in out)

    # A rerun reads the finished cut's list: no stream is built, nothing written.
    monkeypatch.setattr(streams, "positive_streams", lambda *a, **k: pytest.fail("streams built again"))
    before = {p: p.stat().st_mtime_ns for p in tmp_path.rglob("*.wav")}
    assert stream_windows(clips, "yes", [tiny_data], tmp_path, TC, progress=False) == out
    assert {p: p.stat().st_mtime_ns for p in tmp_path.rglob("*.wav")} == before
    # Other settings are another folder, not a reuse of these windows.
    monkeypatch.setattr(streams, "positive_streams", real_positive)
    sparser = dataclasses.replace(TC, windows_every_hops=32)
    again = stream_windows(clips, "yes", [tiny_data], tmp_path, sparser, progress=False)
    assert again[0].path.parent.parent != out[0].path.parent.parent
    assert len(again) < len(out)


def test_windows_need_the_word_and_other_words(tiny_data, tmp_path):
    clips = [c for c in _train_clips(tiny_data) if c.word == "yes"]
    with pytest.raises(TinyKwsError, match="both 'yes' and other words"):
        stream_windows(clips, "yes", [tiny_data], tmp_path, TC, progress=False)
