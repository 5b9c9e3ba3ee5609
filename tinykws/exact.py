"""Exact comparison of integer arrays, as every golden and cross-implementation check in tinykws makes it: the
message names the first differing index, which is where a bit-exactness bug is found (tests, benches)."""

from __future__ import annotations

import numpy as np


def first_mismatch(got: np.ndarray, want: np.ndarray) -> str:
    """Message naming the first differing index, for exact-equality asserts; "equal" if there is none."""
    if got.shape != want.shape:
        return f"shape {got.shape} != {want.shape}"
    idx = np.argwhere(got != want)
    if len(idx) == 0:
        return "equal"
    i = tuple(int(v) for v in idx[0])
    return f"{len(idx)} mismatches; first at {i}: got {got[i]}, want {want[i]}"
