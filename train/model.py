"""The keyword-spotting CNN in torch: a float model with batch norm for pre-training, and its quantisation-aware
twin (BN folded, ReLU fused, fake-quant weights and activations) that exports to an `IntModel`.

Import-safe (no work at import) and rebuildable from a config alone. Shapes: x is (B, C, T), channels first,
as torch's Conv1d wants; the integer model uses (T, C).
"""

from __future__ import annotations

import numpy as np
import torch
from torch import nn

from tinykws.config import CONFIG, ModelConfig
from tinykws.train.int_model import AveragePool, ConvLayer, IntModel, f32, quantize_multiplier

BN_EPS = 1e-5


def layer_specs(mc: ModelConfig, in_channels: int) -> list[dict]:
    """(kind, in, out, kernel, dilation) of every feature layer, in order."""
    c = mc.channels
    specs = [dict(kind="conv", cin=in_channels, cout=c, kernel=mc.first_kernel, dilation=1)]
    for d in mc.dilations:
        specs.append(dict(kind="depthwise", cin=c, cout=c, kernel=mc.block_kernel, dilation=d))
        specs.append(dict(kind="conv", cin=c, cout=c, kernel=1, dilation=1))
    if mc.head_channels:
        specs.append(dict(kind="conv", cin=c, cout=mc.head_channels, kernel=1, dilation=1))
    return specs


def _conv(spec: dict, bias: bool) -> nn.Conv1d:
    groups = spec["cin"] if spec["kind"] == "depthwise" else 1
    return nn.Conv1d(spec["cin"], spec["cout"], spec["kernel"], dilation=spec["dilation"], groups=groups, bias=bias)


