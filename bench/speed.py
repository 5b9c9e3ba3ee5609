"""Speed of tinykws beside the usual alternatives, measured in one run; prints one markdown table.

    .venv/bin/python bench/speed.py [--quick] [--readme] [--task kws12|yes]
                                    [--make-run-seconds S [--make-run-source TEXT] | --with-make-run]

- Front end: clips per second of real 1 s clips, one thread each (a child process with the BLAS / OpenMP
  thread counts set to 1): our integer batch front end (features/mfcc.py, as `features build` calls it), a
  float32 torch MFCC with the same parameters (written here; it is features/mfcc_float.py in torch), and
  `pymicro-features` (TFLM's microfrontend from PyPI, fed 10 ms chunks as microWakeWord does).
- Inference: instructions, not seconds. Our C engine (`make engine-bench`, firmware/board.py `bench()`): on
  the host under callgrind and on mps2-an386 under QEMU -icount. TFLM's interpreter (`tflite-micro` from
  PyPI) on our own .tflite export of the same model, under callgrind with collection switched on only inside
  `MicroInterpreter::Invoke`, for N and 2N invokes (the difference is the cost of N invokes; it must agree
  with N alone; --quick runs N only). TFLM computes a whole window per invoke: at our hop rate that is one
  invoke per hop.
- Training: float and QAT steps of the training loop (batch, optimiser, loss of CONFIG.train) on the real
  clips' features, timed now with torch on 1 thread and on its default threads; and the epoch times of the
  shipped run (models/<task>/model.json).
- `make run` wall time: given with --make-run-seconds (from a measured log), or timed with --with-make-run
  in a fresh clone (it includes `make install`: a new .venv; ~25+ min).

Timings share the machine with whatever else runs: the load average at start and end is printed. Instruction
counts do not depend on load. --readme writes the table between the README's bench markers.
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import platform
import re
import shutil
import subprocess
import sys
import tempfile
import time
from importlib import metadata
from pathlib import Path
from typing import NamedTuple

import numpy as np

from tinykws import readme
from tinykws.config import CONFIG, REPO_ROOT, SHARED_DATA_DIR
from tinykws.data import layout
from tinykws.data.wav import fit_clip, read_wav
from tinykws.errors import TinyKwsError, run_script
from tinykws.readme import README

REAL_DIR = SHARED_DATA_DIR / "speech_commands_test_set_v0.02"
MARK_START, MARK_END = readme.markers("bench")
HOPS_PER_SECOND = CONFIG.audio.sample_rate / CONFIG.features.hop_samples
ONE_THREAD = {k: "1" for k in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS")}
# The demangled name differs between TFLM releases (tflite::MicroInterpreter, tflite::micro::MicroInterpreter).
TFLM_INVOKE = "*MicroInterpreter::Invoke()"
MICRO_CHUNK_BYTES = 320  # pymicro-features takes exactly its 10 ms step (160 int16 samples) per call


class Sizes(NamedTuple):
    clips: int  # front end clips, and the training bench's examples
    repeats: int  # front end: best of this many passes
    invokes: tuple[int, ...]  # TFLM under callgrind: N and 2N invokes (the difference is N invokes)
    float_steps: int
    qat_steps: int
    warmup_steps: int  # training steps run before the timed ones (lazy initialisation, allocator)
    default_threads: bool  # training also on torch's default threads (slow to start on a loaded machine)


FULL = Sizes(clips=512, repeats=3, invokes=(8, 16), float_steps=40, qat_steps=12, warmup_steps=1, default_threads=True)
QUICK = Sizes(clips=12, repeats=1, invokes=(1,), float_steps=2, qat_steps=1, warmup_steps=0, default_threads=False)


class Row(NamedTuple):
    section: str
    name: str
    value: float | None  # None: not available, `detail` says why
    unit: str
    detail: str


def fmt(value: float | None, unit: str) -> str:
    if value is None:
        return "n/a"
    if unit.startswith("M "):
        return f"{value / 1e6:,.2f} {unit}"
    return f"{value:,.0f} {unit}" if value >= 100 else f"{value:,.2f} {unit}"


# --- front end -------------------------------------------------------------------------------------------------


def bench_clips(n: int) -> tuple[np.ndarray, list[layout.Clip]]:
    """n real clips spread evenly over the test set (every word, many speakers): (n, clip_samples) int16."""
    clips = layout.scan(REAL_DIR)
    if not clips:
        raise TinyKwsError(f"{REAL_DIR}: no clips (the benchmark reads the real clips of ../shared/data)")
    picked = clips[:: max(1, len(clips) // n)][:n]
    return np.stack([fit_clip(read_wav(c.path)) for c in picked]), picked


def torch_mfcc(audio: np.ndarray):  # noqa: ANN201 - torch.Tensor, torch imported lazily
    """features/mfcc_float.py in float32 torch, plus the int8 quantisation: (N, samples) int16 -> (N, frames,
    num_mfcc) int8 tensor, comparable to the integer front end's output."""
    import torch

    from tinykws.features import tables

    fc = CONFIG.features
    x = torch.from_numpy(audio).to(torch.float32)
    frames = x.unfold(-1, fc.window_samples, fc.hop_samples)  # (N, frames, window)
    window = torch.hann_window(fc.window_samples, periodic=True) * (1 << fc.window_out_frac_bits)
    spec = 2.0 * torch.fft.rfft(frames * window, n=fc.fft_size)
    power = spec.real.square() + spec.imag.square()
    mel = power @ torch.from_numpy(tables.mel_weights_float(fc) * (1 << fc.mel_weight_frac_bits)).float()
    log_mel = torch.log2(mel + 1.0) * (1 << fc.log_frac_bits)
    cep = log_mel @ torch.from_numpy(tables.dct_matrix_float(fc) * (1 << fc.dct_frac_bits)).float().T
    m = torch.tensor(fc.quant_multipliers, dtype=torch.float32) / 2.0**32
    z = torch.tensor(fc.quant_zero_points, dtype=torch.float32)
    return torch.clamp(torch.round(cep * m) + z, -128, 127).to(torch.int8)


