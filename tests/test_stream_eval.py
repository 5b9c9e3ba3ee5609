"""Streaming evaluation: the replayed detector equals `Detector`, streams hold what they claim, hits and false
accepts are counted right, and `tinykws stream-eval` measures, plots and writes the tuned detector."""

import dataclasses
import json
import shutil

import numpy as np
import pytest

from tinykws.cli import main
from tinykws.config import CONFIG, DetectorConfig
from tinykws.data import streams
from tinykws.firmware import stream_eval as fse
from tinykws.firmware.engine import CEngine
from tinykws.train import stream_eval as se
from tinykws.train.detector import Detector, detector_config
from tinykws.train.engine import PythonEngine
from tinykws.train.evaluate import shipped_model_path
from tinykws.train.int_model import IntModel

SC = dataclasses.replace(CONFIG.stream, snrs_db=(None, 10.0))


@pytest.mark.parametrize("labels", [("not_yes", "yes"), CONFIG.labels.kws12_labels])
@pytest.mark.parametrize("n, threshold, refractory", [(5, 40, 50), (1, 0, 0), (3, -5, 7), (12, 60, 75)])
def test_replayed_detector_equals_detector(labels, n, threshold, refractory):
    rng = np.random.default_rng(n * 1000 + threshold)
    # Random walks: long runs above and below any threshold, as real logits have.
    walk = np.cumsum(rng.integers(-12, 13, size=(3000, len(labels))), axis=0)
    logits = np.clip(walk, -128, 127).astype(np.int8)
    logits[100:110] = logits[100, 0]  # ties between classes
    det = Detector(labels, DetectorConfig(n, threshold, refractory))
    want = [(i, d.keyword) for i in range(len(logits)) if (d := det.push(i, logits[i])) is not None]
    sm = se.smooth(logits, labels, n)
    fired = se.fire(sm, threshold, n, refractory)
    assert [(int(i), int(sm.best_class[i])) for i in fired] == want
    assert len(want) > 3


def _stream_with(events: list[streams.Event]) -> streams.Stream:
    return streams.Stream("test", np.zeros(16000 * 20, np.int16), events)


def test_scoring_hits_misses_and_false_accepts():
    fc, first = CONFIG.features, 48  # first: the hop of the first logits (a 49-frame model)
    ev = [
        streams.Event(16000, 16000, "yes", True, 0),
        streams.Event(48000, 16000, "no", False, 1),
        streams.Event(80000, 16000, "yes", True, 2),
        streams.Event(160000, 16000, "yes", True, 3),
    ]
    s = _stream_with(ev)
    labels = ("not_yes", "yes")

    def hop_at(sample: int) -> int:  # pushed-hop index whose window ends at `sample`
        return (sample - fc.window_samples) // fc.hop_samples - first

    fired = np.array([hop_at(30000), hop_at(31000), hop_at(60000), hop_at(80000 + 16000 + 11000), hop_at(150000)])
    classes = np.ones(hop_at(200000), dtype=int)
    r = se.score(s, fired, classes, labels, first)
    # 1st yes hit (the second detection inside its window is a false accept), "no" fires = false accept,
    # 2nd yes hit within the 0.75 s tail, 3rd yes missed (150000 is before it starts): 3 false accepts.
    assert r.hits.tolist() == [True, True, False]
    assert r.false_accepts == 3


@pytest.fixture(scope="module")
def built(real_dir):
    return se.build_streams([real_dir], "validation", "yes", hours=0.05, sc=SC)


def test_streams_place_every_wake_word_once(built, real_dir):
    audio, words, positive = se.load_clips([real_dir], "validation", "yes")
    pos_streams, neg = built[:-1], built[-1]
    assert [s.name for s in built] == ["positive clean", "positive 10 dB", "negative"]
    for s in pos_streams:
        assert sorted(e.clip for e in s.positives) == [i for i, p in enumerate(positive) if p]
        assert all(e.word == "yes" for e in s.positives)
        ends = [e.start + e.length for e in s.events]
        assert all(b.start >= a_end for a_end, b in zip(ends, s.events[1:], strict=False)), "words overlap"
        assert s.audio.dtype == np.int16 and ends[-1] <= len(s.audio)
    assert not neg.positives and 180 <= neg.seconds < 180 + 25  # "at least an hour" must hold exactly
    assert {e.word for e in neg.events} <= {w for w, p in zip(words, positive, strict=True) if not p}
    again = se.build_streams([real_dir], "validation", "yes", hours=0.05, sc=SC)
    assert all(np.array_equal(a.audio, b.audio) for a, b in zip(built, again, strict=True)), "not reproducible"

    # The 10 dB stream really carries noise at the level the config says, the clean one none added.
    def between_words(s: streams.Stream) -> np.ndarray:
        keep = np.ones(len(s.audio), dtype=bool)
        for e in s.events:
            keep[e.start : e.start + e.length] = False
        return s.audio[keep].astype(float)

    ref = 32768 * 10 ** ((SC.reference_dbfs - 10.0) / 20)
    assert abs(np.sqrt(np.mean(between_words(pos_streams[1]) ** 2)) / ref - 1) < 0.1
    assert not between_words(pos_streams[0]).any()


