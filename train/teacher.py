"""The teacher: Google's speech embedding (as openWakeWord ships it) with a small head, for distillation.

Training time only. The embedding was trained on far more people than the 120 real speakers here, so a head
on it trained on the same few real clips generalises to new voices where the 20 KB student alone cannot; the
student learns from its soft outputs (train/trainer.py). Nothing a board user runs (listen, detect, export,
the firmware) imports this module, and `pyopen-wakeword` is only a `[train]` dependency.

Pipeline (openWakeWord's preprocessing, `TeacherConfig`): int16 samples as float32 -> `melspectrogram.tflite`
(32 bands every 10 ms) -> x / 10 + 2 -> windows of 76 frames every 8 -> `embedding_model.tflite` -> 96-d.
A 1 s clip is zero-padded either side first, so it gives 16 embeddings. Embeddings are cached under
build/teacher/ by a hash of the exact audio and the teacher's files, computed in parallel, shard by shard:
a rerun does no work and Ctrl-C keeps every finished shard.
"""

from __future__ import annotations

import contextlib
import hashlib
import importlib.util
import json
import os
import sys
from collections.abc import Callable, Iterator
from concurrent.futures import ProcessPoolExecutor
from functools import lru_cache
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
from tqdm import tqdm

from tinykws.atomic import atomic_path
from tinykws.config import BUILD_DIR, CONFIG, AugmentConfig, TeacherConfig, TinyKwsConfig
from tinykws.data import layout
from tinykws.errors import TinyKwsError
from tinykws.features.corpus import ignore_ctrl_c
from tinykws.train import dataset

if TYPE_CHECKING:
    from torch import nn

CACHE_DIR = BUILD_DIR / "teacher" / "embeddings"
_EMBED_BATCH = 256  # embedding windows per interpreter call (whole clips of them)


def model_files(tc: TeacherConfig = CONFIG.teacher) -> tuple[Path, Path]:
    """(mel model, embedding model) inside the installed pyopen-wakeword wheel; one line if it is missing."""
    spec = importlib.util.find_spec(tc.package)
    hint = f"pip install pyopen-wakeword=={tc.package_version} (the [train] extra: .venv/bin/pip install -e '.[train]')"
    if spec is None or spec.origin is None:
        raise TinyKwsError(f"the teacher needs the {tc.package} package: {hint}")
    folder = Path(spec.origin).parent / "models"
    files = (folder / tc.mel_model, folder / tc.embedding_model)
    for f in files:
        if not f.is_file():
            raise TinyKwsError(f"{f}: missing from the {tc.package} package; reinstall it: {hint}")
    return files


@lru_cache(maxsize=4)
def fingerprint(tc: TeacherConfig = CONFIG.teacher) -> str:
    """Hash of the teacher's model files and preprocessing: a cached embedding is valid only under it."""
    h = hashlib.sha256()
    for f in model_files(tc):
        h.update(hashlib.sha256(f.read_bytes()).digest())
    keys = (
        "mel_chunk_samples",
        "mel_hop_samples",
        "mel_scale",
        "mel_offset",
        "num_mels",
        "window_frames",
        "step_frames",
        "embedding_dim",
        "clip_pad_samples",
    )
    h.update(json.dumps({k: getattr(tc, k) for k in keys}, sort_keys=True).encode())
    return h.hexdigest()[:16]


@contextlib.contextmanager
def _quiet_stderr() -> Iterator[None]:
    """File descriptor 2 to /dev/null for the block: native code's chatter, not Python's, goes there."""
    sys.stderr.flush()
    saved = os.dup(2)
    try:
        with open(os.devnull, "wb") as null:
            os.dup2(null.fileno(), 2)
        yield
    finally:
        os.dup2(saved, 2)
        os.close(saved)


