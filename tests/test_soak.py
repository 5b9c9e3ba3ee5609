"""The soak of bench/soak.py on 10 minutes of audio (the script runs 24 hours): the shipped yes model's C
engine, fed in chunks of random size, must count its hops right, equal PythonEngine exactly on slices
anywhere in the stream, detect most inserted keywords, and keep its memory flat. Then the checks themselves:
each must fail when what it watches goes wrong.
"""

import dataclasses
import importlib.util
import sys

import numpy as np
import pytest

from tinykws.config import CONFIG, REPO_ROOT
from tinykws.data.wav import read_wav
from tinykws.firmware.engine import CEngine
from tinykws.train.int_model import IntModel

_spec = importlib.util.spec_from_file_location("soak", REPO_ROOT / "bench" / "soak.py")
soak = importlib.util.module_from_spec(_spec)
sys.modules["soak"] = soak  # its dataclasses look their module up there
_spec.loader.exec_module(soak)

FC = CONFIG.features
MODEL = REPO_ROOT / "models" / "yes" / "model.npz"


@pytest.fixture(scope="module")
def report(real_dir):
    return soak.run_soak(MODEL, hours=10 / 60, seed=0, slice_s=20, slice_every_s=300, rss_every_s=60)


@pytest.fixture(scope="module")
def model():
    return IntModel.load(MODEL)


def test_ten_minutes_pass_every_check(report):
    assert report["ok"] and report["failed"] == [], soak.format_report(report)
    assert report["samples"] == 10 * 60 * CONFIG.audio.sample_rate
    assert report["hops_seen"] == report["hops_expected"] == FC.frames_for(report["samples"])


def test_slices_equal_python_exactly_from_start_to_end(report):
    slices = report["slices"]
    assert [s["start_s"] for s in slices] == [0.0, 150.0, 450.0, 580.0]
    assert all(not s["problems"] for s in slices), [s["problems"] for s in slices]
    assert sum(s["logits"] for s in slices) > 3000
    assert sum(s["detections"] for s in slices) > 0, "no detection compared: the equality would be vacuous"


def test_stream_covers_chunk_sizes_and_edge_cases(report):
    assert report["chunks"]["0-sample calls"] > 0 and report["chunks"]["1-sample calls"] > 0
    assert report["chunks"]["longest"] > 8192
    inserted = report["inserted"]
    assert inserted["target"] > 20 and inserted["distractor"] > 20, inserted
    assert sum(inserted.get(k, 0) for k in soak.EDGE_CASES) > 5 and len(set(inserted) & set(soak.EDGE_CASES)) >= 4


def test_most_inserted_keywords_detected(report):
    assert report["recall"] > 0.5, soak.format_report(report)
    assert report["per_hour"][0]["latency_ms"] > 0


def test_memory_is_sampled(report):
    assert len(report["rss_mb"]) >= 5 and report["rss_growth_mb"] is not None
    assert report["rss_growth_mb"] <= report["rss_bound_mb"]


def test_a_leak_fails_the_memory_check(monkeypatch, real_dir):
    kept = []
    feed = soak.Soak.feed

    def leaky(self, chunk):
        kept.append(np.repeat(chunk, 16))  # ~30 MB per minute of audio
        feed(self, chunk)

    monkeypatch.setattr(soak.Soak, "feed", leaky)
    rep = soak.run_soak(MODEL, hours=4 / 60, seed=1, slice_s=5, slice_every_s=60, rss_every_s=60)
    assert rep["failed"] == ["memory"], soak.format_report(rep)


def test_refractory_counter_by_hand():
    # Fired at hop 10 with 50 refractory hops: hops 11..60 cannot fire, 61 can.
    assert soak.refractory_left([10], 10, 50) == 0
    assert soak.refractory_left([10], 11, 50) == 50
    assert soak.refractory_left([10], 60, 50) == 1
    assert soak.refractory_left([10], 61, 50) == 0
    assert soak.refractory_left([3, 10], 12, 50) == 49


@pytest.fixture(scope="module")
def long_run(model, real_dir):
    """9 s with two "yes" clips, through the C engine in uneven chunks, every hop recorded."""
    sr = CONFIG.audio.sample_rate
    audio = np.zeros(9 * sr, np.int16)
    for name, at in (("0cb74144_nohash_0.wav", 4 * sr), ("105a0eea_nohash_0.wav", 7 * sr)):
        clip = read_wav(real_dir / "yes" / name)
        audio[at : at + len(clip)] = clip
    engine = CEngine(model, record=True)
    dets = [d for start in range(0, len(audio), 777) for d in engine.process(audio[start : start + 777])]
    assert len(dets) == 2, "fixture needs both clips detected"
    return audio, engine.hops, dets


@pytest.mark.parametrize("first", [0, 100])
def test_compare_slice_equal_from_any_hop(model, long_run, first):
    audio, hops, dets = long_run
    rep = soak.compare_slice(model, audio[first * FC.hop_samples :], first, hops, dets)
    assert rep["problems"] == [] and rep["detections"] == 2 and rep["c_last_hop"] == len(hops) - 1


def test_compare_slice_catches_each_difference(model, long_run):
    audio, hops, dets = long_run
    changed = [dataclasses.replace(h) for h in hops]
    changed[150] = dataclasses.replace(hops[150], logits=hops[150].logits + np.int8(1))
    assert "logits differ at hop 150" in soak.compare_slice(model, audio, 0, changed, dets)["problems"][0]
    shifted = [dataclasses.replace(h, hop=h.hop + 1) for h in hops]
    assert "C hop numbers" in soak.compare_slice(model, audio, 0, shifted, dets)["problems"][0]
    assert "detections differ" in soak.compare_slice(model, audio, 0, hops, dets[:1])["problems"][0]
