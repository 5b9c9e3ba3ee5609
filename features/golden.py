"""Golden vectors of the front end: input audio and the exact integer output of every stage.

Written once by `tinykws features golden`, read by the Python tests and (later) the C tests, which must match
them with exact equality. Files are raw little-endian arrays (`<clip>.<stage>.bin`) described by
`manifest.json`, so a C test needs no parser beyond fread. The folder is named by the feature-config hash: a
front-end change makes the tests ask for new vectors instead of comparing against stale ones.

Real Speech Commands clips are referenced by path and sha256, never copied: their audio (and the windowed
frames and spectra, from which it could be rebuilt) stays in ../shared/data; from power onwards is stored.
"""

from __future__ import annotations

import argparse
import hashlib
import json
from pathlib import Path

import numpy as np

from tinykws.atomic import atomic_dir
from tinykws.config import CONFIG, REPO_ROOT, SHARED_DATA_DIR
from tinykws.data.wav import read_wav, to_int16
from tinykws.errors import TinyKwsError
from tinykws.features import mfcc

GOLDEN_ROOT = REPO_ROOT / "tests" / "golden" / "frontend"
STAGES = ("windowed", "fft_re", "fft_im", "power", "mel", "log_mel", "cepstra", "features")
AUDIO_DERIVED = ("audio", "windowed", "fft_re", "fft_im")
REAL_CLIPS = (
    "speech_commands_test_set_v0.02/yes/0bac8a71_nohash_0.wav",
    "speech_commands_test_set_v0.02/_silence_/1024.wav",
)


def golden_dir(root: Path = GOLDEN_ROOT) -> Path:
    return root / CONFIG.feature_hash()


def synthetic_clips(seed: int = 7) -> dict[str, np.ndarray]:
    """Deterministic signals that reach the front end's corners: full scale, silence, speech-like sound."""
    rng = np.random.default_rng(seed)
    sr = CONFIG.audio.sample_rate
    n = CONFIG.audio.clip_samples
    t = np.arange(n) / sr
    # A vowel-like pulse train with two formants, then an "s"-like high-passed noise burst.
    f0 = 120.0 + 40.0 * t
    pulses = np.sin(2 * np.pi * np.cumsum(f0) / sr)
    vowel = sum(np.sin(k * 2 * np.pi * np.cumsum(f0) / sr) / k for k in range(1, 30)) * (pulses > 0)
    env = np.exp(-(((t - 0.4) / 0.15) ** 2))
    hiss = np.diff(rng.standard_normal(n + 1)) * np.exp(-(((t - 0.7) / 0.08) ** 2))
    speechlike = 6000 * vowel * env + 3000 * hiss
    chirp = np.sin(2 * np.pi * (50 * t + 0.5 * (7900 - 50) * t**2))
    return {
        "speechlike": to_int16(speechlike),
        "fullscale_square": np.where(np.sin(2 * np.pi * 1000 * t) >= 0, 32767, -32768).astype(np.int16),
        "fullscale_chirp": np.round(32767 * chirp).astype(np.int16),
        "white_noise": rng.integers(-32768, 32768, n).astype(np.int16),
        "near_silence": np.concatenate([np.zeros(n // 2), rng.integers(-2, 3, n - n // 2)]).astype(np.int16),
        "short_700": rng.integers(-3000, 3000, 700).astype(np.int16),  # one frame plus a partial hop
    }


def _sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _write_clip(out: Path, name: str, audio: np.ndarray, skip: tuple[str, ...]) -> dict:
    frames = mfcc.frame_signal(audio)
    stages = {"audio": audio, **mfcc.frame_stages(frames)}
    entry: dict = {"samples": int(len(audio)), "frames": int(len(frames)), "stages": {}}
    for stage, arr in stages.items():
        if stage in skip:
            continue
        arr = np.ascontiguousarray(arr)
        fname = f"{name}.{stage}.bin"
        # write_bytes, not tofile: numpy's C-stdio write loses a full disk's error and leaves a short file.
        (out / fname).write_bytes(arr.astype(arr.dtype.newbyteorder("<")).tobytes())
        entry["stages"][stage] = {"file": fname, "dtype": arr.dtype.str.lstrip("<>|="), "shape": list(arr.shape)}
    return entry


def write_golden(root: Path = GOLDEN_ROOT, shared: Path = SHARED_DATA_DIR) -> Path:
    target = golden_dir(root)
    manifest: dict = {
        "generator": "tinykws features golden",
        "feature_hash": CONFIG.feature_hash(),
        "feature_config": CONFIG.to_dict()["features"],
        "clips": {},
    }
    with atomic_dir(target) as out:
        for name, audio in synthetic_clips().items():
            manifest["clips"][name] = {"kind": "synthetic", **_write_clip(out, name, audio, ())}
        for rel in REAL_CLIPS:
            path = shared / rel
            if not path.exists():
                raise TinyKwsError(f"{path}: real clip for golden vectors not found (is ../shared/data there?)")
            name = "real_" + Path(rel).parent.name.strip("_") + "_" + Path(rel).stem
            entry = _write_clip(out, name, read_wav(path), AUDIO_DERIVED)
            manifest["clips"][name] = {"kind": "real", "source": rel, "sha256": _sha256(path), **entry}
        (out / "manifest.json").write_text(json.dumps(manifest, indent=1) + "\n")
    return target


def load_manifest(root: Path = GOLDEN_ROOT) -> tuple[Path, dict]:
    d = golden_dir(root)
    if not (d / "manifest.json").exists():
        raise TinyKwsError(
            f"{d}: no golden vectors for feature config {CONFIG.feature_hash()}; run `tinykws features golden`"
        )
    return d, json.loads((d / "manifest.json").read_text())


def load_stage(d: Path, spec: dict) -> np.ndarray:
    return np.fromfile(d / spec["file"], dtype=np.dtype(spec["dtype"]).newbyteorder("<")).reshape(spec["shape"])


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--out", type=Path, default=GOLDEN_ROOT, help=f"root folder (default {GOLDEN_ROOT})")


def run(args: argparse.Namespace) -> int:
    d = write_golden(args.out)
    print(f"wrote golden vectors to {d}")
    return 0
