"""Streaming keyword detection on the per-hop int8 logits: the definition the C detector
(firmware/src/kws_detector.c) reproduces exactly.

DetectorConfig semantics (tinykws/config.py), pinned down where the docstring leaves a choice:
- score[k] = logit[k] - max(logit[j], j != k), in int (|score| <= 255);
- each class's scores are summed over the last `smoothing_hops` hops that had logits; nothing fires before
  the first `smoothing_hops` such hops (a partial sum would favour the first hops of a stream);
- only keyword classes can fire (never `_silence_`, `_unknown_` or `not_<word>`); among them the largest sum
  wins, ties to the lowest class index, and it fires when that sum is >= threshold * smoothing_hops;
- after a detection at hop h, hops h+1 .. h+refractory_hops cannot fire; the sums keep running meanwhile.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from tinykws.config import CONFIG, DetectorConfig, LabelConfig
from tinykws.errors import TinyKwsError
from tinykws.train.int_model import IntModel


@dataclass(frozen=True)
class Detection:
    hop: int  # front-end frame index since reset (0-based) at which the detector fired
    keyword: int  # class index into the model's labels
    score_sum: int  # the keyword's score summed over the last smoothing_hops hops


def keyword_mask(labels: Sequence[str], lc: LabelConfig = CONFIG.labels) -> np.ndarray:
    """(classes,) bool: which classes may fire: every word class, never silence, unknown or `not_<word>`."""
    rest = (lc.silence_label, lc.unknown_label)
    return np.array([label not in rest and not label.startswith("not_") for label in labels], dtype=bool)


def detector_config(model: IntModel) -> DetectorConfig:
    """CONFIG.detector, with the fields a model carries in meta["detector"] (a tuned threshold) replacing it."""
    override = model.meta.get("detector") or {}
    known = {f.name for f in dataclasses.fields(DetectorConfig)}
    unknown = set(override) - known
    if unknown:
        raise TinyKwsError(f"model meta 'detector' has unknown fields {sorted(unknown)}")
    dc = dataclasses.replace(CONFIG.detector, **{k: int(v) for k, v in override.items()})
    if dc.smoothing_hops < 1 or dc.refractory_hops < 0:
        raise TinyKwsError(f"detector needs smoothing_hops >= 1 and refractory_hops >= 0, got {dc}")
    return dc


def hop_scores(logits: np.ndarray) -> np.ndarray:
    """(..., classes) int8 logits -> (..., classes) int32: each logit minus the largest of the others."""
    x = logits.astype(np.int32)
    order = np.sort(x, axis=-1)
    top, second = order[..., -1:], order[..., -2:-1]
    # Only the (first) arg-max class compares against the runner-up; a tie for the top gives 0 to both.
    first_max = np.arange(x.shape[-1]) == np.argmax(x, axis=-1)[..., None]
    return x - np.where(first_max, second, top)


class Detector:
    """Feed one hop's logits at a time; `push` returns the Detection that hop fired, or None."""

    def __init__(self, labels: Sequence[str], dc: DetectorConfig = CONFIG.detector) -> None:
        if len(labels) < 2:
            raise ValueError("a detector needs at least two classes")
        self.dc = dc
        self.labels = tuple(labels)
        self.keywords = keyword_mask(self.labels)
        self.reset()

    def reset(self) -> None:
        self._ring = np.zeros((self.dc.smoothing_hops, len(self.labels)), dtype=np.int32)
        self._pos = 0
        self.sums = np.zeros(len(self.labels), dtype=np.int32)  # over the hops in the ring
        self.filled = 0  # hops in the ring, up to smoothing_hops
        self._cooldown = 0

    @property
    def full(self) -> bool:
        return self.filled == self.dc.smoothing_hops

    def push(self, hop: int, logits: np.ndarray) -> Detection | None:
        scores = hop_scores(np.asarray(logits, dtype=np.int8))
        self.sums += scores - self._ring[self._pos]
        self._ring[self._pos] = scores
        self._pos = (self._pos + 1) % self.dc.smoothing_hops
        self.filled = min(self.filled + 1, self.dc.smoothing_hops)
        if self._cooldown > 0:
            self._cooldown -= 1
            return None
        if not self.full:
            return None
        candidates = np.where(self.keywords, self.sums, np.iinfo(np.int32).min)
        best = int(np.argmax(candidates))  # first index of the largest: ties go to the lowest class
        if not self.keywords[best] or int(self.sums[best]) < self.dc.threshold * self.dc.smoothing_hops:
            return None
        self._cooldown = self.dc.refractory_hops
        return Detection(hop=hop, keyword=best, score_sum=int(self.sums[best]))
