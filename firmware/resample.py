"""Live resampling for a microphone that cannot record at the model's rate: a stream of blocks of any size in,
the same samples out as if the whole recording had been resampled at once (no seam at block edges).

The same filter and arithmetic as the web page's deploy/web/resample.js (tests/test_web.py checks the two agree):
output sample m sits at input position m * in / out, a rational number, so each of the out / gcd phases has one
fixed table of taps of a Blackman-windowed sinc (LiveConfig.resample_*). Equal rates pass samples through.
"""

from __future__ import annotations

import math

import numpy as np

from tinykws.config import LIVE, LiveConfig


class StreamResampler:
    """push(samples) -> the outputs they complete, float64, in the samples' own scale (the filter is linear:
    the page feeds it Web Audio's +-1 floats, `listen` int16 values)."""

    def __init__(self, in_rate: int, out_rate: int, lc: LiveConfig = LIVE) -> None:
        g = math.gcd(in_rate, out_rate)
        self.step, self.phases = in_rate // g, out_rate // g  # input samples per `phases` outputs
        self.same = in_rate == out_rate
        ratio = max(1.0, in_rate / out_rate)
        self.cutoff = lc.resample_passband * 0.5 / ratio  # cycles per input sample
        self.half = math.ceil(lc.resample_half_taps * ratio)  # taps each side, in input samples
        # Tap j of phase p weighs input sample ipos - half + 1 + j for the output at ipos + p / phases.
        d = self.half - 1 - np.arange(2 * self.half)[None, :] + np.arange(self.phases)[:, None] / self.phases
        x = 2 * self.cutoff * d
        w = 0.42 + 0.5 * np.cos(np.pi * d / self.half) + 0.08 * np.cos(2 * np.pi * d / self.half)
        self.taps = 2 * self.cutoff * np.sinc(x) * w  # unit gain at DC
        # Input not used up yet, buf[0] being input sample `base`: `half` zeros of history to start with.
        self.buf = np.zeros(self.half)
        self.base = -self.half
        self.ipos, self.phase = 0, 0  # next output's position: ipos + phase / phases

    def push(self, block: np.ndarray) -> np.ndarray:
        x = np.asarray(block, dtype=np.float64)
        if self.same:
            return x.copy()
        self.buf = np.concatenate([self.buf, x])
        # Outputs k = 0, 1, ... sit at ipos_k + phase_k / phases; each needs inputs up to ipos_k + half.
        room = len(self.buf) + self.base - self.half  # ipos_k must stay below this
        n = 0
        if room > self.ipos:
            n = ((room - self.ipos) * self.phases - self.phase + self.step - 1) // self.step
        k = np.arange(n)
        total = self.phase + k * self.step
        ipos, phase = self.ipos + total // self.phases, total % self.phases
        first = ipos - self.half + 1 - self.base
        window = self.buf[first[:, None] + np.arange(2 * self.half)[None, :]]
        out = np.einsum("ij,ij->i", self.taps[phase], window)
        end = self.phase + n * self.step
        self.ipos, self.phase = self.ipos + end // self.phases, end % self.phases
        used = self.ipos - self.half + 1 - self.base  # inputs before the first the next output needs
        if used > 0:
            self.buf = self.buf[used:]
            self.base += used
        return out
