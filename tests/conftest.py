from pathlib import Path

import numpy as np
import pytest

from tinykws.config import SHARED_DATA_DIR
from tinykws.data.wav import fit_clip, read_wav

REAL = SHARED_DATA_DIR / "speech_commands_test_set_v0.02"


@pytest.fixture(scope="session")
def real_dir() -> Path:
    assert REAL.is_dir(), f"{REAL} missing: the tests read the real clips of ../shared/data"
    return REAL


@pytest.fixture(scope="session")
def real_clip(real_dir) -> np.ndarray:
    return fit_clip(read_wav(real_dir / "yes" / "0bac8a71_nohash_0.wav"))


def first_mismatch(got: np.ndarray, want: np.ndarray) -> str:
    """Message naming the first differing index, for exact-equality asserts."""
    if got.shape != want.shape:
        return f"shape {got.shape} != {want.shape}"
    idx = np.argwhere(got != want)
    if len(idx) == 0:
        return "equal"
    i = tuple(idx[0])
    return f"{len(idx)} mismatches; first at {i}: got {got[i]}, want {want[i]}"
