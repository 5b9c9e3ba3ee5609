"""Integer reference arithmetic by hand, QAT export agreement, and a tiny training run with resume."""

import dataclasses
import json
import shutil

import numpy as np
import pytest
import torch
from model_fixtures import fixture_qat

from tinykws.config import CONFIG
from tinykws.data import layout
from tinykws.train import int_model as im
from tinykws.train.model import KwsNet, QatNet, dequantize_input
from tinykws.train.trainer import Run


def test_quantize_multiplier_matches_tflite_definition():
    assert im.quantize_multiplier(0.5) == (1 << 30, 0)
    assert im.quantize_multiplier(0.25) == (1 << 30, -1)
    assert im.quantize_multiplier(1.0) == (1 << 30, 1)
    m, s = im.quantize_multiplier(0.3)
    assert (1 << 30) <= m < (1 << 31) and abs(m * 2.0 ** (s - 31) - 0.3) < 1e-9
    assert im.quantize_multiplier(0.0) == (0, 0)
    assert im.quantize_multiplier(0.5 + 2.0**-32) == (2**30 + 1, 0)  # a tie rounds away from zero, as std::round


def test_rounding_primitives_by_hand():
    half = 1 << 30  # 0.5 in Q31
    x = np.array([100, 101, -101, 7, -7])
    # round(x * 0.5) with gemmlowp's nudge: ties go up (50.5 -> 51, -50.5 -> -50).
    assert im.saturating_rounding_doubling_high_mul(x, half).tolist() == [50, 51, -50, 4, -3]
    # RoundingDivideByPOT: ties away from zero (2.5 -> 3, -2.5 -> -3), others to nearest.
    assert im.rounding_divide_by_pot(np.array([5, -5, 6, -6, 7, -7]), 1).tolist() == [3, -3, 3, -3, 4, -4]
    assert im.rounding_divide_by_pot(np.array([9, -9, 10]), 2).tolist() == [2, -2, 3]
    # The INT32_MIN * INT32_MIN overflow case saturates.
    assert im.saturating_rounding_doubling_high_mul(np.array([im.INT32_MIN]), im.INT32_MIN).tolist() == [im.INT32_MAX]
    # Full requantisation: 1000 * 0.25 = 250; 1000 * 0.3 = 300.
    m, s = im.quantize_multiplier(0.3)
    assert im.multiply_by_quantized_multiplier(np.array([1000, -1000]), m, s).tolist() == [300, -300]


def _layer(kind, weight, bias, scale, dilation=1, in_zp=0, out_zp=0, act_min=-128):
    m, s = im.quantize_multiplier(scale)
    c = weight.shape[0]
    return im.ConvLayer(
        kind=kind,
        weight=np.asarray(weight, np.int8),
        bias=np.asarray(bias, np.int32),
        multiplier=np.full(c, m, np.int32),
        shift=np.full(c, s, np.int32),
        dilation=dilation,
        input_zero_point=in_zp,
        output_zero_point=out_zp,
        act_min=act_min,
        act_max=127,
    )


def test_conv_layer_by_hand():
    # Two input channels, kernel 2, dilation 2, one output channel; x - zp_in computed by hand below.
    x = np.array([[1, 2], [3, 4], [5, 6], [7, 8]], np.int8)  # (frames, channels)
    w = np.array([[[1, -1], [2, 0]]])  # (Cout=1, K=2, Cin=2)
    layer = _layer("conv", w, [10], 0.5, dilation=2, in_zp=1, out_zp=-3)
    # t=0: taps at frames 0 and 2: (0,1)·(1,-1) + (4,5)·(2,0) + 10 = -1 + 8 + 10 = 17 -> 8.5 -> 9 - 3 = 6
    # t=1: frames 1 and 3: (2,3)·(1,-1) + (6,7)·(2,0) + 10 = -1 + 12 + 10 = 21 -> 10.5 -> 11 - 3 = 8
    assert layer.run(x)[:, 0].tolist() == [6, 8]
    relu = _layer("conv", w, [-100], 0.5, dilation=2, in_zp=1, out_zp=-3, act_min=-3)
    assert relu.run(x)[:, 0].tolist() == [-3, -3]  # fused ReLU clamps at the zero point