def micro_frontend_frames(fe, audio: np.ndarray) -> int:  # noqa: ANN001 - pymicro_features.MicroFrontend
    """One clip through TFLM's microfrontend the way it streams: reset, then one 10 ms chunk per call."""
    fe.reset()
    data = audio.tobytes()
    frames, pos = 0, 0
    while len(data) - pos >= MICRO_CHUNK_BYTES:
        out = fe.process_samples(data[pos : pos + MICRO_CHUNK_BYTES])
        pos += 2 * out.samples_read
        frames += bool(out.features)
    return frames


def _best_rate(run, n: int, repeats: int) -> float:  # noqa: ANN001
    run()  # warm-up: imports, caches, allocator
    best = min(_timed(run) for _ in range(repeats))
    return n / best


def _timed(run) -> float:  # noqa: ANN001
    t = time.perf_counter()
    run()
    return time.perf_counter() - t


def frontend_child(n: int, repeats: int) -> dict:
    """Runs in a child process whose environment pinned every thread pool to one thread."""
    import torch
    from pymicro_features import MicroFrontend

    from tinykws.features import corpus, mfcc

    torch.set_num_threads(1)
    audio, _ = bench_clips(n)
    ours = mfcc.mfcc(audio)
    agree = torch_mfcc(audio).numpy().astype(int) - ours
    fe = MicroFrontend()

    def integer() -> None:
        for i in range(0, n, corpus.SHARD_CLIPS):
            mfcc.mfcc(audio[i : i + corpus.SHARD_CLIPS])

    def micro() -> None:
        for a in audio:
            micro_frontend_frames(fe, a)

    return {
        "clips": n,
        "integer": _best_rate(integer, n, repeats),
        "torch": _best_rate(lambda: torch_mfcc(audio), n, repeats),
        "micro": _best_rate(micro, n, repeats),
        "micro_frames": micro_frontend_frames(fe, audio[0]),
        "ours_frames": ours.shape[1],
        "torch_identical": float(np.mean(agree == 0)),
        "torch_within_1": float(np.mean(np.abs(agree) <= 1)),
    }


