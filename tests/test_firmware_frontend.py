"""The C front end (firmware/) against the Python definition (features/mfcc.py), exact equality.

Builds once per session with the firmware Makefile, then: the C golden test on the host, under ASan/UBSan and
on a Cortex-M4 (mps2-an386 under QEMU); the host shared library through ctypes against `mfcc()` and
`StreamingFrontend` on random and real audio with random chunkings, every stage of extreme windows, and
the log2 / mel stages at their range limits; no allocator symbol in the core objects; no config constant
written by hand in the core C sources.
"""

import ctypes
import re
import shutil
import subprocess
from pathlib import Path

import numpy as np
import pytest
from conftest import ALLOCATORS, assert_all_passed, firmware_make, undefined_symbols

from tinykws.config import CONFIG, REPO_ROOT, FeatureConfig, TinyKwsConfig
from tinykws.data.wav import read_wav
from tinykws.exact import first_mismatch
from tinykws.features import mfcc
from tinykws.features.streaming import StreamingFrontend
from tinykws.firmware import codegen
from tinykws.firmware.engine import as_pointer

FC = CONFIG.features
FIRMWARE = REPO_ROOT / "firmware"
BUILD = REPO_ROOT / "build" / "firmware"
BINS = FC.fft_size // 2 + 1
M4_TOOLS = ("arm-none-eabi-gcc", "qemu-system-arm")
STAGES = ("windowed", "fft_re", "fft_im", "power", "mel", "log_mel", "cepstra")
# kws_frontend_debug_t, field for field; align=True gives the C struct's padding.
DEBUG_DTYPE = np.dtype(
    [
        ("windowed", "<i4", FC.window_samples),
        ("fft_re", "<i4", BINS),
        ("fft_im", "<i4", BINS),
        ("power", "<i8", BINS),
        ("mel", "<i8", FC.num_mel_bands),
        ("log_mel", "<i2", FC.num_mel_bands),
        ("cepstra", "<i4", FC.num_mfcc),
    ],
    align=True,
)


@pytest.fixture(scope="session")
def host_build() -> Path:
    firmware_make("BOARD=host", "all")
    return BUILD / "host"


@pytest.fixture(scope="session")
def m4_build() -> Path:
    missing = [t for t in M4_TOOLS if shutil.which(t) is None]
    if missing:
        pytest.fail(f"{', '.join(missing)} not found: run `make install` (it installs the Cortex-M4 toolchain + QEMU)")
    firmware_make("BOARD=mps2-an386", "all")
    return BUILD / "mps2-an386"


def _bind_streaming(so: ctypes.CDLL) -> ctypes.CDLL:
    """Signatures of the streaming API (state size, init, push), shared by every library the tests load."""
    so.kws_frontend_state_size.restype = ctypes.c_size_t
    so.kws_frontend_init.argtypes = [ctypes.c_void_p]
    so.kws_frontend_push.argtypes = [
        ctypes.c_void_p,
        ctypes.POINTER(ctypes.c_int16),
        ctypes.c_int,
        ctypes.POINTER(ctypes.c_int),
        ctypes.POINTER(ctypes.c_int8),
    ]
    return so


@pytest.fixture(scope="session")
def lib(host_build) -> ctypes.CDLL:
    so = _bind_streaming(ctypes.CDLL(str(host_build / "libkws.so")))
    so.kws_frontend_debug_size.restype = ctypes.c_size_t
    so.kws_frontend_feature_hash.restype = ctypes.c_char_p
    so.kws_frontend_frame.argtypes = [ctypes.POINTER(ctypes.c_int16), ctypes.POINTER(ctypes.c_int8), ctypes.c_void_p]
    so.kws_stage_log2.argtypes = [ctypes.c_int64]
    so.kws_stage_log2.restype = ctypes.c_int16
    so.kws_stage_mel.argtypes = [ctypes.POINTER(ctypes.c_int64), ctypes.POINTER(ctypes.c_int64)]
    return so


