"""`tinykws features build`: int8 features of every clip of a corpus, in parallel, cached, resumable.

Work is cut into shards of a few hundred clips; each finished shard is saved under `shards/` keyed by a hash of
its clips and the feature config, so Ctrl-C loses at most the shards in flight and a rerun only computes
what is missing. The shards are then joined into one `.npz` (written atomically) with the clip metadata.
"""

from __future__ import annotations

import argparse
import hashlib
import io
import os
import signal
import sys
from concurrent.futures import ProcessPoolExecutor, as_completed
from pathlib import Path

import numpy as np
from tqdm import tqdm

from tinykws.atomic import atomic_path
from tinykws.config import BUILD_DIR, CONFIG
from tinykws.data import layout
from tinykws.data.wav import fit_clip, read_wav
from tinykws.errors import TinyKwsError
from tinykws.features import mfcc

DEFAULT_OUT = BUILD_DIR / "features" / "corpus.npz"
SHARD_CLIPS = 256


def _shard_key(paths: list[Path]) -> str:
    h = hashlib.sha256(CONFIG.feature_hash().encode())
    for p in paths:
        st = p.stat()
        h.update(f"{p}\0{st.st_size}\0{st.st_mtime_ns}\n".encode())
    return h.hexdigest()[:20]


def ignore_ctrl_c() -> None:
    """Worker initializer: Ctrl-C reaches the whole process group, and a worker killed by it while idle hangs
    the pool; the parent alone handles it (cancels what is queued, waits for the shards in flight)."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)


def _compute_shard(paths: list[Path], dest: Path) -> Path:
    audio = np.stack([fit_clip(read_wav(p)) for p in paths])
    feats = mfcc.mfcc(audio)
    # Serialised in memory: np.save to a file writes through C stdio, which loses a full disk's error and would
    # leave a short shard that the next run takes as done.
    blob = io.BytesIO()
    np.save(blob, feats)
    with atomic_path(dest, suffix=".npy") as tmp:
        tmp.write_bytes(blob.getbuffer())
    return dest


def build_features(
    roots: list[Path], out: Path = DEFAULT_OUT, jobs: int | None = None, progress: bool = True
) -> tuple[Path, int, int]:
    """Features of every clip under `roots` into `out`. Returns (out, clips, shards computed now)."""
    clips = [c for root in roots for c in layout.scan(root)]
    paths = [c.path for c in clips]
    shard_dir = out.parent / "shards"
    shard_dir.mkdir(parents=True, exist_ok=True)
    shards = [paths[i : i + SHARD_CLIPS] for i in range(0, len(paths), SHARD_CLIPS)]
    dests = [shard_dir / f"{_shard_key(s)}.npy" for s in shards]
    todo = [(s, d) for s, d in zip(shards, dests, strict=True) if not d.exists()]
    jobs = jobs or os.cpu_count() or 1
    bar = tqdm(
        total=len(paths), initial=len(paths) - sum(len(s) for s, _ in todo), unit="clip",
        desc="features", disable=not progress, file=sys.stderr,
    )
    with bar, ProcessPoolExecutor(max_workers=jobs, initializer=ignore_ctrl_c) as pool:
        futures = {pool.submit(_compute_shard, s, d): len(s) for s, d in todo}
        try:
            for fut in as_completed(futures):
                fut.result()
                bar.update(futures[fut])
        except BaseException:
            for fut in futures:
                fut.cancel()
            raise
    feats = np.concatenate([np.load(d) for d in dests]) if dests else np.zeros((0, 0, 0), np.int8)
    with atomic_path(out, suffix=".npz") as tmp:
        with open(tmp, "wb") as f:
            np.savez(
                f,
                features=feats,
                paths=np.array([str(p) for p in paths]),
                words=np.array([c.word for c in clips]),
                speakers=np.array([c.speaker for c in clips]),
                sources=np.array([c.source for c in clips]),
                splits=np.array([c.split for c in clips]),
                feature_hash=np.array(CONFIG.feature_hash()),
            )
    return out, len(paths), len(todo)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--data", nargs="+", type=Path, default=None,
        help="Speech Commands folders (default: the synthetic corpus + ../shared/data real clips)",
    )
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT, help=f"output .npz (default {DEFAULT_OUT})")
    parser.add_argument("--jobs", type=int, default=None, help="worker processes (default: all cores)")
    parser.add_argument("--no-progress", action="store_true", help="no progress bar")


def run(args: argparse.Namespace) -> int:
    roots = args.data or layout.default_roots()
    if not roots:
        raise TinyKwsError("no corpus found: run `tinykws data synth` or pass --data DIR")
    out, n, computed = build_features(roots, args.out, args.jobs, progress=not args.no_progress)
    print(f"{n} clips from {len(roots)} folder(s) -> {out} ({computed} shard(s) computed, rest cached)")
    return 0
