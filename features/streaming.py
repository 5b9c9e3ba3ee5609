"""Streaming front end: feed audio in chunks of any size, get each frame as soon as its window is complete.

It calls the batch path's per-frame function on the frames a chunk completes, and the front end keeps no
state across frames but the not-yet-used samples: a stream and a clip give the same frames by construction,
which the tests check for chunk sizes 1, 160, 161, 320 and 16000.
"""

from __future__ import annotations

import numpy as np

from tinykws.config import CONFIG, FeatureConfig
from tinykws.features import mfcc


class StreamingFrontend:
    """Stateful wrapper: `push(samples)` returns the (k, num_mfcc) int8 frames that chunk completed."""

    def __init__(self, fc: FeatureConfig = CONFIG.features) -> None:
        self.fc = fc
        self.reset()

    def reset(self) -> None:
        """Forget all audio: the next frame is computed from the next window_samples samples."""
        self._pending = np.zeros(0, dtype=np.int16)
        # Samples still to drop before the next window starts (only when hop > window).
        self._skip = 0
        self.frames_emitted = 0

    def push(self, samples: np.ndarray) -> np.ndarray:
        samples = np.asarray(samples)
        if samples.dtype != np.int16 or samples.ndim != 1:
            raise TypeError(f"push() takes a 1-D int16 array, got {samples.dtype} with shape {samples.shape}")
        drop = min(self._skip, len(samples))
        self._skip -= drop
        samples = samples[drop:]
        pending = np.concatenate([self._pending, samples]) if len(self._pending) else samples.copy()
        n = self.fc.frames_for(len(pending))
        if n == 0:
            self._pending = pending
            return np.zeros((0, self.fc.num_mfcc), dtype=np.int8)
        out = mfcc.features_of_frames(mfcc.frame_signal(pending, self.fc), self.fc)
        # The next frame starts n hops after this buffer's start; earlier samples are never needed again.
        self._skip = max(0, n * self.fc.hop_samples - len(pending))
        self._pending = pending[n * self.fc.hop_samples :].copy()
        self.frames_emitted += n
        return out
