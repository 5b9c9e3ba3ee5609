"""Strict WAV reading and atomic WAV writing.

The front end takes 16 kHz mono int16 only. Anything else is refused with one line naming the file and the
problem; channel mixing, resampling and sample-format conversion happen only when the caller asks for them
(`convert=True`, the CLI's `--convert`), and each conversion done is reported.

Our own RIFF parser instead of `wave`: it tells a truncated header from truncated data from a data chunk that
claims more bytes than the file has, and never reads more than the file holds.
"""

from __future__ import annotations

import os
import struct
from collections.abc import Callable
from math import gcd
from pathlib import Path

import numpy as np

from tinykws.atomic import atomic_path
from tinykws.config import CONFIG
from tinykws.errors import TinyKwsError

_PCM = 1
_IEEE_FLOAT = 3
_EXTENSIBLE = 0xFFFE


class WavError(TinyKwsError):
    """A WAV file that the front end cannot take as it is."""


def _fail(path: Path, problem: str) -> WavError:
    return WavError(f"{path}: {problem}")


def _parse_chunks(path: Path, blob: bytes) -> tuple[tuple[int, int, int, int], bytes]:
    """Return ((format, channels, rate, bits), data bytes) or raise WavError."""
    if len(blob) == 0:
        raise _fail(path, "empty file (0 bytes), not a WAV")
    if len(blob) < 12:
        raise _fail(path, f"truncated header ({len(blob)} bytes), not a complete WAV")
    if blob[:4] in (b"RF64", b"BW64"):
        raise _fail(path, f"{blob[:4].decode()} WAV (the variant for over 4 GB) is not supported")
    if blob[:4] != b"RIFF" or blob[8:12] != b"WAVE":
        raise _fail(path, "not a WAV file (no RIFF/WAVE header)")
    fmt = None
    data = None
    pos = 12
    while pos + 8 <= len(blob):
        cid, size = blob[pos : pos + 4], struct.unpack("<I", blob[pos + 4 : pos + 8])[0]
        body = blob[pos + 8 : pos + 8 + size]
        if cid == b"fmt ":
            if len(body) < 16:
                raise _fail(path, "truncated header (fmt chunk cut short)")
            tag, channels, rate, _, _, bits = struct.unpack("<HHIIHH", body[:16])
            if tag == _EXTENSIBLE and len(body) >= 26:
                tag = struct.unpack("<H", body[24:26])[0]
            fmt = (tag, channels, rate, bits)
        elif cid == b"data":
            if fmt is None:
                raise _fail(path, "data chunk before fmt chunk")
            if size > len(body):
                raise _fail(
                    path,
                    f"truncated data: header claims {size} bytes of audio, file holds {len(body)}",
                )
            data = body
            break
        pos += 8 + size + (size & 1)
    if fmt is None:
        raise _fail(path, "truncated header (no fmt chunk)")
    if data is None:
        raise _fail(path, "no data chunk (truncated or not audio)")
    return fmt, data


def _decode(path: Path, fmt: tuple[int, int, int, int], data: bytes) -> np.ndarray:
    """Samples as float64 in [-1, 1), shape (frames, channels)."""
    tag, channels, _, bits = fmt
    if channels < 1:
        raise _fail(path, "zero channels")
    width = bits // 8
    frame = width * channels
    if width == 0 or len(data) % frame:
        raise _fail(path, f"truncated data: {len(data)} bytes is not a whole number of {frame}-byte frames")
    raw = np.frombuffer(data, dtype=np.uint8)
    if tag == _PCM and bits == 8:
        x = (raw.astype(np.float64) - 128.0) / 128.0
    elif tag == _PCM and bits == 16:
        x = np.frombuffer(data, "<i2") / 32768.0
    elif tag == _PCM and bits == 24:
        b = raw.reshape(-1, 3).astype(np.int32)
        v = b[:, 0] | (b[:, 1] << 8) | (b[:, 2] << 16)
        x = np.where(v >= 1 << 23, v - (1 << 24), v) / float(1 << 23)
    elif tag == _PCM and bits == 32:
        x = np.frombuffer(data, "<i4") / float(1 << 31)
    elif tag == _IEEE_FLOAT and bits in (32, 64):
        x = np.frombuffer(data, "<f4" if bits == 32 else "<f8").astype(np.float64)
        if not np.all(np.isfinite(x)):
            raise _fail(path, "float samples contain NaN or infinity")
    else:
        raise _fail(path, f"unsupported sample format (format tag {tag}, {bits}-bit)")
    return x.reshape(-1, channels)