class Embedder:
    """The two tflite models in LiteRT (float; XNNPACK), one thread: parallelism is one process per core."""

    def __init__(self, tc: TeacherConfig = CONFIG.teacher, threads: int = 1) -> None:
        from ai_edge_litert.interpreter import Interpreter

        mel_path, emb_path = model_files(tc)
        self.tc = tc
        with _quiet_stderr():  # LiteRT's C++ side prints an INFO line per interpreter on stderr
            self.mel = Interpreter(model_path=str(mel_path), num_threads=threads)
            self.emb = Interpreter(model_path=str(emb_path), num_threads=threads)
            self.mel.resize_tensor_input(0, [1, tc.mel_chunk_samples])
            self.mel.allocate_tensors()
            self.emb.allocate_tensors()  # (1, 76, 32, 1); resized to whole clips as they come
        self._frames_per_chunk = tc.mel_hop_samples // tc.mel_frame_hop_samples

    def mels(self, audio: np.ndarray) -> np.ndarray:
        """(N, S) int16 -> (N, frames, 32) float32, already scaled as the embedding model wants.

        The mel model clamps its log to 80 dB below the loudest value of its input, so its output depends on
        how the audio is cut: openWakeWord feeds it `mel_chunk_samples` at a time every `mel_hop_samples`
        (8 frames each), and so does this."""
        tc = self.tc
        x = np.ascontiguousarray(audio, dtype=np.float32)
        starts = range(0, x.shape[1] - tc.mel_chunk_samples + 1, tc.mel_hop_samples)
        out = np.empty((len(x), len(starts) * self._frames_per_chunk, tc.num_mels), np.float32)
        inp, outp = self.mel.get_input_details()[0]["index"], self.mel.get_output_details()[0]["index"]
        # One chunk per call: with a batch the model's 80 dB floor would follow the loudest chunk of the batch.
        for i, row in enumerate(x):
            for j, s in enumerate(starts):
                self.mel.set_tensor(inp, row[None, s : s + tc.mel_chunk_samples])
                self.mel.invoke()
                f = self._frames_per_chunk
                out[i, j * f : (j + 1) * f] = self.mel.get_tensor(outp)[0, 0]
        return out * np.float32(tc.mel_scale) + np.float32(tc.mel_offset)

    def embed_mels(self, mels: np.ndarray) -> np.ndarray:
        """(N, frames, 32) -> (N, windows, 96): one embedding per `window_frames` frames, every `step_frames`.

        The embedding model is convolutional with a time stride of `step_frames`: given a whole clip's frames
        it returns every window's embedding at once, equal bit for bit to the windows fed one by one
        (tested), and 5x faster because neighbouring windows share 68 of their 76 frames."""
        tc = self.tc
        n, frames, _ = mels.shape
        windows = max(0, (frames - tc.window_frames) // tc.step_frames + 1)
        out = np.empty((n, windows, tc.embedding_dim), np.float32)
        if windows == 0 or n == 0:
            return out
        used = tc.window_frames + (windows - 1) * tc.step_frames  # frames past the last window change nothing
        x = np.ascontiguousarray(mels[:, :used, :, None], dtype=np.float32)
        inp, outp = self.emb.get_input_details()[0]["index"], self.emb.get_output_details()[0]["index"]
        rows = max(1, _EMBED_BATCH // windows)
        for i in range(0, n, rows):
            part = x[i : i + rows]
            if tuple(self.emb.get_input_details()[0]["shape"]) != part.shape:
                self.emb.resize_tensor_input(inp, list(part.shape))
                self.emb.allocate_tensors()
            self.emb.set_tensor(inp, part)
            self.emb.invoke()
            out[i : i + len(part)] = self.emb.get_tensor(outp).reshape(len(part), windows, tc.embedding_dim)
        return out

    def embed(self, audio: np.ndarray, pad: bool = True) -> np.ndarray:
        """(N, S) int16 clips -> (N, windows, 96) float32 embeddings; `pad` adds the config's zeros either side."""
        audio = np.atleast_2d(audio)
        if pad:
            p = self.tc.clip_pad_samples
            audio = np.pad(audio, ((0, 0), (p, p)))
        return self.embed_mels(self.mels(audio))


@lru_cache(maxsize=1)
def shared_embedder() -> Embedder:
    """This process's one Embedder (loading the two models costs more than a small batch: one per worker)."""
    return Embedder()


class EmbeddingCache:
    """Embeddings of an audio array, stored under a hash of its exact samples and of the teacher."""

    def __init__(self, root: Path = CACHE_DIR, tc: TeacherConfig = CONFIG.teacher) -> None:
        self.root, self.tc = Path(root), tc
        self.hits = self.misses = 0

    def key(self, audio: np.ndarray) -> str:
        h = hashlib.sha256(fingerprint(self.tc).encode())
        h.update(repr(audio.shape).encode())
        h.update(np.ascontiguousarray(audio, dtype="<i2").tobytes())
        return h.hexdigest()[:32]

    def path(self, audio: np.ndarray) -> Path:
        k = self.key(audio)
        return self.root / k[:2] / f"{k}.npy"

    def get(self, audio: np.ndarray) -> np.ndarray | None:
        path = self.path(audio)
        try:
            emb = np.load(path)
        except (OSError, ValueError):  # absent, or damaged by something outside tinykws: computed again
            return None
        if emb.ndim != 3 or emb.shape[0] != len(audio) or emb.shape[2] != self.tc.embedding_dim:
            return None
        return emb

    def embed(self, audio: np.ndarray, embedder: Embedder | None = None) -> np.ndarray:
        """float16 (N, windows, 96) of `audio`, from the cache or computed and stored."""
        emb = self.get(audio)
        if emb is not None:
            self.hits += 1
            return emb
        self.misses += 1
        emb = (embedder or shared_embedder()).embed(audio).astype(np.float16)
        with atomic_path(self.path(audio), suffix=".npy") as tmp:
            with open(tmp, "wb") as f:
                np.save(f, emb)
        return emb


def _embed_shard(
    kind: str, start: int, paths: list[str], offsets: list[int], noise_roots: list[str], seed: int, copies: int,
    augment: bool, cache_dir: str, count: int, augment_cfg: AugmentConfig,
) -> np.ndarray:  # fmt: skip
    if kind == "silence":
        audio = dataset.silence_audio(start, count, noise_roots, seed)
    elif augment:
        indices = list(range(start, start + count))
        audio = dataset.augmented_audio(paths, offsets, indices, noise_roots, seed, copies, augment_cfg)
    else:
        audio = np.stack([dataset.read_clip(p, o) for p, o in zip(paths, offsets, strict=True)])
    return EmbeddingCache(Path(cache_dir)).embed(audio)


def embeddings(
    clips: list[layout.Clip],
    noise_roots: list[Path],
    cfg: TinyKwsConfig = CONFIG,
    augment: bool = True,
    jobs: int | None = None,
    cache_dir: Path = CACHE_DIR,
    progress: bool = True,
    desc: str = "teacher embeddings",
) -> np.ndarray:
    """Teacher embeddings in the row order of `dataset.build_bank(clips, noise_roots, cfg)` (augment=True:
    every augmented copy, then the silence rows), or of the clean clips (augment=False), float16."""
    fingerprint(cfg.teacher)  # a missing teacher package is one line here, not a traceback in every worker
    copies, seed = cfg.train.augment_copies, cfg.train.seed
    shards = dataset.bank_shards(clips, cfg if augment else dataset.with_train(cfg, silence_clips=0))
    rows_per_clip = copies if augment else 1
    parts: list[np.ndarray | None] = [None] * len(shards)
    roots = [str(r) for r in noise_roots]
    total = sum(cnt * (rows_per_clip if kind == "clips" else 1) for kind, _, cnt in shards)
    with (
        ProcessPoolExecutor(max_workers=jobs or os.cpu_count() or 1, initializer=ignore_ctrl_c) as pool,
        tqdm(total=total, unit="clip", desc=desc, file=sys.stderr, disable=not progress) as bar,
    ):
        futs = {}
        for i, (kind, s, cnt) in enumerate(shards):
            part = clips[s : s + cnt] if kind == "clips" else []
            args = (kind, s, [str(c.path) for c in part], [c.offset for c in part], roots, seed, copies, augment)
            rows = cnt * (rows_per_clip if part else 1)
            futs[pool.submit(_embed_shard, *args, str(cache_dir), cnt, cfg.augment)] = (i, rows)

        def done(shard: tuple[int, int], result: np.ndarray) -> None:
            parts[shard[0]] = result
            bar.update(shard[1])

        # Ctrl-C: the finished shards are already in the cache; the queued ones are dropped.
        dataset.collect(futs, done)
    if not parts:
        return np.zeros((0, 0, cfg.teacher.embedding_dim), np.float16)
    return np.concatenate(parts)


# --- the head -------------------------------------------------------------------------------------------------


def make_head(windows: int, num_classes: int, tc: TeacherConfig = CONFIG.teacher) -> nn.Module:
    """openWakeWord's head shape on (B, windows, 96) embeddings: flatten -> 128 -> 128 -> classes (~214 K
    floats for 16 windows); a LayerNorm first because the embedding's scale varies by dimension."""
    from torch import nn

    d = windows * tc.embedding_dim
    return nn.Sequential(
        nn.Flatten(),
        nn.LayerNorm(d),
        nn.Linear(d, tc.head_hidden),
        nn.ReLU(),
        nn.Dropout(tc.head_dropout),
        nn.Linear(tc.head_hidden, tc.head_hidden),
        nn.ReLU(),
        nn.Dropout(tc.head_dropout),
        nn.Linear(tc.head_hidden, num_classes),
    )


def train_head(
    emb: np.ndarray,
    labels: np.ndarray,
    epoch_rows: Callable[[int], np.ndarray],
    num_classes: int,
    cfg: TinyKwsConfig = CONFIG,
    progress: bool = True,
) -> nn.Module:
    """A head trained on embedding rows: `epoch_rows(epoch)` gives an epoch's (class-balanced) row indices, the
    same sampler the student uses. Deterministic for a given seed: a resumed run gets the same teacher."""
    import torch

    from tinykws.train.trainer import torch_threads

    torch.set_num_threads(torch_threads())  # a tiny network: more threads only wait on each other
    tc = cfg.teacher
    torch.manual_seed(tc.seed)
    head = make_head(emb.shape[1], num_classes, tc)
    opt = torch.optim.AdamW(head.parameters(), lr=tc.head_learning_rate, weight_decay=tc.head_weight_decay)
    loss_fn = torch.nn.CrossEntropyLoss(label_smoothing=cfg.train.label_smoothing)
    bs = cfg.train.batch_size
    steps = tc.head_epochs * (cfg.train.examples_per_epoch // bs)
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=tc.head_learning_rate, total_steps=steps, pct_start=0.1)
    head.train()
    with tqdm(total=steps, unit="step", desc="teacher head", file=sys.stderr, disable=not progress) as bar:
        for epoch in range(tc.head_epochs):
            idx = epoch_rows(epoch)
            for b in range(cfg.train.examples_per_epoch // bs):
                rows = idx[b * bs : (b + 1) * bs]
                x = torch.from_numpy(emb[rows].astype(np.float32))
                loss = loss_fn(head(x), torch.from_numpy(labels[rows]))
                opt.zero_grad()
                loss.backward()
                opt.step()
                sched.step()
                bar.update(1)
    head.eval()
    return head


def head_logits(head: nn.Module, emb: np.ndarray, batch: int = 4096) -> np.ndarray:
    """The head's logits of embedding rows, float32 (N, classes)."""
    import torch

    out = []
    with torch.no_grad():
        for i in range(0, len(emb), batch):
            out.append(head(torch.from_numpy(emb[i : i + batch].astype(np.float32))).numpy())
    return np.concatenate(out) if out else np.zeros((0, 0), np.float32)


def load_head(path: Path, task: str | None = None) -> tuple[nn.Module, tuple[str, ...]]:
    """A teacher head saved by the trainer (`teacher_head.pt`) in eval mode, and its labels; one line if the file
    is not one, or (with `task`) is another task's."""
    import torch

    if not Path(path).exists():
        raise TinyKwsError(f"{path}: no teacher head; `tinykws train` writes one into its run folder")
    try:
        state = torch.load(path, weights_only=False)
        head = make_head(state["windows"], len(state["labels"]))
        head.load_state_dict(state["state"])
    except Exception as e:
        raise TinyKwsError(f"{path}: not a teacher head ({type(e).__name__})") from None
    labels = tuple(state["labels"])
    if task is not None and labels != layout.task_labels(task):
        raise TinyKwsError(f"{path}: head is for labels {list(labels)}, not task {task}")
    head.eval()
    return head, labels


# --- the teacher on a stream, as openWakeWord runs it live ------------------------------------------------------


def stream_embedding_count(num_samples: int, tc: TeacherConfig = CONFIG.teacher) -> int:
    """How many embeddings a stream of `num_samples` gives (whole mel chunks, whole embedding windows)."""
    chunks = max(0, (num_samples - tc.mel_chunk_samples) // tc.mel_hop_samples + 1)
    frames = chunks * (tc.mel_hop_samples // tc.mel_frame_hop_samples)
    return max(0, (frames - tc.window_frames) // tc.step_frames + 1)


def stream_embeddings(
    embedder: Embedder,
    audio: np.ndarray,
    first: int = 0,
    count: int | None = None,
    windows_per_call: int = _EMBED_BATCH,
) -> np.ndarray:
    """(count, 96): embeddings first .. first + count - 1 of a long int16 stream, as openWakeWord computes them
    live (a mel chunk every `mel_hop_samples` from sample 0, an embedding every `step_frames` frames), from only
    the samples they need, so a long stream can be split across processes and joined exactly (tested). A clip
    padded as `embed` pads it and placed at a multiple of `mel_hop_samples` gives the same embeddings inside a
    stream as alone (tested)."""
    tc = embedder.tc
    if tc.step_frames * tc.mel_frame_hop_samples != tc.mel_hop_samples:
        raise ValueError("stream embeddings assume one embedding step per mel chunk")
    total = stream_embedding_count(len(audio), tc)
    count = total - first if count is None else count
    if not 0 <= first <= first + count <= total:
        raise ValueError(f"embeddings {first} .. {first + count} of a stream that has {total}")
    if count == 0:
        return np.zeros((0, tc.embedding_dim), np.float32)
    # Embedding j reads the mel frames of chunks j .. j + 9: samples from j * hop on (step_frames = one chunk).
    start = first * tc.mel_hop_samples
    end = int(window_ready_sample(first + count - 1, 1, tc))
    mels = embedder.mels(np.asarray(audio[start:end], np.int16)[None])[0]
    out = np.empty((count, tc.embedding_dim), np.float32)
    for s in range(0, count, windows_per_call):
        k = min(windows_per_call, count - s)
        seg = mels[s * tc.step_frames : s * tc.step_frames + tc.window_frames + (k - 1) * tc.step_frames]
        out[s : s + k] = embedder.embed_mels(seg[None])[0]
    return out


def stream_window_logits(head: nn.Module, emb: np.ndarray, windows: int, batch: int = 4096) -> np.ndarray:
    """(W - windows + 1, classes) float32: the head on every run of `windows` consecutive stream embeddings."""
    if len(emb) < windows:
        return np.zeros((0, 0), np.float32)
    runs = np.lib.stride_tricks.sliding_window_view(emb, (windows, emb.shape[1]))[:, 0]
    return head_logits(head, runs, batch)


def window_ready_sample(i: int | np.ndarray, windows: int, tc: TeacherConfig = CONFIG.teacher) -> int | np.ndarray:
    """Stream sample at which the head's output `i` (embeddings i .. i + windows - 1) can first be computed: the
    end of the mel chunk that holds the last frame of its last embedding."""
    last_frame = (np.asarray(i) + windows - 1) * tc.step_frames + tc.window_frames - 1
    chunk = last_frame // (tc.mel_hop_samples // tc.mel_frame_hop_samples)
    return chunk * tc.mel_hop_samples + tc.mel_chunk_samples


def hop_logits(
    window_logits: np.ndarray,
    windows: int,
    hop_end_samples: np.ndarray,
    keywords: np.ndarray,
    scale: float,
    tc: TeacherConfig = CONFIG.teacher,
) -> np.ndarray:
    """The teacher's outputs as the student's per-hop int8 logits, so the student's detector and scoring replay
    them unchanged: at each hop (ending at `hop_end_samples`), the newest output, `round(logit * scale)` clipped to
    int8. Each output is dated `clip_pad_samples` before it is ready: the head learnt 1 s clips followed by that
    much padding, so this is when a clip-sized window holding the word ends, the time the student's own window
    would fire. Before the first output the keywords get -128 and the rest 127 (nothing fires)."""
    dated = window_ready_sample(np.arange(len(window_logits)), windows, tc) - tc.clip_pad_samples
    return held_hop_logits(window_logits, dated, hop_end_samples, keywords, scale)


def held_hop_logits(
    logits: np.ndarray, dated: np.ndarray, hop_end_samples: np.ndarray, keywords: np.ndarray, scale: float
) -> np.ndarray:
    """(len(hop_end_samples), classes) int8: at each hop, the newest of `logits` dated (increasing stream samples
    `dated`) at or before the hop's end, `round(logit * scale)` clipped to int8; before the first, the keywords
    get -128 and the rest 127 (nothing fires)."""
    newest = np.searchsorted(dated, hop_end_samples, side="right") - 1
    q = np.clip(np.rint(logits.astype(np.float64) * scale), -128, 127).astype(np.int8)
    out = np.where(keywords, np.int8(-128), np.int8(127))[None].repeat(len(hop_end_samples), axis=0)
    got = newest >= 0
    out[got] = q[newest[got]]
    return out
