"""Training data: an augmented feature bank computed once, clean validation features, and per-epoch sampling.

The integer front end costs more than the network, so every training clip is augmented `augment_copies`
times (noise, shift, gain; see data/augment.py) and featurised once into a bank cached under build/train/,
keyed by the clip list, the config and the seed. An epoch then samples (bank row, label) pairs with the
task's class balance from a generator seeded by (seed, epoch): resuming at an epoch gives the same batches.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import os
import sys
from collections.abc import Callable
from concurrent.futures import Future, ProcessPoolExecutor, as_completed
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any

import numpy as np
from tqdm import tqdm

from tinykws.atomic import atomic_path
from tinykws.config import BUILD_DIR, CONFIG, AugmentConfig, TinyKwsConfig
from tinykws.data import layout
from tinykws.data.augment import Augmenter, load_noises
from tinykws.data.wav import fit_clip, read_wav
from tinykws.errors import TinyKwsError
from tinykws.features import mfcc
from tinykws.features.corpus import ignore_ctrl_c

BANK_DIR = BUILD_DIR / "train"
_SHARD = 200


@dataclass
class Bank:
    features: np.ndarray  # (N, T, C) int8
    words: np.ndarray  # (N,) str: spoken word, or the silence label
    speakers: np.ndarray  # (N,) str
    sources: np.ndarray  # (N,) "real" / "synth" / "noise"

    def __len__(self) -> int:
        return len(self.features)

    def select(self, rows: np.ndarray) -> Bank:
        return Bank(self.features[rows], self.words[rows], self.speakers[rows], self.sources[rows])


def concat_banks(a: Bank, b: Bank) -> Bank:
    return Bank(*(np.concatenate([getattr(a, f), getattr(b, f)]) for f in ("features", "words", "speakers", "sources")))


def _corpus_hashes(clips: list[layout.Clip]) -> list[str]:
    """The settings hash of each synthetic corpus the clips come from: a corpus remade with other settings (a
    custom word's takes, data/synth.py's remake_stale) has new audio under the same paths."""
    hashes = set()
    for corpus in {c.path.parent.parent for c in clips if c.source == "synth"}:
        try:
            hashes.add(str(json.loads((corpus / "voices.json").read_text()).get("settings_hash")))
        except (OSError, ValueError):
            continue  # not a corpus made by data/synth.py: its paths are all there is
    return sorted(hashes)


def bank_key(clips: list[layout.Clip], cfg: TinyKwsConfig) -> str:
    h = hashlib.sha256(
        json.dumps(
            [
                cfg.feature_hash(),
                cfg.to_dict()["augment"],
                cfg.train.augment_copies,
                cfg.train.silence_clips,
                cfg.train.seed,
                _corpus_hashes(clips),
            ]
        ).encode()
    )
    for c in clips:
        h.update((f"{c.path}\n" if c.offset == 0 else f"{c.path}@{c.offset}\n").encode())
    return h.hexdigest()[:16]


@lru_cache(maxsize=2)
def _noises(noise_roots: tuple[str, ...]) -> list[np.ndarray]:
    # One read per worker process: every shard would otherwise read the same noise recordings again.
    return load_noises([Path(r) for r in noise_roots], "augmentation")


def _augmenter(noise_roots: tuple[str, ...], augment: AugmentConfig = CONFIG.augment) -> Augmenter:
    return Augmenter(_noises(noise_roots), augment)


@lru_cache(maxsize=4)
def _recording(path: str) -> np.ndarray:
    # Windows of one running-speech recording come in a row: read it once, not once per window.
    return read_wav(path)


def read_clip(path: str | os.PathLike, offset: int = 0) -> np.ndarray:
    """A clip's samples at the configured length; `offset` > 0 cuts a window from a longer recording."""
    return fit_clip(_recording(str(path))[offset:] if offset else read_wav(path))


