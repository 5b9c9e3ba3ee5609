"""The C keyword engine (firmware/: kernels, streaming network, detector, engine) against its Python
definition (train/int_model.py, train/detector.py, train/engine.py), exact equality.

A deterministic test model (tests/model_fixtures.py, ~1 s) stands in for models/, which the tests never
need. One session fixture builds everything once. Checked: the C network golden test (every layer, streaming
and whole window) on the host, under ASan + UBSan and on a Cortex-M4 under QEMU; the ctypes engine against
PythonEngine on real and random audio with any chunking (frames, logits, smoothed sums, detections); the
streaming logits against IntModel.run on every window; requantisation cases worked out by hand; the
detector on hand-made logit sequences; the M4 image under QEMU; `tinykws detect` with both engines; bad
input; no allocator in the engine; the image within its flash / RAM targets.
"""

import ctypes
import json
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from conftest import ALLOCATORS, assert_all_passed, firmware_make, undefined_symbols
from model_fixtures import build_test_model

from tinykws.cli import main
from tinykws.config import CONFIG, REPO_ROOT, DetectorConfig
from tinykws.data import layout
from tinykws.data.wav import read_wav, write_wav
from tinykws.deploy import c_export, golden_network
from tinykws.exact import first_mismatch
from tinykws.firmware import board
from tinykws.firmware.engine import CEngine, load_library
from tinykws.train.detector import Detector, hop_scores
from tinykws.train.engine import PythonEngine
from tinykws.train.evaluate import load_model
from tinykws.train.int_model import IntModel, multiply_by_quantized_multiplier

FC = CONFIG.features
FIRMWARE = REPO_ROOT / "firmware"
# The test model's detector: lower than the shipped threshold so that its meaningless logits still fire now
# and then (the equality checks below must not be vacuous); also exercises a model's own detector constants.
TEST_DETECTOR = {"threshold": 20, "refractory_hops": 20}


def _tools(board_name: str, extra: tuple[str, ...] = ()) -> None:
    missing = [t for t in (*board.TOOLS[board_name], *extra) if shutil.which(t) is None]
    if missing:
        pytest.fail(f"{', '.join(missing)} not found: run `make install`")


# --- fixtures ---------------------------------------------------------------------------------------------------


@pytest.fixture(scope="session")
def model_file(tmp_path_factory) -> Path:
    model = build_test_model("kws12")
    model.meta["detector"] = dict(TEST_DETECTOR)
    path = tmp_path_factory.mktemp("model") / "kws12.npz"
    model.save(path)
    return path


@pytest.fixture(scope="session")
def model(model_file) -> IntModel:
    return IntModel.load(model_file)


@pytest.fixture(scope="session")
def lib(model, model_file) -> ctypes.CDLL:
    _tools("host")
    return load_library(model, str(model_file))


@pytest.fixture(scope="session")
def m4_out(model, model_file) -> Path:
    _tools("mps2-an386")
    return board.build(model, "mps2-an386", str(model_file))


@pytest.fixture(scope="session")
def stream(real_dir) -> np.ndarray:
    """Ten real clips of different words, back to back (~10 s)."""
    clips = sorted(real_dir.rglob("*.wav"))
    rng = np.random.default_rng(0)
    return np.concatenate([read_wav(clips[i]) for i in rng.choice(len(clips), 10, replace=False)])


def _chunks(n: int, rng: np.random.Generator, high: int = 2 * FC.window_samples) -> list[slice]:
    out, pos = [], 0
    while pos < n:
        size = int(rng.integers(1, high))
        out.append(slice(pos, pos + size))
        pos += size
    return out


def _run_both(model: IntModel, lib: ctypes.CDLL, audio: np.ndarray, chunks: list[slice]) -> tuple:
    py, c = PythonEngine(model, record=True), CEngine(model, record=True, lib=lib)
    py_dets = [d for s in chunks for d in py.process(audio[s])]
    c_dets = [d for s in chunks for d in c.process(audio[s])]
    return py, c, py_dets, c_dets