def test_depthwise_and_pool_by_hand():
    x = np.array([[10, -10], [20, -20], [30, -30]], np.int8)
    dw = _layer("depthwise", np.array([[1, 1], [2, -1]]), [0, 0], 1.0)
    # channel 0: 10+20=30, 20+30=50; channel 1: -10*2 + -20*-1 = 0... (-10*2) + (-20*-1) = 0; (-20*2)+(-30*-1) = -10
    assert dw.run(x).tolist() == [[30, 0], [50, -10]]
    pool = im.AveragePool(zero_point=0)
    # (3 + 4) / 2 = 3.5 -> 4 and (-3 - 4) / 2 = -3.5 -> -4: half away from zero, as TFLite's reference.
    assert pool.run(np.array([[3, -3], [4, -4]], np.int8)).tolist() == [[4, -4]]


@pytest.fixture(scope="module")
def calibrated_qat(real_dir):
    """The test models' recipe (tests/model_fixtures.py, one torch thread) calibrated on every 8th real clip."""
    from tinykws.data.wav import fit_clip, read_wav
    from tinykws.features import mfcc

    clips = layout.scan(real_dir)[::8]
    feats = mfcc.mfcc(np.stack([fit_clip(read_wav(c.path)) for c in clips]))
    qat = fixture_qat("kws12", feats, seed=1)
    qat.eval()
    return qat, feats


def test_export_roundtrip_and_qat_agreement(calibrated_qat, tmp_path):
    qat, feats = calibrated_qat
    model = qat.to_int_model(CONFIG.labels.kws12_labels, 49, CONFIG.feature_hash())
    path = tmp_path / "m.npz"
    model.save(path)
    again = im.IntModel.load(path)
    logits = again.run_batch(feats)
    assert np.array_equal(logits, model.run_batch(feats))
    with torch.no_grad():
        fq = qat(dequantize_input(feats)).numpy()
    scale, zp = qat.logit_obs.qparams()
    deq = (logits.astype(np.float64) - zp) * scale
    # The QAT forward emulates the integer requantisation exactly, so the logits are equal, not just close.
    assert np.mean(fq.argmax(1) == logits.argmax(1)) >= 0.995
    assert np.max(np.abs(fq - deq)) <= 1e-4 * scale
    assert model.weight_bytes() <= 20 * 1024
    assert model.macs_per_hop() * 20 < model.macs()


def test_bad_model_files_are_one_line_errors(tmp_path):
    from tinykws.errors import TinyKwsError

    bad = tmp_path / "bad.npz"
    bad.write_bytes(b"not a zip")
    with pytest.raises(TinyKwsError, match="not a tinykws integer model"):
        im.IntModel.load(bad)
    with pytest.raises(TinyKwsError, match="no such model"):
        im.IntModel.load(tmp_path / "missing.npz")


TINY = dataclasses.replace(
    CONFIG,
    model=dataclasses.replace(CONFIG.model, channels=8, dilations=(1, 2)),
    train=dataclasses.replace(
        CONFIG.train,
        float_epochs=2,
        qat_epochs=2,
        observer_epochs=1,
        examples_per_epoch=256,
        batch_size=64,
        augment_copies=1,
        silence_clips=40,
    ),
)


def _train(tmp, data, interrupt_after=None, monkeypatch=None):
    run = Run("kws12", tmp, [data], cfg=TINY, bank_dir=tmp.parent / "bank", progress=False)
    run.prepare_data()
    if interrupt_after is not None:
        original = Run._checkpoint
        calls = []

        def checkpoint_then_stop(self, *args):
            original(self, *args)
            calls.append(1)
            if len(calls) == interrupt_after:
                raise KeyboardInterrupt

        monkeypatch.setattr(Run, "_checkpoint", checkpoint_then_stop)
        with pytest.raises(KeyboardInterrupt):
            run.train(resume=False, progress=False)
        monkeypatch.undo()
        result = run.train(resume=True, progress=False)
    else:
        result = run.train(resume=False, progress=False)
    return run, result


