"""Do LiteRT and TensorFlow Lite Micro compute exactly `IntModel.run` on our .tflite export?

    python bench/tflite_equality.py [--model PATH]... [--n N] [--random R] [--keep DIR]

Exports each model (default: both shipped models, models/kws12 and models/yes; PATH: a model .npz, or a
training checkpoint.pt re-exported with the current train/model.py), runs N real clips (default all 3,196 of
../shared/data/speech_commands_test_set_v0.02) and R random int8 inputs through `IntModel.run`, LiteRT with
TFLite's reference kernels (BUILTIN_REF), LiteRT's optimised builtin kernels without delegates, LiteRT's
default (AUTO: XNNPACK delegate) and TFLM, and prints how many outputs of each are identical to `IntModel.run`
(first mismatch shown), the arena TFLM needs and the arena LiteRT uses. A synthetic model with non-zero input
and activation zero points (fused ReLU clamping above -128) runs too. Exit status 1 if the reference kernels
or TFLM differ anywhere (those two must match bit for bit), or if the exporter refuses the model.

What the other two kernel sets do instead, measured layer by layer (ai-edge-litert 2.3.0, x86-64):
- optimised builtin kernels: the same doubling high multiply, but the final rounding shift takes ties upward
  ((x + 2^(n-1)) >> n) where TFLite's reference RoundingDivideByPOT takes them away from zero. The two differ
  only on negative ties, which every ReLU layer clamps away; so only the classifier's logits differ, by 1.
- XNNPACK: requantises in float, lrintf(acc * float32(in_scale * w_scale / out_scale)) + zero point (round
  half to even); every layer differs by 1 now and then and the errors grow through the network.
Neither is the arithmetic IntModel defines (and the firmware and TFLM compute), so neither is a target.

The helpers (runtime runners, the synthetic model) are imported by tests/test_tflite.py, whose trained fixture
models come from tests/model_fixtures.py.
"""

from __future__ import annotations

import argparse
import dataclasses
import os
import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

from tinykws.config import CONFIG, SHARED_DATA_DIR
from tinykws.data import layout
from tinykws.data.wav import fit_clip, read_wav
from tinykws.deploy import tflite_schema
from tinykws.deploy.tflite_export import tflite_bytes
from tinykws.errors import TinyKwsError
from tinykws.exact import first_mismatch
from tinykws.features import mfcc
from tinykws.train.evaluate import shipped_model_path
from tinykws.train.int_model import AveragePool, ConvLayer, IntModel

REAL_DIR = SHARED_DATA_DIR / "speech_commands_test_set_v0.02"
INPUT_FRAMES = CONFIG.features.frames_for(CONFIG.audio.clip_samples)
SHIPPED_TASKS = ("kws12", "yes")  # models/<task>/model.npz: what the README says runs the same everywhere
PIP_HINT = {
    "litert": "LiteRT missing: .venv/bin/pip install ai-edge-litert",
    "tflm": "TensorFlow Lite Micro missing: .venv/bin/pip install --pre tflite-micro",
}


# --- data ------------------------------------------------------------------------------------------------------


