"""The parts of the TFLite flatbuffer format tinykws writes and reads, and the arithmetic a runtime derives from it.

Writing and reading go through the generated schema code of the `tflite` package (no TensorFlow). This module
holds what both sides need: the file identifier and schema version, the metadata names, a reader that turns a
file into plain Python objects (refusing a truncated, corrupt or foreign file with one line), and
`runtime_multipliers`, the (multiplier, shift) pairs a TFLite runtime computes from the float32 scales in the
file at Prepare time. The integer model's own multipliers must equal those, or no runtime can match it.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field

import numpy as np

from tinykws.errors import TinyKwsError
from tinykws.train.int_model import quantize_multiplier

try:
    import flatbuffers  # noqa: F401 - imported here for tflite_export, behind the same install hint
    import tflite
    from tflite.utils import opcode2name
except ImportError as e:  # one line from the CLI instead of a traceback, naming what to install
    raise TinyKwsError(f"reading and writing .tflite files needs `pip install tflite flatbuffers` ({e})") from None

FILE_IDENTIFIER = b"TFL3"
SCHEMA_VERSION = 3
# Metadata entries (name -> buffer of UTF-8 text); the labels entry is a JSON list.
META_LABELS = "tinykws.labels"
META_FEATURE_HASH = "tinykws.feature_hash"
META_VERSION = "tinykws.version"
META_INPUT_FRAMES = "tinykws.input_frames"
META_TASK = "tinykws.task"  # these two only when the model knows them (a trained model's meta)
META_GIT = "tinykws.git"
# sha256 (hex) of the whole file read with this entry's own 64 bytes as ASCII zeros. A flatbuffer has no
# integrity check of its own, and a flipped weight byte still parses: this is what tells such a file apart.
META_CHECKSUM = "tinykws.sha256"
CHECKSUM_PLACEHOLDER = b"0" * 64

_DTYPES = {
    tflite.TensorType.INT8: np.dtype(np.int8),
    tflite.TensorType.INT32: np.dtype(np.int32),
    tflite.TensorType.UINT8: np.dtype(np.uint8),
    tflite.TensorType.INT16: np.dtype(np.int16),
    tflite.TensorType.INT64: np.dtype(np.int64),
    tflite.TensorType.FLOAT32: np.dtype(np.float32),
}
_ACTIVATIONS = {v: k for k, v in vars(tflite.ActivationFunctionType).items() if not k.startswith("_")}
_PADDINGS = {v: k for k, v in vars(tflite.Padding).items() if not k.startswith("_")}


# --- what a runtime derives from the file ----------------------------------------------------------------------


# TFLite's QuantizeMultiplier (quantization_util.cc) is the integer model's: one definition for both.
tflite_quantize_multiplier = quantize_multiplier


def runtime_multipliers(in_scale: float, w_scales: np.ndarray, out_scale: float) -> tuple[np.ndarray, np.ndarray]:
    """Per-channel (multiplier, shift) as TFLite / TFLM PopulateConvolutionQuantizationParams compute them:
    double(float32 input scale) * double(float32 filter scale) / double(float32 output scale)."""
    i, o = float(np.float32(in_scale)), float(np.float32(out_scale))
    pairs = [tflite_quantize_multiplier(i * float(np.float32(s)) / o) for s in np.asarray(w_scales).ravel()]
    m, s = zip(*pairs, strict=True) if pairs else ((), ())
    return np.array(m, dtype=np.int64), np.array(s, dtype=np.int64)


def relu_act_min(output_zero_point: int) -> int:
    """CalculateActivationRangeQuantized for RELU: max(qmin, zero point + round(0 / scale))."""
    return max(-128, int(output_zero_point))


# --- reading ---------------------------------------------------------------------------------------------------


@dataclass
class TensorInfo:
    name: str
    shape: tuple[int, ...]
    dtype: np.dtype
    data: np.ndarray | None  # constant tensors only
    scales: np.ndarray = field(default_factory=lambda: np.zeros(0))
    zero_points: np.ndarray = field(default_factory=lambda: np.zeros(0, np.int64))
    quantized_dimension: int = 0

    @property
    def nbytes(self) -> int:
        return int(np.prod(self.shape, dtype=np.int64)) * self.dtype.itemsize


@dataclass
class OpInfo:
    op: str  # builtin operator name, e.g. "CONV_2D"
    version: int
    inputs: list[int]
    outputs: list[int]
    options: dict


@dataclass
class TfliteGraph:
    version: int
    tensors: list[TensorInfo]
    ops: list[OpInfo]
    inputs: list[int]
    outputs: list[int]
    metadata: dict[str, bytes]
    file_bytes: int

    def meta_text(self, name: str) -> str | None:
        raw = self.metadata.get(name)
        return None if raw is None else raw.decode("utf-8", errors="replace")

    def labels(self) -> list[str] | None:
        text = self.meta_text(META_LABELS)
        return None if text is None else json.loads(text)


def _options(op: tflite.Operator) -> dict:
    """The builtin options tinykws's exports use, as a dict (other ops: empty)."""
    table = op.BuiltinOptions()
    kind = op.BuiltinOptionsType()
    if table is None:
        return {}
    if kind in (tflite.BuiltinOptions.Conv2DOptions, tflite.BuiltinOptions.DepthwiseConv2DOptions):
        cls = tflite.Conv2DOptions if kind == tflite.BuiltinOptions.Conv2DOptions else tflite.DepthwiseConv2DOptions
        o = cls()
        o.Init(table.Bytes, table.Pos)
        d = {
            "padding": _PADDINGS.get(o.Padding(), o.Padding()),
            "stride": [o.StrideH(), o.StrideW()],
            "dilation": [o.DilationHFactor(), o.DilationWFactor()],
            "activation": _ACTIVATIONS.get(o.FusedActivationFunction(), o.FusedActivationFunction()),
        }
        if kind == tflite.BuiltinOptions.DepthwiseConv2DOptions:
            d["depth_multiplier"] = o.DepthMultiplier()
        return d
    if kind == tflite.BuiltinOptions.Pool2DOptions:
        o = tflite.Pool2DOptions()
        o.Init(table.Bytes, table.Pos)
        return {
            "padding": _PADDINGS.get(o.Padding(), o.Padding()),
            "stride": [o.StrideH(), o.StrideW()],
            "filter": [o.FilterHeight(), o.FilterWidth()],
            "activation": _ACTIVATIONS.get(o.FusedActivationFunction(), o.FusedActivationFunction()),
        }
    if kind == tflite.BuiltinOptions.ReshapeOptions:
        o = tflite.ReshapeOptions()
        o.Init(table.Bytes, table.Pos)
        return {"new_shape": o.NewShapeAsNumpy().tolist() if o.NewShapeLength() else []}
    return {}


