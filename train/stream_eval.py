"""`tinykws stream-eval`: false rejects and false accepts per hour of the streaming detector on long streams.

The streams (data/streams.py) are built from clips the model did not train on (the validation speakers by
default). The engine runs over each stream once and keeps its per-hop int8 logits; the detector is then
replayed from those logits for every setting (detector.py's rules, vectorised here and tested equal to
`Detector`), which gives the DET curve (FRR against FA/h over thresholds) and the search over smoothing
window and refractory period. The pick: for each (window, refractory) the lowest threshold whose false
accepts stay within the target rate at it and at every higher threshold; then the setting with the fewest
misses. `--apply` writes it into the model's meta["detector"], which the Python engine, the C build and
`listen` all read.

The engine that records the logits is passed in (`stream_logits(..., engine)`, `run(args, engines)`): the
firmware's C engine is a later stage that train/ does not import, so the `tinykws stream-eval` command, whose
default engine is the C one, is firmware/stream_eval.py, which hands both engines to `run`.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import sys
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from tqdm import tqdm

from tinykws.config import BUILD_DIR, CONFIG, SHARED_DATA_DIR, DetectorConfig, StreamConfig
from tinykws.data import layout, streams
from tinykws.data.wav import read_wav
from tinykws.errors import TinyKwsError
from tinykws.train.detector import detector_config, hop_scores, keyword_mask
from tinykws.train.engine import PythonEngine
from tinykws.train.int_model import IntModel

_CHUNK = CONFIG.audio.sample_rate  # a second of audio per engine call: keeps the recorded hops of one call few
# An engine class: `make(model, record=True)` has `process(samples)` and the `hops` it recorded (train/engine.py).
EngineFactory = Callable[..., Any]


# --- the detector, replayed over recorded logits ------------------------------------------------------------


@dataclass
class Smoothed:
    """Per pushed hop: the best keyword's smoothed sum and its class (ties to the lowest index)."""

    best_sum: np.ndarray  # (H,) int64; -2**40 before the window is full
    best_class: np.ndarray  # (H,) int


def smooth(logits: np.ndarray, labels: Sequence[str], smoothing_hops: int) -> Smoothed:
    """logits (H, classes) int8, one row per hop the detector was pushed."""
    scores = hop_scores(logits).astype(np.int64)
    csum = np.cumsum(scores, axis=0)
    sums = csum.copy()
    sums[smoothing_hops:] -= csum[:-smoothing_hops]
    mask = keyword_mask(labels)
    cand = np.where(mask, sums, np.iinfo(np.int64).min)
    best = np.argmax(cand, axis=1)
    best_sum = np.take_along_axis(sums, best[:, None], axis=1)[:, 0]
    best_sum[: smoothing_hops - 1] = -(2**40)  # nothing fires before the window is full
    return Smoothed(best_sum, best)


def fire(sm: Smoothed, threshold: int, smoothing_hops: int, refractory_hops: int) -> np.ndarray:
    """Indices of the pushed hops that fire: above threshold, and not within refractory of the last firing."""
    cand = np.flatnonzero(sm.best_sum >= threshold * smoothing_hops)
    out = []
    i = 0
    while i < len(cand):
        out.append(cand[i])
        i = int(np.searchsorted(cand, cand[i] + refractory_hops + 1))
    return np.asarray(out, dtype=np.int64)


# --- running the engine ---------------------------------------------------------------------------------------


def stream_logits(
    model: IntModel, audio: np.ndarray, engine: EngineFactory = PythonEngine, progress: bool = False, desc: str = ""
) -> np.ndarray:
    """(H, classes) int8: the logits of every hop that has them (hop = row + input_frames - 1)."""
    eng = engine(model, record=True)
    rows: list[np.ndarray] = []
    with tqdm(
        total=len(audio), unit="sample", unit_scale=True, desc=desc, disable=not progress, file=sys.stderr, leave=False
    ) as bar:
        for start in range(0, len(audio), _CHUNK):
            chunk = audio[start : start + _CHUNK]
            eng.process(chunk)
            rows += [h.logits for h in eng.hops if h.logits is not None]
            eng.hops.clear()
            bar.update(len(chunk))
    return np.stack(rows) if rows else np.zeros((0, len(model.labels)), np.int8)


