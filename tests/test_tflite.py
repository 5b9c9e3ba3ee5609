"""The .tflite export: a valid int8 builtin-only flatbuffer that LiteRT's reference kernels and TensorFlow Lite
Micro run bit for bit like `IntModel.run`; `tinykws inspect` on both file kinds; one-line errors.

The runtimes are test dependencies: a missing one fails with the pip command, it is never skipped. The runtime
runners and the synthetic model are bench/tflite_equality.py's, so the bench and the tests prove the same thing;
the trained fixture models are tests/model_fixtures.py's (the bench checks the shipped models).
"""

import dataclasses
import importlib.util
import json
from pathlib import Path

import numpy as np
import pytest
from model_fixtures import fixture_model

from tinykws.cli import main
from tinykws.config import CONFIG
from tinykws.deploy import inspect as kws_inspect
from tinykws.deploy import tflite_schema as schema
from tinykws.deploy.tflite_export import check_exportable, tflite_bytes, write_tflite
from tinykws.errors import TinyKwsError
from tinykws.exact import first_mismatch

ROOT = Path(__file__).resolve().parent.parent
_spec = importlib.util.spec_from_file_location("tflite_equality", ROOT / "bench" / "tflite_equality.py")
bench = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(bench)

BUILTIN_OPS = {"CONV_2D", "DEPTHWISE_CONV_2D", "AVERAGE_POOL_2D", "RESHAPE"}


@pytest.fixture(scope="module")
def clips(real_dir):
    calib = bench.real_clips(64, offset=7)
    evaluate = bench.real_clips(20, offset=3)
    return bench.features_of(calib), [c.word for c in calib], bench.features_of(evaluate)


@pytest.fixture(scope="module")
def models(clips):
    calib, words, _ = clips
    return {
        "kws12": fixture_model("kws12", calib, words, train_steps=20),
        "yes": fixture_model("yes", calib, words, train_steps=20),
        "synthetic": bench.synthetic_model(12, calib),
    }


@pytest.fixture(scope="module")
def inputs(clips):
    _, _, real = clips
    rand = np.random.default_rng(5).integers(-128, 128, (20, *real.shape[1:])).astype(np.int8)
    return np.concatenate([real, rand])


def _aligned_buffers(data: bytes) -> list[int]:
    """File offsets of every non-empty buffer's bytes."""
    model = schema.tflite.Model.GetRootAs(data, 0)
    starts = []
    for i in range(model.BuffersLength()):
        buf = model.Buffers(i)
        if buf.DataLength():
            starts.append(buf._tab.Vector(buf._tab.Offset(4)))
    return starts