def _assert_same_hops(py: PythonEngine, c: CEngine) -> None:
    assert [h.hop for h in c.hops] == [h.hop for h in py.hops] == list(range(len(py.hops)))
    for a, b in zip(c.hops, py.hops, strict=True):
        assert np.array_equal(a.features, b.features), f"hop {a.hop}: " + first_mismatch(a.features, b.features)
        assert (a.logits is None) == (b.logits is None), f"hop {a.hop}"
        if a.logits is not None:
            assert np.array_equal(a.logits, b.logits), f"hop {a.hop} logits: " + first_mismatch(a.logits, b.logits)
        assert (a.sums is None) == (b.sums is None), f"hop {a.hop}"
        if a.sums is not None:
            assert np.array_equal(a.sums, b.sums), f"hop {a.hop} sums: " + first_mismatch(a.sums, b.sums)


# --- the C network against the golden vectors ------------------------------------------------------------------


def test_golden_vectors_are_what_int_model_computes():
    d, manifest, model = golden_network.load_golden()
    for name, case in manifest["cases"].items():
        outs = golden_network.layer_outputs(model, golden_network.load_array(d, case["input"]))
        for i, o in enumerate(outs[: len(model.layers)]):
            want = golden_network.load_array(d, case[f"layer{i}"])
            assert np.array_equal(o, want), f"{name} layer {i}: " + first_mismatch(o, want)
        assert np.array_equal(outs[-1][0], golden_network.load_array(d, case["logits"])), name
    stream = golden_network.load_array(d, manifest["stream"]["input"])
    want = golden_network.load_array(d, manifest["stream"]["logits"])
    assert np.array_equal(golden_network.stream_logits(model, stream), want)
    # The golden model takes every requantisation path: left shift, shift 0, right shifts.
    assert {1, 0, -1} <= set(model.layers[2].shift[:3].tolist()) and model.classifier.shift[0] == 1


def test_c_network_golden_on_host():
    _tools("host")
    assert_all_passed(firmware_make("BOARD=host", "net-test"))


def test_c_network_golden_under_asan_and_ubsan():
    _tools("host")
    assert_all_passed(firmware_make("asan-net-test"))


@pytest.mark.parametrize("variant", ["", "portable"])
def test_c_network_golden_on_cortex_m4_both_kernel_paths(variant):
    _tools("mps2-an386")
    out = firmware_make("BOARD=mps2-an386", f"VARIANT={variant}", "net-test", timeout=600)
    assert ("portable kernels" if variant else "SMLAD (DSP) kernels") in out, out[-2000:]
    assert_all_passed(out)


# --- kernels: requantisation worked out by hand ------------------------------------------------------------------

HALF = 1 << 30  # multiplier 2^30 with shift 0 is x 0.5; with shift -1, x 0.25
REQUANTIZE_CASES = [
    # (acc, multiplier, shift, expected, why)
    (100, HALF, 0, 50, "100 x 0.5"),
    (101, HALF, 0, 51, "50.5: SRDHM ties go up"),
    (-101, HALF, 0, -50, "-50.5: SRDHM ties go up (toward +inf), not away from zero"),
    (-103, HALF, 0, -51, "-51.5 -> -51"),
    (10, HALF, -1, 3, "2.5: SRDHM gives 5 exactly, RDBPOT 5 / 2 = 2.5 ties away from zero"),
    (-10, HALF, -1, -3, "-2.5: RDBPOT ties away from zero"),
    (12, HALF, -1, 3, "3 exactly"),
    (1, HALF, -1, 1, "0.25: double rounding, SRDHM(1) = 1 (0.5 up), then 1 / 2 = 0.5 -> 1"),
    (-1, HALF, -1, 0, "-0.25: SRDHM(-1) = 0 (-0.5 up)"),
    (-6, HALF, -2, -1, "-0.75: SRDHM -3, then -3 / 4 = -0.75 -> -1"),
    (3, HALF, 1, 3, "left shift first: 6 x 0.5"),
    (0, HALF, -5, 0, "zero"),
    (1000, 0, -3, 0, "multiplier 0"),
]


