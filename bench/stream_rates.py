"""FRR of wake-word models at several false-accept rates on the same streams: compare recipes on more than one
operating point.

`python bench/stream_rates.py MODEL.npz [MODEL.npz ...] [--task yes] [--hours 4] [--window 5] [--json]`

Builds the streams stream-eval builds (validation speakers; `--hours` of negative stream), runs every model
through the C engine, and for one detector window and refractory (not each model's own tuned detector: one
setting for all, so the figures compare models rather than tunings) prints the FRR at the highest threshold
allowing each of `--rates` false accepts per hour. At <= 0.5 FA/h on 4 h one false accept decides the
threshold; the higher rates show whether a gain holds along the curve. This is how README's stream-window
tables for "yes" were measured.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from tinykws.config import CONFIG
from tinykws.errors import TinyKwsError, run_script
from tinykws.firmware.engine import CEngine
from tinykws.train import stream_eval as se
from tinykws.train.int_model import IntModel


def rates_table(models: list[Path], task: str, hours: float, window: int, refractory: int, rates: list[float],
                progress: bool = True) -> list[dict]:  # fmt: skip
    built, _ = se.streams_for(task, hours)
    total_hours = sum(s.seconds for s in built) / 3600.0
    rows = []
    for path in models:
        model = IntModel.load(path)
        recorded = [(s, se.stream_logits(model, s.audio, CEngine, progress, desc=f"{path.parent.name} {s.name}"))
                    for s in built]  # fmt: skip
        points = se.sweep(recorded, model.labels, model.input_frames - 1, window, refractory, total_hours,
                          max_fa_per_hour=max(rates) * 2)  # fmt: skip
        row = {"model": str(path), "hours": round(total_hours, 3), "positives": sum(len(s.positives) for s in built)}
        for rate in rates:
            p = se.operating_point(points, rate, floor=-256)
            row[f"frr_at_{rate:g}"] = round(p.frr, 4)
            row[f"threshold_at_{rate:g}"] = p.threshold
        rows.append(row)
    return rows


def main(argv: list[str]) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("models", type=Path, nargs="+", help="integer models (.npz)")
    p.add_argument("--task", default="yes")
    p.add_argument("--hours", type=float, default=4.0, help="hours of negative stream (default 4)")
    p.add_argument("--window", type=int, default=CONFIG.detector.smoothing_hops, help="detector window in hops")
    p.add_argument("--refractory", type=int, default=CONFIG.detector.refractory_hops, help="refractory hops")
    p.add_argument("--rates", type=float, nargs="+", default=[0.5, 1.0, 2.0, 5.0], help="false accepts per hour")
    p.add_argument("--json", action="store_true")
    args = p.parse_args(argv)
    for m in args.models:
        if not m.is_file():
            raise TinyKwsError(f"{m}: no such model file")
    rows = rates_table(args.models, args.task, args.hours, args.window, args.refractory, args.rates)
    if args.json:
        print(json.dumps(rows))
        return 0
    print(f"| model | {' | '.join(f'<= {r:g} FA/h' for r in args.rates)} |")
    print(f"| --- |{' --- |' * len(args.rates)}")
    for row in rows:
        cells = " | ".join(f"{100 * row[f'frr_at_{r:g}']:.1f} %" for r in args.rates)
        print(f"| {row['model']} | {cells} |")
    print(f"({rows[0]['positives']} wake words, {rows[0]['hours']:.2f} h of streams, window {args.window} hops)",
          file=sys.stderr)  # fmt: skip
    return 0


if __name__ == "__main__":
    run_script(lambda: main(sys.argv[1:]))
