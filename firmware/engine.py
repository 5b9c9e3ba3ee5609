"""The C engine on the host through ctypes, with PythonEngine's API (train/engine.py): same detections, and
with `record=True` the same per-hop features, logits and smoothed sums, for any chunking.

The model is compiled in: `CEngine(model)` exports it and builds libkws_engine.so for it with the firmware
Makefile (once per model; build/firmware/models/<model id>/host/), then checks that the library describes
that model and this front end.
"""

from __future__ import annotations

import ctypes
import struct
from pathlib import Path

import numpy as np

from tinykws.config import CONFIG
from tinykws.deploy.c_export import model_fingerprint
from tinykws.errors import TinyKwsError
from tinykws.train.detector import Detection
from tinykws.train.engine import HopRecord
from tinykws.train.int_model import IntModel

I8P, I16P, I32P = ctypes.POINTER(ctypes.c_int8), ctypes.POINTER(ctypes.c_int16), ctypes.POINTER(ctypes.c_int32)


class KwsDetection(ctypes.Structure):
    _fields_ = [("hop", ctypes.c_uint32), ("keyword", ctypes.c_int32), ("score_sum", ctypes.c_int32)]


class KwsHop(ctypes.Structure):
    _fields_ = [("hop", ctypes.c_uint32), ("features", I8P), ("logits", I8P), ("sums", I32P),
                ("keyword", ctypes.c_int32)]  # fmt: skip


class KwsLayer(ctypes.Structure):
    _fields_ = [(n, ctypes.c_int32) for n in ("kind", "kernel", "dilation", "in_channels", "out_channels",
                "row_bytes", "input_zero_point", "output_zero_point", "act_min", "act_max")] + [
        ("weights", I16P), ("bias", I32P), ("multiplier", I32P), ("shift", I8P)]  # fmt: skip


class KwsModel(ctypes.Structure):
    _fields_ = [(n, ctypes.c_int32) for n in ("num_layers", "input_frames", "input_channels", "num_classes",
                "pool_frames", "pool_channels", "pool_zero_point", "ring_bytes", "scratch_words", "max_kernel")] + [
        ("layers", ctypes.POINTER(KwsLayer)), ("rings", ctypes.c_void_p), ("classifier", ctypes.POINTER(KwsLayer)),
        ("labels", ctypes.POINTER(ctypes.c_char_p)), ("keywords", ctypes.POINTER(ctypes.c_uint8)),
        ("feature_hash", ctypes.c_char_p), ("model_id", ctypes.c_char_p)]  # fmt: skip


HOP_CALLBACK = ctypes.CFUNCTYPE(None, ctypes.c_void_p, ctypes.POINTER(KwsHop))


def _declare(lib: ctypes.CDLL) -> ctypes.CDLL:
    """argtypes / restype of the library's public functions (kws_engine.h, kws_network.h, kws_detector.h,
    kws_kernels.h, kws_frontend.h)."""
    sigs = {
        "kws_engine_state_size": ([], ctypes.c_size_t),
        "kws_engine_init": ([ctypes.c_void_p], ctypes.c_int),
        "kws_engine_set_hop_callback": ([ctypes.c_void_p, HOP_CALLBACK, ctypes.c_void_p], None),
        "kws_process": ([ctypes.c_void_p, I16P, ctypes.c_int, ctypes.POINTER(KwsDetection), ctypes.c_int],
                        ctypes.c_int),
        "kws_engine_model": ([], ctypes.POINTER(KwsModel)),
        "kws_network_state_size": ([], ctypes.c_size_t),
        "kws_network_init": ([ctypes.c_void_p, ctypes.POINTER(KwsModel)], ctypes.c_int),
        "kws_network_push": ([ctypes.c_void_p, I8P, I8P], ctypes.c_int),
        "kws_network_output": ([ctypes.c_void_p, ctypes.c_int], I8P),
        "kws_detector_state_size": ([], ctypes.c_size_t),
        "kws_detector_init": ([ctypes.c_void_p, ctypes.POINTER(ctypes.c_uint8)], None),
        "kws_detector_push": ([ctypes.c_void_p, I8P, I32P], ctypes.c_int),
        "kws_detector_sums": ([ctypes.c_void_p], I32P),
        "kws_requantize": ([ctypes.c_int32, ctypes.c_int32, ctypes.c_int32], ctypes.c_int32),
        "kws_requantize_bounded": ([ctypes.c_int32, ctypes.c_int32, ctypes.c_int32], ctypes.c_int32),
        "kws_kernels_dsp": ([], ctypes.c_int),
        "kws_frontend_feature_hash": ([], ctypes.c_char_p),
    }  # fmt: skip
    for name, (args, res) in sigs.items():
        fn = getattr(lib, name)
        fn.argtypes, fn.restype = args, res
    return lib


