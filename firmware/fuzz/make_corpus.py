"""Write the fuzz targets' seed corpus, firmware/fuzz/corpus/<target>/ (committed; about 12 KB in all).

    .venv/bin/python firmware/fuzz/make_corpus.py [--out DIR]

Each seed is laid out as its target's header comment describes. Real-ish data where it matters: a short slice
of a real "yes" clip (never a whole clip), the shipped kws12 model's features, logits and weights of that
audio; besides, silence, a full-scale square wave, extreme logits, requantiser edge cases, and WAV files of
the kinds the app must accept or refuse. Deterministic: running it again rewrites the same bytes.
"""

from __future__ import annotations

import argparse
import struct
from collections.abc import Iterable
from pathlib import Path

import numpy as np

from tinykws.config import CONFIG, REPO_ROOT, SHARED_DATA_DIR
from tinykws.data.wav import read_wav
from tinykws.deploy import c_export
from tinykws.train.engine import PythonEngine
from tinykws.train.int_model import ConvLayer, IntModel

FUZZ_DIR = REPO_ROOT / "firmware" / "fuzz"
MODEL = REPO_ROOT / "models" / "kws12" / "model.npz"
CLIPS = SHARED_DATA_DIR / "speech_commands_test_set_v0.02"
YES_CLIP = CLIPS / "yes" / "0bac8a71_nohash_0.wav"
OTHER_CLIPS = (CLIPS / "no" / "03401e93_nohash_0.wav", CLIPS / "go" / "0bac8a71_nohash_0.wav")
FC = CONFIG.features
FULL_SCALE = (32767, -32768)


def _i16(samples: Iterable[int]) -> bytes:
    return np.asarray(list(samples), dtype="<i2").tobytes()


def _loudest_slice(audio: np.ndarray, n: int) -> np.ndarray:
    """The n samples around the clip's energy peak: the part of the word a short seed should carry."""
    energy = np.convolve(audio.astype(np.float64) ** 2, np.ones(n), mode="valid")
    start = int(np.argmax(energy))
    return audio[start : start + n]