def test_tiny_training_writes_everything_and_resume_is_bit_identical(tiny_data, tmp_path, monkeypatch):
    from tinykws.errors import TinyKwsError

    run_a, res_a = _train(tmp_path / "a", tiny_data)
    report = run_a.finish(res_a)
    for name in ("checkpoint.pt", "model.npz", "training_curve.png", "report.json"):
        assert (tmp_path / "a" / name).stat().st_size > 0, name
    assert len(res_a["history"]) == 4 and res_a["history"][-1]["phase"] == "qat"
    assert report["val_real"]["int8"]["n"] > 0
    # Interrupted after epoch 3 (inside QAT), resumed: the same weights as the uninterrupted run.
    _, res_b = _train(tmp_path / "b", tiny_data, interrupt_after=3, monkeypatch=monkeypatch)
    sa, sb = res_a["qat_net"].state_dict(), res_b["qat_net"].state_dict()
    assert sa.keys() == sb.keys()
    for k in sa:
        assert torch.equal(sa[k], sb[k]), k
    ma = im.IntModel.load(tmp_path / "a" / "model.npz")
    run_b = Run("kws12", tmp_path / "b", [tiny_data], cfg=TINY, bank_dir=tmp_path / "bank", progress=False)
    run_b.prepare_data()
    run_b.finish(res_b)
    mb = im.IntModel.load(tmp_path / "b" / "model.npz")
    for la, lb in zip([*ma.layers, ma.classifier], [*mb.layers, mb.classifier], strict=True):
        assert np.array_equal(la.weight, lb.weight) and np.array_equal(la.multiplier, lb.multiplier)
    # A run seed of its own: recorded, and resuming under another one is refused (it would mix two runs).
    assert report["recipe"]["seed"] == TINY.train.seed
    other = Run("kws12", tmp_path / "a", [tiny_data], cfg=TINY, bank_dir=tmp_path / "bank", progress=False, seed=7)
    with pytest.raises(TinyKwsError, match=f"--seed {TINY.train.seed}, not 7"):
        other.load_checkpoint()


@pytest.mark.parametrize("task", ["kws12", "yes"])
def test_shipped_model_int8_agrees_with_its_qat_model(task, real_dir):
    """The shipped int8 model predicts the class of its fake-quant twin on >= 99.5 % of real clips (every
    other one of ../shared/data, 1,598), and as the QAT forward emulates the integer requantisation, the
    dequantised logits are the fake-quant logits up to float rounding."""
    from tinykws.data.wav import fit_clip, read_wav
    from tinykws.features import mfcc
    from tinykws.train.evaluate import MODELS_DIR, load_model

    model, _ = load_model(task, None)
    state = torch.load(MODELS_DIR / task / "qat.pt", weights_only=False)
    net = KwsNet(len(model.labels))
    net.load_state_dict(state["float_state"])
    qat = QatNet(net)
    qat.load_state_dict(state["qat_state"])
    qat.eval()
    qat.freeze_observers()
    clips = layout.scan(real_dir)[::2]
    feats = mfcc.mfcc(np.stack([fit_clip(read_wav(c.path)) for c in clips]))
    logits = model.run_batch(feats)
    with torch.no_grad():
        fq = torch.cat([qat(dequantize_input(feats[i : i + 512])) for i in range(0, len(feats), 512)]).numpy()
    agree = np.mean(fq.argmax(1) == logits.argmax(1))
    assert agree >= 0.995, agree
    scale, zp = qat.logit_obs.qparams()
    steps = np.abs(fq - (logits.astype(np.float64) - zp) * scale) / scale
    print(
        f"{task}: agreement {agree:.4f}, |fake-quant - int8| in int8 steps: median {np.median(steps):.2f}, "
        f"p99 {np.percentile(steps, 99):.2f}, max {steps.max():.2f}"
    )
    assert steps.max() <= 1e-3
    assert model.weight_bytes() <= 20 * 1024


