"""The README's always-listening figures, generated: the Arduino Nano 33 BLE Sense image's flash and RAM and
what the interrupt-driven loop costs per second of audio (mps2-an386 under QEMU -icount).

    .venv/bin/python bench/listen_figures.py [--task yes] [--readme] [--from-json PATH]

Measures with firmware/board.py: `size_report(board="nano33ble")` (what `tinykws firmware size --board
nano33ble --json` prints) and `run_listen` on board.wake_word_stream (real clips of the wake word, each after
another word; what `tinykws firmware run --board mps2-an386 --interrupts` runs), records both in
bench/results/listen-TASK.json and prints the table; --readme writes it between the README's listen markers.
tests/test_readme.py checks that the README's block is what this script renders from the recorded report.
"""

from __future__ import annotations

import argparse
import datetime
from pathlib import Path

from tinykws import readme
from tinykws.config import CONFIG, FIRMWARE, REPO_ROOT, SHARED_DATA_DIR
from tinykws.errors import run_script

RESULTS = Path(__file__).resolve().parent / "results"
REAL = SHARED_DATA_DIR / "speech_commands_test_set_v0.02"


def results_path(task: str) -> Path:
    return RESULTS / f"listen-{task}.json"


def measure(task: str) -> dict:
    from tinykws.deploy.c_export import model_fingerprint
    from tinykws.firmware import board
    from tinykws.train.engine import PythonEngine
    from tinykws.train.evaluate import load_model

    model, path = load_model(task, None)
    source = str(path.relative_to(REPO_ROOT))
    size = board.size_report(model, source, with_bench=False, board="nano33ble")
    size["image"] = str(Path(size["image"]).relative_to(REPO_ROOT))
    audio = board.wake_word_stream(REAL, task)
    out = board.build(model, "mps2-an386", source, ("listen",))
    run = board.run_listen(out, audio, len(model.labels))
    same = run.app.detections == PythonEngine(model).process(audio)
    return {
        "nano33ble": {
            k: size[k]
            for k in (
                "image",
                "flash_bytes",
                "static_ram_bytes",
                "ram_bytes",
                "stack_bytes",
                "state_bytes",
                "targets",
                "components",
            )
        },  # fmt: skip
        "listen": {
            **run.summary(),
            "detections": len(run.app.detections),
            "seconds": round(len(audio) / CONFIG.audio.sample_rate, 2),
            "block_period_instructions": list(run.block_period_instructions),
        },  # fmt: skip
        "same_detections_as_python": same,
        "measured": {
            "utc": f"{datetime.datetime.now(datetime.UTC):%Y-%m-%d %H:%M}",
            "task": task,
            "model": source,
            "command": f"python bench/listen_figures.py --task {task}",
            "model_id": model_fingerprint(model)[:12],
        },
    }


def render(rep: dict) -> str:
    """The markdown block for a recorded report; the duty cycle is computed here from the recorded counts."""
    nano, lst, ms = rep["nano33ble"], rep["listen"], rep["measured"]
    stack = nano["ram_bytes"] - nano["static_ram_bytes"]
    st = nano["state_bytes"]
    ips = lst["awake_instructions_per_second"]
    hz = FIRMWARE.board_cpu_hz
    rows = [
        ("flash", f"{nano['flash_bytes']:,} B", f"<= {nano['targets']['flash_bytes'] // 1024} KB"),
        ("RAM", f"{nano['ram_bytes']:,} B ({nano['static_ram_bytes']:,} static incl. {st['engine']:,} B engine "
         f"state, {st['ring']:,} B block ring, {st['pdm']:,} B PDM buffers; + {stack:,} B stack: call graph of "
         "main + the PDM interrupt and its frame)", f"<= {nano['targets']['ram_bytes'] // 1024} KB"),
        ("instructions per second of audio, awake", f"**{ips / 1e6:.2f} M** (interrupts included; QEMU -icount on "
         f"mps2-an386, {lst['seconds']:g} s of audio, {lst['blocks']} blocks)", ""),
        (f"duty cycle at {hz / 1e6:g} MHz", f"**{100 * ips / hz:.1f} %** awake, the rest in WFI (assuming ~1 "
         "instruction per cycle)", ""),
        ("overruns", f"{lst['overruns']} ({lst['detections']} detections, "
         f"{'the same' if rep['same_detections_as_python'] else 'NOT the same'} as `tinykws detect`)", "0"),
    ]  # fmt: skip
    head = (f"Measured {ms['utc']} UTC with `{ms['command']}` on `{ms['model']}` (model {ms['model_id']}); "
            f"recorded in `bench/results/{results_path(ms['task']).name}`.")  # fmt: skip
    lines = [head, "", "| figure (Nano 33 BLE Sense image) | value | target |", "| --- | --- | --- |"]
    lines += [f"| {a} | {b} | {c} |" for a, b, c in rows]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--task", choices=("kws12", "yes"), default="yes", help="shipped model to measure")
    p.add_argument("--readme", action="store_true", help="write the table into README.md's listen block")
    p.add_argument("--from-json", type=Path, default=None, help="render a recorded report instead of measuring")
    args = p.parse_args(argv)
    return readme.report_to_block(
        "listen", results_path(args.task), args.from_json, args.readme, lambda: measure(args.task), render
    )


if __name__ == "__main__":
    run_script(main)