def augmented_audio(
    paths: list[str], offsets: list[int], indices: list[int], noise_roots: list[str], seed: int, copies: int,
    augment: AugmentConfig = CONFIG.augment,
) -> np.ndarray:  # fmt: skip
    """(len(paths) * copies, samples) int16: the augmented copies a bank holds, a pure function of the seeds (and
    of the part's `augment`), so the teacher can hear exactly the audio whose features the student sees."""
    aug = _augmenter(tuple(noise_roots), augment)
    audio = []
    for path, offset, idx in zip(paths, offsets, indices, strict=True):
        clip = read_clip(path, offset)
        for k in range(copies):
            audio.append(aug(clip, np.random.default_rng([seed, 0, idx, k])))
    return np.stack(audio) if audio else np.zeros((0, CONFIG.audio.clip_samples), np.int16)


def silence_audio(start: int, count: int, noise_roots: list[str], seed: int) -> np.ndarray:
    aug = _augmenter(tuple(noise_roots))
    n = CONFIG.audio.clip_samples
    return np.stack([aug.silence(n, np.random.default_rng([seed, 1, start + i])) for i in range(count)])


def _augment_shard(
    paths: list[str], offsets: list[int], indices: list[int], noise_roots: list[str], seed: int, copies: int,
    augment: AugmentConfig,
) -> np.ndarray:  # fmt: skip
    audio = augmented_audio(paths, offsets, indices, noise_roots, seed, copies, augment)
    return mfcc.mfcc(audio).reshape(len(paths), copies, -1, CONFIG.features.num_mfcc)


def _silence_shard(start: int, count: int, noise_roots: list[str], seed: int) -> np.ndarray:
    return mfcc.mfcc(silence_audio(start, count, noise_roots, seed))


def with_train(cfg: TinyKwsConfig, **fields: object) -> TinyKwsConfig:
    """The config with some TrainConfig fields replaced: a bank part's copies, seed or silence count."""
    return dataclasses.replace(cfg, train=dataclasses.replace(cfg.train, **fields))


def bank_shards(clips: list[layout.Clip], cfg: TinyKwsConfig = CONFIG) -> list[tuple]:
    """The work units of a bank, in row order: ("clips", first clip, count) and ("silence", first row, count)."""
    shards = [("clips", s, min(_SHARD, len(clips) - s)) for s in range(0, len(clips), _SHARD)]
    n = cfg.train.silence_clips
    return shards + [("silence", s, min(_SHARD, n - s)) for s in range(0, n, _SHARD)]


def collect(futs: dict[Future, Any], done: Callable[[Any, Any], None]) -> None:
    """Hand each finished shard's tag and result to `done` as it completes. On Ctrl-C or a failed shard, the
    queued shards are dropped rather than computed before stopping; those finished are the callers' to keep."""
    try:
        for f in as_completed(futs):
            done(futs[f], f.result())
    except BaseException:
        for f in futs:
            f.cancel()
        raise