# --- scoring -----------------------------------------------------------------------------------------------------


@dataclass
class Scored:
    hits: np.ndarray  # (positives,) bool, in the stream's positive-event order
    false_accepts: int


def score(
    stream: streams.Stream,
    fired: np.ndarray,
    classes: np.ndarray,
    labels: Sequence[str],
    first_hop: int,
    sc: StreamConfig = CONFIG.stream,
) -> Scored:
    """Hits of the stream's wake words and false accepts, for detections at pushed-hop indices `fired`."""
    pos = stream.positives
    starts = np.array([e.start for e in pos], dtype=np.int64)
    tail = int(sc.hit_tail_seconds * CONFIG.audio.sample_rate)
    ends = np.array([e.start + e.length + tail for e in pos], dtype=np.int64)
    hits = np.zeros(len(pos), dtype=bool)
    false_accepts = 0
    t_end = CONFIG.features.hop_end_sample(fired + first_hop)  # sample at which each detection happened
    for t, k in zip(t_end, classes[fired], strict=True):
        j = int(np.searchsorted(starts, t, side="right")) - 1
        if j >= 0 and t <= ends[j] and not hits[j] and labels[k] == pos[j].word:
            hits[j] = True
        else:
            false_accepts += 1
    return Scored(hits, false_accepts)


@dataclass
class Point:
    threshold: int
    frr: float  # over every positive of every stream
    frr_by_stream: dict[str, float]
    false_accepts: int
    fa_per_hour: float


