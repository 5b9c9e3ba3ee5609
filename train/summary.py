"""The table `make run` ends with: size, cost and accuracy of each trained model, float vs QAT vs int8.

`python -m tinykws.train.summary [RUNS_DIR]` reads every `<task>/report.json` under the runs folder.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

from tinykws.config import BUILD_DIR


def table(runs: Path) -> str:
    rows = [
        (
            "task",
            "bytes",
            "MACs/inf",
            "MACs/hop",
            "train s",
            "float %",
            "QAT %",
            "int8 %",
            "teacher %",
            "FRR@0.5%FAR",
            "n",
        )
    ]
    for report_path in sorted(runs.glob("*/report.json")):
        r = json.loads(report_path.read_text())
        v = r.get("val_real") or {}
        i8 = v.get("int8", {})
        frr = i8.get("frr_at_far_0.5%")
        teacher = ((r.get("teacher") or {}).get("val_real") or {}).get("accuracy")  # the soft labels' source
        rows.append((
            r["task"], str(r["weight_bytes"]), str(r["macs"]), str(r["macs_per_hop"]), f"{r['train_seconds']:.0f}",
            f"{100 * v.get('float_acc', float('nan')):.2f}", f"{100 * v.get('qat_acc', float('nan')):.2f}",
            f"{100 * i8.get('accuracy', float('nan')):.2f}", "-" if teacher is None else f"{100 * teacher:.2f}",
            "-" if frr is None else f"{100 * frr:.2f} %",
            str(i8.get("n", 0)),
        ))  # fmt: skip
    widths = [max(len(row[c]) for row in rows) for c in range(len(rows[0]))]
    lines = ["  ".join(cell.rjust(w) for cell, w in zip(row, widths, strict=True)) for row in rows]
    lines.insert(1, "  ".join("-" * w for w in widths))
    return "accuracy on the real validation speakers (never trained on)\n" + "\n".join(lines)


if __name__ == "__main__":
    runs = Path(sys.argv[1]) if len(sys.argv) > 1 else BUILD_DIR / "runs"
    if not any(runs.glob("*/report.json")):
        sys.exit(f"tinykws: no finished runs under {runs}")
    print(table(runs))
