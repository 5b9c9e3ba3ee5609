"""What the teacher buys the 20 KB student: kws12 (or a wake word) trained with and without the teacher's soft
labels and with each part of the transfer set added or removed, every int8 model scored on the same real
validation speakers (never trained on), beside its teacher; then a learning curve over the share of real
training speakers with and without the teacher.

    .venv/bin/python bench/distill_ablation.py [--task kws12] [--epochs FLOAT QAT] [--real-shares 0.25 0.5]
        [--jobs 2] [--markdown]

Runs go to build/distill_ablation/<task>/<name>/ (finished runs are reused, an interrupted one resumes); the
teacher embeddings are shared through their cache. Prints one table (--markdown: the README's).
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from ablation import REAL, SYNTH, real_subset  # noqa: E402  (the real-speaker subsets of the data ablation)

from tinykws.config import BUILD_DIR  # noqa: E402

TINYKWS = [sys.executable, "-m", "tinykws.cli"]

# name -> extra `tinykws train` flags
VARIANTS = {
    "hard labels, bank only (before)": ["--no-teacher", "--transfer", "none"],
    "hard labels + real copies + running speech": ["--no-teacher"],
    "teacher, bank only": ["--transfer", "none"],
    "teacher + real copies": ["--transfer", "real"],
    "teacher + running speech": ["--transfer", "running"],
    "teacher + real copies + running speech (shipped)": [],
}


def _slug(name: str) -> str:
    return "".join(c if c.isalnum() else "_" for c in name).strip("_")


def train_and_eval(task: str, out: Path, flags: list[str], roots: list[Path], epochs: list[int]) -> dict:
    if not (out / "model.npz").exists():
        resume = ["--resume"] if (out / "checkpoint.pt").exists() else ["--fresh"]
        cmd = [*TINYKWS, "train", "--task", task, "--out", str(out), "--no-progress", "--epochs", *map(str, epochs),
               *resume, "--data", *map(str, roots), *flags]  # fmt: skip
        subprocess.run(cmd, check=True, stdout=subprocess.DEVNULL)
    report = json.loads((out / "report.json").read_text())
    student = report["val_real"]["int8"]
    teacher = report.get("teacher", {}).get("val_real")
    return {"student": student, "teacher": teacher}


def _row(name: str, task: str, r: dict) -> list[str]:
    s, t = r["student"], r["teacher"]
    if task == "kws12":
        figure = lambda m: f"{100 * m['accuracy']:.2f}"  # noqa: E731
        extra = f"{100 * s['per_class']['_unknown_']['recall']:.1f}"
    else:
        figure = lambda m: f"{100 * m['per_class'][task]['recall']:.1f}"  # noqa: E731
        extra = f"{100 * s.get('far', 0.0):.2f}"
    gap = f"{float(figure(t)) - float(figure(s)):+.2f}" if t else "-"
    return [name, figure(s), figure(t) if t else "-", gap, extra, str(s["n"])]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--task", default="kws12")
    ap.add_argument("--epochs", type=int, nargs=2, default=[20, 6], metavar=("FLOAT", "QAT"))
    ap.add_argument("--real-shares", type=float, nargs="*", default=[0.25, 0.5])
    ap.add_argument("--jobs", type=int, default=2, help="runs trained at once (each uses one torch thread)")
    ap.add_argument("--only", nargs="*", default=None, help="variant names to run (default: all)")
    ap.add_argument("--markdown", action="store_true")
    args = ap.parse_args()
    base = BUILD_DIR / "distill_ablation" / args.task
    jobs: dict[str, tuple[list[str], list[Path]]] = {
        n: (f, [SYNTH, REAL]) for n, f in VARIANTS.items() if args.only is None or n in args.only
    }
    for share in args.real_shares:
        sub = real_subset(share)
        pct = int(share * 100)
        jobs[f"{pct} % of real speakers, hard labels"] = (["--no-teacher", "--transfer", "none"], [SYNTH, sub])
        jobs[f"{pct} % of real speakers, teacher + transfer set"] = ([], [SYNTH, sub])
    with ThreadPoolExecutor(args.jobs) as pool:
        futs = {
            n: pool.submit(train_and_eval, args.task, base / _slug(n), f, r, args.epochs) for n, (f, r) in jobs.items()
        }
        results = {n: f.result() for n, f in futs.items()}
    what = "accuracy %" if args.task == "kws12" else f"{args.task} recall %"
    head = ["training", f"student int8 {what}", f"teacher {what}", "teacher - student",
            "unknown recall %" if args.task == "kws12" else "FAR %", "n"]  # fmt: skip
    rows = [_row(n, args.task, r) for n, r in results.items()]
    print(f"{args.task} on the real validation speakers ({args.epochs[0]} float + {args.epochs[1]} QAT epochs)")
    if args.markdown:
        print("| " + " | ".join(head) + " |")
        print("|" + " --- |" * len(head))
        for r in rows:
            print("| " + " | ".join(r) + " |")
        return
    widths = [max(len(r[i]) for r in [head, *rows]) for i in range(len(head))]
    for r in [head, *rows]:
        print("  ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)))


if __name__ == "__main__":
    main()