def sweep(
    recorded: list[tuple[streams.Stream, np.ndarray]],
    labels: Sequence[str],
    first_hop: int,
    smoothing_hops: int,
    refractory_hops: int,
    hours: float,
    max_fa_per_hour: float = 100.0,
    sc: StreamConfig = CONFIG.stream,
) -> list[Point]:
    """The DET curve of one (window, refractory): a Point per integer threshold, from the highest down to
    where false accepts pass max_fa_per_hour."""
    smoothed = [(s, smooth(lg, labels, smoothing_hops)) for s, lg in recorded]
    top = max((int(sm.best_sum.max()) for _, sm in smoothed if len(sm.best_sum)), default=0)
    points = []
    for threshold in range(top // smoothing_hops + 1, -256, -1):
        fa, hits, by_stream = 0, [], {}
        for s, sm in smoothed:
            fired = fire(sm, threshold, smoothing_hops, refractory_hops)
            r = score(s, fired, sm.best_class, labels, first_hop, sc)
            fa += r.false_accepts
            hits.append(r.hits)
            if len(r.hits):
                by_stream[s.name] = float(1.0 - r.hits.mean())
        all_hits = np.concatenate(hits) if hits else np.zeros(0, bool)
        frr = float(1.0 - all_hits.mean()) if len(all_hits) else float("nan")
        points.append(Point(threshold, frr, by_stream, fa, fa / hours))
        if fa / hours > max_fa_per_hour:
            break
    return points


def operating_point(points: list[Point], target_fa_per_hour: float, floor: int = CONFIG.stream.min_threshold) -> Point:
    """The lowest threshold, not below `floor`, at which and at every higher threshold false accepts stay within
    the target."""
    chosen = points[0]
    for p in points:  # highest threshold first
        if p.fa_per_hour > target_fa_per_hour or p.threshold < floor:
            break
        chosen = p
    return chosen


def at_threshold(points: list[Point], threshold: int) -> Point:
    for p in points:
        if p.threshold == threshold:
            return p
    return points[-1] if threshold < points[-1].threshold else points[0]


# --- data --------------------------------------------------------------------------------------------------------


class NoWakeWordClips(TinyKwsError):
    """The data holds no recording of the wake word (a custom word nobody has recorded yet)."""


def synthetic_roots(task: str) -> list[Path]:
    """The synthetic corpus, plus the folders `train --keyword` synthesises new words into (local and Kokoro
    voices) if they say `task`."""
    from tinykws.train.trainer import KEYWORD_KOKORO_DIR, KEYWORD_SYNTH_DIR

    roots = [r for r in layout.default_roots() if layout.is_synthetic(r)]
    roots += [d for d in (KEYWORD_SYNTH_DIR, KEYWORD_KOKORO_DIR) if (d / task).is_dir()]
    return roots


def load_clips(roots: list[Path], split: str, task: str) -> tuple[list[np.ndarray], list[str], list[bool]]:
    """Every clip of `split` under `roots`; of the keyword folders, only `task`'s (trainer.keyword_folder_keeps)."""
    from tinykws.train.trainer import keyword_folder_keeps

    clips = [c for root in roots for c in layout.scan(root) if keyword_folder_keeps(root, c.word, task)]
    if split != "all":
        clips = [c for c in clips if c.split == split]
    labels = layout.task_labels(task)
    kw = {label for label, m in zip(labels, keyword_mask(labels), strict=True) if m}
    positive = [c.word in kw for c in clips]
    if not any(positive):
        raise NoWakeWordClips(f"{', '.join(map(str, roots))}: no clips of {sorted(kw)} in split {split}")
    if all(positive):
        raise TinyKwsError(f"{', '.join(map(str, roots))}: no clips other than {sorted(kw)} in split {split}")
    return [read_wav(c.path) for c in clips], [c.word for c in clips], positive


def build_streams(
    roots: list[Path],
    split: str,
    task: str,
    hours: float,
    sc: StreamConfig = CONFIG.stream,
) -> list[streams.Stream]:
    audio, words, positive = load_clips(roots, split, task)
    return streams.over_noise(audio, words, positive, roots, hours, sc)


def build_folder_streams(
    folder: Path,
    roots: list[Path],
    split: str,
    task: str,
    hours: float,
    running_root: Path,
    sc: StreamConfig = CONFIG.stream,
) -> list[streams.Stream]:
    """Streams of a folder of real recordings of the wake word (e.g. ../shared/data/wake_words/jarvis) among the
    other words of `roots` and whole utterances of running speech (LibriSpeech), both of `split`'s speakers: the
    negatives a listening device meets, most false accepts are in running speech."""
    files = sorted(Path(folder).rglob("*.wav"))
    if not files:
        raise TinyKwsError(f"{folder}: no .wav recordings of {task} in it")
    kw = {label for label, m in zip(layout.task_labels(task), keyword_mask(layout.task_labels(task)), strict=True) if m}
    others = [c for r in roots for c in layout.scan(r) if split in ("all", c.split) and c.word not in kw]
    whole = 1 << 40  # one "window" per file: the whole utterance
    running = [c for c in layout.scan_running_speech(running_root, whole, whole) if split in ("all", c.split)]
    if not others and not running:
        raise TinyKwsError(f"no negatives of split {split} in {', '.join(map(str, roots))} or {running_root}")
    audio = [read_wav(p) for p in files] + [read_wav(c.path) for c in others + running]
    words = [task] * len(files) + [c.word for c in others + running]
    positive = [True] * len(files) + [False] * (len(others) + len(running))
    return streams.over_noise(audio, words, positive, roots, hours, sc)


# --- the command -----------------------------------------------------------------------------------------------


def evaluate(
    model: IntModel,
    recorded: list[tuple[streams.Stream, np.ndarray]],
    tune: bool,
    sc: StreamConfig = CONFIG.stream,
    target: float | None = None,
) -> dict:
    target = sc.target_fa_per_hour if target is None else target
    hours = sum(s.seconds for s, _ in recorded) / 3600.0
    first_hop = model.input_frames - 1
    current = detector_config(model)

    def summary(dc: DetectorConfig, p: Point) -> dict:
        return {
            "detector": dataclasses.asdict(dc),
            "frr": p.frr,
            "frr_by_stream": p.frr_by_stream,
            "false_accepts": p.false_accepts,
            "fa_per_hour": p.fa_per_hour,
            # 95 % upper bound of a Poisson rate given the count seen: 0 false accepts in 2 h is not 0 / h.
            "fa_per_hour_upper95": _poisson_upper95(p.false_accepts) / hours,
        }

    cur_points = sweep(recorded, model.labels, first_hop, current.smoothing_hops, current.refractory_hops, hours, sc=sc)
    result: dict = {
        "hours": hours,
        "positives": int(sum(len(s.positives) for s, _ in recorded)),
        "target_fa_per_hour": target,
        "model_detector": summary(current, at_threshold(cur_points, current.threshold)),
        "curves": {"model": [dataclasses.asdict(p) for p in cur_points]},
    }
    cur_pick = operating_point(cur_points, target)
    result["model_detector_at_target"] = summary(dataclasses.replace(current, threshold=cur_pick.threshold), cur_pick)
    if tune:
        grid = []
        best = None
        for n in sc.smoothing_grid:
            for r in sc.refractory_grid:
                points = (
                    cur_points
                    if (n, r) == (current.smoothing_hops, current.refractory_hops)
                    else sweep(recorded, model.labels, first_hop, n, r, hours, sc=sc)
                )
                p = operating_point(points, target)
                dc = DetectorConfig(smoothing_hops=n, threshold=p.threshold, refractory_hops=r)
                grid.append(summary(dc, p))
                # Fewest misses; then fewest false accepts; then the setting nearest the default (less tuned).
                default = CONFIG.detector
                key = (p.frr, p.false_accepts, abs(n - default.smoothing_hops), abs(r - default.refractory_hops))
                if best is None or key < best[0]:
                    best = (key, dc, points, p)
        _, dc, points, p = best
        result["tuned"] = summary(dc, p)
        result["grid"] = grid
        result["curves"]["tuned"] = [dataclasses.asdict(q) for q in points]
    return result


def _poisson_upper95(k: int) -> float:
    from scipy.stats import chi2

    return float(chi2.ppf(0.975, 2 * (k + 1)) / 2.0)


def plot_det(result: dict, path: Path, title: str) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(7, 5))
    for name, style in (("model", "--"), ("tuned", "-")):
        pts = result["curves"].get(name)
        if not pts:
            continue
        det = result["tuned" if name == "tuned" else "model_detector"]["detector"]
        tag = f"{name}: window {det['smoothing_hops']}, refractory {det['refractory_hops']}"
        fa = np.maximum([p["fa_per_hour"] for p in pts], 1e-2)  # log axis: zero false accepts drawn at 0.01
        ax.plot(fa, [100 * p["frr"] for p in pts], style, color="k", label=f"{tag}, all streams")
        streams_ = sorted({k for p in pts for k in p["frr_by_stream"]})
        if name == "tuned" or "tuned" not in result["curves"]:
            for sname in streams_:
                ax.plot(
                    fa, [100 * p["frr_by_stream"].get(sname, np.nan) for p in pts], style, alpha=0.6, label=f"{sname}"
                )
    op = result.get("tuned") or result["model_detector_at_target"]
    ax.plot(
        [max(op["fa_per_hour"], 1e-2)],
        [100 * op["frr"]],
        "o",
        color="C3",
        label=f"pick: threshold {op['detector']['threshold']}",
    )
    ax.axvline(result["target_fa_per_hour"], color="C3", lw=0.8, ls=":")
    ax.set_xscale("log")
    ax.set_xlabel("false accepts per hour (0 drawn at 0.01)")
    ax.set_ylabel("false rejects (%)")
    ax.set_title(title)
    ax.grid(True, which="both", alpha=0.3)
    ax.legend(fontsize=7)
    fig.tight_layout()
    from tinykws.atomic import atomic_path

    with atomic_path(path, suffix=".png") as tmp:
        fig.savefig(tmp, dpi=110, format="png")
    plt.close(fig)


