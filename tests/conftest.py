import os
import subprocess
import sys
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


FIRMWARE = Path(__file__).resolve().parent.parent / "firmware"


def firmware_make(*args: str, timeout: float = 300) -> str:
    """`make -C firmware ARGS` with this interpreter; its output, asserted successful."""
    cmd = ["make", "-j2", "-C", str(FIRMWARE), f"PYTHON={sys.executable}", *args]
    r = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout)
    out = r.stdout + r.stderr
    assert r.returncode == 0, out[-4000:]
    return out


@pytest.fixture(scope="session")
def tiny_data(real_dir, tmp_path_factory) -> Path:
    """A few real clips per word, in the test-set layout, beside a link to the real noise recordings."""
    root = tmp_path_factory.mktemp("tiny_data")
    ds = root / "speech_commands_test_set_v0.02"
    for word_dir in sorted(p for p in real_dir.iterdir() if p.is_dir()):
        (ds / word_dir.name).mkdir(parents=True)
        for wav in sorted(word_dir.glob("*.wav"))[:12]:
            os.symlink(wav, ds / word_dir.name / wav.name)
    os.symlink(real_dir.parent / "_background_noise_", root / "_background_noise_")
    return ds
