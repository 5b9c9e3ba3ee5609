"""`tinykws inspect MODEL`: what is in a model file, a tinykws integer model (.npz) or a .tflite.

Both kinds are summarised into the same structure (ops named as TFLite names them, shapes NHWC with H = time,
W = 1), so a .npz and its export print the same layers, sizes, MACs and requantisation numbers. For a .tflite
the multipliers and shifts shown are the ones a TFLite runtime derives from the file's float32 scales.
"""

from __future__ import annotations

import argparse
import json
import os
from pathlib import Path

import numpy as np

from tinykws.config import CONFIG
from tinykws.errors import TinyKwsError
from tinykws.train.int_model import IntModel

_ZIP_MAGIC = b"PK\x03\x04"


def _range(values: np.ndarray) -> list:
    v = np.asarray(values)
    if v.size == 0:
        return []
    lo, hi = v.min(), v.max()
    return [float(lo), float(hi)] if v.dtype.kind == "f" else [int(lo), int(hi)]


def _clamp(activation: str, zero_point: int) -> list[int]:
    return [max(-128, zero_point) if activation == "RELU" else -128, 127]


# --- .npz ------------------------------------------------------------------------------------------------------


def _npz_layer(layer, name: str, in_shape: list[int], is_classifier: bool) -> dict:  # noqa: ANN001 - ConvLayer
    depthwise = layer.kind == "depthwise"
    out_shape = [1, layer.out_frames(in_shape[1]), 1, layer.out_channels]
    relu = not is_classifier and layer.act_min == max(-128, layer.output_zero_point) and layer.act_max == 127
    return {
        "name": name,
        "op": "DEPTHWISE_CONV_2D" if depthwise else "CONV_2D",
        "kernel": [layer.kernel, 1],
        "dilation": layer.dilation,
        "activation": "RELU" if relu else "NONE",
        "in_shape": in_shape,
        "out_shape": out_shape,
        "weight_bytes": int(layer.weight.size),
        "bias_bytes": 4 * int(layer.bias.size),
        "macs": int(layer.macs(in_shape[1])),
        "input": {"scale": float(layer.input_scale), "zero_point": int(layer.input_zero_point)},
        "output": {"scale": float(layer.output_scale), "zero_point": int(layer.output_zero_point)},
        "clamp": [int(layer.act_min), int(layer.act_max)],
        "weight_scale": _range(layer.weight_scales),
        "multiplier": _range(layer.multiplier),
        "shift": _range(layer.shift),
    }


def summarize_model(model: IntModel) -> dict:
    """The integer model as inspect shows it."""
    cin = model.layers[0].weight.shape[2]
    shape = [1, model.input_frames, 1, cin]
    layers = []
    for i, layer in enumerate(model.layers):
        layers.append(_npz_layer(layer, f"{'dw' if layer.kind == 'depthwise' else 'conv'}{i}", shape, False))
        shape = layers[-1]["out_shape"]
    pool_out = [1, 1, 1, shape[3]]
    q = {"scale": float(model.pool.scale), "zero_point": int(model.pool.zero_point)}
    layers.append(
        {
            "name": "pool",
            "op": "AVERAGE_POOL_2D",
            "kernel": [shape[1], 1],
            "in_shape": shape,
            "out_shape": pool_out,
            "weight_bytes": 0,
            "bias_bytes": 0,
            "macs": 0,
            "input": q,
            "output": q,
            "clamp": [-128, 127],
        }
    )
    layers.append(_npz_layer(model.classifier, "classifier", pool_out, True))
    cls = model.classifier
    return {
        "format": "tinykws-int-model/1",
        "tflite_export": _exportable(model),
        "labels": list(model.labels),
        "feature_hash": model.feature_hash,
        "task": model.meta.get("task"),
        "git": model.meta.get("git"),
        "input": {
            "shape": [1, model.input_frames, 1, cin],
            "dtype": "int8",
            "scale": float(model.input_scale),
            "zero_point": int(model.input_zero_point),
        },
        "output": {
            "shape": [1, len(model.labels)],
            "dtype": "int8",
            "scale": float(cls.output_scale),
            "zero_point": int(cls.output_zero_point),
        },
        "layers": layers,
    }


def _exportable(model: IntModel) -> str:
    """Either "ok" or why a .tflite of this model would not compute what `model.run` computes."""
    try:
        from tinykws.deploy.tflite_export import check_exportable

        check_exportable(model)
    except TinyKwsError as e:
        return f"refused: {e}"
    return "ok"