def apply_detector(model: IntModel, path: Path, dc: DetectorConfig, result: dict) -> None:
    """Write the tuned detector into the model file (and its model.json card if one is beside it)."""
    detector = dataclasses.asdict(dc)
    model.meta = {**model.meta, "detector": detector, "stream_eval": _card(result)}
    model.save(path)
    card = path.parent / "model.json"
    if card.exists():
        from tinykws.atomic import atomic_path

        data = json.loads(card.read_text())
        data["detector"], data["stream_eval"] = detector, _card(result)
        with atomic_path(card, suffix=".json") as tmp:
            tmp.write_text(json.dumps(data, indent=1) + "\n")


def _card(result: dict) -> dict:
    from tinykws.portable import portable_paths

    return portable_paths({k: v for k, v in result.items() if k not in ("curves", "grid")})


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--task", type=layout.check_task, metavar="TASK", default="yes", help="default yes")
    parser.add_argument("--model", type=Path, default=None, help="integer model .npz (default: the shipped model)")
    parser.add_argument(
        "--data",
        type=Path,
        action="append",
        default=None,
        help="Speech Commands folder (repeatable; default: the real clips of ../shared/data)",
    )
    parser.add_argument(
        "--split",
        default="validation",
        choices=("all", *layout.SPLITS),
        help="clips of this split only (default validation: never the speakers trained on)",
    )
    sc = CONFIG.stream
    parser.add_argument(
        "--hours",
        type=float,
        default=sc.negative_hours,
        help=f"length of the negative stream (default {sc.negative_hours:g})",
    )
    parser.add_argument(
        "--target-fa",
        type=float,
        default=sc.target_fa_per_hour,
        help=f"false accepts per hour to tune for (default {sc.target_fa_per_hour:g})",
    )
    parser.add_argument(
        "--positives",
        type=Path,
        default=None,
        metavar="DIR",
        help="real recordings of the wake word (*.wav, e.g. ../shared/data/wake_words/jarvis): streamed among the "
        "other words of --data and running speech (--running-speech) of --split's speakers",
    )
    parser.add_argument(
        "--running-speech",
        type=Path,
        default=None,
        metavar="DIR",
        help="running speech for --positives' negatives (default ../shared/data/librispeech)",
    )
    parser.add_argument("--no-tune", action="store_true", help="only measure the model's own detector settings")
    parser.add_argument("--apply", action="store_true", help="write the tuned detector into the model file")
    parser.add_argument(
        "--engine",
        choices=("c", "python"),
        default="c",
        help="c (default; bit-identical to python, much faster) or python",
    )
    parser.add_argument("--png", type=Path, default=None, help="DET plot (default build/eval/det_<task>.png)")
    parser.add_argument("--json", action="store_true", help="print one JSON object instead of the table")
    parser.add_argument("--no-progress", action="store_true")


