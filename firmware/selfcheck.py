"""`make run`'s last proof: the same stream through the Python engine, the C engine on the host and the
Cortex-M4 image under QEMU must give identical per-hop scores and detections.

`python -m tinykws.firmware.selfcheck [--task T] [--model M] [--clips N]`
"""

from __future__ import annotations

import argparse
import subprocess
import sys
from pathlib import Path

import numpy as np

from tinykws.config import BUILD_DIR, SHARED_DATA_DIR
from tinykws.data import layout
from tinykws.data.wav import fit_clip, read_wav, write_wav

REAL = SHARED_DATA_DIR / "speech_commands_test_set_v0.02"


def make_stream(n_clips: int, path: Path) -> int:
    """Real validation clips (every other one a "yes") back to back, 0.5 s of silence between."""
    clips = [c for c in layout.scan(REAL) if c.split == "validation"]
    yes = [c for c in clips if c.word == "yes"]
    other = [c for c in clips if c.word != "yes"]
    pick = [(yes if i % 2 == 0 else other)[i // 2] for i in range(n_clips)]
    gap = np.zeros(len(fit_clip(np.zeros(1, np.int16))) // 2, np.int16)
    write_wav(path, np.concatenate([np.concatenate([fit_clip(read_wav(c.path)), gap]) for c in pick]))
    return len(pick)


def _run(cmd: list[str]) -> list[str]:
    out = subprocess.run(cmd, check=True, capture_output=True, text=True).stdout
    return out.splitlines()


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--task", default="yes", type=layout.check_task, metavar="TASK")
    ap.add_argument("--model", type=Path, default=None)
    ap.add_argument("--clips", type=int, default=6)
    args = ap.parse_args()
    wav = BUILD_DIR / "selfcheck" / f"stream_{args.task}.wav"
    n = make_stream(args.clips, wav)
    base = [sys.executable, "-m", "tinykws.cli"]
    model = ["--model", str(args.model)] if args.model else []
    common = ["--task", args.task, *model, "--jsonl", "--scores", str(wav)]
    runs = {
        "python": _run([*base, "detect", "--engine", "python", *common]),
        "c (host)": _run([*base, "detect", "--engine", "c", *common]),
        "mps2-an386 (QEMU)": _run([*base, "firmware", "run", "--board", "mps2-an386", *common]),
    }
    ref = runs["python"]
    detections = sum(1 for line in ref if '"keyword"' in line and '"logits"' not in line)
    ok = True
    for name, lines in runs.items():
        same = lines == ref
        ok &= same
        print(f"{name:<20} {len(lines)} lines, {'identical' if same else 'DIFFERENT'} to python")
    print(f"{n} real clips, {len(ref)} output lines ({detections} detections): "
          f"{'all engines identical' if ok else 'MISMATCH'}")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
