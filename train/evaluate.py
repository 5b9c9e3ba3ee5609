"""`tinykws eval` and `tinykws predict`: the integer reference model on clips and on feature files."""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from types import SimpleNamespace

import numpy as np

from tinykws.config import BUILD_DIR, CONFIG, REPO_ROOT
from tinykws.data import layout
from tinykws.errors import TinyKwsError
from tinykws.train import dataset, metrics
from tinykws.train.detector import keyword_mask
from tinykws.train.int_model import IntModel, check_feature_hash

MODELS_DIR = REPO_ROOT / "models"


def shipped_model_path(task: str) -> Path:
    return MODELS_DIR / task / "model.npz"


def load_model(task: str, path: Path | None) -> tuple[IntModel, Path]:
    path = path or shipped_model_path(task)
    model = IntModel.load(path)
    check_feature_hash(model, path)
    if tuple(model.labels) != layout.task_labels(task):
        raise TinyKwsError(f"{path}: model is for labels {list(model.labels)}, not task {task}")
    return model, path


def add_eval_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--task", type=layout.check_task, metavar="TASK", required=True)
    parser.add_argument("--model", type=Path, default=None, help="integer model .npz (default: the shipped model)")
    parser.add_argument("--data", type=Path, required=True, help="Speech Commands folder (either layout)")
    parser.add_argument("--split", default="all", choices=("all", *layout.SPLITS), help="only clips of this split")
    parser.add_argument("--json", action="store_true", help="print one JSON object instead of the table")
    parser.add_argument("--png", type=Path, default=None, help="confusion-matrix PNG (default beside the model)")
    parser.add_argument(
        "--teacher",
        nargs="?",
        type=Path,
        const=Path(),
        default=None,
        metavar="HEAD.pt",
        help="score the training-time teacher (speech embedding + head) instead of the int8 model; default head: "
        "teacher_head.pt beside --model, else build/runs/TASK/teacher_head.pt",
    )


def _teacher_scores(args: argparse.Namespace, clips: list[layout.Clip]) -> tuple[np.ndarray, Path, tuple[str, ...]]:
    """Logits of the teacher head on the clean clips, its path and labels (imported only here: training side)."""
    from tinykws.train import teacher

    head_path = args.teacher
    if head_path == Path():
        beside = args.model.parent / "teacher_head.pt" if args.model else None
        head_path = beside if beside and beside.exists() else BUILD_DIR / "runs" / args.task / "teacher_head.pt"
    head, labels = teacher.load_head(head_path, args.task)
    emb = teacher.embeddings(clips, [args.data], augment=False, desc="teacher embeddings")
    return teacher.head_logits(head, emb), head_path, labels


def run_eval(args: argparse.Namespace) -> int:
    model, path = (None, None) if args.teacher is not None else load_model(args.task, args.model)
    clips = layout.scan(args.data)
    if args.split != "all":
        clips = [c for c in clips if c.split == args.split]
    if not clips:
        raise TinyKwsError(f"{args.data}: no clips in split {args.split}")
    labels = dataset.labels_for(np.array([c.word for c in clips]), args.task)
    # A keyword without clips would print a blank recall as if measured: refused before computing features.
    names = layout.task_labels(args.task)
    keywords = keyword_mask(names)
    absent = [name for i, name in enumerate(names) if keywords[i] and not np.any(labels == i)]
    if absent:
        raise TinyKwsError(f"{args.data}: no clips of {', '.join(absent)} (split {args.split}, task {args.task})")
    if args.teacher is not None:
        logits, path, names = _teacher_scores(args, clips)
        what = "teacher"
    else:
        logits, what = model.run_batch(dataset.clean_features(clips)), "int8"
    m = metrics.summarize(labels, logits, names)
    png = args.png or BUILD_DIR / "eval" / f"confusion_{args.task}{'_teacher' if args.teacher is not None else ''}.png"
    png.parent.mkdir(parents=True, exist_ok=True)
    metrics.plot_confusion(m, str(png), f"tinykws {args.task} {what}, {args.data.name}")
    m["model"], m["data"], m["confusion_png"] = str(path), str(args.data), str(png)
    m["scored"] = what
    if args.json:
        print(json.dumps(m))
    else:
        print(f"model {path}  data {args.data} ({args.split})")
        print(metrics.format_table(m))
        print(f"confusion matrix: {png}")
    return 0


def add_predict_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--task", type=layout.check_task, metavar="TASK", required=True)
    parser.add_argument("features", type=Path, metavar="FEATURES.npz", help="output of `tinykws features`")
    parser.add_argument("--model", type=Path, default=None, help="integer model .npz (default: the shipped model)")
    parser.add_argument("--json", action="store_true", help="print one JSON object")


def run_predict(args: argparse.Namespace) -> int:
    model, _ = load_model(args.task, args.model)
    try:
        z = np.load(args.features, allow_pickle=False)
    except FileNotFoundError:
        raise TinyKwsError(f"{args.features}: no such file") from None
    except Exception as e:
        raise TinyKwsError(f"{args.features}: not a features .npz ({type(e).__name__})") from None
    results = {}
    with z:
        for name in z.files:
            f = z[name]
            want = (model.input_frames, CONFIG.features.num_mfcc)
            if f.dtype != np.int8 or f.ndim != 2 or f.shape[1] != want[1] or f.shape[0] < want[0]:
                raise TinyKwsError(
                    f"{args.features}: array {name!r} is {f.shape} {f.dtype}, need (>= {want[0]}, "
                    f"{want[1]}) int8 features"
                )
            # A clip longer than the model's window is scored on its first window, as a 1 s clip would be.
            logits = model.run(f[: model.input_frames])
            results[name] = {"logits": logits.tolist(), "label": model.labels[int(np.argmax(logits))]}
    if args.json:
        print(json.dumps({"task": args.task, "labels": list(model.labels), "outputs": results}))
    else:
        for name, r in results.items():
            print(f"{name}: {r['label']}  logits {r['logits']}")
    return 0


# The CLI's command convention is an object with add_arguments / run; eval and predict share this module.
eval_command = SimpleNamespace(add_arguments=add_eval_arguments, run=run_eval)
predict_command = SimpleNamespace(add_arguments=add_predict_arguments, run=run_predict)