def _square(n: int, period: int = 32) -> np.ndarray:
    return np.array([FULL_SCALE[(i // (period // 2)) % 2] for i in range(n)], dtype=np.int16)


def _wav(chunks: list[tuple[bytes, bytes]], riff_size: int | None = None) -> bytes:
    """RIFF/WAVE with the given (id, payload) chunks, each padded to an even size as RIFF requires."""
    body = b"".join(cid + struct.pack("<I", len(data)) + data + b"\0" * (len(data) & 1) for cid, data in chunks)
    return b"RIFF" + struct.pack("<I", 4 + len(body) if riff_size is None else riff_size) + b"WAVE" + body


def _fmt(
    rate: int = CONFIG.audio.sample_rate, channels: int = 1, bits: int = 16, tag: int = 1, extra: bytes = b""
) -> bytes:
    block = channels * bits // 8
    return struct.pack("<HHIIHH", tag, channels, rate, rate * block, block, bits) + extra


def _chunk_header(sizes: list[int]) -> bytes:
    return bytes([len(sizes), *sizes])


def seeds(model: IntModel) -> dict[str, dict[str, bytes]]:
    """{target: {seed name: bytes}}."""
    yes = read_wav(YES_CLIP)
    speech = _loudest_slice(yes, 640)
    stream = np.concatenate([yes, *(read_wav(p) for p in OTHER_CLIPS)])
    engine = PythonEngine(model, record=True)
    engine.process(stream)
    features = np.array([h.features for h in engine.hops], dtype=np.int8)
    logits = np.array([h.logits for h in engine.hops if h.logits is not None], dtype=np.int8)
    frames = model.input_frames
    out: dict[str, dict[str, bytes]] = {}

    out["frontend"] = {
        "real-yes-slice": _chunk_header([]) + _i16(speech[: FC.window_samples]),
        "square-chunks-1-160-161": _chunk_header([1, 160, 161]) + _i16(_square(FC.window_samples)),
        "silence-empty-pushes": _chunk_header([0, 7]) + _i16([0] * FC.window_samples),
    }
    # engine: repeats - 1, max_out, chunk sizes, samples (tiled up to 1.5 s by the target)
    out["engine"] = {
        "real-yes-slice-tiled": bytes([37, 1]) + _chunk_header([160, 161, 1]) + _i16(speech),
        "square-long-chunks": bytes([255, 0]) + _chunk_header([250]) + _i16(_square(96)),
        "silence-one-call": bytes([255, 4]) + _chunk_header([]) + _i16([0] * 96),
    }
    # network: extra pushes, push with the whole-window check, frames
    out["network"] = {
        "real-features": bytes([20, 60]) + features[:frames].tobytes(),
        "extremes-cycled": bytes([60, 55]) + np.repeat(np.int8([127, -128]), FC.num_mfcc).tobytes(),
    }
    # network_init: mutations, then the frames of input_frames + 2 pushes
    ring0_offset = 10 + 6 * len(model.layers)  # field index of rings[0].offset (fuzz_network_init.c)
    out["network_init"] = {
        "unchanged-real-features": bytes([0]) + features[: frames + 2].tobytes(),
        "ring-offset-plus-4": bytes([1, ring0_offset, 64 + 4]) + features[: frames + 2].tobytes(),
        "dilation-replaced": bytes([1, 11, 0x80]) + struct.pack("<i", 2) + features[: frames + 2].tobytes(),
    }
    # detector: flags (1: keyword mask follows, 2: NULL score_sum), logits per hop
    alternating = np.zeros((20, len(model.labels)), dtype=np.int8)
    alternating[::2, 2], alternating[1::2, 3] = 127, 127
    alternating[alternating == 0] = -128
    out["detector"] = {
        "real-logits": bytes([0]) + logits[:60].tobytes(),
        "mask-null-sum-extremes": bytes([3]) + struct.pack("<H", 0x0FFC) + alternating.tobytes(),
        "ties": bytes([0]) + bytes(10 * len(model.labels)),
    }
    out["kernels"] = _kernel_seeds(model, features)
    out["wav"] = _wav_seeds(speech)
    return out


def _kernel_seeds(model: IntModel, features: np.ndarray) -> dict[str, bytes]:
    """Mode byte, then the layer as fuzz_kernels.c reads it, with the shipped model's numbers."""
    edges = b""
    for acc in (-(1 << 31), (1 << 31) - 1, -1, 1, (1 << 29) - 1, -(1 << 29)):
        for mult, shift in ((-(1 << 31), 0), (1 << 30, -31), ((1 << 31) - 1, 30), (0, 1)):
            edges += struct.pack("<iiB", acc, mult, shift + 31)

    def stage(
        layer: ConvLayer, channels: int
    ) -> bytes:  # shift byte, bias (4), multiplier (4) per channel; zp, act range
        per = b"".join(
            struct.pack("<BiI", int(layer.shift[c]) + 31, int(layer.bias[c]), int(layer.multiplier[c]))
            for c in range(channels)
        )
        return per + struct.pack("<bbb", layer.output_zero_point, layer.act_min, layer.act_max)

    conv, dw = model.layers[0], model.layers[1]
    cout, cin = 37, conv.weight.shape[2]
    conv_seed = (
        bytes([1, conv.kernel - 1, cin - 1, cout - 1]) + c_export.conv_rows(conv)[:cout, : conv.kernel * cin].tobytes()
    )
    conv_seed += stage(conv, cout) + features[: conv.kernel].tobytes()
    channels = 40
    dw_seed = bytes([2, dw.kernel - 1, channels - 1]) + c_export.conv_rows(dw)[:channels].tobytes()
    dw_seed += stage(dw, channels) + np.resize(features[:12], (dw.kernel, channels)).tobytes()
    pool_seed = bytes([3, 7, 16]) + features[:40, :8].tobytes()
    return {
        "requantize-edges": bytes([0]) + edges,
        "conv-real-weights": conv_seed,
        "depthwise-real-weights": dw_seed,
        "average-real-features": pool_seed,
    }


def _wav_seeds(speech: np.ndarray) -> dict[str, bytes]:
    pcm = _i16(speech[:500])
    short = _i16(speech[:100])
    return {
        "real-yes-slice.wav": _wav([(b"fmt ", _fmt()), (b"data", pcm)]),
        "real-yes-slice-scores.wav": _wav([(b"fmt ", _fmt()), (b"data", short)]) + b"\0",  # odd size: scores
        "list-chunk-odd-pad.wav": _wav([(b"LIST", b"INFOx"), (b"fmt ", _fmt()), (b"data", short)]),
        "fmt-18-bytes.wav": _wav([(b"fmt ", _fmt(extra=b"\0\0")), (b"data", short)]),
        "fmt-extensible.wav": _wav([(b"fmt ", _fmt(tag=0xFFFE, extra=bytes(24))), (b"data", short)]),
        "rate-8k.wav": _wav([(b"fmt ", _fmt(rate=8000)), (b"data", short)]),
        "stereo.wav": _wav([(b"fmt ", _fmt(channels=2)), (b"data", short)]),
        "data-before-fmt.wav": _wav([(b"data", short), (b"fmt ", _fmt())]),
        "streaming-sizes.wav": _wav([(b"fmt ", _fmt())], riff_size=0xFFFFFFFF)
        + b"data"
        + struct.pack("<I", 0xFFFFFFFF)
        + short,
        "truncated-header.wav": _wav([(b"fmt ", _fmt()), (b"data", short)])[:30],
    }


def write(out_dir: Path) -> int:
    """Write every seed; returns the total bytes."""
    total = 0
    for target, files in seeds(IntModel.load(MODEL)).items():
        (out_dir / target).mkdir(parents=True, exist_ok=True)
        for name, data in files.items():
            (out_dir / target / name).write_bytes(data)
            total += len(data)
    return total


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", type=Path, default=FUZZ_DIR / "corpus", help="corpus root (default: %(default)s)")
    args = ap.parse_args(argv)
    print(f"{write(args.out)} bytes of seeds in {args.out}")


if __name__ == "__main__":
    main()