def real_clips(n: int | None = None, offset: int = 0) -> list[layout.Clip]:
    """n clips spread evenly over the real test set (every word, many speakers); all of them if n is None."""
    clips = layout.scan(REAL_DIR)
    if n is None or n >= len(clips):
        return clips
    return clips[offset % max(1, len(clips) // n) :: max(1, len(clips) // n)][:n]


def features_of(clips: list[layout.Clip]) -> np.ndarray:
    return mfcc.mfcc(np.stack([fit_clip(read_wav(c.path)) for c in clips]))


# --- models ----------------------------------------------------------------------------------------------------


def checkpoint_model(path: Path) -> IntModel:
    """A training checkpoint's QAT net exported again with the current train/model.py."""
    import torch

    from tinykws.train.model import KwsNet, QatNet

    state = torch.load(path, weights_only=False)
    if "qat_state" not in state:
        raise TinyKwsError(f"{path}: checkpoint has not reached quantisation-aware training")
    labels = tuple(state["labels"])
    net = KwsNet(len(labels))
    net.load_state_dict(state["float_state"])
    qat = QatNet(net)
    qat.load_state_dict(state["qat_state"])
    qat.freeze_observers()
    return qat.to_int_model(labels, INPUT_FRAMES, CONFIG.feature_hash())


def _calibrated(layer: ConvLayer, x: np.ndarray, relu: bool, rng: np.random.Generator) -> ConvLayer:
    """Pick the output quantisation from the layer's real values on x, with a range that includes negative
    values even for ReLU layers, so that RELU clamps at a zero point above -128."""
    real = layer.accumulate(x) * layer.input_scale * layer.weight_scales
    lo, hi = np.percentile(real, [1 + 20 * rng.random(), 99.5])
    lo, hi = min(lo, -0.1 * abs(hi)), max(hi, 1e-6)
    out_scale = float(np.float32((hi - lo) / 255.0))
    zp = int(np.clip(round(-128 - lo / out_scale), -128, 127))
    m, s = tflite_schema.runtime_multipliers(layer.input_scale, layer.weight_scales, out_scale)
    return dataclasses.replace(
        layer,
        multiplier=m.astype(np.int32),
        shift=s.astype(np.int32),
        output_zero_point=zp,
        output_scale=out_scale,
        act_min=tflite_schema.relu_act_min(zp) if relu else -128,
    )


def synthetic_model(num_classes: int, feats: np.ndarray, seed: int = 0, channels: int = 16) -> IntModel:
    """Random int8 weights and biases in our architecture, input zero point != 0, activation zero points
    above -128: the cases a trained model (ReLU ranges start at 0, zero point -128) never exercises."""
    from tinykws.train.model import layer_specs

    rng = np.random.default_rng(seed)
    mc = dataclasses.replace(CONFIG.model, channels=channels)
    in_scale, in_zp = float(np.float32(1 / 64)), int(rng.integers(-20, 20))
    x = feats
    layers = []
    specs = [*layer_specs(mc, feats.shape[-1]), dict(kind="conv", cin=channels, cout=num_classes, kernel=1, dilation=1)]
    for i, spec in enumerate(specs):
        shape = (
            (spec["cout"], spec["kernel"])
            if spec["kind"] == "depthwise"
            else (spec["cout"], spec["kernel"], spec["cin"])
        )
        w_scales = rng.uniform(0.002, 0.05, spec["cout"]).astype(np.float32).astype(np.float64)
        layer = ConvLayer(
            kind=spec["kind"],
            weight=rng.integers(-127, 128, shape).astype(np.int8),
            bias=rng.integers(-3000, 3000, spec["cout"]).astype(np.int32),
            multiplier=np.zeros(0, np.int32),
            shift=np.zeros(0, np.int32),
            dilation=spec["dilation"],
            input_zero_point=in_zp,
            output_zero_point=0,
            act_min=-128,
            act_max=127,
            input_scale=in_scale,
            output_scale=0.0,
            weight_scales=w_scales,
        )
        is_classifier = i == len(specs) - 1
        if is_classifier:
            pool = AveragePool(zero_point=in_zp, scale=in_scale)
            x = pool.run(x)
        layer = _calibrated(layer, x, relu=not is_classifier, rng=rng)
        layers.append(layer)
        x = layer.run(x)
        in_scale, in_zp = layer.output_scale, layer.output_zero_point
    return IntModel(
        layers=layers[:-1],
        pool=pool,
        classifier=layers[-1],
        labels=tuple(f"class{k}" for k in range(num_classes)),
        input_scale=float(np.float32(1 / 64)),
        input_zero_point=layers[0].input_zero_point,
        input_frames=feats.shape[-2],
        feature_hash=CONFIG.feature_hash(),
    )


# --- runtimes --------------------------------------------------------------------------------------------------


def litert_interpreter(data: bytes, kernels: str = "BUILTIN_REF"):  # noqa: ANN201 - LiteRT's Interpreter
    try:
        from ai_edge_litert.interpreter import Interpreter, OpResolverType
    except ImportError:
        raise RuntimeError(PIP_HINT["litert"]) from None
    it = Interpreter(model_content=data, experimental_op_resolver_type=getattr(OpResolverType, kernels))
    it.allocate_tensors()
    return it


def run_litert(data: bytes, x: np.ndarray, kernels: str = "BUILTIN_REF") -> np.ndarray:
    """(N, frames, coefficients) int8 -> (N, classes) int8 through LiteRT with the given op resolver."""
    it = litert_interpreter(data, kernels)
    inp, out = it.get_input_details()[0], it.get_output_details()[0]
    rows = []
    for xi in x:
        it.set_tensor(inp["index"], xi.reshape(inp["shape"]))
        it.invoke()
        rows.append(it.get_tensor(out["index"])[0].copy())
    return np.array(rows, dtype=np.int8).reshape(len(x), -1)


def tflm_interpreter(data: bytes):  # noqa: ANN201 - TFLM's Interpreter
    try:
        from tflite_micro.python.tflite_micro import runtime
    except ImportError:
        raise RuntimeError(PIP_HINT["tflm"]) from None
    return runtime.Interpreter.from_bytes(data)


def run_tflm(data: bytes, x: np.ndarray) -> np.ndarray:
    it = tflm_interpreter(data)
    shape = it.get_input_details(0)["shape"]
    rows = []
    for xi in x:
        it.set_input(xi.reshape(shape), 0)
        it.invoke()
        rows.append(it.get_output(0)[0].copy())
    return np.array(rows, dtype=np.int8).reshape(len(x), -1)


def tflm_arena(data: bytes, x: np.ndarray) -> dict[str, int]:
    """TFLM's RecordingMicroAllocator report after one invoke: total, head (activations planned by the memory
    planner) and tail (persistent: tensor structs, per-channel multipliers, ...), in bytes. The report is
    printed by C++ on file descriptor 2, so it is captured there."""
    it = tflm_interpreter(data)
    it.set_input(x[0].reshape(it.get_input_details(0)["shape"]), 0)
    it.invoke()
    sys.stderr.flush()
    saved = os.dup(2)
    with tempfile.TemporaryFile() as f:
        os.dup2(f.fileno(), 2)
        try:
            it.print_allocations()
        finally:
            os.dup2(saved, 2)
            os.close(saved)
        f.seek(0)
        text = f.read().decode(errors="replace")
    found = dict(re.findall(r"Arena allocation (total|head|tail) (\d+) bytes", text))
    return {k: int(v) for k, v in found.items()}


_ALLOCATE = (
    "import sys\n"
    "from tflite_micro.python.tflite_micro import runtime\n"
    "runtime.Interpreter.from_bytes(open(sys.argv[1], 'rb').read(), arena_size=int(sys.argv[2]))\n"
)


def tflm_min_arena(data: bytes, arena: dict[str, int]) -> tuple[int, int]:
    """(smallest arena in which TFLM allocates, in its 16-byte steps; how many tried sizes crashed it).

    It can exceed the recorded total: the memory planner needs room while it plans. Each size is tried in a
    child process, because TFLM's Python interpreter dies with SIGSEGV on some too-small arenas (e.g. 6400
    bytes for the kws12 fixture) instead of reporting the failure."""
    crashes = 0
    with tempfile.TemporaryDirectory() as d:
        path = Path(d) / "model.tflite"
        path.write_bytes(data)

        def runs(size: int) -> bool:
            nonlocal crashes
            r = subprocess.run([sys.executable, "-c", _ALLOCATE, str(path), str(size)], capture_output=True)
            crashes += r.returncode < 0
            return r.returncode == 0

        lo, hi = arena["head"] // 16, -(-arena["total"] // 16)  # the activations alone never suffice
        while not runs(16 * hi):
            lo, hi = hi, 2 * hi
        while hi - lo > 1:  # invariant: runs(16 * hi), not runs(16 * lo)
            mid = (lo + hi) // 2
            lo, hi = (lo, mid) if runs(16 * mid) else (mid, hi)
    return 16 * hi, crashes


def litert_arena(data: bytes, x: np.ndarray, kernels: str) -> int | None:
    """Bytes spanned by LiteRT's non-constant tensors (activations and kernel scratch) after allocate + invoke:
    the Python API has no arena report, but every such tensor lives in the one planned arena, so the span of
    their addresses is its used size. None where a delegate owns the tensors (XNNPACK)."""
    it = litert_interpreter(data, kernels)
    inp = it.get_input_details()[0]
    it.set_tensor(inp["index"], x[0].reshape(inp["shape"]))
    it.invoke()
    spans = []
    for t in it.get_tensor_details():
        if t["name"].endswith(("/weights", "/bias", "/shape")):  # our export's constants live in the model
            continue
        try:
            a = it.tensor(t["index"])()
        except ValueError:  # "Tensor data is null": delegated away
            return None
        spans.append((a.ctypes.data, a.ctypes.data + a.nbytes))
    return max(e for _, e in spans) - min(s for s, _ in spans)


# --- report ----------------------------------------------------------------------------------------------------

RUNTIMES = (
    ("LiteRT BUILTIN_REF (reference kernels)", lambda d, x: run_litert(d, x, "BUILTIN_REF"), True),
    (
        "LiteRT BUILTIN_WITHOUT_DEFAULT_DELEGATES (optimised)",
        lambda d, x: run_litert(d, x, "BUILTIN_WITHOUT_DEFAULT_DELEGATES"),
        False,
    ),
    ("LiteRT AUTO (default: XNNPACK delegate)", lambda d, x: run_litert(d, x, "AUTO"), False),
    ("TFLM (tflite-micro)", run_tflm, True),
)


def compare(name: str, model: IntModel, data: bytes, real: np.ndarray, rand: np.ndarray) -> bool:
    """Print one table for a model; True if every must-match runtime matched everywhere."""
    want_real, want_rand = model.run_batch(real), model.run_batch(rand)
    distinct = len({r.tobytes() for r in want_real})
    saturated = np.mean((want_real == 127) | (want_real == -128))
    print(
        f"\n== {name}: {len(model.labels)} classes, {len(data)} byte .tflite; {len(real)} real clips "
        f"({distinct} distinct IntModel outputs, {100 * saturated:.1f} % of logits saturated), "
        f"{len(rand)} random inputs"
    )
    print(f"{'runtime':54} {'real':>11} {'random':>11} {'max|d|':>6} {'s':>5}  first mismatch")
    ok = True
    for label, run, must_match in RUNTIMES:
        t = time.perf_counter()
        got_real, got_rand = run(data, real), run(data, rand)
        secs = time.perf_counter() - t
        same_real = int(np.all(got_real == want_real, axis=1).sum())
        same_rand = int(np.all(got_rand == want_rand, axis=1).sum())
        diff = max(
            int(np.abs(got_real.astype(int) - want_real).max(initial=0)),
            int(np.abs(got_rand.astype(int) - want_rand).max(initial=0)),
        )
        where = "-"
        if same_real < len(real):
            where = "real: " + first_mismatch(got_real, want_real)
        elif same_rand < len(rand):
            where = "random: " + first_mismatch(got_rand, want_rand)
        print(f"{label:54} {same_real:>5}/{len(real):<5} {same_rand:>5}/{len(rand):<5} {diff:>6} {secs:>5.1f}  {where}")
        ok &= not must_match or (same_real == len(real) and same_rand == len(rand))
    arena = tflm_arena(data, real)
    smallest, crashes = tflm_min_arena(data, arena)
    print(
        f"TFLM arena (x86-64 host): recorded {arena['total']} bytes (head {arena['head']} = planned "
        f"activations, tail {arena['tail']} = persistent); smallest that allocates: "
        f"{smallest} bytes (TFLM crashed at {crashes} of the smaller sizes tried)"
    )
    for kernels in ("BUILTIN_REF", "BUILTIN_WITHOUT_DEFAULT_DELEGATES"):
        print(f"LiteRT {kernels} arena: {litert_arena(data, real, kernels)} bytes of activations and scratch")
    return ok


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument(
        "--model",
        type=Path,
        action="append",
        default=None,
        help="model .npz or training checkpoint.pt (repeatable; default: the shipped kws12 and yes models)",
    )
    p.add_argument("--n", type=int, default=None, help="real clips (default: all)")
    p.add_argument("--random", type=int, default=200, help="random int8 inputs")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--keep", type=Path, default=None, help="write the exported .tflite files to this folder")
    args = p.parse_args(argv)

    t = time.perf_counter()
    clips = real_clips(args.n)
    real = features_of(clips)
    calib = features_of(real_clips(200, offset=7))
    rand = np.random.default_rng(args.seed).integers(-128, 128, (args.random, *real.shape[1:])).astype(np.int8)
    print(f"features of {len(clips)} + {len(calib)} real clips in {time.perf_counter() - t:.1f} s")

    models: list[tuple[str, IntModel]] = []
    for path in args.model or [shipped_model_path(task) for task in SHIPPED_TASKS]:
        if path.suffix == ".pt":
            models.append((f"{path} (re-exported)", checkpoint_model(path)))
        else:
            models.append((str(path), IntModel.load(path)))
    for n_classes in sorted({len(m.labels) for _, m in models}):
        models.append((f"synthetic {n_classes}-class model, non-zero zero points", synthetic_model(n_classes, calib)))

    ok, refused = True, 0
    for name, model in models:
        try:
            data = tflite_bytes(model)
        except TinyKwsError as e:
            print(f"\n== {name}: not exported: {e}")
            refused += 1
            continue
        if args.keep:
            args.keep.mkdir(parents=True, exist_ok=True)
            (args.keep / (re.sub(r"\W+", "_", name).strip("_") + ".tflite")).write_bytes(data)
        ok &= compare(name, model, data, real, rand)
    print(
        "\nreference kernels and TFLM: "
        + ("bit-exact" if ok else "MISMATCH")
        + f" on {len(models) - refused} models"
        + (f"; {refused} model(s) refused by the exporter" if refused else "")
    )
    return 0 if ok and not refused else 1


if __name__ == "__main__":
    sys.exit(main())