def test_eval_and_predict_cli(real_dir, tmp_path, capsys):
    import json

    from tinykws.cli import main

    png = tmp_path / "cm.png"
    assert (
        main(["eval", "--task", "yes", "--data", str(real_dir), "--split", "validation", "--json", "--png", str(png)])
        == 0
    )
    m = json.loads(capsys.readouterr().out)
    assert {"accuracy", "n", "per_class", "frr", "far"} <= m.keys() and m["n"] > 400
    assert png.stat().st_size > 1000
    wavs = [real_dir / "yes" / "0bac8a71_nohash_0.wav", sorted((real_dir / "no").iterdir())[0]]
    feats = tmp_path / "f.npz"
    assert main(["features", *map(str, wavs), "-o", str(feats)]) == 0
    capsys.readouterr()
    assert main(["predict", "--task", "kws12", str(feats), "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert set(out["outputs"]) == {w.stem for w in wavs}
    from tinykws.train.evaluate import load_model

    model, _ = load_model("kws12", None)
    want = model.run(np.load(feats)[wavs[0].stem][:49])
    assert out["outputs"][wavs[0].stem]["logits"] == want.tolist()


def test_model_for_another_front_end_is_refused(tmp_path, capsys):
    from tinykws.cli import main
    from tinykws.train.evaluate import shipped_model_path

    model = im.IntModel.load(shipped_model_path("yes"))
    model.feature_hash = "000000000000"
    bad = tmp_path / "other.npz"
    model.save(bad)
    feats = tmp_path / "f.npz"
    np.savez(feats, x=np.zeros((49, 10), np.int8))
    assert main(["predict", "--task", "yes", "--model", str(bad), str(feats)]) != 0
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "trained on features 000000000000" in err[0]


def test_custom_keyword_trains_on_synthetic_positives_only(tiny_data, tmp_path, monkeypatch):
    from tinykws.data import kokoro, synth
    from tinykws.train import trainer

    # "left" has real clips in tiny_data: keyword mode must train on its synthetic takes only.
    words_dir = tmp_path / "synth-words"
    monkeypatch.setattr(trainer, "KEYWORD_SYNTH_DIR", words_dir)
    # The local voices' path alone (Kokoro's takes mixed in: tests/test_kokoro.py).
    monkeypatch.setattr(kokoro, "missing", lambda cfg=None: "kokoro-onnx not installed")
    real_build = synth.build_corpus
    monkeypatch.setattr(synth, "build_corpus", lambda **kw: real_build(**kw, limit_voices=4, jobs=2))
    assert trainer.keyword_roots("left", [tiny_data], progress=False) == [words_dir]
    assert len(list((words_dir / "left").glob("*.wav"))) == 4 * CONFIG.synth.keyword_takes_per_voice
    # Said at the custom words' slower speeds (people say a wake word slowly), not the corpus's.
    manifest = json.loads((words_dir / "manifest.json").read_text())
    assert manifest["settings"]["speed_range"] == list(CONFIG.synth.keyword_speed_range)
    assert CONFIG.synth.keyword_speed_range != CONFIG.synth.speed_range
    assert trainer.keyword_roots("left", [words_dir], progress=False) == []  # already there: no synthesis
    # The folder collects every word trained so far: another word's takes there are not this run's data.
    (words_dir / "zebra").mkdir()
    take = sorted((words_dir / "left").glob("*.wav"))[0]
    shutil.copy(take, words_dir / "zebra" / take.name)
    assert "zebra" in {c.word for c in layout.scan(words_dir)}

    run = Run(
        "left",
        tmp_path / "run",
        [tiny_data],
        cfg=TINY,
        bank_dir=tmp_path / "bank",
        progress=False,
        extra_roots=[words_dir],
        synthetic_positives=True,
    )
    run.prepare_data()
    positive = run.bank.words == "left"
    assert positive.any() and set(run.bank.sources[positive]) == {"synth"}
    assert "zebra" not in set(run.bank.words)
    assert (run.bank.sources == "real").any(), "real clips of the other words are negatives"
    assert run.data_description["positives"] == "synthetic only"
    # Real clips of the word are what it is measured on: they stay in validation.
    assert run.val["real"][1].sum() > 0
    report = run.finish(run.train(resume=False, progress=False))
    model = im.IntModel.load(tmp_path / "run" / "model.npz")
    assert model.labels == ("not_left", "left") and report["val_real"]["int8"]["n"] > 0
    from tinykws.train.detector import keyword_mask

    assert keyword_mask(model.labels).tolist() == [False, True]

    # The context part: the takes get windows after real people's words; no real "left" is in any window.
    from tinykws.data import context

    monkeypatch.setattr(context, "CONTEXT_DIR", tmp_path / "context")
    heard = []
    real_read = context._read
    monkeypatch.setattr(context, "_read", lambda c: heard.append(c) or real_read(c))
    ctx = Run("left", tmp_path / "run-ctx", [tiny_data], cfg=TINY, bank_dir=tmp_path / "bank", progress=False,
              extra_roots=[words_dir], synthetic_positives=True, transfer=("context",))  # fmt: skip
    ctx.prepare_data()
    assert heard and not [c for c in heard if c.word == "left" and c.source == "real"]
    assert {c.source for c in heard if c.word == "left"} == {"synth"}
    windows = ctx.bank.sources[len(run.bank) :]
    assert len(windows) == ctx.data_description["context_windows"] > 0
    positive = ctx.bank.words == "left"
    assert set(ctx.bank.sources[positive]) == {"synth"} and positive.sum() > run.bank.words.tolist().count("left")

    # Stream windows: the takes streamed among real people's other words; no real "left" in any stream.
    from tinykws.data import stream_windows as sw

    monkeypatch.setattr(sw, "WINDOWS_DIR", tmp_path / "windows")
    streamed = []
    real_cut = sw.stream_windows
    monkeypatch.setattr(sw, "stream_windows", lambda clips, *a, **k: streamed.extend(clips) or real_cut(clips, *a, **k))
    tc = dataclasses.replace(TINY.teacher, windows_negatives=4, windows_hours=0.01, windows_every_hops=256)
    win = Run("left", tmp_path / "run-win", [tiny_data], cfg=dataclasses.replace(TINY, teacher=tc),
              bank_dir=tmp_path / "bank", progress=False, extra_roots=[words_dir], synthetic_positives=True,
              transfer=("windows",))  # fmt: skip
    win.prepare_data()
    assert {c.source for c in streamed if c.word == "left"} == {"synth"}
    assert {c.source for c in streamed if c.word != "left"} == {"real"}
    added = win.bank.sources[len(run.bank) :]
    assert len(added) == win.data_description["stream_windows"] > tc.windows_negatives
    assert set(added) == {"synth"}, "kept: the bank drops real rows of the word, and these are mixtures"


def test_bank_key_follows_the_settings_of_a_synthetic_corpus(tmp_path):
    # A custom word's takes are remade under the same paths when their settings change (synth's remake_stale):
    # the augmented bank of the old audio must not be reused for them.
    from tinykws.train import dataset

    corpus = tmp_path / "synth-keywords"
    (corpus / "left").mkdir(parents=True)
    clips = [layout.Clip(corpus / "left" / f"a_nohash_{n}.wav", "left", "a", "synth", "train") for n in range(2)]
    real = [layout.Clip(tmp_path / "real" / "left" / "b_nohash_0.wav", "left", "b", "real", "train")]
    (corpus / "voices.json").write_text(json.dumps({"settings_hash": "aaa"}))
    before, real_before = dataset.bank_key(clips + real, CONFIG), dataset.bank_key(real, CONFIG)
    (corpus / "voices.json").write_text(json.dumps({"settings_hash": "bbb"}))
    assert dataset.bank_key(clips + real, CONFIG) != before
    assert dataset.bank_key(real, CONFIG) == real_before  # a bank of no clip of that corpus keeps its key
    (corpus / "voices.json").write_text(json.dumps({"settings_hash": "aaa"}))
    assert dataset.bank_key(clips + real, CONFIG) == before


def test_voices_go_with_a_custom_word_only(tmp_path, capsys):
    from tinykws.cli import main

    assert main(["train", "--task", "yes", "--voices", "local", "--out", str(tmp_path / "run")]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert err == ["tinykws: --voices chooses who says a custom word: it goes with --keyword"]
    assert not (tmp_path / "run").exists()