def frontend_rows(sizes: Sizes) -> list[Row]:
    cmd = [sys.executable, __file__, "--frontend-child", str(sizes.clips), str(sizes.repeats)]
    r = subprocess.run(cmd, capture_output=True, text=True, env={**os.environ, **ONE_THREAD})
    if r.returncode != 0:
        raise TinyKwsError(f"front-end bench failed: {r.stderr.strip()[-800:]}")
    d = json.loads(r.stdout.strip().splitlines()[-1])
    how = f"{d['clips']} real 1 s clips, best of {sizes.repeats}, one thread"
    return [
        Row("front end", "integer batch (numpy, features/mfcc.py)", d["integer"], "clips/s",
            f"{how}; {d['ours_frames']} frames x {CONFIG.features.num_mfcc} int8 per clip"),
        Row("front end", "float32 torch MFCC, same parameters", d["torch"], "clips/s",
            f"{how}; int8 output identical to the integer front end for {100 * d['torch_identical']:.1f} %, "
            f"within 1 LSB for {100 * d['torch_within_1']:.1f} %"),
        Row("front end", f"pymicro-features {_version('pymicro-features')} (TFLM microfrontend)", d["micro"],
            "clips/s", f"{how}; its own fixed parameters: 30 ms / 10 ms hop = {d['micro_frames']} frames x 40 "
            "log-mel channels per clip, noise reduction + PCAN, one Python call per 10 ms"),
    ]  # fmt: skip


# --- inference -------------------------------------------------------------------------------------------------

_TFLM_RUNNER = """\
import sys
import numpy as np
from tflite_micro.python.tflite_micro import runtime
it = runtime.Interpreter.from_bytes(open(sys.argv[1], "rb").read())
x = np.load(sys.argv[2]).reshape(it.get_input_details(0)["shape"])
for _ in range(int(sys.argv[3])):
    it.set_input(x, 0)  # TFLM's memory plan reuses the input tensor's bytes for later activations
    it.invoke()
print(" ".join(str(v) for v in it.get_output(0).ravel()))
"""


def tflm_invoke_instructions(tflite: bytes, x: np.ndarray, counts: tuple[int, ...]) -> dict[int, tuple]:
    """{invokes: (instructions callgrind counted inside Invoke, TFLM's int8 output)}, one valgrind run per count."""
    if shutil.which("valgrind") is None:
        raise TinyKwsError("valgrind not found: run `make install`")
    with tempfile.TemporaryDirectory(prefix="kws-bench-") as d:
        tmp = Path(d)
        (tmp / "model.tflite").write_bytes(tflite)
        (tmp / "runner.py").write_text(_TFLM_RUNNER)
        np.save(tmp / "x.npy", x)
        procs = {}
        for count in counts:  # all at once: valgrind's start-up (Python, numpy) dominates each run
            cmd = ["valgrind", "--tool=callgrind", "--collect-atstart=no", f"--toggle-collect={TFLM_INVOKE}",
                   f"--callgrind-out-file={tmp / f'cg.{count}'}", sys.executable, str(tmp / "runner.py"),
                   str(tmp / "model.tflite"), str(tmp / "x.npy"), str(count)]  # fmt: skip
            procs[count] = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        result = {}
        for count, p in procs.items():
            out, err = p.communicate()
            if p.returncode != 0:
                raise TinyKwsError(f"TFLM under callgrind failed: {err.strip()[-800:]}")
            m = re.search(r"^(?:totals|summary): (\d+)", (tmp / f"cg.{count}").read_text(), re.MULTILINE)
            if m is None or int(m.group(1)) <= 0:
                raise TinyKwsError(f"callgrind counted nothing inside {TFLM_INVOKE}: has TFLM renamed it?")
            result[count] = (int(m.group(1)), np.array(out.split(), dtype=np.int8))
    return result


