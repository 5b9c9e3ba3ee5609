"""Copy a finished run into models/<task>/: the integer model, the QAT weights it was exported from, and a
model.json saying what it is, what it was trained on, how good it is and which command reproduces it.

`python -m tinykws.train.ship TASK [RUN_DIR]`
"""

from __future__ import annotations

import hashlib
import json
import shutil
import sys
from pathlib import Path

from tinykws.atomic import atomic_path
from tinykws.config import BUILD_DIR, CONFIG, REPO_ROOT
from tinykws.errors import TinyKwsError
from tinykws.portable import portable_paths
from tinykws.train.evaluate import MODELS_DIR
from tinykws.train.int_model import IntModel
from tinykws.train.trainer import DEFAULT_TRANSFER, SHIPPED_BODY, save_torch


def reproduce(task: str, recipe: dict) -> str:
    """The command that trains this model again: its task and every recipe setting that is not the default."""
    words = ["tinykws", "train", "--task", task]
    if recipe.get("body"):
        inside = SHIPPED_BODY.is_relative_to(REPO_ROOT)
        words += ["--body", str(SHIPPED_BODY.relative_to(REPO_ROOT) if inside else SHIPPED_BODY)]
        words += ["--body-mode", "frozen"] if recipe["body"].get("frozen") else []
    if not recipe.get("teacher", True):
        words.append("--no-teacher")
    if "transfer" in recipe and tuple(recipe["transfer"]) != DEFAULT_TRANSFER:
        words += ["--transfer", ",".join(recipe["transfer"]) or "none"]
    if recipe.get("seed", CONFIG.train.seed) != CONFIG.train.seed:
        words += ["--seed", str(recipe["seed"])]
    return " ".join(words)


def ship(task: str, run_dir: Path) -> Path:
    model_path = run_dir / "model.npz"
    if not model_path.exists():
        raise TinyKwsError(f"{run_dir}: no finished run (model.npz missing)")
    import torch

    state = torch.load(run_dir / "checkpoint.pt", weights_only=False)
    model = IntModel.load(model_path)
    body = (model.meta.get("report", {}).get("recipe") or {}).get("body")
    if body:
        # The card says "--body models/body/body.pt": that must be the body this run started from.
        shipped = hashlib.sha256(SHIPPED_BODY.read_bytes()).hexdigest() if SHIPPED_BODY.exists() else None
        if body.get("sha256") != shipped:
            raise TinyKwsError(
                f"{run_dir}: trained from another speech body than {SHIPPED_BODY}; ship that body first "
                "(or retrain from the shipped one)"
            )
    out = MODELS_DIR / task
    out.mkdir(parents=True, exist_ok=True)
    with atomic_path(out / "model.npz", suffix=".npz") as tmp:
        shutil.copyfile(model_path, tmp)
    save_torch({"float_state": state["float_state"], "qat_state": state["qat_state"], "task": task}, out / "qat.pt")
    report = model.meta.get("report", {})
    card = {
        "task": task,
        "labels": list(model.labels),
        "feature_hash": model.feature_hash,
        "git": model.meta.get("git"),
        "reproduce": f"{reproduce(task, report.get('recipe') or {})}  (then python -m tinykws.train.ship {task})",
        "training_data": report.get("data"),
        "weight_bytes": model.weight_bytes(),
        "macs_per_inference": model.macs(),
        "macs_per_hop_streaming": model.macs_per_hop(),
        "metrics": {k: v for k, v in report.items() if k.startswith("val_")},
        # How it was taught: the teacher's soft labels and transfer set (train/teacher.py), and the teacher's own
        # accuracy on the same validation clips (the gap is what distillation has not carried over).
        "recipe": report.get("recipe"),
        "teacher": report.get("teacher"),
        # Set by `tinykws stream-eval --apply` on the run's model (make run does it for the wake word).
        "detector": model.meta.get("detector"),
        "stream_eval": model.meta.get("stream_eval"),
        "history": state["history"],
        "config": model.meta.get("config"),
    }
    with atomic_path(out / "model.json", suffix=".json") as tmp:
        tmp.write_text(json.dumps(portable_paths(card), indent=1) + "\n")
    return out


if __name__ == "__main__":
    task = sys.argv[1]
    run_dir = Path(sys.argv[2]) if len(sys.argv) > 2 else BUILD_DIR / "runs" / task
    try:
        print(f"shipped {ship(task, run_dir)}")
    except TinyKwsError as e:
        sys.exit(f"tinykws: {e}")
