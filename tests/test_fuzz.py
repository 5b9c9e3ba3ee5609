"""The firmware's libFuzzer targets (firmware/fuzz/, clang, ASan + UBSan), briefly, and the C programs that
no other test runs under the sanitizers.

A smoke run only: each target executes its committed seeds and a fixed number of mutations from a fixed
seed, with every invariant of its header comment armed. The long runs are firmware/fuzz/run_fuzz.sh's (not
CI). Also: every input that once broke a target (firmware/fuzz/regressions/) passes now; the seed corpus is
small and is what make_corpus.py writes; the benches run clean under ASan + UBSan (the golden tests and the
app already do, in test_firmware_frontend.py and test_firmware_engine.py); the Cortex-M4 app accepts a WAV
whose data chunk says 0xffffffff bytes, which it used to refuse silently (a 32-bit long).
"""

import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import firmware_make

from tinykws.config import BUILD_DIR, REPO_ROOT

FIRMWARE = REPO_ROOT / "firmware"
FUZZ = FIRMWARE / "fuzz"
FUZZ_BUILD = BUILD_DIR / "fuzz"
FUZZ_MODEL_DIR = FUZZ_BUILD / "model"  # the Makefile's `fuzz` target exports the fuzz model here
# Mutations per target: about a second or two each (the network targets replay whole windows per input).
RUNS = {"frontend": 2000, "kernels": 2000, "detector": 2000, "network": 150, "network_init": 250, "engine": 200,
        "wav": 2000}  # fmt: skip
MAX_CORPUS_BYTES = 16 * 1024


@pytest.fixture(scope="module")
def fuzz_bin() -> Path:
    missing = [t for t in ("make", "clang") if shutil.which(t) is None]
    if missing:
        pytest.fail(f"{', '.join(missing)} not found: run `make install` (APT_PACKAGES has clang and its runtimes)")
    firmware_make("fuzz", timeout=600)
    return FUZZ_BUILD / "bin"


def test_every_target_has_seeds():
    assert sorted(p.name for p in (FUZZ / "corpus").iterdir()) == sorted(RUNS)
    assert all(any((FUZZ / "corpus" / t).iterdir()) for t in RUNS)


@pytest.mark.parametrize("target", sorted(RUNS))
def test_target_smoke_run(fuzz_bin, target, tmp_path):
    runs = RUNS[target]
    cmd = [str(fuzz_bin / f"fuzz_{target}"), f"-runs={runs}", "-seed=1", "-print_final_stats=1",
           f"-artifact_prefix={tmp_path}/", str(tmp_path), str(FUZZ / "corpus" / target)]  # fmt: skip
    r = subprocess.run(cmd, capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stderr[-4000:]
    m = re.search(r"^stat::number_of_executed_units: (\d+)$", r.stderr, re.MULTILINE)
    assert m and int(m.group(1)) == runs, r.stderr[-2000:]
    assert not list(tmp_path.glob("crash-*"))


def test_inputs_that_once_failed_pass_now(fuzz_bin):
    cases = sorted(p for p in (FUZZ / "regressions").glob("*/*") if p.is_file())
    assert {p.parent.name for p in cases} >= {"network_init", "wav"}
    for case in cases:
        r = subprocess.run([str(fuzz_bin / f"fuzz_{case.parent.name}"), str(case)], capture_output=True, text=True)
        assert r.returncode == 0, f"{case}:\n{r.stderr[-3000:]}"
        assert f"Executed {case}" in r.stderr


def test_corpus_is_small_and_what_the_script_writes(tmp_path, real_dir):
    committed = {p.relative_to(FUZZ / "corpus"): p.read_bytes() for p in (FUZZ / "corpus").rglob("*") if p.is_file()}
    assert sum(map(len, committed.values())) <= MAX_CORPUS_BYTES
    subprocess.run([sys.executable, str(FUZZ / "make_corpus.py"), "--out", str(tmp_path)], check=True,
                   capture_output=True)  # fmt: skip
    written = {p.relative_to(tmp_path): p.read_bytes() for p in tmp_path.rglob("*") if p.is_file()}
    assert written.keys() == committed.keys()
    assert [k for k in written if written[k] != committed[k]] == []


def test_benches_run_clean_under_asan_and_ubsan(fuzz_bin):
    asan = BUILD_DIR / "firmware" / "host-asan"
    firmware_make("BOARD=host", "VARIANT=asan", "tests", timeout=600)
    bench_engine = FUZZ_MODEL_DIR / "host-asan" / "bench_engine"  # engine-tests' other half needs the golden model
    firmware_make("BOARD=host", "VARIANT=asan", f"MODEL_DIR={FUZZ_MODEL_DIR}", str(bench_engine), timeout=600)
    for bench in (asan / "bench_frontend", bench_engine):
        r = subprocess.run([str(bench)], capture_output=True, text=True, timeout=300)
        assert r.returncode == 0, f"{bench}:\n{(r.stdout + r.stderr)[-3000:]}"
        assert "runtime error" not in r.stderr and "Sanitizer" not in r.stderr


def test_m4_app_reads_a_wav_of_unknown_length(fuzz_bin, tmp_path):
    if shutil.which("qemu-system-arm") is None or shutil.which("arm-none-eabi-gcc") is None:
        pytest.fail("qemu-system-arm / arm-none-eabi-gcc not found: run `make install`")
    firmware_make("BOARD=mps2-an386", f"MODEL_DIR={FUZZ_MODEL_DIR}", "engine", timeout=600)
    shutil.copy(FUZZ / "corpus" / "wav" / "streaming-sizes.wav", tmp_path / "in.wav")
    cmd = ["qemu-system-arm", "-M", "mps2-an386", "-nographic", "-monitor", "none", "-serial", "none",
           "-semihosting-config", "enable=on,target=native,arg=kws_app,arg=in.wav",
           "-kernel", str(FUZZ_MODEL_DIR / "mps2-an386" / "kws_app.elf")]  # fmt: skip
    r = subprocess.run(cmd, capture_output=True, text=True, timeout=300, cwd=tmp_path)
    # RIFF and data sizes both 0xffffffff, then 100 samples: all of them are read.
    assert r.returncode == 0 and "\nend 0 100\n" in r.stdout + r.stderr, r.stdout + r.stderr