def _whole_elf(path: Path) -> bool:
    """True if `path` is a 64-bit little-endian ELF file that holds its section header table (written last)."""
    try:
        with open(path, "rb") as f:
            head = f.read(64)
        size = path.stat().st_size
    except OSError:
        return False
    if len(head) < 64 or head[:6] != b"\x7fELF\x02\x01":
        return False
    (shoff,) = struct.unpack_from("<Q", head, 0x28)
    shentsize, shnum = struct.unpack_from("<HH", head, 0x3A)
    return shoff + shentsize * shnum <= size


def load_library(model: IntModel, source: str = "an in-memory model") -> ctypes.CDLL:
    """Build (if needed) and load libkws_engine.so for `model`; refuses a library built from another model."""
    from tinykws.firmware import board

    out = board.build(model, "host", source)
    so = out / "libkws_engine.so"
    if not _whole_elf(so):
        # A link cut short (full disk, power loss) leaves a file newer than its sources, which make trusts and
        # which would crash this process with SIGBUS when mapped: build it again instead.
        so.unlink(missing_ok=True)
        out = board.build(model, "host", source)
        if not _whole_elf(so):
            raise TinyKwsError(f"{so}: not a complete shared library, even after a rebuild")
    lib = _declare(ctypes.CDLL(str(so)))
    described = lib.kws_engine_model().contents
    if described.model_id.decode() != model_fingerprint(model)[:12]:
        raise TinyKwsError(f"{out}: library was built for model {described.model_id.decode()}, not this one")
    return lib


def as_pointer(a: np.ndarray, ctype: type) -> ctypes._Pointer:
    """A C pointer to a contiguous array's data, for ctypes calls (the tests' libraries use it too)."""
    return a.ctypes.data_as(ctypes.POINTER(ctype))


class CEngine:
    """`process(samples)` through kws_process; `hops` as PythonEngine's when `record`."""

    def __init__(self, model: IntModel, record: bool = False, lib: ctypes.CDLL | None = None,
                 source: str = "an in-memory model") -> None:  # fmt: skip
        self.model = model
        self.record = record
        self.lib = lib or load_library(model, source)
        self.num_classes = len(model.labels)
        self.state = ctypes.create_string_buffer(self.lib.kws_engine_state_size())
        # ctypes must keep the callback object alive as long as C may call it.
        self._callback = HOP_CALLBACK(self._on_hop)
        self.reset()

    def reset(self) -> None:
        rc = self.lib.kws_engine_init(self.state)
        if rc != 0:
            raise TinyKwsError(f"kws_engine_init failed ({rc}): the library's model does not fit its front end")
        if self.record:
            self.lib.kws_engine_set_hop_callback(self.state, self._callback, None)
        self.hops: list[HopRecord] = []

    def set_record(self, on: bool) -> None:
        """Start or stop keeping `hops` mid-stream: a long run (bench/soak.py) records only where it compares."""
        self.record = on
        self.lib.kws_engine_set_hop_callback(self.state, self._callback if on else HOP_CALLBACK(), None)

    def _on_hop(self, _user: int, hop_ptr: ctypes._Pointer) -> None:
        h = hop_ptr.contents
        c, n = self.num_classes, CONFIG.features.num_mfcc
        features = np.ctypeslib.as_array(h.features, (n,)).copy()
        logits = np.ctypeslib.as_array(h.logits, (c,)).copy() if h.logits else None
        sums = np.ctypeslib.as_array(h.sums, (c,)).copy() if h.sums else None
        self.hops.append(HopRecord(int(h.hop), features, logits, sums))

    def process(self, samples: np.ndarray) -> list[Detection]:
        samples = np.ascontiguousarray(samples)
        if samples.dtype != np.int16 or samples.ndim != 1:
            raise TypeError(f"process() takes a 1-D int16 array, got {samples.dtype} with shape {samples.shape}")
        # At most one detection per hop this chunk can complete (one more for the pending window).
        cap = len(samples) // CONFIG.features.hop_samples + 2
        out = (KwsDetection * cap)()
        n = self.lib.kws_process(self.state, as_pointer(samples, ctypes.c_int16), len(samples), out, cap)
        if n < 0 or n > cap:
            raise RuntimeError(f"kws_process returned {n}")
        return [Detection(int(d.hop), int(d.keyword), int(d.score_sum)) for d in out[:n]]

