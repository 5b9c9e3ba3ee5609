"""Write an integer model (train/int_model.py IntModel) as C sources for the firmware's streaming network.

    kws_model.h   sizes (KWS_MODEL_*), the detector's constants (KWS_DETECTOR_*), the feature hash the model
                  was trained on (checked against the front end's at compile time and at start-up), labels,
                  and an `extern const` declaration of every array
    kws_model.c   8-byte aligned int8 weights, int32 biases, per-channel multipliers and shifts, and the
                  layer table (zero points, activation ranges, kernel sizes, dilations, ring layout)

Two changes of form, no change of numbers: conv weight rows (kernel taps x input channels) are zero-padded to
a multiple of 4 bytes for the kernels' word loads, and each bias has the input zero point folded in
(bias - zp * sum(weights)), so the kernels multiply raw int8 inputs. The exporter proves the kernels'
shortcut: |accumulator| * 2^left_shift < 2^29 for every int8 input, or it refuses the model.

`tinykws export --task T --c-dir DIR` (deploy/export.py) calls `write_c_sources`.
"""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path

import numpy as np

from tinykws.atomic import atomic_path
from tinykws.config import DetectorConfig
from tinykws.errors import TinyKwsError
from tinykws.train.detector import detector_config, keyword_mask
from tinykws.train.int_model import ConvLayer, IntModel

HEADER_NAME = "kws_model.h"
SOURCE_NAME = "kws_model.c"
# The kernels keep accumulators in int32 and round with (x + half) tricks that need 2 bits of headroom.
ACC_LIMIT = 1 << 29
_PER_LINE = 16


def model_fingerprint(model: IntModel) -> str:
    """sha256 of everything that changes the model's numbers or labels (not its float scales or meta)."""
    h = hashlib.sha256()
    specs = []
    for layer in [*model.layers, model.classifier]:
        specs.append([layer.kind, layer.dilation, layer.input_zero_point, layer.output_zero_point, layer.act_min,
                      layer.act_max])  # fmt: skip
        for arr in (layer.weight, layer.bias, layer.multiplier, layer.shift):
            a = np.ascontiguousarray(arr)
            h.update(f"{a.dtype.str}{a.shape}".encode())
            h.update(a.tobytes())
    head = [specs, model.pool.zero_point, list(model.labels), model.input_zero_point, model.input_frames]
    h.update(json.dumps([head, model.feature_hash]).encode())
    return h.hexdigest()


def _round4(n: int) -> int:
    return (n + 3) // 4 * 4


def in_channels(layer: ConvLayer) -> int:
    return layer.out_channels if layer.kind == "depthwise" else layer.weight.shape[2]


def conv_rows(layer: ConvLayer) -> np.ndarray:
    """(Cout, row_bytes) int8: conv weights (Cout, K, Cin) flattened tap-major, zero-padded; depthwise (C, K)."""
    if layer.kind == "depthwise":
        return np.ascontiguousarray(layer.weight, dtype=np.int8)
    flat = layer.weight.reshape(layer.out_channels, -1)
    rows = np.zeros((layer.out_channels, _round4(flat.shape[1])), dtype=np.int8)
    rows[:, : flat.shape[1]] = flat
    return rows


