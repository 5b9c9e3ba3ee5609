"""`tinykws data info`: what a Speech Commands folder holds, per split and label."""

from __future__ import annotations

import argparse
import json
from collections import Counter

from tinykws.config import CONFIG
from tinykws.data import layout


def _silence(clips: list[layout.Clip]) -> int:
    return sum(c.word == CONFIG.labels.silence_label for c in clips)


def summarize(clips: list[layout.Clip], task: str) -> dict:
    """Clips, speakers (people: a silence snippet is nobody, and its clips are counted apart) and labels."""
    names = layout.task_labels(task)
    out: dict = {
        "clips": len(clips),
        "speakers": len(layout.people(clips)),
        "silence_clips": _silence(clips),
        "splits": {},
    }
    for split in layout.SPLITS:
        part = [c for c in clips if c.split == split]
        if not part:
            continue
        counts = Counter(names[layout.label_index(c.word, task)] for c in part)
        out["splits"][split] = {
            "clips": len(part),
            "speakers": len(layout.people(part)),
            "silence_clips": _silence(part),
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
    print(f"{summary['clips']} clips ({summary['silence_clips']} of silence), {summary['speakers']} speakers")
    for split, s in summary["splits"].items():
        labels = "  ".join(f"{k}:{v}" for k, v in s["per_label"].items())
        print(
            f"  {split:<10} {s['clips']:>6} clips ({s['silence_clips']:>4} of silence) {s['speakers']:>4} speakers"
            f"  {labels}"
        )
    return 0