@pytest.mark.parametrize("task", ["kws12", "yes"])
def test_export_is_a_valid_int8_builtin_flatbuffer(models, task):
    model = models[task]
    data = tflite_bytes(model)
    assert data[4:8] == b"TFL3"
    g = schema.read_tflite(data)
    assert g.version == 3
    assert {op.op for op in g.ops} <= BUILTIN_OPS
    x, y = g.tensors[g.inputs[0]], g.tensors[g.outputs[0]]
    assert (x.dtype, x.shape) == (np.int8, (1, model.input_frames, 1, CONFIG.features.num_mfcc))
    assert (x.scales[0], x.zero_points[0]) == (np.float32(model.input_scale), model.input_zero_point)
    assert (y.dtype, y.shape) == (np.int8, (1, len(model.labels)))
    assert (y.scales[0], y.zero_points[0]) == (
        np.float32(model.classifier.output_scale),
        model.classifier.output_zero_point,
    )
    convs = [op for op in g.ops if op.op in ("CONV_2D", "DEPTHWISE_CONV_2D")]
    for op, layer in zip(convs, [*model.layers, model.classifier], strict=True):
        w, b = g.tensors[op.inputs[1]], g.tensors[op.inputs[2]]
        dw = op.op == "DEPTHWISE_CONV_2D"
        assert w.quantized_dimension == (3 if dw else 0) and len(w.scales) == layer.out_channels
        # The layouts TFLite wants: conv (Cout, KH, 1, Cin), depthwise (1, KH, 1, C); the same int8 values.
        if dw:
            assert w.shape == (1, layer.kernel, 1, layer.out_channels)
            assert np.array_equal(w.data[0, :, 0, :].T, layer.weight)
        else:
            assert w.shape == (layer.out_channels, layer.kernel, 1, layer.weight.shape[2])
            assert np.array_equal(w.data[:, :, 0, :], layer.weight)
        assert not w.zero_points.any() and not b.zero_points.any() and b.dtype == np.int32
        assert np.array_equal(b.data, layer.bias)
        assert np.allclose(b.scales, layer.input_scale * w.scales, rtol=1e-6)
        assert op.options["padding"] == "VALID" and op.options["stride"] == [1, 1]
        assert op.options["dilation"] == [layer.dilation, 1]
        assert op.options["activation"] == ("NONE" if layer is model.classifier else "RELU")
        if dw:
            assert op.options["depth_multiplier"] == 1
    pool = next(op for op in g.ops if op.op == "AVERAGE_POOL_2D")
    assert pool.options["filter"] == [g.tensors[pool.inputs[0]].shape[1], 1]
    assert g.labels() == list(model.labels)
    assert g.meta_text(schema.META_FEATURE_HASH) == CONFIG.feature_hash()
    assert g.meta_text(schema.META_VERSION)
    assert all(s % 16 == 0 for s in _aligned_buffers(data)), "buffers must honour the schema's force_align: 16"


@pytest.mark.parametrize("name", ["kws12", "yes", "synthetic"])
def test_litert_reference_kernels_and_tflm_match_int_model(models, inputs, name):
    model = models[name]
    data = tflite_bytes(model)
    want = model.run_batch(inputs)
    assert len({r.tobytes() for r in want}) > len(inputs) // 2, "outputs barely depend on the input: weak test"
    got = bench.run_litert(data, inputs, "BUILTIN_REF")
    assert np.array_equal(got, want), "LiteRT BUILTIN_REF: " + first_mismatch(got, want)
    got = bench.run_tflm(data, inputs)
    assert np.array_equal(got, want), "TFLM: " + first_mismatch(got, want)


def test_synthetic_model_exercises_zero_points_a_trained_model_does_not(models):
    m = models["synthetic"]
    assert m.input_zero_point != 0
    relu_above_min = [la for la in m.layers if la.act_min == la.output_zero_point > -128]
    assert len(relu_above_min) >= len(m.layers) // 2


def test_tflm_arena_is_reported(models, inputs):
    arena = bench.tflm_arena(tflite_bytes(models["kws12"]), inputs)
    assert arena["total"] == arena["head"] + arena["tail"] and arena["head"] > 0


def test_export_refuses_what_a_runtime_would_compute_differently(models):
    m = models["kws12"]
    check_exportable(m)
    layer = m.layers[1]
    stale = dataclasses.replace(
        m,
        layers=[
            m.layers[0],
            dataclasses.replace(layer, weight_scales=layer.weight_scales * (1 + 1e-12)),
            *m.layers[2:],
        ],
    )
    with pytest.raises(TinyKwsError, match="not float32"):
        tflite_bytes(stale)
    off = layer.multiplier.copy()
    off[3] += 1
    with pytest.raises(TinyKwsError, match="channel 3 multiplier"):
        tflite_bytes(
            dataclasses.replace(m, layers=[m.layers[0], dataclasses.replace(layer, multiplier=off), *m.layers[2:]])
        )
    with pytest.raises(TinyKwsError, match="clamp"):
        tflite_bytes(dataclasses.replace(m, classifier=dataclasses.replace(m.classifier, act_min=-100)))


def test_quantize_multiplier_rounds_ties_like_tflite():
    # 0.5 + 2^-32 = (2^30 + 0.5) / 2^31: TfLiteRound (std::round) takes the tie up, Python's round() to even.
    assert schema.tflite_quantize_multiplier(0.5 + 2.0**-32) == (2**30 + 1, 0)
    # Values worked out by hand: 0.3 = 0.6 * 2^-1, 0.6 * 2^31 = 1288490188.8 -> 1288490189.
    assert schema.tflite_quantize_multiplier(0.3) == (1288490189, -1)
    assert schema.tflite_quantize_multiplier(1.0) == (2**30, 1)