class CStream:
    """kws_frontend_push driven the way firmware drives it: loop on each chunk until it is consumed."""

    def __init__(self, lib: ctypes.CDLL, num_mfcc: int = FC.num_mfcc) -> None:
        self.lib = lib
        self.num_mfcc = num_mfcc
        self.state = ctypes.create_string_buffer(lib.kws_frontend_state_size())
        lib.kws_frontend_init(self.state)

    def push(self, chunk: np.ndarray) -> list[np.ndarray]:
        chunk = np.ascontiguousarray(chunk, dtype=np.int16)
        out = np.zeros(self.num_mfcc, np.int8)
        consumed = ctypes.c_int(-1)
        frames, off = [], 0
        while True:
            rest = chunk[off:]
            r = self.lib.kws_frontend_push(
                self.state,
                as_pointer(rest, ctypes.c_int16),
                len(rest),
                ctypes.byref(consumed),
                as_pointer(out, ctypes.c_int8),
            )
            assert r in (0, 1) and 0 <= consumed.value <= len(rest)
            off += consumed.value
            if r == 0:
                assert off == len(chunk)
                return frames
            frames.append(out.copy())


def _chunk_sizes(rng: np.random.Generator, n: int, fc: FeatureConfig = FC) -> list[int]:
    sizes = []
    while sum(sizes) < n:
        sizes.append(int(rng.integers(1, 2 * fc.window_samples)))
    return sizes


def _stream_both(
    lib: ctypes.CDLL, audio: np.ndarray, sizes: list[int], fc: FeatureConfig = FC
) -> tuple[np.ndarray, np.ndarray]:
    """(C frames, Python StreamingFrontend frames) for the same chunking."""
    c, py = CStream(lib, fc.num_mfcc), StreamingFrontend(fc)
    c_frames, py_frames, pos = [], [np.zeros((0, fc.num_mfcc), np.int8)], 0
    for size in sizes:
        chunk = audio[pos : pos + size]
        pos += size
        c_frames += c.push(chunk)
        py_frames.append(py.push(chunk))
    c_arr = np.array(c_frames, np.int8).reshape(-1, fc.num_mfcc)
    return c_arr, np.concatenate(py_frames)


def test_c_golden_test_passes_on_host(host_build):
    assert_all_passed(firmware_make("BOARD=host", "test"))


def test_c_golden_test_passes_under_asan_and_ubsan(host_build):
    assert_all_passed(firmware_make("asan-test"))


def test_c_golden_test_passes_on_cortex_m4_under_qemu(m4_build):
    assert_all_passed(firmware_make("BOARD=mps2-an386", "test", timeout=600))


def test_library_describes_itself(lib):
    assert lib.kws_frontend_feature_hash().decode() == CONFIG.feature_hash()
    assert lib.kws_frontend_debug_size() == DEBUG_DTYPE.itemsize


def _extreme_windows() -> np.ndarray:
    rng = np.random.default_rng(11)
    w = FC.window_samples
    n = np.arange(w)
    rows = [
        np.full(w, -32768),  # the largest DC bin: |2X[0]| = 2 * sum |windowed|
        np.full(w, 32767),
        np.where(n % 2 == 0, 32767, -32768),  # all energy at Nyquist
        np.zeros(w),
        rng.integers(-2, 3, w),
        *(rng.integers(-32768, 32768, w) for _ in range(6)),
        *(np.round(32767 * np.cos(2 * np.pi * k * n / FC.fft_size)) for k in (1, 64, 127, 128, 200, 255)),
    ]
    return np.array(rows).astype(np.int16)


def test_every_stage_matches_python_on_extreme_windows(lib):
    windows = _extreme_windows()
    want = mfcc.frame_stages(windows)
    for i, x in enumerate(windows):
        x = np.ascontiguousarray(x)
        out = np.zeros(FC.num_mfcc, np.int8)
        dbg = np.zeros(1, DEBUG_DTYPE)
        lib.kws_frontend_frame(as_pointer(x, ctypes.c_int16), as_pointer(out, ctypes.c_int8), dbg.ctypes.data)
        for stage in STAGES:
            assert np.array_equal(dbg[stage][0], want[stage][i]), f"window {i} {stage}: " + first_mismatch(
                dbg[stage][0], want[stage][i]
            )
        assert np.array_equal(out, want["features"][i]), f"window {i}: " + first_mismatch(out, want["features"][i])


