"""The integer model as an int8 `.tflite` flatbuffer, written by our own writer (the `tflite` package's generated
schema builders; no TensorFlow).

The graph is the integer model op for op, so that LiteRT and TensorFlow Lite Micro compute exactly
`IntModel.run`: int8 input (1, frames, 1, coefficients) = NHWC with H = time, W = 1; per layer a CONV_2D
(weights (Cout, KH, 1, Cin), per-channel scales on dimension 0) or DEPTHWISE_CONV_2D (weights (1, KH, 1, C),
depth multiplier 1, scales on dimension 3) with dilation_h_factor, stride 1, VALID padding, int32 bias of scale
in_scale * w_scale; AVERAGE_POOL_2D over all remaining frames; the 1x1 classifier CONV_2D; RESHAPE to
(1, classes). Only builtin ops, so the file runs on any TFLite runtime with the builtin op set.

Before writing, every number a runtime derives from the file (requantisation multipliers and shifts from the
float32 scales, fused activation ranges from the zero points) is checked against the integer model's own: a
model the runtimes would compute differently is refused, rather than exported to disagree silently.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable
from dataclasses import dataclass
from importlib import metadata as importlib_metadata

import numpy as np

from tinykws.atomic import atomic_path
from tinykws.deploy import tflite_schema as schema

# The packages come through tflite_schema, which turns their absence into one line naming the pip install.
from tinykws.deploy.tflite_schema import flatbuffers, tflite
from tinykws.errors import TinyKwsError
from tinykws.train.int_model import ConvLayer, IntModel, f32

# Operator versions as TFLite's op_version.cc assigns them for int8 per-channel kernels.
_OP_VERSIONS = {
    tflite.BuiltinOperator.CONV_2D: 3,
    tflite.BuiltinOperator.DEPTHWISE_CONV_2D: 3,
    tflite.BuiltinOperator.AVERAGE_POOL_2D: 2,
    tflite.BuiltinOperator.RESHAPE: 1,
}
# Buffer.data is `force_align: 16` in the schema (int32 biases read in place by TFLM); the generated Python
# builder ignores it, so buffers are written by hand with this alignment.
_BUFFER_ALIGN = 16

OptionsWriter = Callable[[flatbuffers.Builder], int]


@dataclass
class _Tensor:
    name: str
    shape: tuple[int, ...]
    dtype: int  # tflite.TensorType
    data: bytes | None = None  # constant tensors
    scales: tuple[float, ...] = ()
    zero_points: tuple[int, ...] = ()
    quantized_dimension: int = 0


@dataclass
class _Op:
    code: int  # tflite.BuiltinOperator
    inputs: list[int]
    outputs: list[int]
    options_type: int  # tflite.BuiltinOptions
    options: OptionsWriter


# --- checks: the runtime must derive our numbers ---------------------------------------------------------------


def _activation(layer: ConvLayer, name: str, prefer_relu: bool) -> int:
    """The fused activation whose clamp range TFLite derives equal to the layer's [act_min, act_max]."""
    fits = []
    if layer.act_max == 127 and layer.act_min == schema.relu_act_min(layer.output_zero_point):
        fits.append(tflite.ActivationFunctionType.RELU)
    if layer.act_max == 127 and layer.act_min == -128:
        fits.append(tflite.ActivationFunctionType.NONE)
    if not fits:
        raise TinyKwsError(
            f"{name}: clamp [{layer.act_min}, {layer.act_max}] is neither RELU (max(-128, zero point "
            f"{layer.output_zero_point}), 127) nor no activation (-128, 127); TFLite cannot express it"
        )
    # A ReLU layer whose zero point is -128 clamps like no activation at all; say RELU where the model means it.
    return fits[0] if prefer_relu or len(fits) == 1 else fits[-1]