def _describe(fmt: tuple[int, int, int, int]) -> str:
    tag, channels, rate, bits = fmt
    kind = "float" if tag == _IEEE_FLOAT else f"{bits}-bit"
    return f"{rate} Hz, {channels} channel{'s' if channels != 1 else ''}, {kind}"


def _resample(x: np.ndarray, src: int, dst: int) -> np.ndarray:
    from scipy.signal import resample_poly

    g = gcd(src, dst)
    return resample_poly(x, dst // g, src // g)


def read_wav(
    path: str | os.PathLike,
    convert: bool = False,
    report: Callable[[str], None] | None = None,
) -> np.ndarray:
    """Read a WAV as 16 kHz mono int16.

    Without `convert`, any other rate, channel count or sample format raises WavError. With it, the audio is
    mixed to mono, resampled and requantised, and `report` (if given) receives one line per conversion.
    """
    path = Path(path)
    try:
        size = path.stat().st_size
        # Never trust a header's length: read what the file holds, and no more than 1 GiB of it.
        with open(path, "rb") as f:
            blob = f.read(min(size, 1 << 30))
    except IsADirectoryError:
        raise _fail(path, "is a directory, not a WAV file") from None
    except FileNotFoundError:
        raise _fail(path, "no such file") from None
    except OSError as e:
        raise _fail(path, f"cannot read ({e.strerror})") from None
    fmt, data = _parse_chunks(path, blob)
    tag, channels, rate, bits = fmt
    want_rate = CONFIG.audio.sample_rate
    if len(data) == 0:
        raise _fail(path, "no audio samples (zero-length data)")
    if tag == _PCM and bits == 16 and channels == 1 and rate == want_rate:
        if len(data) % 2:
            raise _fail(path, f"truncated data: {len(data)} bytes is not a whole number of 2-byte samples")
        return np.frombuffer(data, "<i2").astype(np.int16)
    if not convert:
        raise _fail(
            path,
            f"is {_describe(fmt)}; tinykws needs {want_rate} Hz mono 16-bit PCM (pass --convert to convert it)",
        )
    x = _decode(path, fmt, data)
    notes = []
    if channels != 1:
        x = x.mean(axis=1, keepdims=True)
        notes.append(f"{channels} channels -> mono")
    x = x[:, 0]
    if rate != want_rate:
        if rate <= 0:
            raise _fail(path, f"invalid sample rate {rate}")
        x = _resample(x, rate, want_rate)
        notes.append(f"{rate} Hz -> {want_rate} Hz")
    if not (tag == _PCM and bits == 16):
        notes.append(f"{'float' if tag == _IEEE_FLOAT else f'{bits}-bit'} -> 16-bit")
    if report is not None:
        report(f"{path}: converted {', '.join(notes)}")
    return to_int16(x * 32768.0)


def to_int16(x: np.ndarray) -> np.ndarray:
    """Samples in int16 units (any float or int array) as int16 PCM: rounded half to even, clipped to full scale."""
    return np.clip(np.round(x), -32768, 32767).astype(np.int16)


def wav_header(num_samples: int, sample_rate: int | None = None) -> bytes:
    """The 44-byte header of a mono 16-bit PCM WAV holding `num_samples` samples."""
    rate = CONFIG.audio.sample_rate if sample_rate is None else sample_rate
    pcm = 2 * num_samples
    header = b"RIFF" + struct.pack("<I", 36 + pcm) + b"WAVE"
    header += b"fmt " + struct.pack("<IHHIIHH", 16, _PCM, 1, rate, rate * 2, 2, 16)
    return header + b"data" + struct.pack("<I", pcm)


def write_wav(path: str | os.PathLike, samples: np.ndarray, sample_rate: int | None = None) -> None:
    """Write mono int16 samples atomically."""
    pcm = np.asarray(samples, dtype="<i2").tobytes()
    with atomic_path(path) as tmp:
        tmp.write_bytes(wav_header(len(pcm) // 2, sample_rate) + pcm)


def fit_clip(samples: np.ndarray) -> np.ndarray:
    """Zero-pad (at the end) or cut a clip to the configured clip length, as the dataset's loader does."""
    n = CONFIG.audio.clip_samples
    out = np.zeros(n, dtype=np.int16)
    out[: min(n, len(samples))] = samples[:n]
    return out