def streams_for(
    task: str,
    hours: float,
    split: str = "validation",
    data: list[Path] | None = None,
    positives: Path | None = None,
    running_speech: Path | None = None,
) -> tuple[list[streams.Stream], list[Path]]:
    """The streams the command builds (its --task, --hours, --split, --data, --positives, --running-speech),
    and the clip folders they came from."""
    roots = data or [SHARED_DATA_DIR / "speech_commands_test_set_v0.02"]
    try:
        if positives is not None:
            running = running_speech or layout.default_running_speech_root()
            built = build_folder_streams(positives, roots, split, task, hours, running)
        else:
            built = build_streams(roots, split, task, hours)
    except NoWakeWordClips as e:
        if data or not (synthetic := synthetic_roots(task)):
            raise
        # Negatives stay human where there are any: synthetic ones alone would let the threshold sink.
        roots = synthetic + roots
        # A custom wake word with no real recordings: held-out synthetic voices are all there is to measure on.
        print(
            f"tinykws: {e}; wake words from held-out synthetic voices instead (optimistic: not human speech)",
            file=sys.stderr,
        )
        built = build_streams(roots, split, task, hours)
    return built, roots


def run(args: argparse.Namespace, engines: Mapping[str, EngineFactory]) -> int:
    """The command; `engines` maps each `--engine` choice to its engine class."""
    from tinykws.train.evaluate import load_model

    if args.hours < 0:
        raise TinyKwsError(f"--hours must be >= 0, got {args.hours}")
    if args.apply and args.no_tune:
        raise TinyKwsError("--apply writes the tuned detector: it cannot go with --no-tune")
    model, path = load_model(args.task, args.model)
    built, roots = streams_for(args.task, args.hours, args.split, args.data, args.positives, args.running_speech)
    recorded = []
    for s in built:
        logits = stream_logits(model, s.audio, engines[args.engine], not args.no_progress, desc=s.name)
        recorded.append((s, logits))
    result = evaluate(model, recorded, tune=not args.no_tune, target=args.target_fa)
    result["streams"] = [
        {"name": s.name, "seconds": s.seconds, "positives": len(s.positives), "words": len(s.events)}
        for s, _ in recorded
    ]
    result.update(task=args.task, model=str(path), data=[str(r) for r in roots], split=args.split, engine=args.engine)
    if args.positives is not None:
        result["positives_folder"] = str(args.positives)
    # The headline: the model as it stands (its own detector settings), before any --apply.
    headline = result["model_detector"]
    result.update({k: headline[k] for k in ("frr", "fa_per_hour", "false_accepts", "frr_by_stream", "detector")})
    png = args.png or BUILD_DIR / "eval" / f"det_{args.task}.png"
    png.parent.mkdir(parents=True, exist_ok=True)
    plot_det(result, png, f"tinykws {args.task}: {result['positives']} wake words, {result['hours']:.2f} h")
    result["det_png"] = str(png)
    if args.apply:
        tuned = DetectorConfig(**result["tuned"]["detector"])
        apply_detector(model, path, tuned, result)
        result["applied"] = str(path)
    if args.json:
        print(json.dumps({k: v for k, v in result.items() if k != "curves"}))
    else:
        print(format_report(result))
    return 0