def _check_layer(layer: ConvLayer, name: str, in_scale: float, in_zp: int) -> None:
    if layer.kind not in ("conv", "depthwise"):
        raise TinyKwsError(f"{name}: unknown layer kind {layer.kind!r}")
    if (layer.input_scale, layer.input_zero_point) != (in_scale, in_zp):
        raise TinyKwsError(
            f"{name}: input quantisation ({layer.input_scale}, {layer.input_zero_point}) is not the previous "
            f"output's ({in_scale}, {in_zp})"
        )
    scales = [layer.input_scale, layer.output_scale, *np.asarray(layer.weight_scales).tolist()]
    if any(s <= 0 or f32(s) != s for s in scales):
        # A runtime derives multipliers from the float32 scales in the file; from other values ours would differ.
        raise TinyKwsError(
            f"{name}: scales are not float32 values (a .tflite stores float32); export the model again from its "
            "checkpoint with the current train/model.py"
        )
    if len(layer.weight_scales) != layer.out_channels:
        raise TinyKwsError(f"{name}: {len(layer.weight_scales)} weight scales for {layer.out_channels} channels")
    # TFLite's int8 spec: per-channel weights are symmetric, -128 excluded (some optimised kernels rely on it).
    if layer.weight.dtype != np.int8 or layer.weight.min(initial=0) < -127:
        raise TinyKwsError(f"{name}: weights must be int8 in [-127, 127]")
    # The runtimes accumulate in int32 (wrapping on overflow); IntModel in int64. Prove they cannot part.
    worst = np.abs(layer.bias.astype(np.int64)) + 255 * np.abs(layer.weight.astype(np.int64)).reshape(
        layer.out_channels, -1
    ).sum(axis=1)
    if worst.max() > 2**31 - 1:
        raise TinyKwsError(f"{name}: bias + products can overflow an int32 accumulator")
    mult, shift = schema.runtime_multipliers(layer.input_scale, layer.weight_scales, layer.output_scale)
    bad = np.flatnonzero((mult != layer.multiplier) | (shift != layer.shift))
    if len(bad):
        c = int(bad[0])
        raise TinyKwsError(
            f"{name}: channel {c} multiplier/shift ({layer.multiplier[c]}, {layer.shift[c]}) differ from what "
            f"TFLite derives from the float32 scales ({mult[c]}, {shift[c]}); re-derive them with "
            "tflite_schema.tflite_quantize_multiplier"
        )


def check_exportable(model: IntModel) -> None:
    """TinyKwsError unless a TFLite runtime would compute exactly `model.run` from the exported file."""
    scale, zp = model.input_scale, model.input_zero_point
    if f32(scale) != scale:
        raise TinyKwsError("input scale must be a float32 value")
    for i, layer in enumerate(model.layers):
        _check_layer(layer, f"layer {i}", scale, zp)
        _activation(layer, f"layer {i}", prefer_relu=True)
        scale, zp = layer.output_scale, layer.output_zero_point
    # TFLite's int8 AVERAGE_POOL_2D requires (and assumes) identical input and output quantisation.
    if (model.pool.scale, model.pool.zero_point) != (scale, zp):
        raise TinyKwsError(f"pool quantisation ({model.pool.scale}, {model.pool.zero_point}) != its input's")
    _check_layer(model.classifier, "classifier", scale, zp)
    _activation(model.classifier, "classifier", prefer_relu=False)
    if model.classifier.kernel != 1:
        raise TinyKwsError("classifier must be a 1x1 conv")


# --- the graph -------------------------------------------------------------------------------------------------


def _conv_options(layer: ConvLayer, activation: int) -> tuple[int, OptionsWriter]:
    def write(b: flatbuffers.Builder) -> int:
        if layer.kind == "depthwise":
            tflite.DepthwiseConv2DOptionsStart(b)
            tflite.DepthwiseConv2DOptionsAddPadding(b, tflite.Padding.VALID)
            tflite.DepthwiseConv2DOptionsAddStrideW(b, 1)
            tflite.DepthwiseConv2DOptionsAddStrideH(b, 1)
            tflite.DepthwiseConv2DOptionsAddDepthMultiplier(b, 1)
            tflite.DepthwiseConv2DOptionsAddFusedActivationFunction(b, activation)
            tflite.DepthwiseConv2DOptionsAddDilationWFactor(b, 1)
            tflite.DepthwiseConv2DOptionsAddDilationHFactor(b, layer.dilation)
            return tflite.DepthwiseConv2DOptionsEnd(b)
        tflite.Conv2DOptionsStart(b)
        tflite.Conv2DOptionsAddPadding(b, tflite.Padding.VALID)
        tflite.Conv2DOptionsAddStrideW(b, 1)
        tflite.Conv2DOptionsAddStrideH(b, 1)
        tflite.Conv2DOptionsAddFusedActivationFunction(b, activation)
        tflite.Conv2DOptionsAddDilationWFactor(b, 1)
        tflite.Conv2DOptionsAddDilationHFactor(b, layer.dilation)
        return tflite.Conv2DOptionsEnd(b)

    depthwise = layer.kind == "depthwise"
    return (tflite.BuiltinOptions.DepthwiseConv2DOptions if depthwise else tflite.BuiltinOptions.Conv2DOptions), write