def test_c_and_python_engines_record_the_same_logits(built):
    model = IntModel.load(shipped_model_path("yes"))
    audio = built[1].audio[: 16000 * 12]
    c = se.stream_logits(model, audio, CEngine)
    py = se.stream_logits(model, audio, PythonEngine)
    assert c.shape == (CONFIG.features.frames_for(len(audio)) - model.input_frames + 1, 2) and np.array_equal(c, py)


def test_the_command_offers_exactly_the_engines_it_hands_in():
    """`tinykws stream-eval` is firmware/stream_eval.py (the C engine is the firmware's; train/ does not import
    it), with train/stream_eval.py's options: each --engine choice has its engine class, C by default."""
    import argparse

    from tinykws.cli import COMMANDS

    assert COMMANDS[(None, "stream-eval")][0] == "tinykws.firmware.stream_eval"
    parser = argparse.ArgumentParser()
    fse.add_arguments(parser)
    engine = next(a for a in parser._actions if a.dest == "engine")
    assert set(engine.choices) == set(fse.ENGINES) and parser.parse_args([]).engine == "c"
    assert fse.ENGINES == {"c": CEngine, "python": PythonEngine}


def test_stream_eval_command_tunes_and_applies(real_dir, tmp_path, capsys):
    model_path = tmp_path / "model.npz"
    shutil.copyfile(shipped_model_path("yes"), model_path)
    (tmp_path / "model.json").write_text(json.dumps({"task": "yes"}))
    png = tmp_path / "det.png"
    args = [
        "stream-eval",
        "--task",
        "yes",
        "--model",
        str(model_path),
        "--data",
        str(real_dir),
        "--hours",
        "0.05",
        "--json",
        "--apply",
        "--png",
        str(png),
        "--no-progress",
    ]
    assert main(args) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["positives"] == 3 * 45 and out["hours"] > 0.2
    for key in ("model_detector", "model_detector_at_target", "tuned"):
        r = out[key]
        assert 0.0 <= r["frr"] <= 1.0 and r["false_accepts"] >= 0 and r["fa_per_hour_upper95"] > r["fa_per_hour"]
        assert set(r["frr_by_stream"]) == {"positive clean", "positive 20 dB", "positive 10 dB"}
    assert out["frr"] == out["model_detector"]["frr"] and out["fa_per_hour"] == out["model_detector"]["fa_per_hour"]
    assert out["detector"] == dataclasses.asdict(detector_config(IntModel.load(shipped_model_path("yes"))))
    tuned = out["tuned"]
    assert tuned["fa_per_hour"] <= out["target_fa_per_hour"]
    assert len(out["grid"]) == len(CONFIG.stream.smoothing_grid) * len(CONFIG.stream.refractory_grid)
    assert all(g["frr"] >= tuned["frr"] for g in out["grid"]), "the pick is not the best of the grid"
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    # Written where every engine reads it, and on the card.
    model = IntModel.load(model_path)
    assert dataclasses.asdict(detector_config(model)) == tuned["detector"]
    assert json.loads((tmp_path / "model.json").read_text())["detector"] == tuned["detector"]
    assert model.meta["stream_eval"]["tuned"]["frr"] == tuned["frr"]