def inference_rows(task: str, sizes: Sizes) -> list[Row]:
    from tinykws.deploy.tflite_export import tflite_bytes
    from tinykws.features import mfcc
    from tinykws.firmware import board
    from tinykws.train.int_model import IntModel

    path = REPO_ROOT / "models" / task / "model.npz"
    model = IntModel.load(path)
    counts = board.bench(model, str(path.relative_to(REPO_ROOT)))
    audio, _ = bench_clips(1)
    x = mfcc.mfcc(audio)
    runs = tflm_invoke_instructions(tflite_bytes(model), x, sizes.invokes)
    want = model.run_batch(x)[0]
    for count, (_, out) in runs.items():
        if not np.array_equal(out, want):
            raise TinyKwsError(f"TFLM ({count} invokes) gave {out.tolist()}, IntModel.run {want.tolist()}")
    n = min(runs)
    per_invoke = runs[n][0] / n
    if len(runs) > 1:
        # Whatever the first invoke does once (lazy set-up) cancels out in the difference; the two must agree.
        m = max(runs)
        per_invoke = (runs[m][0] - runs[n][0]) / (m - n)
        if abs(per_invoke - runs[n][0] / n) > 0.01 * per_invoke:
            raise TinyKwsError(f"TFLM per invoke: {per_invoke:.0f} from {n} vs {m} invokes, {runs[n][0] / n:.0f} "
                               f"from {n} alone")  # fmt: skip
    invokes = " vs ".join(str(c) for c in sorted(runs))

    hps = HOPS_PER_SECOND
    rows = []
    for board_name, section in (("host", "inference, x86-64 (callgrind)"),
                                ("mps2-an386", "inference, Cortex-M4 (QEMU -icount)")):  # fmt: skip
        hop = counts[board_name]["instructions_per_hop"]
        rows += [
            Row(section, "C engine, streaming network", hop["network"] * hps, "M instr/s of audio",
                f"{hop['network']:,} per hop x {hps:g} hops/s"),
            Row(section, "C engine, whole-window network", hop["window"] * hps, "M instr/s of audio",
                f"{hop['window']:,} per window, one window per hop; "
                f"{hop['window'] / hop['network']:.0f}x the streaming network"),
            Row(section, "C engine, whole engine streaming", hop["engine"] * hps, "M instr/s of audio",
                f"kws_process per hop: front end {hop['frontend']:,} + network + detector = {hop['engine']:,}"),
        ]  # fmt: skip
        if board_name == "host":
            rows += [
                Row(section, f"TFLM interpreter (tflite-micro {_version('tflite-micro')})", per_invoke * hps,
                    "M instr/s of audio", f"{per_invoke:,.0f} per invoke (whole window; from {invokes} invokes) "
                    f"x {hps:g} invokes/s; our .tflite, output = IntModel.run"),
                Row(section, "TFLM interpreter, one invoke per second", per_invoke, "M instr/s of audio",
                    "for reference: a detector that looks once a second (latency up to 1 s)"),
            ]  # fmt: skip
        else:
            why = "no Cortex-M build of TFLM here: no TFLM source, the PyPI wheel is x86-64 only"
            rows.append(Row(section, "TFLM interpreter", None, "M instr/s of audio", why))
    return rows


# --- training --------------------------------------------------------------------------------------------------


