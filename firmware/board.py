"""`tinykws firmware build | size | run`: the C engine of one model, on the host or a Cortex-M4 board.

A model's C sources are exported (deploy/c_export.py) into build/firmware/models/<model id>/src/ and built
there by the firmware Makefile (`MODEL_DIR=...`), so every model keeps its own build and a rebuild happens
only when its sources change. mps2-an386 images run under QEMU with Arm semihosting: the app reads the WAV
through it and prints one line per detection, which `run` turns into the same lines `tinykws detect` prints.

The always-listening image (firmware/apps/listen, `listen` target) is the one a board runs: audio arrives by
interrupt in blocks, the main loop sleeps between them. On mps2-an386 (`run --interrupts`) a timer interrupt
feeds it the WAV at the audio rate under QEMU -icount, which counts the instructions spent awake; nano33ble
(Arduino Nano 33 BLE Sense) builds the same loop over the nRF52840's PDM microphone, to be flashed, not run.
"""

from __future__ import annotations

import argparse
import contextlib
import fcntl
import json
import re
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from types import SimpleNamespace

import numpy as np

from tinykws.config import BUILD_DIR, CONFIG, FIRMWARE, REPO_ROOT
from tinykws.data import layout
from tinykws.deploy import c_export
from tinykws.errors import TinyKwsError
from tinykws.firmware import footprint
from tinykws.train.detector import Detection, detector_config
from tinykws.train.int_model import IntModel

FIRMWARE_DIR = REPO_ROOT / "firmware"
MODELS_BUILD_DIR = BUILD_DIR / "firmware" / "models"
BOARDS = ("host", "mps2-an386", "nano33ble")
TOOLS = {"host": ("make", "gcc"), "mps2-an386": ("make", "arm-none-eabi-gcc", "arm-none-eabi-size", "qemu-system-arm"),
         "nano33ble": ("make", "arm-none-eabi-gcc", "arm-none-eabi-size", "arm-none-eabi-objcopy")}  # fmt: skip
LISTEN_BOARDS = ("mps2-an386", "nano33ble")  # boards with the always-listening image
TOOLS["wasm"] = ("make", "clang", "wasm-ld")  # the web page's engine (firmware/web.py), not a BOARDS choice
QEMU_TIMEOUT = 600


def require_tools(board: str, extra: tuple[str, ...] = ()) -> None:
    missing = [t for t in (*TOOLS[board], *extra) if shutil.which(t) is None]
    if missing:
        raise TinyKwsError(f"{', '.join(missing)} not found: run `make install` (it installs the toolchains + QEMU)")


def model_dir(model: IntModel) -> Path:
    """build/firmware/models/<model id>[-<detector constants>]: the exported header holds both."""
    dc = detector_config(model)
    suffix = "" if dc == CONFIG.detector else f"-d{dc.smoothing_hops}-{dc.threshold}-{dc.refractory_hops}"
    return MODELS_BUILD_DIR / (c_export.model_fingerprint(model)[:12] + suffix)