# --- .tflite ---------------------------------------------------------------------------------------------------


def _quant(t) -> dict | None:  # noqa: ANN001 - TensorInfo
    if not len(t.scales):
        return None
    return {"scale": float(t.scales[0]), "zero_point": int(t.zero_points[0])}


def _tflite_layer(graph, op) -> dict:  # noqa: ANN001 - TfliteGraph, OpInfo
    from tinykws.deploy.tflite_schema import runtime_multipliers

    tensors = graph.tensors
    x, y = tensors[op.inputs[0]], tensors[op.outputs[0]]
    d = {
        "name": y.name,
        "op": op.op,
        "in_shape": list(x.shape),
        "out_shape": list(y.shape),
        "weight_bytes": 0,
        "bias_bytes": 0,
        "macs": 0,
        "input": _quant(x),
        "output": _quant(y),
    }
    if op.op in ("CONV_2D", "DEPTHWISE_CONV_2D") and len(op.inputs) >= 2 and len(y.shape) == 4:
        w = tensors[op.inputs[1]]
        b = tensors[op.inputs[2]] if len(op.inputs) > 2 and op.inputs[2] >= 0 else None
        kh, kw = w.shape[1], w.shape[2]
        per_out = kh * kw * (w.shape[3] if op.op == "CONV_2D" else 1)
        act = op.options.get("activation", "NONE")
        d.update(
            kernel=[kh, kw],
            dilation=op.options.get("dilation", [1, 1])[0],
            activation=act,
            weight_bytes=w.nbytes,
            bias_bytes=b.nbytes if b is not None else 0,
            macs=int(np.prod(y.shape)) * per_out,
        )
        if d["input"] and d["output"] and len(w.scales):
            mult, shift = runtime_multipliers(d["input"]["scale"], w.scales, d["output"]["scale"])
            d.update(
                clamp=_clamp(act, d["output"]["zero_point"]),
                weight_scale=_range(w.scales),
                multiplier=_range(mult),
                shift=_range(shift),
            )
    elif op.op == "FULLY_CONNECTED" and len(op.inputs) >= 2:
        w = tensors[op.inputs[1]]
        b = tensors[op.inputs[2]] if len(op.inputs) > 2 and op.inputs[2] >= 0 else None
        d.update(
            weight_bytes=w.nbytes,
            bias_bytes=b.nbytes if b is not None else 0,
            macs=int(np.prod(y.shape)) * int(w.shape[-1]),
        )
    elif op.op == "AVERAGE_POOL_2D":
        d.update(kernel=op.options.get("filter"), clamp=_clamp(op.options.get("activation"), 0))
    return d


def summarize_tflite(graph) -> dict:  # noqa: ANN001 - TfliteGraph
    """A parsed .tflite as inspect shows it."""
    from tinykws.deploy import tflite_schema as schema

    def io(index: int) -> dict:
        t = graph.tensors[index]
        return {"name": t.name, "shape": list(t.shape), "dtype": t.dtype.name, **(_quant(t) or {})}

    return {
        "format": f"tflite (schema {graph.version})",
        "labels": graph.labels(),
        "feature_hash": graph.meta_text(schema.META_FEATURE_HASH),
        "tinykws_version": graph.meta_text(schema.META_VERSION),
        "task": graph.meta_text(schema.META_TASK),
        "git": graph.meta_text(schema.META_GIT),
        "metadata": sorted(graph.metadata),
        "input": io(graph.inputs[0]) if graph.inputs else None,
        "output": io(graph.outputs[0]) if graph.outputs else None,
        "layers": [_tflite_layer(graph, op) for op in graph.ops if op.inputs and op.outputs],
    }


# --- any file --------------------------------------------------------------------------------------------------