def _parse(data: bytes) -> TfliteGraph:
    model = tflite.Model.GetRootAs(data, 0)
    if model.SubgraphsLength() != 1:
        raise ValueError(f"{model.SubgraphsLength()} subgraphs, expected 1")
    buffers = []
    for i in range(model.BuffersLength()):
        buf = model.Buffers(i)
        if buf.Offset() > 1:  # data stored past the 2 GB flatbuffer limit: never written by tinykws
            raise ValueError("buffer outside the flatbuffer")
        buffers.append(buf.DataAsNumpy().tobytes() if buf.DataLength() else b"")
    g = model.Subgraphs(0)
    tensors = []
    for i in range(g.TensorsLength()):
        t = g.Tensors(i)
        shape = tuple(int(d) for d in t.ShapeAsNumpy()) if t.ShapeLength() else ()
        if any(d < 0 for d in shape):
            raise ValueError(f"tensor {i} has a negative dimension")
        dtype = _DTYPES.get(t.Type())
        if dtype is None:
            raise ValueError(f"tensor {i} has unsupported type {t.Type()}")
        raw = buffers[t.Buffer()]
        info = TensorInfo(name=(t.Name() or b"").decode(errors="replace"), shape=shape, dtype=dtype, data=None)
        if raw:
            if len(raw) != info.nbytes:
                raise ValueError(f"tensor {i} holds {len(raw)} bytes, its shape needs {info.nbytes}")
            info.data = np.frombuffer(raw, dtype=dtype.newbyteorder("<")).reshape(shape)
        q = t.Quantization()
        if q is not None and q.ScaleLength():
            info.scales = q.ScaleAsNumpy().astype(np.float64)
            info.zero_points = q.ZeroPointAsNumpy().astype(np.int64) if q.ZeroPointLength() else np.zeros(1, np.int64)
            info.quantized_dimension = q.QuantizedDimension()
        tensors.append(info)
    ops = []
    for i in range(g.OperatorsLength()):
        op = g.Operators(i)
        code = model.OperatorCodes(op.OpcodeIndex())
        builtin = max(code.BuiltinCode(), code.DeprecatedBuiltinCode())
        io = [op.InputsAsNumpy().tolist() if op.InputsLength() else [], op.OutputsAsNumpy().tolist()]
        if any(not -1 <= k < len(tensors) for k in io[0] + io[1]):
            raise ValueError(f"operator {i} names a tensor that does not exist")
        ops.append(OpInfo(opcode2name(builtin), code.Version(), io[0], io[1], _options(op)))
    metadata = {}
    for i in range(model.MetadataLength()):
        m = model.Metadata(i)
        metadata[(m.Name() or b"").decode(errors="replace")] = buffers[m.Buffer()]
    return TfliteGraph(
        version=model.Version(),
        tensors=tensors,
        ops=ops,
        inputs=g.InputsAsNumpy().tolist(),
        outputs=g.OutputsAsNumpy().tolist(),
        metadata=metadata,
        file_bytes=len(data),
    )