def _activations(name: str, shape: tuple[int, ...], scale: float, zero_point: int) -> _Tensor:
    return _Tensor(name, shape, tflite.TensorType.INT8, None, (scale,), (zero_point,))


def _add_conv(tensors: list[_Tensor], ops: list[_Op], layer: ConvLayer, name: str, x: int, relu: bool) -> int:
    """Append the weight, bias and output tensors and the conv op; return the output tensor's index."""
    k, c_out = layer.kernel, layer.out_channels
    if layer.kind == "depthwise":
        # (C, K) -> (1, KH, 1, C): TFLite's depthwise filter layout, channels last.
        weight, qdim, code = layer.weight.T.reshape(1, k, 1, c_out), 3, tflite.BuiltinOperator.DEPTHWISE_CONV_2D
    else:
        weight, qdim, code = layer.weight.reshape(c_out, k, 1, -1), 0, tflite.BuiltinOperator.CONV_2D
    w_scales = tuple(float(s) for s in layer.weight_scales)
    # Bias scale = input scale * weight scale, rounded to float32 as the TFLite converter writes it.
    b_scales = tuple(f32(layer.input_scale * s) for s in w_scales)
    zeros = (0,) * c_out
    w_bytes = np.ascontiguousarray(weight, np.int8).tobytes()
    tensors.append(_Tensor(f"{name}/weights", weight.shape, tflite.TensorType.INT8, w_bytes, w_scales, zeros, qdim))
    b_bytes = np.asarray(layer.bias, "<i4").tobytes()
    tensors.append(_Tensor(f"{name}/bias", (c_out,), tflite.TensorType.INT32, b_bytes, b_scales, zeros, 0))
    _, t_in, _, _ = tensors[x].shape
    out_shape = (1, layer.out_frames(t_in), 1, c_out)
    tensors.append(_activations(name, out_shape, layer.output_scale, layer.output_zero_point))
    opt_type, opt = _conv_options(layer, _activation(layer, name, prefer_relu=relu))
    ops.append(_Op(code, [x, len(tensors) - 3, len(tensors) - 2], [len(tensors) - 1], opt_type, opt))
    return len(tensors) - 1


def _add_pool(tensors: list[_Tensor], ops: list[_Op], model: IntModel, x: int) -> int:
    """Average over all remaining frames: one AVERAGE_POOL_2D whose filter is (frames, 1)."""
    _, frames, _, channels = tensors[x].shape

    def options(b: flatbuffers.Builder) -> int:
        tflite.Pool2DOptionsStart(b)
        tflite.Pool2DOptionsAddPadding(b, tflite.Padding.VALID)
        tflite.Pool2DOptionsAddStrideW(b, 1)
        tflite.Pool2DOptionsAddStrideH(b, 1)
        tflite.Pool2DOptionsAddFilterWidth(b, 1)
        tflite.Pool2DOptionsAddFilterHeight(b, frames)
        return tflite.Pool2DOptionsEnd(b)

    tensors.append(_activations("pool", (1, 1, 1, channels), model.pool.scale, model.pool.zero_point))
    code, opt_type = tflite.BuiltinOperator.AVERAGE_POOL_2D, tflite.BuiltinOptions.Pool2DOptions
    ops.append(_Op(code, [x], [len(tensors) - 1], opt_type, options))
    return len(tensors) - 1


def _add_reshape(tensors: list[_Tensor], ops: list[_Op], cls: ConvLayer, x: int) -> int:
    """(1, 1, 1, classes) -> (1, classes), the shape given both as an input tensor and in the options."""
    new_shape = np.array([1, cls.out_channels], "<i4")

    def options(b: flatbuffers.Builder) -> int:
        vec = b.CreateNumpyVector(new_shape)
        tflite.ReshapeOptionsStart(b)
        tflite.ReshapeOptionsAddNewShape(b, vec)
        return tflite.ReshapeOptionsEnd(b)

    tensors.append(_Tensor("logits/shape", (2,), tflite.TensorType.INT32, new_shape.tobytes()))
    tensors.append(_activations("logits", tuple(new_shape), cls.output_scale, cls.output_zero_point))
    code, opt_type = tflite.BuiltinOperator.RESHAPE, tflite.BuiltinOptions.ReshapeOptions
    ops.append(_Op(code, [x, len(tensors) - 2], [len(tensors) - 1], opt_type, options))
    return len(tensors) - 1