@contextlib.contextmanager
def _locked(directory: Path) -> Iterator[None]:
    """One build of a model directory at a time (pytest workers, a CLI run beside the tests)."""
    directory.mkdir(parents=True, exist_ok=True)
    with open(directory / ".lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)


def make(board: str, targets: tuple[str, ...], mdir: Path | None = None, variant: str = "") -> str:
    """Run the firmware Makefile; a failure becomes one line naming the log with the compiler's output."""
    cmd = ["make", "-j2", "-C", str(FIRMWARE_DIR), f"BOARD={board}", f"PYTHON={sys.executable}"]
    cmd += [f"MODEL_DIR={mdir}"] if mdir else []
    cmd += [f"VARIANT={variant}"] if variant else []
    r = subprocess.run([*cmd, *targets], capture_output=True, text=True)
    if r.returncode != 0:
        log = (mdir or BUILD_DIR / "firmware") / f"make-{board}.log"
        log.parent.mkdir(parents=True, exist_ok=True)
        log.write_text(" ".join(cmd + list(targets)) + "\n" + r.stdout + r.stderr)
        raise TinyKwsError(f"firmware build failed ({board}: {' '.join(targets)}); compiler output in {log}")
    return r.stdout + r.stderr  # QEMU prints the semihosting console on stderr


def build(model: IntModel, board: str, source: str = "an in-memory model", targets: tuple[str, ...] | None = None,
          variant: str = "") -> Path:  # fmt: skip
    """Export the model's C sources and build `targets` (default_targets); returns the board's output folder."""
    require_tools(board)
    targets = default_targets(board) if targets is None else targets
    mdir = model_dir(model)
    with _locked(mdir):
        c_export.write_c_sources(model, mdir / "src", source=source)
        make(board, targets, mdir, variant)
    return mdir / (board + (f"-{variant}" if variant else ""))


def image(out: Path, board: str) -> Path:
    if board == "nano33ble":
        return listen_image(out)
    return out / ("kws_app.elf" if board == "mps2-an386" else "kws_app")


def listen_image(out: Path) -> Path:
    return out / "kws_listen.elf"


def default_targets(board: str) -> tuple[str, ...]:
    """nano33ble has only the always-listening image (with its .bin and .hex); the others the WAV app."""
    return ("listen",) if board == "nano33ble" else ("engine",)


# --- running the app ------------------------------------------------------------------------------------------


@dataclass
class AppRun:
    detections: list[Detection]
    hops: list[tuple[int, np.ndarray, np.ndarray | None]]  # (hop, logits, smoothed sums) with --scores
    num_hops: int
    state_bytes: dict[str, int]
    stack_bytes: int | None  # high-water mark below main (mps2-an386 only)


def parse_app_output(text: str, num_classes: int) -> AppRun:
    """The app's console protocol (firmware/apps/kws_app.c) -> AppRun; an `error:` line -> TinyKwsError."""
    run = AppRun([], [], -1, {}, None)
    for line in text.splitlines():
        word, *rest = line.split() or [""]
        if word == "det":
            run.detections.append(Detection(int(rest[0]), int(rest[1]), int(rest[2])))
        elif word == "hop":
            vals = np.array(rest[1:], dtype=np.int64)
            sums = vals[num_classes:].astype(np.int32) if len(vals) > num_classes else None
            run.hops.append((int(rest[0]), vals[:num_classes].astype(np.int8), sums))
        elif word == "state":
            run.state_bytes = {k: int(v) for k, v in zip(rest[::2], rest[1::2], strict=True)}
        elif word == "end":
            run.num_hops = int(rest[0])
        elif word == "stack":
            run.stack_bytes = int(rest[0])
        elif word == "error:":
            raise TinyKwsError(f"firmware: {' '.join(rest)}")
    if run.num_hops < 0:
        raise TinyKwsError(f"firmware app stopped before its end line:\n{text[-2000:]}")
    return run


def qemu_command(board: str, elf: Path, args: tuple[str, ...], extra: tuple[str, ...] = ()) -> list[str]:
    """QEMU for an mps2-an386 image, the semihosting command line `args` (arg 0 is the program's name)."""
    semi = ",".join(f"arg={a}" for a in args)
    return ["qemu-system-arm", "-M", board, "-nographic", "-monitor", "none", "-serial", "none", *extra,
            "-semihosting-config", f"enable=on,target=native,{semi}", "-kernel", str(elf)]  # fmt: skip


def _run_on(board: str, cmd: list[str], audio: np.ndarray, what: str) -> tuple[str, int, str]:
    """Run `cmd` in a temporary folder holding `audio` as in.wav; (console text, exit status, stderr)."""
    from tinykws.data.wav import write_wav

    with tempfile.TemporaryDirectory(prefix="kws-run-") as tmp:
        write_wav(Path(tmp) / "in.wav", audio)
        try:
            r = subprocess.run(cmd, capture_output=True, text=True, timeout=QEMU_TIMEOUT, cwd=tmp)
        except subprocess.TimeoutExpired:
            raise TinyKwsError(f"{what} on {board} did not finish within {QEMU_TIMEOUT} s") from None
    # QEMU prints the semihosting console on stderr, the host app on stdout.
    return r.stdout + "\n" + r.stderr, r.returncode, r.stderr


def run_app(out: Path, board: str, audio: np.ndarray, num_classes: int, scores: bool = False) -> AppRun:
    """Run the built app on `audio` (written as a WAV beside it; QEMU semihosting reads it from its cwd)."""
    flags = ("--scores",) if scores else ()
    if board == "mps2-an386":
        cmd = qemu_command(board, image(out, board), ("kws_app", "in.wav", *flags))
    else:
        cmd = [str(image(out, board)), "in.wav", *flags]
    text, status, err = _run_on(board, cmd, audio, "firmware app")
    run = parse_app_output(text, num_classes)
    if status != 0:
        raise TinyKwsError(f"firmware app on {board} exited with status {status}: {err.strip()[-300:]}")
    return run


@dataclass
class ListenRun:
    app: AppRun  # detections, hops, state bytes as the WAV app reports them
    blocks: int  # blocks the main loop processed
    samples: int  # samples in them (through kws_process)
    overruns: int  # blocks dropped because the ring was full
    source_samples: int  # samples the timer interrupt read from the WAV
    dropped_samples: int  # of them, in dropped blocks
    awake_instructions: int  # outside WFI, interrupts included (QEMU -icount)
    block_period_instructions: tuple[int, int]  # min, max spacing of the block interrupts
    overrun_reports: list[int]  # the running totals of the app's `overrun N` lines, as they were printed

    def summary(self) -> dict:
        seconds = self.source_samples / CONFIG.audio.sample_rate
        ips = round(self.awake_instructions / seconds) if seconds else 0
        return {"overruns": self.overruns, "blocks": self.blocks, "samples": self.source_samples,
                "dropped_samples": self.dropped_samples, "awake_instructions_per_second": ips,
                "duty_cycle_at_64mhz": round(ips / FIRMWARE.board_cpu_hz, 5)}  # fmt: skip


def _words(text: str, head: str) -> list[int]:
    """The numbers of the console line that starts with `head` (the last such line)."""
    lines = [line for line in text.splitlines() if line.startswith(head + " ")]
    if not lines:
        raise TinyKwsError(f"the always-listening image printed no '{head}' line:\n{text[-1500:]}")
    return [int(w) for w in lines[-1].split() if w.isdigit()]


def wake_word_stream(real_dir: Path, word: str = "yes", count: int = 4) -> np.ndarray:
    """`count` real clips of `word`, each after one clip of another word (the first `count` other words in
    sorted order), cut to whole blocks: the stream of the always-listening test and the README's figures."""
    from tinykws.data.wav import read_wav

    wake = sorted((real_dir / word).glob("*.wav"))[:count]
    others = [d for d in sorted(real_dir.iterdir()) if d.is_dir() and d.name != word and not d.name.startswith("_")]
    pairs = [(sorted(d.glob("*.wav"))[0], w) for d, w in zip(others, wake, strict=False)]
    if len(pairs) < count:
        raise TinyKwsError(f"{real_dir}: fewer than {count} clips of '{word}' and of other words")
    audio = np.concatenate([read_wav(p) for pair in pairs for p in pair])
    block = FIRMWARE.listen_block_samples
    return audio[: len(audio) // block * block]


def run_listen(out: Path, audio: np.ndarray, num_classes: int, icount_shift: int = 0) -> ListenRun:
    """The always-listening image on mps2-an386: the WAV arrives by timer interrupt at the audio rate.

    QEMU runs with -icount shift=N,sleep=off: each instruction takes 2^N virtual ns (N = 0: a 1 GHz core; a
    larger N is a slower core, which is how a test makes the main loop miss its deadline) and a WFI jumps the
    clock to the next interrupt, so the run is repeatable and its instruction counts exact."""
    board = "mps2-an386"
    cmd = qemu_command(board, listen_image(out), ("kws_listen", "in.wav"),
                       ("-icount", f"shift={icount_shift},sleep=off"))  # fmt: skip
    text, status, err = _run_on(board, cmd, audio, "always-listening image")
    app = parse_app_output(text, num_classes)
    if status != 0:
        raise TinyKwsError(f"always-listening image exited with status {status}: {err.strip()[-300:]}")
    blocks, overruns = _words(text, "listen")
    samples = _words(text, "end")[1]
    source, dropped = _words(text, "source")
    awake, _sleep, cal_instructions, cal_ticks = _words(text, "awake")
    period = _words(text, "block")
    to_instructions = [v * cal_instructions // cal_ticks for v in (awake, *period)]
    reports = [int(line.split()[1]) for line in text.splitlines() if line.startswith("overrun ")]
    return ListenRun(app, blocks, samples, overruns, source, dropped, to_instructions[0],
                     (to_instructions[1], to_instructions[2]), reports)  # fmt: skip


# --- size and instruction counts ---------------------------------------------------------------------------------


def _ensure_callgraph(board: str) -> None:
    """Objects built before the Makefile asked for -fcallgraph-info have no .ci: rebuild those."""
    out = BUILD_DIR / "firmware" / board
    for obj in [*out.glob("core/*.o"), *out.glob("nn/*.o"), *out.glob("apps/*.o"), *out.glob("boards/*/*.o"),
                *out.glob("listen/*.o")]:  # fmt: skip
        if obj.name != "kws_frontend_tables.o" and not obj.with_suffix(".ci").exists():
            obj.unlink()


def stack_report(out: Path, board: str, roots: tuple[str, ...] = ("kws_process", "main"), listen: bool = False) -> dict:
    """Deepest stack from each root, over the WAV app's objects or (listen) the always-listening image's."""
    shared = BUILD_DIR / "firmware" / board
    glue = [p for p in shared.glob("boards/*/*.ci") if (p.stem == "listen_glue") == listen or p.stem != "listen_glue"]
    ci = [*shared.glob("core/*.ci"), *shared.glob("nn/*.ci"), *glue, *out.glob("engine/*.ci")]
    ci += [*shared.glob("listen/*.ci"), *out.glob("listen/*.ci")] if listen else [*shared.glob("apps/*.ci"),
                                                                                 *out.glob("app/*.ci")]  # fmt: skip
    graph = footprint.call_graph(ci)
    report = {}
    for root in roots:
        total, path, unmeasured, problems = graph.worst_path(root)
        report[root] = {"bytes": total, "path": path, "unmeasured": sorted(unmeasured), "problems": problems}
    return report


def bench(model: IntModel, source: str) -> dict:
    """Instructions per hop and per second of audio: QEMU -icount (Thumb-2) and callgrind (x86-64)."""
    hops_per_second = CONFIG.audio.sample_rate / CONFIG.features.hop_samples
    result = {}
    for board in ("mps2-an386", "host"):
        require_tools(board, ("valgrind", "callgrind_annotate") if board == "host" else ())
        mdir = model_dir(model)
        with _locked(mdir):
            c_export.write_c_sources(model, mdir / "src", source=source)
            text = make(board, ("engine-bench",), mdir)
        m = re.search(r"^instructions per hop: (.*)$", text, re.MULTILINE)
        if m is None:
            raise TinyKwsError(f"{board} bench printed no instruction counts:\n{text[-1500:]}")
        per_hop = {k: int(v) for k, v in zip(m.group(1).split()[::2], m.group(1).split()[1::2], strict=True)}
        entry = {
            "instructions_per_hop": per_hop,
            "instructions_per_second": {k: round(v * hops_per_second) for k, v in per_hop.items()},
            "method": "QEMU -icount shift=0, Thumb-2" if board != "host" else "callgrind, x86-64",
        }
        k = re.search(r"^instructions per kernel call: (.*)$", text, re.MULTILINE)
        if k is not None:
            entry["instructions_per_kernel_call"] = {a: int(b) for a, b in zip(k.group(1).split()[::2],
                                                                                k.group(1).split()[1::2], strict=True)}
        result[board] = entry
    result["streaming_vs_window"] = {
        "macs_per_hop_streaming": model.macs_per_hop(),
        "macs_per_hop_whole_window": model.macs(),
        "instructions_ratio_m4": round(result["mps2-an386"]["instructions_per_hop"]["window"]
                                       / result["mps2-an386"]["instructions_per_hop"]["network"], 1),
    }  # fmt: skip
    return result


def _flash_and_static_ram(elf: Path) -> tuple[int, int]:
    r = subprocess.run(["arm-none-eabi-size", "-A", str(elf)], capture_output=True, text=True, check=True)
    sections = {p[0]: int(p[1]) for p in (line.split() for line in r.stdout.splitlines()) if len(p) >= 3
                and p[1].isdigit()}  # fmt: skip
    return (sum(sections.get(s, 0) for s in footprint.FLASH_SECTIONS),
            sum(sections.get(s, 0) for s in footprint.RAM_SECTIONS))  # fmt: skip


TARGETS = {"flash_bytes": FIRMWARE.flash_target_bytes, "ram_bytes": FIRMWARE.ram_target_bytes}
# What a Cortex-M4F pushes when an interrupt arrives with the FPU in use: r0-r3, r12, lr, pc, xPSR, s0-s15,
# FPSCR and a reserved word (26 words), plus 4 bytes of alignment.
EXCEPTION_FRAME_BYTES = 26 * 4 + 4


def symbol_sizes(elf: Path) -> dict[str, tuple[int, int]]:
    """name -> (address, size) of the ELF's sized symbols (arm-none-eabi-nm -S)."""
    r = subprocess.run(["arm-none-eabi-nm", "-S", str(elf)], capture_output=True, text=True, check=True)
    return {p[3]: (int(p[0], 16), int(p[1], 16)) for p in (line.split() for line in r.stdout.splitlines())
            if len(p) == 4}  # fmt: skip


def _nano_size_report(model: IntModel, source: str) -> dict:
    """The Nano 33 BLE Sense image: sizes from the ELF, stack from the call graph (nothing runs it here): main's
    deepest path plus the PDM interrupt's, which can arrive there, and its exception frame."""
    board = "nano33ble"
    _ensure_callgraph(board)
    out = build(model, board, source)
    elf = listen_image(out)
    flash, static_ram = _flash_and_static_ram(elf)
    stack = stack_report(out, board, ("kws_process", "main", "kws_irq_pdm"), listen=True)
    worst = stack["main"]["bytes"] + stack["kws_irq_pdm"]["bytes"] + EXCEPTION_FRAME_BYTES
    return {
        "board": board,
        "model": source,
        "image": str(elf),
        "flash_bytes": flash,
        "static_ram_bytes": static_ram,
        "stack_bytes": {"call_graph_main": stack["main"]["bytes"], "call_graph_kws_process":
                        stack["kws_process"]["bytes"], "call_graph_pdm_interrupt": stack["kws_irq_pdm"]["bytes"],
                        "exception_frame": EXCEPTION_FRAME_BYTES, "measured_high_water": None},  # fmt: skip
        "ram_bytes": static_ram + worst,
        "targets": TARGETS,
        "components": {k: {"flash": v.flash, "ram": v.ram} for k, v in
                       sorted(footprint.map_sizes(Path(f"{elf}.map")).items())},  # fmt: skip
        "state_bytes": {k: symbol_sizes(elf)[v][1] for k, v in
                        (("ring", "g_ring"), ("engine", "g_engine"), ("pdm", "g_pdm"))},  # fmt: skip
        "stack_paths": stack,
        "model_weight_bytes": model.weight_bytes(),
    }


def size_report(model: IntModel, source: str, with_bench: bool, board: str = "mps2-an386") -> dict:
    if board == "nano33ble":
        report = _nano_size_report(model, source)
        if with_bench:
            report["instructions"] = bench(model, source)
        return report
    _ensure_callgraph(board)
    out = build(model, board, source)
    elf = image(out, board)
    components = footprint.map_sizes(Path(f"{elf}.map"))
    flash, static_ram = _flash_and_static_ram(elf)
    # A short silent run gives the state sizes and the stack's high-water mark measured on the board.
    run = run_app(out, board, np.zeros(CONFIG.audio.sample_rate // 2, np.int16), len(model.labels))
    stack = stack_report(out, board)
    worst = max(stack["main"]["bytes"], run.stack_bytes or 0)
    report = {
        "board": board,
        "model": source,
        "image": str(elf),
        "flash_bytes": flash,
        "static_ram_bytes": static_ram,
        "stack_bytes": {"call_graph_main": stack["main"]["bytes"], "call_graph_kws_process":
                        stack["kws_process"]["bytes"], "measured_high_water": run.stack_bytes},  # fmt: skip
        "ram_bytes": static_ram + worst,
        "targets": TARGETS,
        "components": {k: {"flash": v.flash, "ram": v.ram} for k, v in sorted(components.items())},
        "state_bytes": run.state_bytes,
        "stack_paths": stack,
        "model_weight_bytes": model.weight_bytes(),
    }
    if with_bench:
        report["instructions"] = bench(model, source)
    return report


# --- commands -----------------------------------------------------------------------------------------------


def _model_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--task", type=layout.check_task, metavar="TASK", default="kws12", help="default kws12")
    parser.add_argument("--model", type=Path, default=None, help="integer model .npz (default: the shipped model)")


def _load(args: argparse.Namespace) -> tuple[IntModel, Path]:
    from tinykws.train.evaluate import load_model

    return load_model(args.task, args.model)


def _add_build_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--board", choices=BOARDS, default="host")
    _model_arguments(parser)


def _run_build(args: argparse.Namespace) -> int:
    model, path = _load(args)
    out = build(model, args.board, str(path))
    products = [image(out, args.board)] + ([out / "libkws_engine.so"] if args.board == "host" else [])
    if args.board == "nano33ble":
        products += [products[0].with_suffix(".bin"), products[0].with_suffix(".hex")]
    for p in products:
        print(p)
    return 0


def _add_size_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--board", choices=LISTEN_BOARDS, default="mps2-an386")
    _model_arguments(parser)
    parser.add_argument("--json", action="store_true", help="one JSON object")
    parser.add_argument("--bench", action="store_true", help="also count instructions (QEMU -icount, callgrind)")


def _print_size(rep: dict) -> None:
    kb = 1024
    print(f"{rep['image']}  ({rep['model']})")
    print(f"flash {rep['flash_bytes'] / kb:.1f} KB of {rep['targets']['flash_bytes'] // kb} KB;  RAM "
          f"{rep['ram_bytes'] / kb:.1f} KB of {rep['targets']['ram_bytes'] // kb} KB (static "
          f"{rep['static_ram_bytes']} + stack {rep['ram_bytes'] - rep['static_ram_bytes']})")  # fmt: skip
    print(f"{'component':<10} {'flash':>7} {'ram':>6}")
    for name, c in rep["components"].items():
        print(f"{name:<10} {c['flash']:>7} {c['ram']:>6}")
    print("state bytes: " + ", ".join(f"{k} {v}" for k, v in rep["state_bytes"].items()))
    st = rep["stack_bytes"]
    measured = "not run" if st["measured_high_water"] is None else f"{st['measured_high_water']} B measured"
    irq = f", PDM interrupt {st['call_graph_pdm_interrupt']} B + frame {st['exception_frame']} B" if (
        "call_graph_pdm_interrupt" in st) else ""
    print(f"stack: kws_process {st['call_graph_kws_process']} B, main {st['call_graph_main']} B{irq} (call graph), "
          f"{measured}")
    for board, b in rep.get("instructions", {}).items():
        if "instructions_per_second" in b:
            ips = b["instructions_per_second"]
            print(f"{board} ({b['method']}): per second of audio " + ", ".join(f"{k} {v:,}" for k, v in ips.items()))


def _run_size(args: argparse.Namespace) -> int:
    model, path = _load(args)
    rep = size_report(model, str(path), args.bench, args.board)
    if args.json:
        print(json.dumps(rep))
    else:
        _print_size(rep)
    return 0


def _add_run_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--board", choices=BOARDS, default="mps2-an386")
    _model_arguments(parser)
    parser.add_argument("wav", type=Path, metavar="IN.wav")
    parser.add_argument("--jsonl", action="store_true", help="one JSON object per line")
    parser.add_argument("--scores", action="store_true", help="also a line per hop with logits and smoothed scores")
    parser.add_argument("--convert", action="store_true", help="mix / resample / requantise other WAV formats")
    parser.add_argument(
        "--interrupts",
        action="store_true",
        help="mps2-an386: the always-listening image (timer interrupt feeds the WAV at the audio rate, WFI between "
        "blocks); last line: overruns and awake instructions per second of audio",
    )


def _run_run(args: argparse.Namespace) -> int:
    from tinykws.data.wav import read_wav
    from tinykws.firmware import detect

    if args.board == "nano33ble":
        raise TinyKwsError("nano33ble images are flashed, not run here: `tinykws firmware build --board nano33ble`")
    if args.interrupts and (args.board != "mps2-an386" or args.scores):
        raise TinyKwsError("--interrupts runs the always-listening image on --board mps2-an386, without --scores")
    model, path = _load(args)
    audio = read_wav(args.wav, convert=args.convert, report=lambda s: print(f"tinykws: {s}", file=sys.stderr))
    if args.interrupts:
        out = build(model, args.board, str(path), ("listen",))
        lst = run_listen(out, audio, len(model.labels))
        for line in detect.output_lines(model, lst.app.detections, None, args.jsonl):
            print(line)
        summary = lst.summary()
        if args.jsonl:
            print(json.dumps(summary))
        else:
            print(f"overruns {summary['overruns']}; awake {summary['awake_instructions_per_second']:,} instructions "
                  f"per second of audio (duty cycle {100 * summary['duty_cycle_at_64mhz']:.2f} % at 64 MHz)")
        return 0
    out = build(model, args.board, str(path))
    res = run_app(out, args.board, audio, len(model.labels), scores=args.scores)
    hops = [(h, lg, sm) for h, lg, sm in res.hops]
    for line in detect.output_lines(model, res.detections, hops if args.scores else None, args.jsonl):
        print(line)
    return 0


build_command = SimpleNamespace(add_arguments=_add_build_arguments, run=_run_build)
size_command = SimpleNamespace(add_arguments=_add_size_arguments, run=_run_size)
run_command = SimpleNamespace(add_arguments=_add_run_arguments, run=_run_run)