def training_rows(task: str, sizes: Sizes) -> list[Row]:
    import torch

    from tinykws.features import mfcc
    from tinykws.train import dataset
    from tinykws.train.model import KwsNet, QatNet, dequantize_input
    from tinykws.train.trainer import torch_threads, train_step

    tc = CONFIG.train
    audio, clips = bench_clips(max(sizes.clips, tc.batch_size))
    feats = mfcc.mfcc(audio)
    labels = dataset.labels_for(np.array([c.word for c in clips]), task)
    rng = np.random.default_rng(0)
    torch.manual_seed(tc.seed)
    loss_fn = torch.nn.CrossEntropyLoss(label_smoothing=tc.label_smoothing)

    def steps(model, lr: float, n: int) -> float:  # noqa: ANN001
        """Seconds for n training steps as Run.train takes them (batch, dequantise, loss, AdamW, one-cycle LR)."""
        opt = torch.optim.AdamW(model.parameters(), lr=lr, weight_decay=tc.weight_decay)
        sched = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=lr, total_steps=sizes.warmup_steps + n, pct_start=0.15)
        model.train()
        t = 0.0
        for i in range(sizes.warmup_steps + n):
            start = time.perf_counter()
            rows = rng.integers(0, len(feats), tc.batch_size)
            x = dequantize_input(feats[rows])
            y = torch.from_numpy(labels[rows])
            train_step(model, opt, sched, loss_fn, x, y)
            t += (time.perf_counter() - start) * (i >= sizes.warmup_steps)
        return t

    epoch = tc.examples_per_epoch
    rows = []
    default_threads = torch.get_num_threads()
    # Both one thread (what `tinykws train` uses unless TINYKWS_TORCH_THREADS says otherwise) and torch's own
    # default (one per core), whose OpenMP workers wait on each other on a loaded machine.
    train_threads = torch_threads()
    for threads in sorted({1, default_threads if sizes.default_threads else 1}):
        torch.set_num_threads(threads)
        net = KwsNet(len(layout.task_labels(task)))
        float_rate = sizes.float_steps * tc.batch_size / steps(net, tc.learning_rate, sizes.float_steps)
        qat_rate = sizes.qat_steps * tc.batch_size / steps(QatNet(net), tc.qat_learning_rate, sizes.qat_steps)
        how = f"batch {tc.batch_size}, {epoch:,} clips per epoch"
        label = f"torch {threads} thread{'s' * (threads > 1)}"
        label += " (tinykws train)" if threads == train_threads else ""
        rows += [
            Row("training", f"{task}: float epochs, {label}", float_rate, "clips/s",
                f"{60 * float_rate / epoch:.1f} epochs/min; {sizes.float_steps} steps timed now, {how}"),
            Row("training", f"{task}: QAT epochs, {label}", qat_rate, "clips/s",
                f"{60 * qat_rate / epoch:.1f} epochs/min; {sizes.qat_steps} steps timed now, {how}"),
        ]  # fmt: skip
    torch.set_num_threads(default_threads)
    card = REPO_ROOT / "models" / task / "model.json"
    history = json.loads(card.read_text()).get("history", []) if card.exists() else []
    for phase, name in (("float", "float"), ("qat", "QAT")):
        secs = [h["epoch_seconds"] for h in history if h.get("phase") == phase and h.get("epoch_seconds")]
        if secs:
            med = float(np.median(secs))
            rows.append(Row("training", f"{task}: {name} epochs of the shipped run", epoch / med, "clips/s",
                            f"{60 / med:.1f} epochs/min; median of {len(secs)} epoch times in "
                            f"models/{task}/model.json (training steps only, torch default threads, shared "
                            "machine)"))  # fmt: skip
    return rows


# --- make run --------------------------------------------------------------------------------------------------


def time_make_run(target: str = "run") -> float:
    """Wall seconds of `make TARGET` in a fresh clone of HEAD (its own build/ and .venv/) that reads this
    repo's shared data."""
    with tempfile.TemporaryDirectory(prefix="kws-make-run-") as d:
        clone = Path(d) / "tinykws"
        subprocess.run(["git", "clone", "--quiet", "--local", str(REPO_ROOT), str(clone)], check=True)
        log = REPO_ROOT / "build" / "bench" / f"make_{target}.log"
        log.parent.mkdir(parents=True, exist_ok=True)
        env = {**os.environ, "TINYKWS_SHARED_DATA": str(SHARED_DATA_DIR)}
        start = time.perf_counter()
        with open(log, "w") as f:
            r = subprocess.run(["nice", "-n", "10", "make", target], cwd=clone, stdout=f, stderr=subprocess.STDOUT,
                               env=env)  # fmt: skip
        seconds = time.perf_counter() - start
    if r.returncode != 0:
        raise TinyKwsError(f"make {target} in a fresh clone failed (exit {r.returncode}); log in {log}")
    return seconds


def make_run_row(seconds: float | None, source: str) -> Row:
    if seconds is None:
        detail = "not measured in this run: pass --make-run-seconds or --with-make-run"
    else:
        detail = f"{seconds / 60:.1f} min; {source}"
    return Row("make run", f"full `make run`, {os.cpu_count()} cores", seconds, "s wall", detail)