def _graph(model: IntModel) -> tuple[list[_Tensor], list[_Op]]:
    """Tensors and ops; tensor 0 is the input, the last tensor the output."""
    c_in = model.layers[0].weight.shape[2]
    tensors = [_activations("features", (1, model.input_frames, 1, c_in), model.input_scale, model.input_zero_point)]
    ops: list[_Op] = []
    x = 0
    for i, layer in enumerate(model.layers):
        x = _add_conv(tensors, ops, layer, f"{'dw' if layer.kind == 'depthwise' else 'conv'}{i}", x, relu=True)
    x = _add_pool(tensors, ops, model, x)
    x = _add_conv(tensors, ops, model.classifier, "classifier", x, relu=False)
    _add_reshape(tensors, ops, model.classifier, x)
    return tensors, ops


# --- serialisation ---------------------------------------------------------------------------------------------


def _aligned_bytes(b: flatbuffers.Builder, data: bytes) -> int:
    b.StartVector(1, len(data), _BUFFER_ALIGN)
    b.head -= len(data)
    b.Bytes[b.head : b.head + len(data)] = data
    return b.EndVector()


def _offsets(b: flatbuffers.Builder, offsets: list[int]) -> int:
    b.StartVector(4, len(offsets), 4)
    for off in reversed(offsets):
        b.PrependUOffsetTRelative(off)
    return b.EndVector()


def _buffer(b: flatbuffers.Builder, data: bytes) -> int:
    vec = _aligned_bytes(b, data) if data else None
    tflite.BufferStart(b)
    if vec is not None:
        tflite.BufferAddData(b, vec)
    return tflite.BufferEnd(b)


def _tensor(b: flatbuffers.Builder, t: _Tensor, buffer: int) -> int:
    name = b.CreateString(t.name)
    shape = b.CreateNumpyVector(np.array(t.shape, "<i4"))
    quant = None
    if t.scales:
        scales = b.CreateNumpyVector(np.array(t.scales, "<f4"))
        zps = b.CreateNumpyVector(np.array(t.zero_points, "<i8"))
        tflite.QuantizationParametersStart(b)
        tflite.QuantizationParametersAddScale(b, scales)
        tflite.QuantizationParametersAddZeroPoint(b, zps)
        tflite.QuantizationParametersAddQuantizedDimension(b, t.quantized_dimension)
        quant = tflite.QuantizationParametersEnd(b)
    tflite.TensorStart(b)
    tflite.TensorAddShape(b, shape)
    tflite.TensorAddType(b, t.dtype)
    tflite.TensorAddBuffer(b, buffer)
    tflite.TensorAddName(b, name)
    if quant is not None:
        tflite.TensorAddQuantization(b, quant)
    return tflite.TensorEnd(b)


def _operator(b: flatbuffers.Builder, op: _Op, opcode_index: int) -> int:
    inputs = b.CreateNumpyVector(np.array(op.inputs, "<i4"))
    outputs = b.CreateNumpyVector(np.array(op.outputs, "<i4"))
    options = op.options(b)
    tflite.OperatorStart(b)
    tflite.OperatorAddOpcodeIndex(b, opcode_index)
    tflite.OperatorAddInputs(b, inputs)
    tflite.OperatorAddOutputs(b, outputs)
    tflite.OperatorAddBuiltinOptionsType(b, op.options_type)
    tflite.OperatorAddBuiltinOptions(b, options)
    return tflite.OperatorEnd(b)


def _opcode(b: flatbuffers.Builder, code: int) -> int:
    tflite.OperatorCodeStart(b)
    # Codes < 127 go in both fields: readers older than schema 3a only look at the deprecated int8 one.
    tflite.OperatorCodeAddDeprecatedBuiltinCode(b, min(code, 127))
    tflite.OperatorCodeAddBuiltinCode(b, code)
    tflite.OperatorCodeAddVersion(b, _OP_VERSIONS[code])
    return tflite.OperatorCodeEnd(b)


def _tinykws_version() -> str:
    try:
        return importlib_metadata.version("tinykws")
    except importlib_metadata.PackageNotFoundError:
        return "unknown"