def kernel_order(layer: ConvLayer) -> np.ndarray:
    """The weights as the C kernels read them (kws_model_types.h), flat int16: conv rows with each 4 bytes
    in SMLAD pair order (0, 2, 1, 3), in blocks of 4 output channels interleaved per 4 bytes, the last
    Cout % 4 rows plain; depthwise (C, K)."""
    rows = conv_rows(layer).astype(np.int16)
    if layer.kind == "depthwise":
        return rows.ravel()
    rows = rows.reshape(rows.shape[0], -1, 4)[:, :, [0, 2, 1, 3]]  # (channel, word, byte in pair order)
    blocks = rows.shape[0] // 4 * 4
    interleaved = rows[:blocks].reshape(blocks // 4, 4, rows.shape[1], 4).transpose(0, 2, 1, 3)
    return np.concatenate([interleaved.ravel(), rows[blocks:].ravel()])


def folded_bias(layer: ConvLayer) -> np.ndarray:
    """int32 bias with the input zero point folded in: acc = folded + sum(x * w) equals the model's
    bias + sum((x - zp) * w) exactly."""
    w_sum = layer.weight.astype(np.int64).reshape(layer.out_channels, -1).sum(axis=1)
    folded = layer.bias.astype(np.int64) - layer.input_zero_point * w_sum
    if np.any(np.abs(folded) >= ACC_LIMIT):
        raise TinyKwsError(f"{layer.kind} layer: folded bias {int(np.abs(folded).max())} does not fit the kernels")
    return folded.astype(np.int32)


def _check_layer(i: int, layer: ConvLayer, cin: int) -> None:
    where = f"layer {i} ({layer.kind})"
    if layer.kind not in ("conv", "depthwise"):
        raise TinyKwsError(f"{where}: the firmware runs conv and depthwise layers only")
    if in_channels(layer) != cin:
        raise TinyKwsError(f"{where}: takes {in_channels(layer)} channels, the previous layer gives {cin}")
    if layer.kernel < 1 or layer.dilation < 1 or layer.kernel > 255:
        raise TinyKwsError(f"{where}: kernel {layer.kernel}, dilation {layer.dilation} not supported")
    if not (-128 <= layer.act_min <= layer.act_max <= 127) or not -128 <= layer.output_zero_point <= 127:
        raise TinyKwsError(f"{where}: activation range / zero point outside int8")
    if np.any(layer.multiplier < 0) or np.any(layer.shift < -31) or np.any(layer.shift > 30):
        raise TinyKwsError(f"{where}: multipliers must be >= 0 and shifts in -31..30 (TFLite QuantizeMultiplier)")
    # Worst case over all int8 inputs (|x| <= 128), times the requantiser's left shift.
    bound = np.abs(folded_bias(layer).astype(np.int64))
    bound += 128 * np.abs(layer.weight.astype(np.int64)).reshape(layer.out_channels, -1).sum(axis=1)
    bound <<= np.maximum(layer.shift.astype(np.int64), 0)
    if np.any(bound >= ACC_LIMIT):
        raise TinyKwsError(f"{where}: accumulator bound {int(bound.max())} >= 2^29, the C kernels would overflow")


def check_model(model: IntModel) -> None:
    """Refuse what the firmware's network cannot run exactly, with one line naming the layer."""
    if not model.layers:
        raise TinyKwsError("model has no feature layers")
    cin = in_channels(model.layers[0])
    for i, layer in enumerate(model.layers):
        _check_layer(i, layer, cin)
        cin = layer.out_channels
    cls = model.classifier
    _check_layer(len(model.layers), cls, cin)
    if cls.kind != "conv" or cls.kernel != 1 or cin % 4:
        raise TinyKwsError(f"classifier must be a 1x1 conv on a multiple of 4 channels (got {cls.kind}, {cin})")
    if model.input_frames - model.receptive_field() + 1 < 1:
        raise TinyKwsError(f"input_frames {model.input_frames} < receptive field {model.receptive_field()}")
    if cls.out_channels != len(model.labels):
        raise TinyKwsError(f"classifier has {cls.out_channels} outputs for {len(model.labels)} labels")


def c_string(s: str) -> str:
    """A C string literal of `s` (backslashes and quotes escaped), for every generated header and source."""
    return '"' + s.replace("\\", "\\\\").replace('"', '\\"') + '"'


def _array(ctype: str, name: str, values: np.ndarray, align: bool = False) -> str:
    vals = [str(int(v)) for v in np.asarray(values).ravel()]
    rows = [", ".join(vals[i : i + _PER_LINE]) for i in range(0, len(vals), _PER_LINE)]
    prefix = "KWS_MODEL_ALIGN " if align else ""
    return f"{prefix}const {ctype} {name}[{len(vals)}] = {{\n    " + ",\n    ".join(rows) + "\n};\n"


def _layout(model: IntModel) -> dict:
    """Ring offsets and sizes of the streaming network (mirrors kws_network.c's expectations)."""
    rings, offset = [], 0
    for layer in model.layers:
        frames, stride = (layer.kernel - 1) * layer.dilation + 1, _round4(in_channels(layer))
        rings.append((offset, frames, stride))
        offset += frames * stride
    pool_channels = model.layers[-1].out_channels
    pool_frames = model.input_frames - model.receptive_field() + 1
    rings.append((offset, pool_frames, _round4(pool_channels)))
    offset += pool_frames * _round4(pool_channels)
    conv_rows_bytes = [conv_rows(x).shape[1] for x in [*model.layers, model.classifier] if x.kind == "conv"]
    return {
        "rings": rings,
        "ring_bytes": offset,
        "pool_channels": pool_channels,
        "pool_frames": pool_frames,
        # kws_conv_scratch_words(): row / 2 words of halfword pairs + row / 4 words of gathered taps.
        "scratch_words": max(r // 2 + r // 4 for r in conv_rows_bytes),
        "max_kernel": max(x.kernel for x in model.layers),
    }


def _banner(what: str, source: str, model_id: str) -> str:
    return (
        f"/* {what}\n"
        f" * Generated by tinykws.deploy.c_export (deploy/c_export.py) from {source}\n"
        f" * (model {model_id}): do not edit; re-export with `tinykws export --task TASK --c-dir DIR`. */\n"
    )


def header_text(model: IntModel, source: str, dc: DetectorConfig) -> str:
    model_id = model_fingerprint(model)[:12]
    lay = _layout(model)
    all_layers = [*model.layers, model.classifier]
    defines = [
        ("KWS_MODEL_ID", c_string(model_id), "model_fingerprint() of the exported model"),
        ("KWS_MODEL_FEATURE_HASH", c_string(model.feature_hash), "front end the model was trained on"),
        ("KWS_MODEL_FEATURE_HASH_NUM", f"0x{model.feature_hash}ULL", "the same, for #if"),
        ("KWS_MODEL_NUM_LAYERS", len(model.layers), "feature layers (the classifier apart)"),
        ("KWS_MODEL_INPUT_FRAMES", model.input_frames, "frames of the non-streaming window"),
        ("KWS_MODEL_INPUT_CHANNELS", in_channels(model.layers[0]), "int8 features per frame"),
        ("KWS_MODEL_NUM_CLASSES", len(model.labels), "logits"),
        ("KWS_MODEL_RECEPTIVE_FIELD", model.receptive_field(), "input frames one output frame sees"),
        ("KWS_MODEL_POOL_FRAMES", lay["pool_frames"], "frames averaged"),
        ("KWS_MODEL_POOL_CHANNELS", lay["pool_channels"], "channels averaged"),
        ("KWS_MODEL_RING_BYTES", lay["ring_bytes"], "streaming rings, pool ring included"),
        ("KWS_MODEL_SCRATCH_WORDS", lay["scratch_words"], "kernels' scratch"),
        ("KWS_MODEL_MAX_KERNEL", lay["max_kernel"], "largest kernel"),
        ("KWS_MODEL_WEIGHT_BYTES", model.weight_bytes(), "int8 weights + int32 biases"),
        ("KWS_MODEL_MACS_PER_HOP", model.macs_per_hop(), "streaming: one frame per layer"),
        ("KWS_MODEL_MACS_PER_WINDOW", model.macs(), "recomputing the whole window"),
        ("KWS_DETECTOR_SMOOTHING_HOPS", dc.smoothing_hops, "hops summed per score"),
        ("KWS_DETECTOR_THRESHOLD", dc.threshold, "per-hop score, int8 logit steps"),
        ("KWS_DETECTOR_REFRACTORY_HOPS", dc.refractory_hops, "hops after a detection that cannot fire"),
    ]  # fmt: skip
    width = max(len(n) for n, _, _ in defines)
    lines = [f"#define {n:<{width}} {v}  /* {c} */" for n, v, c in defines]
    externs = []
    for i, layer in enumerate(all_layers):
        externs += [
            f"extern const int16_t kws_model_l{i}_weights[{conv_rows(layer).size}];",
            f"extern const int32_t kws_model_l{i}_bias[{layer.out_channels}];",
            f"extern const int32_t kws_model_l{i}_multiplier[{layer.out_channels}];",
            f"extern const int8_t kws_model_l{i}_shift[{layer.out_channels}];",
        ]
    return (
        _banner("kws_model.h: the int8 keyword model for the firmware.", source, model_id)
        + "#ifndef KWS_MODEL_H\n#define KWS_MODEL_H\n\n#include <stdint.h>\n\n#include \"kws_model_types.h\"\n\n"
        + "\n".join(lines)
        + "\n\n/* Layer i = kws_model_layers[i]; the classifier is the last index. */\n"
        + "\n".join(externs)
        + "\n\nextern const kws_layer_t kws_model_layers[KWS_MODEL_NUM_LAYERS];\n"
        "extern const kws_layer_t kws_model_classifier;\n"
        "extern const kws_ring_t kws_model_rings[KWS_MODEL_NUM_LAYERS + 1];\n"
        "extern const char *const kws_model_labels[KWS_MODEL_NUM_CLASSES];\n"
        "extern const uint8_t kws_model_keywords[KWS_MODEL_NUM_CLASSES];\n"
        "extern const kws_model_t kws_model;\n\n#endif /* KWS_MODEL_H */\n"
    )


def _layer_entry(i: int, layer: ConvLayer) -> str:
    kind = "KWS_LAYER_DEPTHWISE" if layer.kind == "depthwise" else "KWS_LAYER_CONV"
    fields = [kind, layer.kernel, layer.dilation, in_channels(layer), layer.out_channels, conv_rows(layer).shape[1],
              layer.input_zero_point, layer.output_zero_point, layer.act_min, layer.act_max]  # fmt: skip
    ptrs = [f"kws_model_l{i}_{n}" for n in ("weights", "bias", "multiplier", "shift")]
    return "{" + ", ".join(str(f) for f in fields) + ",\n     " + ", ".join(ptrs) + "}"


def source_text(model: IntModel, source: str) -> str:
    model_id = model_fingerprint(model)[:12]
    lay = _layout(model)
    all_layers = [*model.layers, model.classifier]
    parts = [_banner("kws_model.c: weights and layer table of the int8 keyword model.", source, model_id),
             '#include "kws_model.h"\n']  # fmt: skip
    for i, layer in enumerate(all_layers):
        parts += [
            f"\n/* layer {i}: {layer.kind}, kernel {layer.kernel}, dilation {layer.dilation}, "
            f"{layer.out_channels} out */\n",
            _array("int16_t", f"kws_model_l{i}_weights", kernel_order(layer), align=True),
            _array("int32_t", f"kws_model_l{i}_bias", folded_bias(layer)),
            _array("int32_t", f"kws_model_l{i}_multiplier", layer.multiplier),
            _array("int8_t", f"kws_model_l{i}_shift", layer.shift),
        ]
    n = len(model.layers)
    entries = ",\n    ".join(_layer_entry(i, layer) for i, layer in enumerate(model.layers))
    rings = ",\n    ".join("{" + ", ".join(map(str, r)) + "}" for r in lay["rings"])
    labels = ", ".join(c_string(s) for s in model.labels)
    keywords = ", ".join(str(int(k)) for k in keyword_mask(model.labels))
    cin = in_channels(model.layers[0])
    parts += [
        f"\nconst kws_layer_t kws_model_layers[KWS_MODEL_NUM_LAYERS] = {{\n    {entries}\n}};\n",
        f"const kws_layer_t kws_model_classifier = {_layer_entry(n, model.classifier)};\n",
        "/* Input ring of each feature layer, then the pool's: {byte offset, frames, bytes per frame}. */\n"
        f"const kws_ring_t kws_model_rings[KWS_MODEL_NUM_LAYERS + 1] = {{\n    {rings}\n}};\n",
        f"const char *const kws_model_labels[KWS_MODEL_NUM_CLASSES] = {{{labels}}};\n",
        f"const uint8_t kws_model_keywords[KWS_MODEL_NUM_CLASSES] = {{{keywords}}};\n\n",
        "const kws_model_t kws_model = {\n"
        f"    {n}, {model.input_frames}, {cin}, {len(model.labels)}, {lay['pool_frames']}, "
        f"{lay['pool_channels']}, {model.pool.zero_point},\n"
        f"    {lay['ring_bytes']}, {lay['scratch_words']}, {lay['max_kernel']},\n"
        "    kws_model_layers, kws_model_rings, &kws_model_classifier, kws_model_labels, kws_model_keywords,\n"
        "    KWS_MODEL_FEATURE_HASH, KWS_MODEL_ID};\n",
    ]
    return "".join(parts)


def c_sources(model: IntModel, source: str = "an in-memory model", dc: DetectorConfig | None = None) -> dict:
    """{file name: text} of the model's C sources."""
    check_model(model)
    dc = dc or detector_config(model)
    return {HEADER_NAME: header_text(model, source, dc), SOURCE_NAME: source_text(model, source)}


def write_c_sources(
    model: IntModel, out_dir: str | os.PathLike, source: str = "an in-memory model", dc: DetectorConfig | None = None
) -> list[Path]:
    """Write kws_model.h / kws_model.c into out_dir; a file whose text is unchanged is left alone (no rebuild)."""
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    written = []
    for name, text in c_sources(model, source, dc).items():
        path = out_dir / name
        if not path.exists() or path.read_text() != text:
            with atomic_path(path) as tmp:
                tmp.write_text(text)
        written.append(path)
    return written