def checksum_offset(data: bytes) -> int | None:
    """File offset of the META_CHECKSUM entry's 64 bytes; None if the file has no such entry."""
    model = tflite.Model.GetRootAs(data, 0)
    for i in range(model.MetadataLength()):
        m = model.Metadata(i)
        buf = model.Buffers(m.Buffer())
        if m.Name() == META_CHECKSUM.encode() and buf.DataLength() == len(CHECKSUM_PLACEHOLDER):
            return buf._tab.Vector(buf._tab.Offset(4))  # the generated code's own accessor of a vector's bytes
    return None


def file_checksum(data: bytes, start: int) -> str:
    """The META_CHECKSUM of a file whose checksum entry starts at byte `start`."""
    end = start + len(CHECKSUM_PLACEHOLDER)
    return hashlib.sha256(data[:start] + CHECKSUM_PLACEHOLDER + data[end:]).hexdigest()


def read_tflite(data: bytes, name: str = "model") -> TfliteGraph:
    """Parse a .tflite flatbuffer; TinyKwsError (one line naming `name`) if it is not a readable one."""
    if len(data) < 8 or data[4:8] != FILE_IDENTIFIER:
        raise TinyKwsError(f"{name}: not a TFLite flatbuffer (no {FILE_IDENTIFIER.decode()} identifier)")
    try:
        graph = _parse(data)
    except Exception as e:  # flatbuffers has no verifier in Python: a corrupt offset surfaces as any error
        raise TinyKwsError(f"{name}: corrupt TFLite file ({type(e).__name__}: {e})".splitlines()[0]) from None
    if graph.version != SCHEMA_VERSION:
        raise TinyKwsError(f"{name}: TFLite schema version {graph.version}, expected {SCHEMA_VERSION}")
    want = graph.meta_text(META_CHECKSUM)
    if want is not None:
        start = checksum_offset(data)
        if start is None or file_checksum(data, start) != want:
            raise TinyKwsError(f"{name}: corrupt TFLite file ({META_CHECKSUM} does not match: changed after export)")
    return graph
