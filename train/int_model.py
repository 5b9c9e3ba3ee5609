"""The integer model and its reference inference: the definition of tinykws's model numbers.

Arithmetic is TFLite's / CMSIS-NN's int8 reference arithmetic, written out in numpy int64 so it can be read
against their C: per-channel int32 accumulators with the input zero point subtracted, int32 bias, requantise
with `MultiplyByQuantizedMultiplier` (gemmlowp double rounding: SaturatingRoundingDoublingHighMul then
RoundingDivideByPOT), add the output zero point, clamp to the fused activation's range. The firmware, LiteRT
and TensorFlow Lite Micro must reproduce `IntModel.run` bit for bit.

Tensors are (frames, channels) int8: NHWC with H = time and W = 1, which is how the `.tflite` export lays
them out.
"""

from __future__ import annotations

import json
import math
import os
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from tinykws.atomic import atomic_path
from tinykws.errors import TinyKwsError

INT32_MIN, INT32_MAX = -(2**31), 2**31 - 1


# --- TFLite fixed-point primitives -------------------------------------------------------------------------


def f32(x: float) -> float:
    """x rounded to float32, as a .tflite stores every scale: the integer parameters are derived from that."""
    return float(np.float32(x))


def quantize_multiplier(real: float) -> tuple[int, int]:
    """TFLite QuantizeMultiplier: real = M * 2^(shift - 31) with M in [2^30, 2^31)."""
    if real == 0.0:
        return 0, 0
    q, shift = math.frexp(real)
    m = math.floor(q * (1 << 31) + 0.5)  # std::round (ties away from zero); Python's round() ties to even
    if m == 1 << 31:
        m //= 2
        shift += 1
    if shift < -31:
        return 0, 0
    return int(m), int(shift)


def _trunc_div(a: np.ndarray, d: int) -> np.ndarray:
    """C integer division (rounds toward zero) on int64 arrays."""
    q = np.abs(a) // d
    return np.where(a < 0, -q, q)