def test_requantize_hand_cases(lib):
    for acc, m, shift, want, why in REQUANTIZE_CASES:
        ref = int(multiply_by_quantized_multiplier(np.array([acc]), np.array([m]), np.array([shift]))[0])
        assert ref == want, f"int_model disagrees with the hand value: {why}"
        assert lib.kws_requantize(acc, m, shift) == want, why
        assert lib.kws_requantize_bounded(acc, m, shift) == want, why
    # SRDHM's one saturating case, and extremes where int_model does not overflow.
    assert lib.kws_requantize(-(2**31), -(2**31), 0) == 2**31 - 1
    for acc, m, shift in [(2**31 - 1, 2**31 - 1, 0), (-(2**31), 2**31 - 1, -31), (-(2**31) + 1, 2**30, -1)]:
        ref = int(multiply_by_quantized_multiplier(np.array([acc]), np.array([m]), np.array([shift]))[0])
        assert lib.kws_requantize(acc, m, shift) == ref, (acc, m, shift)


def test_requantize_bounded_equals_int_model_within_the_exporter_bounds(lib):
    rng = np.random.default_rng(3)
    shift = rng.integers(-31, 4, 20000)
    acc = rng.integers(-(2**29) + 1, 2**29, 20000) >> np.maximum(shift, 0)
    acc[::7] = rng.integers(-300, 300, len(acc[::7]))  # small values: many exact ties
    m = rng.integers(0, 2**31, 20000)
    want = multiply_by_quantized_multiplier(acc, m, shift)
    got = np.array([lib.kws_requantize_bounded(int(a), int(b), int(s)) for a, b, s in zip(acc, m, shift, strict=True)])
    assert np.array_equal(got, want), first_mismatch(got, want)


def test_conv_weights_are_stored_in_kernel_order():
    # 5 output channels of 1 tap x 4 inputs: one block of 4 interleaved rows in pair order, then row 4 plainly.
    w = np.arange(20, dtype=np.int8).reshape(5, 1, 4)
    layer = IntModel.load(golden_network.golden_dir() / "model.npz").layers[2]
    layer = type(layer)(**{**layer.__dict__, "weight": w, "bias": np.zeros(5, np.int32)})
    got = c_export.kernel_order(layer).tolist()
    assert got == [0, 2, 1, 3, 4, 6, 5, 7, 8, 10, 9, 11, 12, 14, 13, 15, 16, 18, 17, 19]
    # 3 inputs x 2 taps = 6 values, zero-padded to 8 per row.
    w = np.arange(6, dtype=np.int8).reshape(1, 2, 3)
    layer = type(layer)(**{**layer.__dict__, "weight": w, "bias": np.zeros(1, np.int32)})
    assert c_export.kernel_order(layer).tolist() == [0, 2, 1, 3, 4, 0, 5, 0]


# --- detector: hand-made logit sequences ------------------------------------------------------------------------

KWS12 = CONFIG.labels.kws12_labels
YES, NO = KWS12.index("yes"), KWS12.index("no")


def _logits(**values: int) -> np.ndarray:
    x = np.zeros(len(KWS12), np.int8)
    for name, v in values.items():
        x[KWS12.index({"silence": "_silence_", "unknown": "_unknown_"}.get(name, name))] = v
    return x


def _fired(det: Detector, seq: list[np.ndarray]) -> list[tuple[int, str, int]]:
    out = [det.push(h, x) for h, x in enumerate(seq)]
    return [(d.hop, KWS12[d.keyword], d.score_sum) for d in out if d is not None]


def test_hop_scores_are_margins_over_the_best_other_class():
    x = np.array([[5, 9, 2], [7, 7, 1], [-128, 127, 127]], np.int8)
    assert hop_scores(x).tolist() == [[-4, 4, -7], [0, 0, -6], [-255, 0, 0]]


