"""The whole keyword engine in Python: the reference the C engine (firmware/src/kws_engine.c) must equal.

Audio in chunks of any size -> StreamingFrontend frames -> at every hop, once `input_frames` frames have
arrived, `IntModel.run` on the last `input_frames` frames -> Detector. This recomputes the whole window per
hop, which is the definition; the firmware gets the same numbers from a streaming network (one new frame per
layer per hop) and the tests hold the two to exact equality.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from tinykws.config import CONFIG, DetectorConfig
from tinykws.features.streaming import StreamingFrontend
from tinykws.train.detector import Detection, Detector, detector_config
from tinykws.train.int_model import IntModel

# Hops run through the model at once: bounds the int64 scratch of IntModel.run on long chunks.
_BLOCK_HOPS = 256


@dataclass
class HopRecord:
    hop: int  # front-end frame index since reset
    features: np.ndarray  # (num_mfcc,) int8, the frame this hop added
    logits: np.ndarray | None  # (classes,) int8; None while fewer than input_frames frames have arrived
    sums: np.ndarray | None  # (classes,) int32 smoothed score sums; None until the detector's window is full


def hop_end_seconds(hop: int) -> float:
    """Time at which hop `hop`'s frame is complete: the end of its analysis window."""
    return CONFIG.features.hop_end_sample(hop) / CONFIG.audio.sample_rate


class PythonEngine:
    """`process(samples)` with any chunking returns the detections those samples completed.

    With `record=True`, `hops` keeps a HopRecord per hop (features, logits, smoothed sums) for tests and
    `tinykws detect --scores`.
    """

    def __init__(self, model: IntModel, dc: DetectorConfig | None = None, record: bool = False) -> None:
        self.model = model
        self.dc = dc or detector_config(model)
        self.record = record
        self.frontend = StreamingFrontend()
        self.detector = Detector(model.labels, self.dc)
        self.reset()

    def reset(self) -> None:
        self.frontend.reset()
        self.detector.reset()
        self._history = np.zeros((0, CONFIG.features.num_mfcc), dtype=np.int8)
        self.num_hops = 0
        self.hops: list[HopRecord] = []

    def process(self, samples: np.ndarray) -> list[Detection]:
        frames = self.frontend.push(np.asarray(samples))
        detections: list[Detection] = []
        for start in range(0, len(frames), _BLOCK_HOPS):
            detections += self._hops(frames[start : start + _BLOCK_HOPS])
        return detections

    def _hops(self, frames: np.ndarray) -> list[Detection]:
        n_in = self.model.input_frames
        history = np.concatenate([self._history, frames])
        # Window w ends at history row w + n_in - 1; the new frames are the last len(frames) rows.
        logits = None
        if len(history) >= n_in:
            windows = np.lib.stride_tricks.sliding_window_view(history, n_in, axis=0).transpose(0, 2, 1)
            logits = self.model.run_batch(np.ascontiguousarray(windows))
        first_new = len(history) - len(frames)
        detections = []
        for i, frame in enumerate(frames):
            hop = self.num_hops + i
            w = first_new + i - (n_in - 1)  # index of the window that ends with this frame
            hop_logits = logits[w] if logits is not None and w >= 0 else None
            if hop_logits is not None:
                det = self.detector.push(hop, hop_logits)
                if det is not None:
                    detections.append(det)
            if self.record:
                sums = self.detector.sums.copy() if hop_logits is not None and self.detector.full else None
                self.hops.append(HopRecord(hop, frame.copy(), hop_logits, sums))
        self.num_hops += len(frames)
        self._history = history[-(n_in - 1) :] if n_in > 1 else history[:0]
        return detections