# --- report ----------------------------------------------------------------------------------------------------


def _version(dist: str) -> str:
    try:
        return metadata.version(dist)
    except metadata.PackageNotFoundError:
        return "missing"


def _first_line(cmd: list[str]) -> str:
    try:
        r = subprocess.run(cmd, capture_output=True, text=True)
    except OSError:
        return "missing"
    return (r.stdout or r.stderr).strip().splitlines()[0] if (r.stdout or r.stderr).strip() else "?"


def machine() -> str:
    cpu = "unknown CPU"
    with open("/proc/cpuinfo") as f:
        for line in f:
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    gcc = _first_line(["gcc", "-dumpfullversion"])
    arm = _first_line(["arm-none-eabi-gcc", "-dumpfullversion"])
    return (
        f"{cpu}, {os.cpu_count()} cores, {platform.system()} {platform.machine()}; Python "
        f"{platform.python_version()}, numpy {_version('numpy')}, torch {_version('torch')}; gcc {gcc}, "
        f"arm-none-eabi-gcc {arm}, {_first_line(['valgrind', '--version'])}"
    )


def render(rows: list[Row], header: list[str]) -> str:
    lines = [*header, "", "| benchmark | implementation | result | how |", "| --- | --- | --- | --- |"]
    lines += [f"| {r.section} | {r.name} | {fmt(r.value, r.unit)} | {r.detail} |" for r in rows]
    return "\n".join(lines)


def write_readme(block: str, path: Path = README) -> None:
    """The table into the README's `bench` block (tinykws/readme.py)."""
    readme.write_block("bench", block, path)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--quick", action="store_true", help="tiny counts: checks that every row runs, not a measurement")
    p.add_argument("--readme", action="store_true", help="write the table into README.md between the bench markers")
    p.add_argument("--task", choices=("kws12", "yes"), default="kws12", help="shipped model to run")
    make_run = p.add_mutually_exclusive_group()
    make_run.add_argument("--make-run-seconds", type=float, default=None, help="measured `make run` wall time")
    make_run.add_argument("--with-make-run", action="store_true", help="time `make run` in a fresh clone (~25+ min)")
    p.add_argument("--make-run-source", default="measured by hand", help="where --make-run-seconds comes from")
    p.add_argument("--frontend-child", nargs=2, type=int, help=argparse.SUPPRESS)
    args = p.parse_args(argv)
    if args.frontend_child:
        print(json.dumps(frontend_child(*args.frontend_child)))
        return 0

    sizes = QUICK if args.quick else FULL
    started = datetime.datetime.now(datetime.UTC)
    load_start = os.getloadavg()
    steps = (
        ("front end", lambda: frontend_rows(sizes)),
        ("inference", lambda: inference_rows(args.task, sizes)),
        ("training", lambda: training_rows(args.task, sizes)),
    )
    rows: list[Row] = []
    for name, run in steps:
        t = time.perf_counter()
        rows += run()
        print(f"bench: {name} done in {time.perf_counter() - t:.0f} s", file=sys.stderr)
    if args.with_make_run:
        rows.append(make_run_row(time_make_run(), "timed now in a fresh clone (nice -n 10), with `make install`"))
    else:
        rows.append(make_run_row(args.make_run_seconds, args.make_run_source))
    load_end = os.getloadavg()
    command = "python bench/speed.py" + (" --quick" if args.quick else "") + f" --task {args.task}"
    header = [
        f"Measured {started:%Y-%m-%d %H:%M} UTC with `{command}` on {machine()}.",
        f"Load average (1/5/15 min) at start {' '.join(f'{v:.2f}' for v in load_start)}, at end "
        f"{' '.join(f'{v:.2f}' for v in load_end)}: timings share the 2 cores with other jobs; instruction "
        "counts do not depend on load.",
    ]
    table = render(rows, header)
    print(table)
    if args.readme:
        write_readme(table)
        print(f"bench: table written into {README}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    run_script(main)