def test_detector_threshold_smoothing_and_refractory_by_hand():
    dc = DetectorConfig(smoothing_hops=3, threshold=5, refractory_hops=2)
    # yes leads by 5 every hop: sums 5, 10, 15 -> the window is full at hop 2 and 15 >= 5 * 3 fires.
    assert _fired(Detector(KWS12, dc), [_logits(yes=5)] * 3) == [(2, "yes", 15)]
    # One step short of the threshold never fires.
    assert _fired(Detector(KWS12, dc), [_logits(yes=5), _logits(yes=5), _logits(yes=4)] * 3) == []
    # Smoothing: a single hop of 15 after two of 0 reaches 15 exactly.
    assert _fired(Detector(KWS12, dc), [_logits(), _logits(), _logits(yes=15)]) == [(2, "yes", 15)]
    # Refractory: fires at 2, hops 3 and 4 cannot, 5 fires again, then 8, ...
    assert [h for h, _, _ in _fired(Detector(KWS12, dc), [_logits(yes=9)] * 10)] == [2, 5, 8]
    # The largest keyword wins: no leads yes at the end of the window.
    seq = [_logits(yes=40), _logits(no=50), _logits(no=50)]
    assert _fired(Detector(KWS12, dc), seq) == [(2, "no", 60)]


def test_kws12_never_fires_silence_or_unknown():
    dc = DetectorConfig(smoothing_hops=2, threshold=1, refractory_hops=0)
    assert _fired(Detector(KWS12, dc), [_logits(silence=100)] * 6 + [_logits(unknown=100)] * 6) == []
    # The yes task: only "yes" fires, never "not_yes".
    yes_labels = CONFIG.labels.yes_labels
    det = Detector(yes_labels, dc)
    out = [det.push(h, np.array(x, np.int8)) for h, x in enumerate([[50, 0]] * 4 + [[0, 50]] * 2)]
    assert [(d.hop, yes_labels[d.keyword]) for d in out if d] == [(5, "yes")]


def test_c_detector_on_hand_made_sequences(lib, model):
    # The C detector has the test model's constants compiled in: smoothing 5, threshold 20, refractory 20.
    dc = DetectorConfig(smoothing_hops=CONFIG.detector.smoothing_hops, **TEST_DETECTOR)
    keywords = lib.kws_engine_model().contents.keywords
    sequences = {
        "exactly the threshold: fires at hop 4, then every 21 hops": [_logits(yes=20)] * 50,
        "one below: the 19 spoils hops 4..8": [_logits(yes=20)] * 4 + [_logits(yes=19)] + [_logits(yes=20)] * 5,
        "silence and unknown": [_logits(silence=120)] * 10 + [_logits(unknown=120)] * 10,
        "one loud hop after quiet ones": [_logits()] * 4 + [_logits(no=100)] + [_logits()] * 3,
        "two keywords": [_logits(yes=60, no=30)] * 3 + [_logits(no=127, yes=-128)] * 4,
    }
    want_by_hand = {
        "exactly the threshold: fires at hop 4, then every 21 hops": [4, 25, 46],
        "one below: the 19 spoils hops 4..8": [9],
        "silence and unknown": [],
        "one loud hop after quiet ones": [4],
        "two keywords": [4],
    }
    for name, seq in sequences.items():
        state = ctypes.create_string_buffer(lib.kws_detector_state_size())
        lib.kws_detector_init(state, keywords)
        py = Detector(KWS12, dc)
        got, want = [], []
        for hop, x in enumerate(seq):
            s = ctypes.c_int32(0)
            x = np.ascontiguousarray(x)
            k = lib.kws_detector_push(state, x.ctypes.data_as(ctypes.POINTER(ctypes.c_int8)), ctypes.byref(s))
            if k >= 0:
                got.append((hop, k, s.value))
            d = py.push(hop, x)
            if d is not None:
                want.append((d.hop, d.keyword, d.score_sum))
        assert got == want, name
        assert [h for h, _, _ in got] == want_by_hand[name], name


