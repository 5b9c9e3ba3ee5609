import os
import re
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
from model_fixtures import one_torch_thread

from tinykws.config import SHARED_DATA_DIR
from tinykws.data.wav import fit_clip, read_wav

REAL = SHARED_DATA_DIR / "speech_commands_test_set_v0.02"


@pytest.fixture(scope="session", autouse=True)
def torch_on_one_thread() -> Iterator[None]:
    """Torch on one thread, as `tinykws train` runs it: the suite's nets are small, and on cores busy with
    other work torch's default pool is slow beyond reason (one QAT forward pass of 400 clips: 61 s on 2
    threads, 0.6 s on one, measured beside a training run on this 2-core machine)."""
    with one_torch_thread():
        yield


@pytest.fixture(scope="session")
def real_dir() -> Path:
    assert REAL.is_dir(), f"{REAL} missing: the tests read the real clips of ../shared/data"
    return REAL


@pytest.fixture(scope="session")
def real_clip(real_dir) -> np.ndarray:
    return fit_clip(read_wav(real_dir / "yes" / "0bac8a71_nohash_0.wav"))


FIRMWARE = Path(__file__).resolve().parent.parent / "firmware"


def firmware_make(*args: str, timeout: float = 300) -> str:
    """`make -C firmware ARGS` with this interpreter; its output, asserted successful."""
    cmd = ["make", "-j2", "-C", str(FIRMWARE), f"PYTHON={sys.executable}", *args]
    r = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout)
    out = r.stdout + r.stderr
    assert r.returncode == 0, out[-4000:]
    return out


def assert_all_passed(out: str) -> None:
    """A C test program's summary line: at least 100 checks run (the network golden test has exactly 100), none
    failed."""
    m = re.search(r"^(\d+) passed, (\d+) failed$", out, re.MULTILINE)
    assert m, out[-4000:]
    assert int(m.group(1)) >= 100 and m.group(2) == "0", out[-4000:]


# What no firmware object may call: the engine's memory is the caller's (static or passed in).
ALLOCATORS = {"malloc", "free", "calloc", "realloc", "_malloc_r", "_free_r", "aligned_alloc", "posix_memalign"}


def undefined_symbols(nm: str, objects: list[Path]) -> set[str]:
    """Symbols the objects use but do not define (`nm -u`)."""
    r = subprocess.run([nm, "-u", *map(str, objects)], capture_output=True, text=True, check=True)
    return {line.split()[-1] for line in r.stdout.splitlines() if line.strip() and not line.endswith(":")}


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