def test_stream_eval_refuses_bad_requests(real_dir, tmp_path, capsys):
    assert main(["stream-eval", "--task", "yes", "--hours", "-1"]) == 2
    assert main(["stream-eval", "--task", "yes", "--apply", "--no-tune"]) == 2
    (tmp_path / "no").mkdir()
    shutil.copyfile(real_dir / "no" / sorted(p.name for p in (real_dir / "no").iterdir())[0], tmp_path / "no" / "a.wav")
    assert main(["stream-eval", "--task", "yes", "--data", str(tmp_path), "--split", "all"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 3 and all(line.startswith("tinykws: ") for line in err)
    assert "no clips of ['yes']" in err[2]


def test_unrecorded_wake_word_falls_back_to_synthetic_voices(real_dir, tmp_path, monkeypatch, capsys):
    from tinykws.data import layout, synth
    from tinykws.train import trainer

    words_dir = tmp_path / "synth-words"
    synth.build_corpus(out=words_dir, words=["hey_tiny", "no"], limit_voices=4, jobs=2, progress=False)
    monkeypatch.setattr(trainer, "KEYWORD_SYNTH_DIR", words_dir)
    monkeypatch.setattr(layout, "default_roots", lambda: [])
    model = IntModel.load(shipped_model_path("yes"))
    model_path = tmp_path / "model.npz"
    dataclasses.replace(model, labels=("not_hey_tiny", "hey_tiny")).save(model_path)
    args = [
        "stream-eval",
        "--task",
        "hey_tiny",
        "--model",
        str(model_path),
        "--split",
        "all",
        "--hours",
        "0.01",
        "--no-tune",
        "--json",
        "--no-progress",
        "--png",
        str(tmp_path / "det.png"),
    ]
    assert main(args) == 0
    captured = capsys.readouterr()
    assert "wake words from held-out synthetic voices" in captured.err
    out = json.loads(captured.out)
    takes = 4 * CONFIG.synth.variations_per_voice
    assert out["positives"] == len(CONFIG.stream.snrs_db) * takes
    assert out["data"] == [str(words_dir), str(real_dir)], "negatives must stay human where there are any"
    # With real data named explicitly there is no fallback: the missing word is an error.
    assert main([*args[:3], "--data", str(real_dir), *args[3:]]) == 2
    assert "no clips of ['hey_tiny']" in capsys.readouterr().err


def test_operating_point_stays_within_target_and_above_the_floor():
    pts = [se.Point(t, 1.0 - t / 100, {}, fa, fa / 2.0) for t, fa in ((60, 0), (40, 0), (20, 1), (10, 2), (-30, 0))]
    assert se.operating_point(pts, 0.5).threshold == 20  # 1 false accept in 2 h = 0.5 / h: allowed
    assert se.operating_point(pts, 0.4).threshold == 40  # never past the first threshold over the target
    assert se.operating_point(pts, 0.5, floor=30).threshold == 40
    low = [se.Point(10, 0.5, {}, 0, 0.0), se.Point(-30, 0.1, {}, 0, 0.0)]
    assert CONFIG.stream.min_threshold == 0 and se.operating_point(low, 1.0).threshold == 10  # -30 < floor


def test_a_folder_of_real_recordings_streams_among_other_words_and_running_speech(real_dir, tmp_path, capsys):
    from tinykws.data import layout

    wake = real_dir.parent / "wake_words" / "jarvis"
    folder = tmp_path / "jarvis"
    folder.mkdir()
    for wav in sorted(wake.glob("*.wav"))[:6]:
        (folder / wav.name).symlink_to(wav)
    running = real_dir.parent / "librispeech"
    built = se.build_folder_streams(folder, [real_dir], "validation", "jarvis", 0.05, running, SC)
    assert [s.name for s in built] == ["positive clean", "positive 10 dB", "negative"]
    for s in built[:-1]:
        # Every recording once, as the wake word; the clips list holds the folder's recordings first.
        assert sorted(e.clip for e in s.positives) == list(range(6)) and all(e.word == "jarvis" for e in s.positives)
    neg = built[-1]
    assert not neg.positives
    # Running speech of the validation speakers is among the negatives: whole utterances, seconds long.
    assert layout.RUNNING_WORD in {e.word for e in neg.events}
    assert max(e.length for e in neg.events) > 2 * CONFIG.audio.clip_samples
    # The command: one line for a folder with nothing in it.
    model_path = tmp_path / "model.npz"
    dataclasses.replace(IntModel.load(shipped_model_path("yes")), labels=("not_jarvis", "jarvis")).save(model_path)
    (tmp_path / "empty").mkdir()
    args = ["stream-eval", "--task", "jarvis", "--model", str(model_path), "--positives", str(tmp_path / "empty")]
    assert main(args) == 2
    assert capsys.readouterr().err.strip() == f"tinykws: {tmp_path / 'empty'}: no .wav recordings of jarvis in it"
