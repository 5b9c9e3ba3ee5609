"""`tinykws data info`: what a Speech Commands folder holds, per split and label."""

from __future__ import annotations

import argparse
import json
from collections import Counter

from tinykws.data import layout


def summarize(clips: list[layout.Clip], task: str) -> dict:
    names = layout.task_labels(task)
    out: dict = {"clips": len(clips), "speakers": len({c.speaker for c in clips}), "splits": {}}
    for split in layout.SPLITS:
        part = [c for c in clips if c.split == split]
        if not part:
            continue
        counts = Counter(names[layout.label_index(c.word, task)] for c in part)
        out["splits"][split] = {
            "clips": len(part),
            "speakers": len({c.speaker for c in part}),
            "per_label": {n: counts.get(n, 0) for n in names},
        }
    return out


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("data", nargs="+", help="Speech Commands folders (either layout)")
    parser.add_argument("--task", type=layout.check_task, metavar="TASK", default="kws12")
    parser.add_argument("--json", action="store_true", help="print one JSON object")


def run(args: argparse.Namespace) -> int:
    clips = [c for root in args.data for c in layout.scan(root)]
    summary = summarize(clips, args.task)
    if args.json:
        print(json.dumps(summary))
        return 0
    print(f"{summary['clips']} clips, {summary['speakers']} speakers")
    for split, s in summary["splits"].items():
        labels = "  ".join(f"{k}:{v}" for k, v in s["per_label"].items())
        print(f"  {split:<10} {s['clips']:>6} clips {s['speakers']:>4} speakers  {labels}")
    return 0