# --- the engine: C through ctypes against PythonEngine ---------------------------------------------------------


def test_engine_matches_python_on_real_speech_any_chunking(model, lib, stream):
    py, c, py_dets, c_dets = _run_both(model, lib, stream, _chunks(len(stream), np.random.default_rng(1)))
    _assert_same_hops(py, c)
    assert c_dets == py_dets
    assert len(py_dets) >= 3 and {d.keyword for d in py_dets} <= {KWS12.index(k) for k in CONFIG.labels.keywords}


@pytest.mark.parametrize("chunk", [1, FC.hop_samples // 2, FC.hop_samples + 1, FC.window_samples, 16000])
def test_engine_matches_python_on_random_audio_fixed_chunks(model, lib, chunk):
    rng = np.random.default_rng(chunk)
    n = 3 * CONFIG.audio.sample_rate // (4 if chunk == 1 else 1)
    audio = (rng.standard_normal(n) * rng.choice([30, 3000, 20000])).clip(-32768, 32767).astype(np.int16)
    py, c, py_dets, c_dets = _run_both(model, lib, audio, [slice(i, i + chunk) for i in range(0, n, chunk)])
    _assert_same_hops(py, c)
    assert c_dets == py_dets


def test_streaming_logits_equal_int_model_on_every_window(model, lib, stream):
    c = CEngine(model, record=True, lib=lib)
    c.process(stream)
    frames = np.stack([h.features for h in c.hops])
    n = model.input_frames
    windows = np.lib.stride_tricks.sliding_window_view(frames, n, axis=0).transpose(0, 2, 1)
    want = model.run_batch(np.ascontiguousarray(windows))
    got = np.stack([h.logits for h in c.hops[n - 1 :]])
    assert all(h.logits is None for h in c.hops[: n - 1])
    assert np.array_equal(got, want), first_mismatch(got, want)


def test_reset_and_short_input(model, lib, stream):
    c = CEngine(model, record=True, lib=lib)
    c.process(stream[: FC.window_samples - 1])
    assert c.hops == []  # fewer samples than a window: no frame, no hop
    c.process(stream[FC.window_samples - 1 : FC.window_samples])
    assert len(c.hops) == 1 and c.hops[0].logits is None
    first = CEngine(model, record=True, lib=lib)
    first_dets = first.process(stream)
    c.process(stream[5000:20000])
    c.reset()  # kws_engine_init again: back to the start
    assert c.process(stream) == first_dets
    assert np.array_equal(np.stack([h.features for h in c.hops]), np.stack([h.features for h in first.hops]))


def test_yes_task_model_c_equals_python(stream):
    _tools("host")
    yes = build_test_model("yes", seed=1)
    yes.meta["detector"] = {"threshold": 5, "refractory_hops": 10}
    py, c, py_dets, c_dets = _run_both(yes, None, stream, _chunks(len(stream), np.random.default_rng(2), 4000))
    _assert_same_hops(py, c)
    assert c_dets == py_dets and all(d.keyword == 1 for d in c_dets)


def test_shipped_kws12_model_c_equals_python(real_dir):
    """models/kws12 itself through the host C engine (built for it) and PythonEngine: the same hops, logits,
    sums and detections on two validation clips of every keyword, back to back, in random chunks. Nothing
    here depends on the shipped weights, so a retrained model of the same task keeps passing."""
    _tools("host")
    shipped, path = load_model("kws12", None)
    assert shipped.labels == KWS12
    clips = [c for c in layout.scan(real_dir) if c.split == "validation" and c.word in CONFIG.labels.keywords]
    picked = [c for word in CONFIG.labels.keywords for c in [c for c in clips if c.word == word][:2]]
    audio = np.concatenate([read_wav(c.path) for c in picked])
    lib = load_library(shipped, str(path))
    py, c, py_dets, c_dets = _run_both(shipped, lib, audio, _chunks(len(audio), np.random.default_rng(3), 4000))
    _assert_same_hops(py, c)
    assert c_dets == py_dets
    # Not vacuous: a trained model's outputs follow the words, and some of twenty keywords are detected.
    assert len({int(np.argmax(h.logits)) for h in py.hops if h.logits is not None}) >= 3
    assert py_dets and {d.keyword for d in py_dets} <= {KWS12.index(k) for k in CONFIG.labels.keywords}


# --- builds: no allocator, sanitizers, the Cortex-M4 image under QEMU -----------------------------------------------


def test_engine_uses_no_allocator_and_no_mutable_globals(model, lib, m4_out):
    builds = (("nm", board.model_dir(model) / "host", "host"), ("arm-none-eabi-nm", m4_out, "mps2-an386"))
    for nm, out, shared in builds:
        objects = sorted(out.glob("engine/*.o")) + sorted((REPO_ROOT / "build/firmware" / shared).glob("nn/*.o"))
        assert len(objects) == 5, objects
        used = undefined_symbols(nm, objects)
        assert not used & ALLOCATORS, sorted(used & ALLOCATORS)
        allowed = {"memcpy", "memset", "memmove", "_GLOBAL_OFFSET_TABLE_"}
        assert used <= allowed | {s for s in used if s.startswith("kws_")}, sorted(used)
        if shared == "host":
            continue  # -fPIC puts const tables holding pointers in .data.rel.ro, which nm calls "D"
        # No mutable globals either: every symbol is code or const data (nm: T/t, R/r).
        r = subprocess.run([nm, *map(str, objects)], capture_output=True, text=True, check=True)
        kinds = {line.split()[-2]: line for line in r.stdout.splitlines() if len(line.split()) == 3}
        assert not {k for k in kinds if k in "BbDdCcGgSs"}, [kinds[k] for k in kinds if k in "BbDdCcGgSs"]
    r = subprocess.run(["arm-none-eabi-nm", str(board.image(m4_out, "mps2-an386"))], capture_output=True, text=True)
    assert not {line.split()[-1] for line in r.stdout.splitlines()} & ALLOCATORS


def test_engine_under_asan_and_ubsan_matches_python(model, model_file, stream):
    _tools("host")
    out = board.build(model, "host", str(model_file), variant="asan")
    run = board.run_app(out, "host", stream, len(model.labels), scores=True)
    py = PythonEngine(model, record=True)
    assert run.detections == py.process(stream)
    want = [(h.hop, h.logits.tolist()) for h in py.hops if h.logits is not None]
    assert [(h, lg.tolist()) for h, lg, _ in run.hops] == want


def test_cortex_m4_under_qemu_matches_python(model, m4_out, real_dir):
    clips = [real_dir / "yes" / "0bac8a71_nohash_0.wav", sorted((real_dir / "on").glob("*.wav"))[0]]
    audio = np.concatenate([read_wav(p) for p in clips])
    run = board.run_app(m4_out, "mps2-an386", audio, len(model.labels), scores=True)
    py = PythonEngine(model, record=True)
    assert run.detections == py.process(audio)
    def as_lists(hop: int, logits: np.ndarray, sums: np.ndarray | None) -> tuple:
        return hop, logits.tolist(), None if sums is None else sums.tolist()

    want = [as_lists(h.hop, h.logits, h.sums) for h in py.hops if h.logits is not None]
    assert [as_lists(*h) for h in run.hops] == want
    assert run.num_hops == len(py.hops) and run.stack_bytes and run.stack_bytes < 8192


def test_m4_image_fits_its_flash_and_ram_targets(model_file, capsys):
    _tools("mps2-an386")
    assert main(["firmware", "size", "--task", "kws12", "--model", str(model_file), "--json"]) == 0
    rep = json.loads(capsys.readouterr().out)
    assert rep["flash_bytes"] <= rep["targets"]["flash_bytes"] and rep["ram_bytes"] <= rep["targets"]["ram_bytes"]
    assert {"frontend", "kernels", "network", "detector", "engine", "model"} <= set(rep["components"])
    assert sum(c["flash"] for c in rep["components"].values()) == rep["flash_bytes"]
    st = rep["stack_bytes"]
    assert 0 < st["measured_high_water"] <= st["call_graph_main"] + 256


# --- command line ---------------------------------------------------------------------------------------------------


def test_detect_cli_gives_identical_lines_with_both_engines(model_file, stream, tmp_path, capsys):
    wav = tmp_path / "stream.wav"
    write_wav(wav, stream)
    outputs = {}
    for engine in ("python", "c"):
        assert main(["detect", "--task", "kws12", "--model", str(model_file), "--engine", engine, str(wav), "--jsonl",
                     "--scores", "--chunk", "777"]) == 0  # fmt: skip
        outputs[engine] = capsys.readouterr().out
    assert outputs["c"] == outputs["python"]
    lines = [json.loads(line) for line in outputs["c"].splitlines()]
    dets = [x for x in lines if "keyword" in x]
    assert dets and all(set(d) == {"t", "hop", "keyword", "score"} for d in dets)
    d = dets[0]
    assert d["t"] == pytest.approx((d["hop"] * FC.hop_samples + FC.window_samples) / CONFIG.audio.sample_rate)
    assert d["score"] * CONFIG.detector.smoothing_hops >= TEST_DETECTOR["threshold"] * CONFIG.detector.smoothing_hops


def test_firmware_run_cli_prints_the_detect_lines(model_file, m4_out, real_dir, tmp_path, capsys):
    wav = tmp_path / "two.wav"
    write_wav(wav, np.concatenate([read_wav(p) for p in sorted((real_dir / "on").glob("*.wav"))[:3]]))
    assert main(["detect", "--task", "kws12", "--model", str(model_file), str(wav), "--jsonl"]) == 0
    want = capsys.readouterr().out
    assert main(["firmware", "run", "--task", "kws12", "--model", str(model_file), str(wav), "--jsonl"]) == 0
    assert capsys.readouterr().out == want and want


def _one_line_error(argv: list[str], capsys) -> str:
    assert main(argv) != 0
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("tinykws: "), err
    return err[0]


def test_bad_input_is_one_line(model, model_file, tmp_path, capsys):
    stereo = tmp_path / "stereo.wav"
    rate = CONFIG.audio.sample_rate
    pcm = np.zeros((rate, 2), "<i2").tobytes()
    stereo.write_bytes(b"RIFF" + (36 + len(pcm)).to_bytes(4, "little") + b"WAVEfmt " + (16).to_bytes(4, "little")
                       + (1).to_bytes(2, "little") + (2).to_bytes(2, "little") + rate.to_bytes(4, "little")
                       + (4 * rate).to_bytes(4, "little") + (4).to_bytes(2, "little") + (16).to_bytes(2, "little")
                       + b"data" + len(pcm).to_bytes(4, "little") + pcm)  # fmt: skip
    base = ["--task", "kws12", "--model", str(model_file)]
    for engine in ("python", "c"):
        assert "--convert" in _one_line_error(["detect", *base, "--engine", engine, str(stereo)], capsys)
    assert main(["detect", *base, "--engine", "c", "--convert", str(stereo)]) == 0
    capsys.readouterr()
    (tmp_path / "text.wav").write_text("not audio")
    assert "WAV" in _one_line_error(["detect", *base, str(tmp_path / "text.wav")], capsys)
    other = IntModel.load(model_file)
    other.feature_hash = "0123456789ab"
    other.save(tmp_path / "other.npz")
    bad = ["--task", "kws12", "--model", str(tmp_path / "other.npz")]
    for argv in (["detect", *bad, "--engine", "c", str(stereo)], ["export", *bad, "--c-dir", str(tmp_path / "c")],
                 ["firmware", "build", *bad]):  # fmt: skip
        assert "0123456789ab" in _one_line_error(argv, capsys)
    assert "nothing to export" in _one_line_error(["export", *base], capsys)


def test_c_build_refuses_a_model_exported_for_another_front_end(model, tmp_path):
    _tools("host")
    other = IntModel.load(golden_network.golden_dir() / "model.npz")
    other.feature_hash = "0123456789ab"
    c_export.write_c_sources(other, tmp_path)
    gen = REPO_ROOT / "build/firmware/generated"
    firmware_make("BOARD=host", "lib")  # makes sure kws_config.h is generated
    r = subprocess.run(["gcc", "-std=c99", "-fsyntax-only", f"-I{tmp_path}", f"-I{FIRMWARE / 'include'}", f"-I{gen}",
                        str(FIRMWARE / "runtime/kws_engine.c")], capture_output=True, text=True)  # fmt: skip
    assert r.returncode != 0 and "another front end" in r.stderr


def test_export_cli_writes_self_describing_c_sources(model, model_file, tmp_path, capsys):
    assert main(["export", "--task", "kws12", "--model", str(model_file), "--c-dir", str(tmp_path)]) == 0
    header = (tmp_path / "kws_model.h").read_text()
    source = (tmp_path / "kws_model.c").read_text()
    assert "Generated by tinykws.deploy.c_export" in header and str(model_file) in header
    assert f'KWS_MODEL_FEATURE_HASH       "{CONFIG.feature_hash()}"' in header
    assert f"KWS_DETECTOR_THRESHOLD       {TEST_DETECTOR['threshold']}" in header
    assert "extern const int16_t kws_model_l0_weights" in header and "KWS_MODEL_ALIGN const int16_t" in source
    assert all(f'"{label}"' in source for label in model.labels)
    assert capsys.readouterr().out.split() == [str(tmp_path / "kws_model.h"), str(tmp_path / "kws_model.c")]


def test_firmware_build_cli_prints_what_it_built(model_file, capsys):
    _tools("host")
    assert main(["firmware", "build", "--board", "host", "--task", "kws12", "--model", str(model_file)]) == 0
    products = [Path(p) for p in capsys.readouterr().out.split()]
    assert [p.name for p in products] == ["kws_app", "libkws_engine.so"] and all(p.exists() for p in products)


def test_export_tflite_without_its_writer_is_one_line(model_file, tmp_path, monkeypatch, capsys):
    monkeypatch.setitem(sys.modules, "tinykws.deploy.tflite_export", None)  # import raises ImportError
    argv = ["export", "--task", "kws12", "--model", str(model_file), "--tflite", str(tmp_path / "m.tflite")]
    assert "--tflite is not available" in _one_line_error(argv, capsys)


def test_start_up_checks_refuse_a_model_that_does_not_fit(lib):
    state = ctypes.create_string_buffer(lib.kws_network_state_size())
    good = lib.kws_engine_model().contents
    assert lib.kws_network_init(state, ctypes.byref(good)) == 0
    for field, value in (("num_layers", good.num_layers + 1), ("ring_bytes", 1 << 20), ("pool_frames", 3),
                         ("input_channels", good.input_channels + 1)):  # fmt: skip
        bad = type(good).from_buffer_copy(good)
        setattr(bad, field, value)
        assert lib.kws_network_init(state, ctypes.byref(bad)) == -2, field  # KWS_ERR_MODEL
    engine = ctypes.create_string_buffer(lib.kws_engine_state_size())
    assert lib.kws_engine_init(engine) == 0
    samples = np.zeros(10, np.int16).ctypes.data_as(ctypes.POINTER(ctypes.c_int16))
    assert lib.kws_process(engine, samples, -1, None, 0) == -1  # KWS_ERR_ARG
    assert lib.kws_process(engine, None, 10, None, 0) == -1
    assert lib.kws_process(engine, samples, 10, None, 0) == 0
