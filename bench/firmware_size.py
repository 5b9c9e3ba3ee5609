"""The README's firmware table, generated: flash, RAM and instructions per hop of a shipped model's engine on
the Cortex-M4 board (mps2-an386 under QEMU).

    .venv/bin/python bench/firmware_size.py [--task kws12] [--readme] [--from-json PATH]

Measures with firmware/board.py's `size_report` (what `tinykws firmware size --bench --json` prints: map file,
call graph, stack high-water mark on the board, QEMU -icount and callgrind instruction counts), records the
report in bench/results/firmware-TASK.json and prints the table; --readme writes it between the README's
firmware markers. --from-json renders a recorded report without measuring. tests/test_readme.py checks that the
README's block is what this script renders from the recorded report, and that the benchmark table
(bench/speed.py) gives the same Cortex-M4 counts.
"""

from __future__ import annotations

import argparse
import datetime
from pathlib import Path

from tinykws import readme
from tinykws.config import CONFIG, REPO_ROOT
from tinykws.errors import TinyKwsError, run_script

RESULTS = Path(__file__).resolve().parent / "results"
BOARD = "mps2-an386"
TARGET_CLOCK_HZ = 64_000_000
TARGET_SHARE = 0.05  # of the clock, for the whole engine
# The image's flash by firmware/footprint.py component, in the README's groups; other components by name.
FLASH_GROUPS = (
    ("model", ("model",)),  # conv weights stored as int16 pairs in SMLAD order
    ("front end", ("frontend",)),
    ("kernels + network + engine + detector", ("kernels", "network", "engine", "detector")),
    ("app + board + C library", ("app", "board", "libc")),
)


def results_path(task: str) -> Path:
    return RESULTS / f"firmware-{task}.json"


def measure(task: str) -> dict:
    """size_report of the shipped model with its instruction counts, plus when and on what it was measured."""
    from tinykws.deploy.c_export import model_fingerprint
    from tinykws.firmware import board
    from tinykws.train.evaluate import load_model

    model, path = load_model(task, None)
    source = str(path.relative_to(REPO_ROOT))
    rep = board.size_report(model, source, with_bench=True)
    rep["image"] = str(Path(rep["image"]).relative_to(REPO_ROOT))
    rep["measured"] = {
        "utc": f"{datetime.datetime.now(datetime.UTC):%Y-%m-%d %H:%M}",
        "task": task,
        "command": f"python bench/firmware_size.py --task {task}",
        "model_id": model_fingerprint(model)[:12],
    }
    return rep


def _b(n: int) -> str:
    return f"{n:,} B"


def render(rep: dict) -> str:
    """The markdown block for a recorded report; every sum in it is computed here, from the report's parts."""
    comp = rep["components"]
    m4 = rep["instructions"][BOARD]["instructions_per_hop"]
    hps = CONFIG.audio.sample_rate / CONFIG.features.hop_samples
    glue = m4["engine"] - m4["frontend"] - m4["network"] - m4["detector"]
    if glue < 0:
        raise TinyKwsError(f"engine count {m4['engine']} is less than its parts: {m4}")
    parts = []
    for label, names in FLASH_GROUPS:
        parts.append(f"{label} {sum(comp.get(n, {}).get('flash', 0) for n in names):,}")
    grouped = {n for _, names in FLASH_GROUPS for n in names}
    parts += [f"{name} {c['flash']:,}" for name, c in sorted(comp.items()) if name not in grouped]
    unattributed = rep["flash_bytes"] - sum(c["flash"] for c in comp.values())
    parts += [f"not in any object {unattributed:,}"] if unattributed else []
    stack = rep["ram_bytes"] - rep["static_ram_bytes"]
    engine_state = rep["state_bytes"].get("engine")
    state = f" incl. {engine_state:,} B engine state" if engine_state is not None else ""
    budget = TARGET_SHARE * TARGET_CLOCK_HZ
    ms = rep["measured"]
    rows = [
        ("flash, whole image", f"{_b(rep['flash_bytes'])} ({'; '.join(parts)})",
         f"<= {rep['targets']['flash_bytes'] // 1024} KB"),
        ("RAM, whole image", f"{_b(rep['ram_bytes'])} ({rep['static_ram_bytes']:,} static{state} + {stack:,} B "
         "stack)", f"<= {rep['targets']['ram_bytes'] // 1024} KB"),
        ("instructions per hop (20 ms)", f"front end {m4['frontend']:,} + network {m4['network']:,} + detector "
         f"{m4['detector']:,} + engine glue {glue:,} = {m4['engine']:,}", ""),
        ("instructions per second of audio", f"**{m4['engine'] * hps / 1e6:.2f} M** ({m4['frontend'] * hps / 1e6:.2f} "
         f"M front end, {m4['network'] * hps / 1e6:.2f} M network, {m4['detector'] * hps / 1e6:.2f} M detector)",
         f"<= {budget / 1e6:.1f} M ({100 * TARGET_SHARE:g} % of {TARGET_CLOCK_HZ / 1e6:g} MHz)"),
        ("recomputing the whole window each hop instead", f"{m4['window']:,} per hop ({m4['window'] * hps / 1e6:.1f} "
         f"M/s): streaming is {m4['window'] / m4['network']:.0f}x cheaper", ""),
    ]  # fmt: skip
    head = (
        f"Measured {ms['utc']} UTC with `{ms['command']}` on `{rep['model']}` (model {ms['model_id']}); "
        f"recorded in `bench/results/{results_path(ms['task']).name}`."
    )
    lines = [head, "", "| figure | value | target |", "| --- | --- | --- |"]
    lines += [f"| {a} | {b} | {c} |" for a, b, c in rows]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--task", choices=("kws12", "yes"), default="kws12", help="shipped model to measure")
    p.add_argument("--readme", action="store_true", help="write the table into README.md's firmware block")
    p.add_argument("--from-json", type=Path, default=None, help="render a recorded report instead of measuring")
    args = p.parse_args(argv)
    return readme.report_to_block(
        "firmware", results_path(args.task), args.from_json, args.readme, lambda: measure(args.task), render
    )


if __name__ == "__main__":
    run_script(main)