def test_write_is_atomic_and_inspect_agrees_on_both_kinds(models, tmp_path, capsys):
    model = models["kws12"]
    npz, tfl = tmp_path / "m.npz", tmp_path / "m.tflite"
    model.save(npz)
    write_tflite(model, tfl)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["m.npz", "m.tflite"]
    assert tfl.read_bytes() == tflite_bytes(model)
    a, b = kws_inspect.summarize(npz), kws_inspect.summarize(tfl)
    assert a["tflite_export"] == "ok"
    b_layers = [la for la in b["layers"] if la["op"] != "RESHAPE"]
    keys = (
        "op",
        "kernel",
        "in_shape",
        "out_shape",
        "weight_bytes",
        "bias_bytes",
        "macs",
        "clamp",
        "multiplier",
        "shift",
    )
    for la, lb in zip(a["layers"], b_layers, strict=True):
        assert {k: la.get(k) for k in keys} == {k: lb.get(k) for k in keys}, la["name"]
    assert a["totals"] == b["totals"] and a["totals"]["macs"] == model.macs()
    assert a["totals"]["weight_bytes"] + a["totals"]["bias_bytes"] == model.weight_bytes()
    assert a["labels"] == b["labels"] == list(model.labels) and a["feature_hash"] == b["feature_hash"]
    for path in (npz, tfl):
        assert main(["inspect", str(path)]) == 0
        assert "MACs per inference" in capsys.readouterr().out
        assert main(["inspect", str(path), "--json"]) == 0
        assert json.loads(capsys.readouterr().out)["totals"]["macs"] == model.macs()


def test_corrupt_missing_and_foreign_files_are_one_line_errors(models, tmp_path, capsys):
    data = tflite_bytes(models["yes"])
    cases = {
        "truncated.tflite": (data[: len(data) // 2], "corrupt TFLite"),
        "garbage.tflite": (data[:8] + bytes(range(256)) * 4, "corrupt TFLite"),
        "empty.tflite": (b"", "neither"),
        "notes.npz": (b"hello, not a model", "neither"),
        "bad.npz": (b"PK\x03\x04 truncated zip", "not a tinykws integer model"),
    }
    for name, (blob, _) in cases.items():
        (tmp_path / name).write_bytes(blob)
    cases["missing.tflite"] = (None, "no such file")
    for name, (_, message) in cases.items():
        assert main(["inspect", str(tmp_path / name)]) != 0, name
        err = capsys.readouterr().err.strip().splitlines()
        assert len(err) == 1 and err[0].startswith("tinykws: ") and message in err[0], (name, err)
    with pytest.raises(TinyKwsError, match="no TFL3 identifier"):
        schema.read_tflite(b"\x00" * 64, "x")


def test_the_documented_bench_command_checks_the_shipped_models():
    """README: `python bench/tflite_equality.py` proves the shipped models of both tasks equal in LiteRT's
    reference kernels and TFLM (there on all clips; here on 20, which runs every step of the same command)."""
    import subprocess
    import sys

    from tinykws.train.evaluate import shipped_model_path

    cmd = [sys.executable, str(ROOT / "bench" / "tflite_equality.py"), "--n", "20", "--random", "5"]
    r = subprocess.run(cmd, capture_output=True, text=True, timeout=600)
    assert r.returncode == 0, r.stdout[-3000:] + r.stderr[-2000:]
    checked = [line.split(":")[0][3:] for line in r.stdout.splitlines() if line.startswith("== ")]
    assert checked[:2] == [str(shipped_model_path("kws12")), str(shipped_model_path("yes"))], checked
    assert r.stdout.rstrip().endswith("reference kernels and TFLM: bit-exact on 4 models"), r.stdout[-500:]