def format_report(result: dict) -> str:
    lines = [
        f"model {result['model']}  data {', '.join(result['data'])} ({result['split']})",
        *(
            f"  stream {s['name']:<16} {s['seconds'] / 60:7.1f} min  {s['words']:5d} words  "
            f"{s['positives']:4d} wake words"
            for s in result["streams"]
        ),
        f"target: <= {result['target_fa_per_hour']:g} false accepts per hour",
    ]

    def row(name: str, r: dict) -> str:
        d = r["detector"]
        by = "  ".join(f"{k.removeprefix('positive ')} {100 * v:.1f}%" for k, v in r["frr_by_stream"].items())
        return (
            f"  {name:<22} window {d['smoothing_hops']:2d} thr {d['threshold']:4d} refr {d['refractory_hops']:3d}  "
            f"FRR {100 * r['frr']:5.1f}% ({by})  FA {r['false_accepts']} = {r['fa_per_hour']:.2f}/h "
            f"(95% <= {r['fa_per_hour_upper95']:.2f}/h)"
        )

    lines.append(row("model's detector", result["model_detector"]))
    lines.append(row("  threshold at target", result["model_detector_at_target"]))
    if "tuned" in result:
        lines.append(row("tuned", result["tuned"]))
    if "applied" in result:
        lines.append(f"written into {result['applied']}")
    lines.append(f"DET curve: {result['det_png']}")
    return "\n".join(lines)