@pytest.mark.parametrize("seed", range(4))
def test_streaming_random_audio_matches_mfcc_and_streaming_frontend(lib, seed):
    rng = np.random.default_rng(seed)
    w, hop = FC.window_samples, FC.hop_samples
    for n in (0, 1, w - 1, w, w + hop - 1, w + hop, int(rng.integers(1, 3 * CONFIG.audio.clip_samples // 2))):
        scale = int(rng.choice([300, 3000, 32768]))
        audio = rng.integers(-scale, scale, n).astype(np.int16)
        c, py = _stream_both(lib, audio, _chunk_sizes(rng, n))
        want = mfcc.mfcc(audio)
        assert len(c) == FC.frames_for(n)
        assert np.array_equal(c, want), f"n={n}: " + first_mismatch(c, want)
        assert np.array_equal(py, want)


def test_streaming_real_clips_matches_mfcc_and_streaming_frontend(lib, real_dir):
    rng = np.random.default_rng(2024)
    clips = sorted(real_dir.rglob("*.wav"))
    for path in (clips[i] for i in rng.choice(len(clips), 20, replace=False)):
        audio = read_wav(path)
        c, py = _stream_both(lib, audio, _chunk_sizes(rng, len(audio)))
        want = mfcc.mfcc(audio)
        assert np.array_equal(c, want), f"{path.name}: " + first_mismatch(c, want)
        assert np.array_equal(py, want), path.name


def test_reset_gives_the_first_frame_again(lib):
    audio = np.random.default_rng(5).integers(-5000, 5000, 3 * FC.window_samples).astype(np.int16)
    s = CStream(lib)
    first = s.push(audio)[0]
    s.push(audio[: FC.hop_samples + 7])
    lib.kws_frontend_init(s.state)
    assert np.array_equal(s.push(audio)[0], first)


def test_log2_stage_at_every_bit_position(lib):
    rng = np.random.default_rng(3)
    e = [0, 1, 2, 3]
    for k in range(1, 61):
        e += [(1 << k) - 2, (1 << k) - 1, 1 << k, (1 << k) + 1]
        e += [int(x) for x in rng.integers(1 << k, 1 << (k + 1), 8, dtype=np.int64)]
    e.append((1 << 61) - 2)
    energies = np.array(e, np.int64)
    got = np.array([lib.kws_stage_log2(int(v)) for v in energies], np.int16)
    want = mfcc.log2_q(energies)
    assert np.array_equal(got, want), first_mismatch(got, want)


def test_mel_stage_at_the_power_bound(lib):
    rng = np.random.default_rng(4)
    top = 1 << 52
    rows = [np.full(BINS, top - 1), rng.integers(0, top, BINS), rng.integers(top - (1 << 40), top, BINS)]
    rows += [np.where(np.arange(BINS) % 2 == 0, top - 1, 0), rng.integers(0, 1 << 20, BINS)]
    for i, p in enumerate(np.array(rows, np.int64)):
        got = np.zeros(FC.num_mel_bands, np.int64)
        lib.kws_stage_mel(as_pointer(np.ascontiguousarray(p), ctypes.c_int64), as_pointer(got, ctypes.c_int64))
        want = mfcc.mel_energies(p[None, :])[0]
        assert np.array_equal(got, want), f"row {i}: " + first_mismatch(got, want)


# Configs that take the code paths the default one does not: an odd number of FFT stages (lone radix-2 stage),
# an odd window and an odd band count (partial first-pass groups, the DCT's middle band), hop > window.
OTHER_CONFIGS = {
    "fft1024_odd": FeatureConfig(
        window_samples=801, hop_samples=160, fft_size=1024, num_mel_bands=41, num_mfcc=13,
        quant_multipliers=(20000,) * 13, quant_zero_points=(3,) * 13,
    ),
    "fft256_gaps": FeatureConfig(
        window_samples=200, hop_samples=300, fft_size=256, num_mel_bands=20, mel_low_hz=100.0,
        mel_high_hz=7000.0, num_mfcc=8, quant_multipliers=(30000,) * 8, quant_zero_points=(-5,) * 8,
    ),
}  # fmt: skip


@pytest.mark.parametrize("name", sorted(OTHER_CONFIGS))
def test_other_feature_configs_are_bit_exact_too(host_build, tmp_path, name):
    fc = OTHER_CONFIGS[name]
    codegen.write_sources(tmp_path, TinyKwsConfig(features=fc))
    so = tmp_path / "libkws_other.so"
    srcs = [*map(str, sorted((FIRMWARE / "src").glob("*.c"))), str(tmp_path / "kws_frontend_tables.c")]
    flags = ["-std=c99", "-pedantic", "-Wall", "-Wextra", "-Werror", "-O2", "-shared", "-fPIC"]
    incs = [f"-I{tmp_path}", f"-I{FIRMWARE / 'include'}", f"-I{FIRMWARE / 'src'}"]
    r = subprocess.run(["gcc", *flags, *incs, *srcs, "-o", str(so)], capture_output=True, text=True)
    assert r.returncode == 0, r.stderr[-4000:]
    other = _bind_streaming(ctypes.CDLL(str(so)))
    rng = np.random.default_rng(8)
    for n in (fc.window_samples - 1, fc.window_samples, 5000):
        for scale in (100, 32768):
            audio = rng.integers(-scale, scale, n).astype(np.int16)
            c, py = _stream_both(other, audio, _chunk_sizes(rng, n, fc), fc)
            want = mfcc.mfcc(audio, fc)
            assert len(want) == fc.frames_for(n)
            assert np.array_equal(c, want), f"{name} n={n}: " + first_mismatch(c, want)
            assert np.array_equal(py, want), f"{name} n={n} python streaming: " + first_mismatch(py, want)


def test_core_objects_use_no_allocator(host_build, m4_build):
    for nm, build in (("nm", host_build), ("arm-none-eabi-nm", m4_build)):
        objects = sorted((build / "core").glob("*.o"))
        assert len(objects) == 3, objects
        used = undefined_symbols(nm, objects)
        assert not used & ALLOCATORS, f"{build.name}: {sorted(used & ALLOCATORS)}"
        # A core that needs nothing but the tables and what any C compiler may call by itself.
        assert used <= {"memcpy", "memset", "memmove", "_GLOBAL_OFFSET_TABLE_"} | {
            s for s in used if s.startswith("kws_")
        }, sorted(used)


# Numbers that are not the config's even though they are equal to one: (file, the macro that names it).
NOT_CONFIG_CONSTANTS = {("apps/mps2-an386/app_glue.c", "CMDLINE_CAP")}  # a command-line buffer, not the FFT size


def test_core_sources_write_no_config_constant():
    values = {
        CONFIG.audio.sample_rate,
        CONFIG.audio.clip_samples,
        FC.window_samples,
        FC.hop_samples,
        FC.fft_size,
        FC.fft_size // 2,
        BINS,
        FC.num_mel_bands,
        FC.num_mfcc,
        FC.frames_for(CONFIG.audio.clip_samples),
    }
    pattern = re.compile(r"(?<![\w.])(" + "|".join(map(str, sorted(values))) + r")(?![\w.])")
    # Everything that runs on a board: front end, runtime (network, detector, engine), the app and board glue.
    core = [p for d in ("src", "include", "runtime", "apps", "boards") for p in sorted((FIRMWARE / d).rglob("*.[ch]"))]
    assert {p.parent.name for p in core} >= {"src", "include", "runtime", "apps", "host", "mps2-an386"}
    for path in core:
        rel = str(path.relative_to(FIRMWARE))
        for i, line in enumerate(path.read_text().splitlines(), 1):
            m = pattern.search(line)
            if m and any(rel == f and re.search(rf"\b{name}\b", line) for f, name in NOT_CONFIG_CONSTANTS):
                continue
            assert not m, f"firmware/{rel}:{i}: literal {m.group(1)} (use the generated macros)"