def saturating_rounding_doubling_high_mul(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    a = a.astype(np.int64)
    b = np.asarray(b, dtype=np.int64)
    ab = a * b
    nudge = np.where(ab >= 0, 1 << 30, 1 - (1 << 30))
    res = _trunc_div(ab + nudge, 1 << 31)
    return np.where((a == INT32_MIN) & (b == INT32_MIN), INT32_MAX, res)


def rounding_divide_by_pot(x: np.ndarray, exponent: np.ndarray) -> np.ndarray:
    x = x.astype(np.int64)
    exponent = np.asarray(exponent, dtype=np.int64)
    mask = (np.int64(1) << exponent) - 1
    remainder = x & mask
    threshold = (mask >> 1) + (x < 0)
    return (x >> exponent) + (remainder > threshold)


def multiply_by_quantized_multiplier(x: np.ndarray, m: np.ndarray, shift: np.ndarray) -> np.ndarray:
    shift = np.asarray(shift, dtype=np.int64)
    left = np.maximum(shift, 0)
    right = np.maximum(-shift, 0)
    scaled = x.astype(np.int64) * (np.int64(1) << left)
    if np.any((scaled < INT32_MIN) | (scaled > INT32_MAX)):
        raise OverflowError("accumulator << left shift overflows int32")
    return rounding_divide_by_pot(saturating_rounding_doubling_high_mul(scaled, m), right)


# --- layers ----------------------------------------------------------------------------------------------------


@dataclass
class ConvLayer:
    """Conv along time, "valid", stride 1. kind: "conv" (weight (Cout, K, Cin)) or "depthwise" ((C, K))."""

    kind: str
    weight: np.ndarray  # int8
    bias: np.ndarray  # int32 (Cout,)
    multiplier: np.ndarray  # int32 (Cout,)
    shift: np.ndarray  # int32 (Cout,)
    dilation: int
    input_zero_point: int
    output_zero_point: int
    act_min: int
    act_max: int
    # Float scales: not used by the integer arithmetic, kept for the .tflite export and for inspection.
    input_scale: float = 0.0
    output_scale: float = 0.0
    weight_scales: np.ndarray = field(default_factory=lambda: np.zeros(0))

    @property
    def kernel(self) -> int:
        return self.weight.shape[1]

    @property
    def out_channels(self) -> int:
        return self.weight.shape[0]

    def out_frames(self, in_frames: int) -> int:
        return in_frames - (self.kernel - 1) * self.dilation

    def accumulate(self, x: np.ndarray) -> np.ndarray:
        """int32 accumulators (..., frames', Cout) of an int8 (..., frames, Cin) input, bias included."""
        t_out = self.out_frames(x.shape[-2])
        if t_out < 1:
            raise ValueError(f"{x.shape[-2]} frames is fewer than the layer's receptive field")
        xi = x.astype(np.int64) - self.input_zero_point
        w = self.weight.astype(np.int64)
        acc = np.zeros((*x.shape[:-2], t_out, self.out_channels), dtype=np.int64)
        for k in range(self.kernel):
            tap = xi[..., k * self.dilation : k * self.dilation + t_out, :]
            acc += tap @ w[:, k, :].T if self.kind == "conv" else tap * w[:, k]
        return acc + self.bias.astype(np.int64)

    def run(self, x: np.ndarray) -> np.ndarray:
        out = multiply_by_quantized_multiplier(self.accumulate(x), self.multiplier, self.shift)
        return np.clip(out + self.output_zero_point, self.act_min, self.act_max).astype(np.int8)

    def macs(self, in_frames: int) -> int:
        per_frame = self.weight.size
        return self.out_frames(in_frames) * per_frame


@dataclass
class AveragePool:
    """Mean over all frames (TFLite AVERAGE_POOL_2D int8: same quantisation in and out, round half away)."""

    zero_point: int
    scale: float = 0.0

    def run(self, x: np.ndarray) -> np.ndarray:
        n = x.shape[-2]
        acc = x.astype(np.int64).sum(axis=-2, keepdims=True)
        avg = np.where(acc > 0, _trunc_div(acc + n // 2, n), _trunc_div(acc - n // 2, n))
        return np.clip(avg, -128, 127).astype(np.int8)


# --- the model -------------------------------------------------------------------------------------------------


@dataclass
class IntModel:
    """conv, [depthwise, pointwise] x N, average pool, 1x1 classifier; int8 in, int8 logits out."""

    layers: list[ConvLayer]  # feature layers, in order
    pool: AveragePool
    classifier: ConvLayer  # 1x1 conv on the pooled frame
    labels: tuple[str, ...]
    input_scale: float
    input_zero_point: int
    input_frames: int
    feature_hash: str
    meta: dict = field(default_factory=dict)

    def run(self, features: np.ndarray) -> np.ndarray:
        """(..., frames, coefficients) int8 -> (..., classes) int8 logits."""
        if features.dtype != np.int8 or features.ndim < 2 or features.shape[-2] != self.input_frames:
            raise ValueError(
                f"model takes (..., {self.input_frames}, C) int8 features, got {features.shape} {features.dtype}"
            )
        x = features
        for layer in self.layers:
            x = layer.run(x)
        return self.classifier.run(self.pool.run(x))[..., 0, :]

    def run_batch(self, features: np.ndarray, block: int = 256) -> np.ndarray:
        """Like run, in blocks of `block` examples to bound the int64 scratch."""
        out = [self.run(features[i : i + block]) for i in range(0, len(features), block)]
        return np.concatenate(out) if out else np.zeros((0, len(self.labels)), np.int8)

    def receptive_field(self) -> int:
        return 1 + sum((layer.kernel - 1) * layer.dilation for layer in self.layers)

    def weight_bytes(self) -> int:
        """int8 weights + int32 biases: the model's size on the device."""
        all_layers = [*self.layers, self.classifier]
        return sum(layer.weight.size + 4 * layer.bias.size for layer in all_layers)

    def macs(self) -> int:
        t, total = self.input_frames, 0
        for layer in self.layers:
            total += layer.macs(t)
            t = layer.out_frames(t)
        return total + self.classifier.weight.size

    def macs_per_hop(self) -> int:
        """Streaming cost: one new output frame per layer per hop."""
        return sum(layer.weight.size for layer in self.layers) + self.classifier.weight.size

    # --- persistence: one .npz of arrays + JSON metadata, self-describing ---

    def save(self, path: str | os.PathLike) -> None:
        arrays: dict[str, np.ndarray] = {}
        specs = []
        for i, layer in enumerate([*self.layers, self.classifier]):
            for name in ("weight", "bias", "multiplier", "shift", "weight_scales"):
                arrays[f"l{i}_{name}"] = getattr(layer, name)
            specs.append(
                {
                    k: getattr(layer, k)
                    for k in (
                        "kind",
                        "dilation",
                        "input_zero_point",
                        "output_zero_point",
                        "act_min",
                        "act_max",
                        "input_scale",
                        "output_scale",
                    )
                }
            )
        header = {
            "format": "tinykws-int-model/1",
            "layers": specs,
            "pool": {"zero_point": self.pool.zero_point, "scale": self.pool.scale},
            "labels": list(self.labels),
            "input_scale": self.input_scale,
            "input_zero_point": self.input_zero_point,
            "input_frames": self.input_frames,
            "feature_hash": self.feature_hash,
            "meta": self.meta,
        }
        arrays["header"] = np.frombuffer(json.dumps(header).encode(), dtype=np.uint8)
        with atomic_path(path, suffix=".npz") as tmp:
            with open(tmp, "wb") as f:
                np.savez(f, **arrays)

    @classmethod
    def load(cls, path: str | os.PathLike) -> IntModel:
        path = Path(path)
        try:
            with np.load(path, allow_pickle=False) as z:
                arrays = {k: z[k] for k in z.files}
            header = json.loads(arrays.pop("header").tobytes().decode())
        except FileNotFoundError:
            raise TinyKwsError(f"{path}: no such model file") from None
        except Exception as e:  # a truncated zip, a foreign npz, bad JSON: all one message to the user
            raise TinyKwsError(f"{path}: not a tinykws integer model ({type(e).__name__})") from None
        if not isinstance(header, dict) or header.get("format") != "tinykws-int-model/1":
            fmt = header.get("format") if isinstance(header, dict) else None
            raise TinyKwsError(f"{path}: unknown model format {fmt!r}")
        try:
            layers = []
            for i, spec in enumerate(header["layers"]):
                layers.append(
                    ConvLayer(
                        **spec,
                        **{n: arrays[f"l{i}_{n}"] for n in ("weight", "bias", "multiplier", "shift", "weight_scales")},
                    )
                )
            return cls(
                layers=layers[:-1],
                pool=AveragePool(**header["pool"]),
                classifier=layers[-1],
                labels=tuple(header["labels"]),
                input_scale=header["input_scale"],
                input_zero_point=header["input_zero_point"],
                input_frames=header["input_frames"],
                feature_hash=header["feature_hash"],
                meta=header.get("meta", {}),
            )
        except (KeyError, IndexError, TypeError) as e:  # an array or header field missing or of the wrong kind
            what = f"no {e.args[0]}" if isinstance(e, KeyError) else f"{type(e).__name__}: {e}"
            raise TinyKwsError(f"{path}: corrupt tinykws integer model ({what})".splitlines()[0]) from None


def check_feature_hash(model: IntModel, path: str | os.PathLike) -> None:
    """Refuse a model trained on another front end: its numbers would be meaningless on these features."""
    from tinykws.config import CONFIG

    if model.feature_hash != CONFIG.feature_hash():
        raise TinyKwsError(
            f"{path}: model was trained on features {model.feature_hash}, this front end is "
            f"{CONFIG.feature_hash()}; retrain or use a matching model"
        )