class KwsNet(nn.Module):
    """Float model: [conv -> BN -> ReLU] per layer, mean over time, 1x1 conv classifier."""

    def __init__(self, num_classes: int, mc: ModelConfig = CONFIG.model, in_channels: int | None = None) -> None:
        super().__init__()
        self.mc = mc
        self.in_channels = in_channels or CONFIG.features.num_mfcc
        self.specs = layer_specs(mc, self.in_channels)
        self.convs = nn.ModuleList(_conv(s, bias=False) for s in self.specs)
        self.bns = nn.ModuleList(nn.BatchNorm1d(s["cout"], eps=BN_EPS) for s in self.specs)
        self.classifier = nn.Conv1d(self.specs[-1]["cout"], num_classes, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:  # (B, Cin, T) -> (B, classes)
        for conv, bn in zip(self.convs, self.bns, strict=True):
            x = torch.relu(bn(conv(x)))
        return self.classifier(x.mean(dim=2, keepdim=True))[:, :, 0]


# --- fake quantisation -----------------------------------------------------------------------------------------


class _FakeQuant(torch.autograd.Function):
    """round(x / s) + z clamped to [qmin, qmax], back to float; straight-through gradient inside the range."""

    @staticmethod
    def forward(ctx, x, scale, zero_point, qmin, qmax):  # noqa: ANN001, ANN205 - autograd signature
        q = torch.round(x / scale) + zero_point
        ctx.save_for_backward((q >= qmin) & (q <= qmax))
        return (torch.clamp(q, qmin, qmax) - zero_point) * scale

    @staticmethod
    def backward(ctx, grad):  # noqa: ANN001, ANN205
        (inside,) = ctx.saved_tensors
        return grad * inside, None, None, None, None


def fake_quant(x: torch.Tensor, scale: torch.Tensor, zero_point: torch.Tensor, qmin: int, qmax: int) -> torch.Tensor:
    return _FakeQuant.apply(x, scale, zero_point, qmin, qmax)


def weight_scales(w: torch.Tensor) -> torch.Tensor:
    """Symmetric per-output-channel int8 scales (max |w| -> 127), shape (Cout,)."""
    return w.detach().abs().flatten(1).max(dim=1).values.clamp_min(1e-8) / 127.0


class ActObserver(nn.Module):
    """EMA of an activation's range -> asymmetric int8 (scale, zero point); frozen for the final epochs."""

    def __init__(self, momentum: float = 0.05) -> None:
        super().__init__()
        self.momentum = momentum
        self.register_buffer("lo", torch.tensor(0.0))
        self.register_buffer("hi", torch.tensor(0.0))
        self.register_buffer("seen", torch.tensor(False))
        self.frozen = False

    def update(self, x: torch.Tensor) -> None:
        if self.frozen or not self.training:
            return
        lo, hi = x.detach().min().clamp(max=0.0), x.detach().max().clamp(min=0.0)
        if not bool(self.seen):
            self.lo.copy_(lo)
            self.hi.copy_(hi)
            self.seen.fill_(True)
        else:
            self.lo.lerp_(lo, self.momentum)
            self.hi.lerp_(hi, self.momentum)

    def qparams(self) -> tuple[float, int]:
        """(scale, zero point); the scale rounded to float32, as a .tflite stores it."""
        lo, hi = float(self.lo), float(self.hi)
        scale = f32(max(hi - lo, 1e-6) / 255.0)
        zp = int(np.clip(round(-128 - lo / scale), -128, 127))
        return scale, zp

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        self.update(x)
        scale, zp = self.qparams()
        return fake_quant(x, torch.tensor(scale), torch.tensor(float(zp)), -128, 127)


def _multipliers(real: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """TFLite QuantizeMultiplier per channel on float64 tensors: real = M * 2^(shift - 31)."""
    mant, exp = torch.frexp(real)
    m = torch.floor(mant * 2.0**31 + 0.5)  # std::round: ties away from zero (mant > 0)
    top = m == 2.0**31
    return torch.where(top, m / 2, m), torch.where(top, exp + 1, exp).to(torch.float64)


def _requantize_exact(acc: torch.Tensor, m: torch.Tensor, shift: torch.Tensor) -> torch.Tensor:
    """train/int_model.multiply_by_quantized_multiplier on float64 tensors holding integers (all < 2^53)."""
    x = acc * torch.exp2(torch.clamp(shift, min=0))
    ab = x * m
    high = torch.trunc((ab + torch.where(ab >= 0, 2.0**30, 1.0 - 2.0**30)) / 2.0**31)
    right = torch.exp2(torch.clamp(-shift, min=0))
    floor = torch.floor(high / right)
    remainder = high - floor * right
    threshold = torch.floor((right - 1) / 2) + (high < 0).to(high.dtype)
    return floor + (remainder > threshold).to(high.dtype)


class _ExactRequant(torch.autograd.Function):
    """Forward: the integer model's requantisation of a conv output, bit for bit (accumulator recovered from
    the fake-quant operands, TFLite multiplier and double rounding, zero point, clamp). Backward: straight
    through inside the clamp range, as for fake_quant."""

    @staticmethod
    def forward(ctx, y, y64, acc_scale, m, shift, out_scale, zp, qmin):  # noqa: ANN001, ANN205
        acc = torch.round(y64 / acc_scale)
        q = _requantize_exact(acc, m, shift) + zp
        ctx.save_for_backward((q >= qmin) & (q <= 127))
        return ((torch.clamp(q, qmin, 127) - zp) * out_scale).to(y.dtype)

    @staticmethod
    def backward(ctx, grad):  # noqa: ANN001, ANN205
        (inside,) = ctx.saved_tensors
        return grad * inside, None, None, None, None, None, None, None


class QatNet(nn.Module):
    """BN folded into each conv's weight and bias; weights, biases and activations fake-quantised as the
    integer model will compute them, so fine-tuning learns around the int8 rounding."""

    def __init__(self, float_net: KwsNet) -> None:
        super().__init__()
        self.mc = float_net.mc
        self.in_channels = float_net.in_channels
        self.specs = float_net.specs
        self.convs = nn.ModuleList()
        for spec, conv, bn in zip(self.specs, float_net.convs, float_net.bns, strict=True):
            folded = _conv(spec, bias=True)
            gamma = bn.weight.detach() / torch.sqrt(bn.running_var + bn.eps)
            folded.weight.data = conv.weight.detach() * gamma[:, None, None]
            folded.bias.data = bn.bias.detach() - bn.running_mean * gamma
            self.convs.append(folded)
        self.classifier = nn.Conv1d(self.specs[-1]["cout"], float_net.classifier.out_channels, 1)
        self.classifier.load_state_dict(float_net.classifier.state_dict())
        self.act_obs = nn.ModuleList(ActObserver() for _ in self.specs)
        self.logit_obs = ActObserver()

    def freeze_observers(self) -> None:
        for obs in [*self.act_obs, self.logit_obs]:
            obs.frozen = True

    def _qconv(
        self, conv: nn.Conv1d, x: torch.Tensor, in_scale: float, obs: ActObserver, relu: bool
    ) -> torch.Tensor:
        # Weight scales rounded to float32 like every other scale: the export derives multipliers from them.
        ws = weight_scales(conv.weight).float().double()
        # Rounded in float64 like the export: a float32 division can land a weight on the other side of .5.
        w = fake_quant(conv.weight.double(), ws[:, None, None], torch.zeros(()), -127, 127).to(conv.weight.dtype)
        acc_scale = in_scale * ws
        b = fake_quant(conv.bias.double(), acc_scale, torch.zeros(()), -(2**31), 2**31 - 1).to(conv.bias.dtype)
        y = nn.functional.conv1d(x, w, b, dilation=conv.dilation, groups=conv.groups)
        # float32 cannot hold accumulators above 2^24 exactly: the value that is requantised comes from a
        # float64 conv of the same fake-quant operands (integers times scales, exact in float64).
        with torch.no_grad():
            w64 = torch.round(conv.weight.double() / ws[:, None, None]).clamp(-127, 127) * ws[:, None, None]
            b64 = torch.round(conv.bias.double() / acc_scale) * acc_scale
            y64 = nn.functional.conv1d(x.double(), w64, b64, dilation=conv.dilation, groups=conv.groups)
        obs.update(torch.relu(y) if relu else y)
        out_scale, zp = obs.qparams()
        m, shift = _multipliers(acc_scale / out_scale)
        qmin = max(-128, zp) if relu else -128  # fused ReLU clamps at the quantised zero
        return _ExactRequant.apply(y, y64, acc_scale[:, None], m[:, None], shift[:, None], out_scale, zp, qmin)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        in_scale = f32(self.mc.input_scale)
        x = fake_quant(x, torch.tensor(in_scale), torch.zeros(()), -128, 127)
        for conv, obs in zip(self.convs, self.act_obs, strict=True):
            x = self._qconv(conv, x, in_scale, obs, relu=True)
            in_scale = obs.qparams()[0]
        # Average pooling keeps its input's quantisation (TFLite requires it) and rounds the mean of the int8
        # values half away from zero; the gradient is the plain mean's.
        scale, zp = self.act_obs[-1].qparams()
        n = x.shape[2]
        total = torch.round(x.detach().double() / scale + zp).sum(dim=2, keepdim=True)
        avg = torch.sign(total) * torch.floor((total.abs() + n // 2) / n)
        mean = x.mean(dim=2, keepdim=True)
        x = mean + (((avg - zp) * scale).to(x.dtype) - mean).detach()
        return self._qconv(self.classifier, x, in_scale, self.logit_obs, relu=False)[:, :, 0]

    # --- export ----------------------------------------------------------------------------------------------

    def to_int_model(self, labels: tuple[str, ...], input_frames: int, feature_hash: str) -> IntModel:
        in_scale, in_zp = self.mc.input_scale, 0
        layers = []
        for spec, conv, obs in zip(self.specs, self.convs, self.act_obs, strict=True):
            out_scale, out_zp = obs.qparams()
            # ReLU fused: TFLite clamps at the quantised zero, max(qmin, zero point).
            layers.append(_export_conv(spec["kind"], conv, in_scale, in_zp, out_scale, out_zp, max(-128, out_zp)))
            in_scale, in_zp = out_scale, out_zp
        out_scale, out_zp = self.logit_obs.qparams()
        classifier = _export_conv("conv", self.classifier, in_scale, in_zp, out_scale, out_zp, -128)
        return IntModel(
            layers=layers,
            pool=AveragePool(zero_point=in_zp, scale=f32(in_scale)),
            classifier=classifier,
            labels=tuple(labels),
            input_scale=f32(self.mc.input_scale),
            input_zero_point=0,
            input_frames=input_frames,
            feature_hash=feature_hash,
        )


def _export_conv(
    kind: str, conv: nn.Conv1d, in_scale: float, in_zp: int, out_scale: float, out_zp: int, act_min: int
) -> ConvLayer:
    # Scales are rounded to float32 first: a .tflite stores them as float32 and TFLite / TFLM derive each
    # multiplier as double(in) * double(w) / double(out) from those, so ours must start from the same values.
    in_scale, out_scale = f32(in_scale), f32(out_scale)
    w = conv.weight.detach().double()
    ws = torch.from_numpy(weight_scales(w).numpy().astype(np.float32).astype(np.float64))
    q = torch.clamp(torch.round(w / ws[:, None, None]), -127, 127).to(torch.int8).numpy()
    # torch Conv1d weight is (Cout, Cin/groups, K); the integer model wants (Cout, K, Cin) or (C, K).
    weight = q[:, 0, :] if kind == "depthwise" else np.transpose(q, (0, 2, 1))
    bias_scale = in_scale * ws.numpy()
    bias = np.round(conv.bias.detach().double().numpy() / bias_scale).astype(np.int64)
    bias = np.clip(bias, -(2**31), 2**31 - 1).astype(np.int32)
    mults, shifts = zip(*(quantize_multiplier(in_scale * float(s) / out_scale) for s in ws), strict=True)
    return ConvLayer(
        kind=kind,
        weight=np.ascontiguousarray(weight),
        bias=bias,
        multiplier=np.array(mults, dtype=np.int32),
        shift=np.array(shifts, dtype=np.int32),
        dilation=int(conv.dilation[0]),
        input_zero_point=int(in_zp),
        output_zero_point=int(out_zp),
        act_min=int(act_min),
        act_max=127,
        input_scale=float(in_scale),
        output_scale=float(out_scale),
        weight_scales=ws.numpy().astype(np.float64),
    )


def count_parameters(net: nn.Module) -> int:
    return sum(p.numel() for p in net.parameters())


def dequantize_input(features: np.ndarray, mc: ModelConfig = CONFIG.model) -> torch.Tensor:
    """int8 (B, T, C) front-end output -> float (B, C, T) model input."""
    return torch.from_numpy(features.astype(np.float32) * mc.input_scale).permute(0, 2, 1).contiguous()