def summarize(path: str | os.PathLike) -> dict:
    """Summary of a model file, whichever kind it is; TinyKwsError (one line) if it is neither readable kind."""
    path = Path(path)
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        raise TinyKwsError(f"{path}: no such file") from None
    except OSError as e:
        raise TinyKwsError(f"{path}: cannot read ({e.strerror})") from None
    if data[4:8] == b"TFL3":
        from tinykws.deploy.tflite_schema import read_tflite

        graph = read_tflite(data, str(path))
        try:
            s = summarize_tflite(graph)
        except (IndexError, KeyError, TypeError, ValueError) as e:  # parsed, but not a graph that makes sense
            raise TinyKwsError(f"{path}: corrupt TFLite graph ({type(e).__name__}: {e})".splitlines()[0]) from None
    elif data[:4] == _ZIP_MAGIC:
        s = summarize_model(IntModel.load(path))
    else:
        raise TinyKwsError(f"{path}: neither a tinykws model (.npz) nor a TFLite flatbuffer")
    weighted = [la for la in s["layers"] if la["weight_bytes"]]
    s["file"] = str(path)
    s["file_bytes"] = len(data)
    s["totals"] = {
        "weight_bytes": sum(la["weight_bytes"] for la in s["layers"]),
        "bias_bytes": sum(la["bias_bytes"] for la in s["layers"]),
        "macs": sum(la["macs"] for la in s["layers"]),
        "layers": len(weighted),
    }
    s["feature_hash_matches"] = s["feature_hash"] == CONFIG.feature_hash() if s["feature_hash"] else None
    return s


def _fmt_range(r: list | None, fmt: str = "{}") -> str:
    if not r:
        return "-"
    return fmt.format(r[0]) if r[0] == r[1] else f"{fmt.format(r[0])}..{fmt.format(r[1])}"


def _row(i: int, la: dict) -> str:
    k = "x".join(map(str, la["kernel"])) if la.get("kernel") else "-"
    shapes = f"{'x'.join(map(str, la['in_shape']))} -> {'x'.join(map(str, la['out_shape']))}"
    inq, outq = la.get("input") or {}, la.get("output") or {}
    out_scale = _fmt_range([outq["scale"]] * 2 if outq else None, "{:.4g}")
    return (
        f"{i:>2} {la['name'][:12]:12} {la['op'][:17]:17} {k:>6} {la.get('dilation', '-'):>3} "
        f"{la.get('activation', '-'):4} {shapes:>24} {la['weight_bytes']:>7} {la['bias_bytes']:>5} "
        f"{la['macs']:>7} {inq.get('zero_point', '-'):>5} {out_scale:>9} {outq.get('zero_point', '-'):>6} "
        f"{_fmt_range(la.get('clamp')):>9} {_fmt_range(la.get('weight_scale'), '{:.3g}'):>15} "
        f"{_fmt_range(la.get('multiplier')):>21} {_fmt_range(la.get('shift')):>7}"
    )


def format_summary(s: dict) -> str:
    lines = [f"{s['file']}: {s['format']}, {s['file_bytes']} bytes"]
    if s["labels"] is not None:
        lines.append(f"labels ({len(s['labels'])}): {' '.join(s['labels'])}")
    if s["feature_hash"]:
        match = "matches this front end" if s["feature_hash_matches"] else f"this front end is {CONFIG.feature_hash()}"
        lines.append(f"feature hash {s['feature_hash']} ({match})")
    extra = [f"{k} {s[k]}" for k in ("task", "git", "tinykws_version", "tflite_export") if s.get(k)]
    if extra:
        lines.append(", ".join(extra))
    for side in ("input", "output"):
        t = s[side]
        if t:
            q = f" scale {t['scale']:.6g} zero point {t['zero_point']}" if "scale" in t else ""
            lines.append(f"{side:6} {tuple(t['shape'])} {t['dtype']}{q}")
    head = (
        f"{'#':>2} {'name':12} {'op':17} {'kernel':>6} {'dil':>3} {'act':4} {'in -> out':>24} {'weights':>7} "
        f"{'bias':>5} {'MACs':>7} {'in zp':>5} {'out scale':>9} {'out zp':>6} {'clamp':>9} "
        f"{'w scale':>15} {'multiplier':>21} {'shift':>7}"
    )
    lines.append(head)
    lines += [_row(i, la) for i, la in enumerate(s["layers"])]
    t = s["totals"]
    lines.append(
        f"totals: {t['layers']} layers with weights, {t['weight_bytes']} weight bytes + {t['bias_bytes']} bias "
        f"bytes = {t['weight_bytes'] + t['bias_bytes']} bytes, {t['macs']} MACs per inference"
    )
    return "\n".join(lines)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("model", type=Path, metavar="MODEL", help="tinykws integer model (.npz) or .tflite")
    parser.add_argument("--json", action="store_true", help="print one JSON object")


def run(args: argparse.Namespace) -> int:
    s = summarize(args.model)
    print(json.dumps(s) if args.json else format_summary(s))
    return 0