def build_bank(
    clips: list[layout.Clip],
    noise_roots: list[Path],
    cfg: TinyKwsConfig = CONFIG,
    jobs: int | None = None,
    bank_dir: Path = BANK_DIR,
    progress: bool = True,
) -> Bank:
    """Augmented features of every clip (copies each) plus silence examples; cached on disk."""
    key = bank_key(clips, cfg)
    path = bank_dir / f"bank-{key}.npz"
    copies, seed = cfg.train.augment_copies, cfg.train.seed
    if path.exists():
        with np.load(path) as z:
            return Bank(z["features"], z["words"], z["speakers"], z["sources"])
    roots = [str(r) for r in noise_roots]
    shards = bank_shards(clips, cfg)
    parts: list[np.ndarray | None] = [None] * len(shards)  # (rows, T, C) per shard, in bank row order
    with (
        ProcessPoolExecutor(max_workers=jobs or os.cpu_count() or 1, initializer=ignore_ctrl_c) as pool,
        tqdm(
            total=len(clips) + cfg.train.silence_clips,
            unit="clip",
            desc="augmented features",
            file=sys.stderr,
            disable=not progress,
        ) as bar,
    ):
        futs = {}
        for i, (kind, s, cnt) in enumerate(shards):
            if kind == "clips":
                part = clips[s : s + cnt]
                paths, offsets = [str(c.path) for c in part], [c.offset for c in part]
                idx = list(range(s, s + cnt))
                f = pool.submit(_augment_shard, paths, offsets, idx, roots, seed, copies, cfg.augment)
            else:
                f = pool.submit(_silence_shard, s, cnt, roots, seed)
            futs[f] = (i, cnt)

        def done(shard: tuple[int, int], result: np.ndarray) -> None:
            parts[shard[0]] = result.reshape(-1, *result.shape[-2:])  # a clip shard's copies become rows
            bar.update(shard[1])

        collect(futs, done)
    shape = CONFIG.clip_feature_shape()
    n_clip_shards = sum(kind == "clips" for kind, _, _ in shards)
    clip_feats = np.concatenate(parts[:n_clip_shards]) if n_clip_shards else np.zeros((0, *shape), np.int8)
    sil = np.concatenate(parts[n_clip_shards:]) if parts[n_clip_shards:] else np.zeros((0, *shape), np.int8)
    bank = Bank(
        features=np.concatenate([clip_feats, sil]),
        words=np.array([c.word for c in clips for _ in range(copies)] + [CONFIG.labels.silence_label] * len(sil)),
        speakers=np.array([c.speaker for c in clips for _ in range(copies)] + ["noise"] * len(sil)),
        sources=np.array([c.source for c in clips for _ in range(copies)] + ["noise"] * len(sil)),
    )
    with atomic_path(path, suffix=".npz") as tmp:
        with open(tmp, "wb") as f:
            np.savez(f, features=bank.features, words=bank.words, speakers=bank.speakers, sources=bank.sources)
    return bank


def labels_for(words: np.ndarray, task: str) -> np.ndarray:
    return np.array([layout.label_index(w, task) for w in words], dtype=np.int64)


def epoch_indices(bank: Bank, labels: np.ndarray, task: str, epoch: int, cfg: TinyKwsConfig = CONFIG) -> np.ndarray:
    """Bank rows for one epoch: class-balanced (kws12) or with a fixed positive share (yes), real clips
    up-weighted; a pure function of (seed, epoch)."""
    tc = cfg.train
    rng = np.random.default_rng([tc.seed, 1000 + epoch])
    weight = np.where(bank.sources == "real", tc.real_weight, 1.0)
    # Windows of running speech (labelled by the teacher) get a share of their own: among the unknown words
    # they would be a few percent of an epoch, yet they are where a listening device meets false accepts.
    running = bank.sources == "running"
    n_running = int(round(tc.examples_per_epoch * cfg.teacher.running_share)) if running.any() else 0
    weight = np.where(running, 0.0, weight)
    n = tc.examples_per_epoch - n_running
    if task == "kws12":
        num_classes = len(cfg.labels.kws12_labels)
        class_share = np.full(num_classes, 1.0 / num_classes)
    else:
        class_share = np.array([1.0 - tc.yes_positive_share, tc.yes_positive_share])
    picks = []
    for c, share in enumerate(class_share):
        rows = np.nonzero((labels == c) & ~running)[0]
        if len(rows) == 0:
            raise TinyKwsError(f"task {task}: no training examples of class {layout.task_labels(task)[c]}")
        p = weight[rows] / weight[rows].sum()
        picks.append(rng.choice(rows, size=int(round(n * share)), p=p))
    if n_running:
        picks.append(rng.choice(np.nonzero(running)[0], size=n_running))
    idx = np.concatenate(picks)
    rng.shuffle(idx)
    return idx


def clean_features(clips: list[layout.Clip], corpus_npz: Path | None = None) -> np.ndarray:
    """Un-augmented features of clips: from the corpus feature file where it has them, else computed."""
    if corpus_npz is not None and corpus_npz.exists():
        with np.load(corpus_npz) as z:
            if str(z["feature_hash"]) == CONFIG.feature_hash():
                index = {p: i for i, p in enumerate(z["paths"])}
                rows = [index.get(str(c.path)) for c in clips]
                if all(r is not None for r in rows):
                    return z["features"][rows]
    if not clips:
        return np.zeros((0, *CONFIG.clip_feature_shape()), np.int8)
    return mfcc.mfcc(np.stack([read_clip(c.path, c.offset) for c in clips]))