def model_metadata(model: IntModel) -> dict[str, bytes]:
    """The metadata entries a tinykws .tflite carries, so the file describes its own labels and front end."""
    meta = {
        schema.META_LABELS: json.dumps(list(model.labels)).encode(),
        schema.META_FEATURE_HASH: model.feature_hash.encode(),
        schema.META_VERSION: _tinykws_version().encode(),
        schema.META_INPUT_FRAMES: str(model.input_frames).encode(),
    }
    for key, name in ((schema.META_TASK, "task"), (schema.META_GIT, "git")):
        if model.meta.get(name):
            meta[key] = str(model.meta[name]).encode()
    meta[schema.META_CHECKSUM] = schema.CHECKSUM_PLACEHOLDER  # tflite_bytes fills it in once the file is built
    return meta


def _subgraph(b: flatbuffers.Builder, tensors: list[_Tensor], ops: list[_Op], codes: list[int]) -> int:
    # Buffer 0 is the empty buffer of every non-constant tensor (the schema's convention); constants follow in
    # tensor order, as tflite_bytes writes them.
    buffer_of = np.cumsum([t.data is not None for t in tensors]) * [t.data is not None for t in tensors]
    tensor_offs = [_tensor(b, t, int(buf)) for t, buf in zip(tensors, buffer_of, strict=True)]
    op_offs = [_operator(b, op, codes.index(op.code)) for op in ops]
    name = b.CreateString("main")
    t_vec, o_vec = _offsets(b, tensor_offs), _offsets(b, op_offs)
    in_vec = b.CreateNumpyVector(np.array([0], "<i4"))
    out_vec = b.CreateNumpyVector(np.array([len(tensors) - 1], "<i4"))
    tflite.SubGraphStart(b)
    tflite.SubGraphAddTensors(b, t_vec)
    tflite.SubGraphAddInputs(b, in_vec)
    tflite.SubGraphAddOutputs(b, out_vec)
    tflite.SubGraphAddOperators(b, o_vec)
    tflite.SubGraphAddName(b, name)
    return tflite.SubGraphEnd(b)


def _metadata(b: flatbuffers.Builder, names: list[str], first_buffer: int) -> int:
    offs = []
    for i, key in enumerate(names):
        key_str = b.CreateString(key)
        tflite.MetadataStart(b)
        tflite.MetadataAddName(b, key_str)
        tflite.MetadataAddBuffer(b, first_buffer + i)
        offs.append(tflite.MetadataEnd(b))
    return _offsets(b, offs)


def tflite_bytes(model: IntModel) -> bytes:
    """The model as a .tflite flatbuffer (TinyKwsError if a runtime could not reproduce `model.run`)."""
    check_exportable(model)
    tensors, ops = _graph(model)
    meta = model_metadata(model)
    b = flatbuffers.Builder(64 * 1024)
    constants = [t.data for t in tensors if t.data is not None]
    buf_vec = _offsets(b, [_buffer(b, blob) for blob in [b"", *constants, *meta.values()]])
    codes = sorted({op.code for op in ops})
    sub_vec = _offsets(b, [_subgraph(b, tensors, ops, codes)])
    code_vec = _offsets(b, [_opcode(b, c) for c in codes])
    meta_vec = _metadata(b, list(meta), 1 + len(constants))
    description = b.CreateString(f"tinykws {_tinykws_version()} int8 keyword model ({len(model.labels)} classes)")
    tflite.ModelStart(b)
    tflite.ModelAddVersion(b, schema.SCHEMA_VERSION)
    tflite.ModelAddOperatorCodes(b, code_vec)
    tflite.ModelAddSubgraphs(b, sub_vec)
    tflite.ModelAddDescription(b, description)
    tflite.ModelAddBuffers(b, buf_vec)
    tflite.ModelAddMetadata(b, meta_vec)
    b.Finish(tflite.ModelEnd(b), file_identifier=schema.FILE_IDENTIFIER)
    data = bytes(b.Output())
    start = schema.checksum_offset(data)
    digest = schema.file_checksum(data, start).encode()
    return data[:start] + digest + data[start + len(digest) :]


def write_tflite(model: IntModel, path: str | os.PathLike) -> None:
    """Write `model` as an int8 .tflite at `path`, atomically (a reader never sees half a file)."""
    data = tflite_bytes(model)
    with atomic_path(path, suffix=".tflite") as tmp:
        tmp.write_bytes(data)
