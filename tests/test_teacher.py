"""The teacher (openWakeWord's speech embedding + a head) and the distillation loss.

The embedding pipeline must equal the package's own streaming feature code on real clips; the embedding cache
must hit, miss and invalidate on the right things; the loss is checked against numbers worked out by hand; the
commands a board user runs must work with the teacher's package absent.
"""

import dataclasses
import math
import subprocess
import sys
import textwrap

import numpy as np
import pytest
import torch

from tinykws.config import CONFIG
from tinykws.data import layout
from tinykws.data.wav import read_wav, write_wav
from tinykws.errors import TinyKwsError
from tinykws.train import dataset, teacher
from tinykws.train.distill import distillation_loss


@pytest.fixture(scope="module")
def embedder():
    return teacher.Embedder()


def _package_embeddings(x: np.ndarray) -> np.ndarray:
    """openWakeWord's own streaming features (pyopen_wakeword, its bundled TFLite C library): 80 ms chunks,
    after its 8 s of zeros."""
    from pyopen_wakeword import OpenWakeWordFeatures

    ref = OpenWakeWordFeatures.from_builtin()
    out = [e[0, 0] for i in range(0, len(x), 1280) for e in ref.process_streaming(x[i : i + 1280].tobytes())]
    return np.concatenate(out)


@pytest.mark.parametrize("word", ["yes", "left", "_unknown_"])
def test_embeddings_equal_the_packages_own_feature_code(real_dir, embedder, word):
    wav = sorted((real_dir / word).glob("*.wav"))[3]
    x = read_wav(wav)
    x = np.concatenate([x, np.zeros(-len(x) % 1280, np.int16)])  # the package takes whole 80 ms chunks
    ref = _package_embeddings(x)
    # The package starts from 8 s of zeros; the same audio through this pipeline, without the clip padding.
    ours = embedder.embed(np.concatenate([np.zeros(8 * 16000, np.int16), x])[None], pad=False)[0]
    assert len(ref) > 80 and ours.shape[1] == CONFIG.teacher.embedding_dim
    ours = ours[-len(ref) :]
    # Both are float TFLite runs of the same graphs (XNNPACK here, the package's own library there): equal up
    # to float32 summation order, far below the embedding's spread.
    assert np.abs(ours - ref).max() < 1e-3 * np.abs(ref).max(), np.abs(ours - ref).max()


def test_a_padded_clip_gives_sixteen_embeddings(real_clip, embedder):
    emb = embedder.embed(real_clip[None])
    assert emb.shape == (1, 16, 96)
    # Batched clips equal clips one at a time: no state leaks between rows.
    two = embedder.embed(np.stack([real_clip, real_clip[::-1].copy()]))
    assert np.array_equal(two[0], emb[0])


def test_whole_clip_embeddings_equal_windows_fed_one_by_one(real_clip, embedder):
    """The fast path feeds the model all of a clip's frames at once; the model's own contract is one 76-frame
    window per call, as openWakeWord feeds it."""
    from ai_edge_litert.interpreter import Interpreter

    tc = CONFIG.teacher
    clips = np.stack([real_clip, real_clip[::-1].copy(), real_clip // 3])
    p = tc.clip_pad_samples
    mels = embedder.mels(np.pad(clips, ((0, 0), (p, p))))
    one = Interpreter(model_path=str(teacher.model_files()[1]), num_threads=1)
    one.allocate_tensors()
    inp, outp = one.get_input_details()[0]["index"], one.get_output_details()[0]["index"]
    for frames in (mels.shape[1], mels.shape[1] - 5, tc.window_frames + 3 * tc.step_frames + 1):
        fast = embedder.embed_mels(mels[:, :frames])
        windows = (frames - tc.window_frames) // tc.step_frames + 1
        assert fast.shape == (len(clips), windows, tc.embedding_dim)
        for i in range(len(clips)):
            for w in range(windows):
                s = w * tc.step_frames
                one.set_tensor(inp, np.ascontiguousarray(mels[i : i + 1, s : s + tc.window_frames, :, None]))
                one.invoke()
                assert np.array_equal(fast[i, w], one.get_tensor(outp).ravel()), (frames, i, w)


def test_a_clip_inside_a_stream_gives_its_own_embeddings_dated_at_its_end(real_clip, embedder):
    """The streamed teacher (bench/teacher_stream.py) runs as openWakeWord does live: a clip padded as for
    training and placed on the 80 ms chunk grid of a stream gets exactly its clip embeddings there, whatever
    surrounds it, and the head's output on them is dated at the clip's last sample, where the student's own
    1 s window would fire."""
    tc = CONFIG.teacher
    p, k = tc.clip_pad_samples, 5
    rng = np.random.default_rng(3)
    stream = rng.integers(-2000, 2000, k * tc.mel_hop_samples + len(real_clip) + 2 * p + 7000).astype(np.int16)
    stream[k * tc.mel_hop_samples : k * tc.mel_hop_samples + len(real_clip) + 2 * p] = np.pad(real_clip, (p, p))
    whole = teacher.stream_embeddings(embedder, stream)
    assert len(whole) == teacher.stream_embedding_count(len(stream))
    assert np.array_equal(whole[k : k + 16], embedder.embed(real_clip[None])[0])
    # Split anywhere, computed from only the samples each part needs, and joined: the same embeddings.
    parts = [teacher.stream_embeddings(embedder, stream, a, b - a) for a, b in ((0, 3), (3, 11), (11, len(whole)))]
    assert np.array_equal(np.concatenate(parts), whole)
    with pytest.raises(ValueError):
        teacher.stream_embeddings(embedder, stream, 2, len(whole))

    # Window i covers embeddings i .. i + 15; window k is the clip's, dated at the clip's end.
    windows = 16
    clip_end = k * tc.mel_hop_samples + p + len(real_clip)
    assert teacher.window_ready_sample(k, windows) - p == clip_end
    logits = np.stack([np.arange(len(whole) - windows + 1) * 0.25, -np.arange(len(whole) - windows + 1) * 0.5], 1)
    ends = np.array([clip_end - 1, clip_end, clip_end + 1279, clip_end + 1280, 10])
    got = teacher.hop_logits(logits, windows, ends, np.array([False, True]), scale=16.0)
    assert got.dtype == np.int8
    # Before the clip's window is dated, the one before it; from its end, its own; 80 ms later, the next one.
    assert got[:4, 0].tolist() == [(k - 1) * 4, k * 4, k * 4, (k + 1) * 4]
    assert got[:4, 1].tolist() == [-(k - 1) * 8, -k * 8, -k * 8, -(k + 1) * 8]
    assert got[4].tolist() == [127, -128]  # no output yet: the keyword cannot fire
    big = teacher.hop_logits(logits * 100, windows, ends[:1], np.array([False, True]), scale=16.0)
    assert big[0].tolist() == [127, -128]  # clipped to int8


def test_cache_hit_miss_and_invalidation(tmp_path, real_clip, monkeypatch):
    calls = []
    real_embed = teacher.Embedder.embed

    def counting(self, audio, pad=True):
        calls.append(len(audio))
        return real_embed(self, audio, pad)

    monkeypatch.setattr(teacher.Embedder, "embed", counting)
    audio = np.stack([real_clip, real_clip // 2])
    cache = teacher.EmbeddingCache(tmp_path)
    first = cache.embed(audio)
    assert (cache.hits, cache.misses, calls) == (0, 1, [2])
    assert first.dtype == np.float16 and first.shape == (2, 16, 96)
    again = cache.embed(audio)
    assert (cache.hits, cache.misses, calls) == (1, 1, [2]) and np.array_equal(first, again)
    # One sample changed: another key, computed again.
    other = audio.copy()
    other[1, 5000] += 1
    cache.embed(other)
    assert (cache.hits, cache.misses) == (1, 2)
    # Another teacher preprocessing (the padding): the old entry is not valid for it.
    tc = dataclasses.replace(CONFIG.teacher, clip_pad_samples=CONFIG.teacher.clip_pad_samples - 1280)
    assert teacher.EmbeddingCache(tmp_path, tc).key(audio) != cache.key(audio)
    # A damaged file is recomputed, not trusted.
    cache.path(audio).write_bytes(b"not an array")
    fresh = teacher.EmbeddingCache(tmp_path)
    assert np.array_equal(fresh.embed(audio), first) and fresh.misses == 1


def test_bank_embeddings_follow_the_bank_rows_and_rerun_from_cache(tiny_data, tmp_path):
    cfg = dataclasses.replace(CONFIG, train=dataclasses.replace(CONFIG.train, augment_copies=2, silence_clips=3))
    clips = [c for c in layout.scan(tiny_data) if c.word in ("yes", "no")][:5]
    emb = teacher.embeddings(clips, [tiny_data], cfg, jobs=2, cache_dir=tmp_path, progress=False)
    assert emb.shape == (5 * 2 + 3, 16, 96)
    # Row 3 is clip 1's second augmented copy: the same audio the feature bank featurises.
    roots = [str(tiny_data)]
    audio = dataset.augmented_audio([str(clips[1].path)], [0], [1], roots, cfg.train.seed, 2)
    assert np.array_equal(emb[3], teacher.EmbeddingCache(tmp_path).embed(audio)[1])
    silence = dataset.silence_audio(0, 3, roots, cfg.train.seed)
    assert np.array_equal(emb[10:], teacher.EmbeddingCache(tmp_path).embed(silence))
    files = sorted(tmp_path.rglob("*.npy"))
    mtimes = [f.stat().st_mtime_ns for f in files]
    again = teacher.embeddings(clips, [tiny_data], cfg, jobs=2, cache_dir=tmp_path, progress=False)
    assert np.array_equal(again, emb)
    assert [f.stat().st_mtime_ns for f in sorted(tmp_path.rglob("*.npy"))] == mtimes  # nothing recomputed


def test_distillation_loss_by_hand():
    # Two examples, two classes; T = 2, a = 0.5, no label smoothing.
    s = torch.tensor([[2.0, 0.0], [0.0, 0.0]])
    t = torch.tensor([[0.0, 2.0], [4.0, 0.0]])
    y = torch.tensor([0, 1])
    w = torch.tensor([1.0, 0.0])  # the second example's hard label is not trusted
    # Hard: CE of example 1 = log(1 + e^-2); example 2 weighted out; mean over the batch of 2.
    hard = math.log(1 + math.exp(-2)) / 2

    def softmax(a, b):
        return [math.exp(a) / (math.exp(a) + math.exp(b)), math.exp(b) / (math.exp(a) + math.exp(b))]

    def kl(p, q):
        return sum(pi * math.log(pi / qi) for pi, qi in zip(p, q, strict=True))

    # Soft at T = 2: student (1, 0) and (0, 0), teacher (0, 1) and (2, 0); KL(teacher || student), batch mean.
    soft = (kl(softmax(0, 1), softmax(1, 0)) + kl(softmax(2, 0), softmax(0, 0))) / 2
    want = 0.5 * hard + 0.5 * 4 * soft
    got = distillation_loss(s, y, t, w, temperature=2.0, soft_weight=0.5)
    assert got.item() == pytest.approx(want, rel=1e-6)
    # a = 0 is plain (weighted) cross-entropy; a = 1 ignores the labels.
    assert distillation_loss(s, y, t, w, 2.0, 0.0).item() == pytest.approx(hard, rel=1e-6)
    assert distillation_loss(s, 1 - y, t, w, 2.0, 1.0).item() == pytest.approx(4 * soft, rel=1e-6)
    # A student equal to its teacher has no soft loss.
    assert distillation_loss(t, y, t, torch.zeros(2), 3.0, 1.0).item() == pytest.approx(0.0, abs=1e-7)


def test_board_commands_never_import_the_teacher(tmp_path, real_dir):
    """listen, detect, export and the firmware build with pyopen-wakeword, LiteRT and the teacher module made
    unimportable: they must not need them."""
    wav = sorted((real_dir / "yes").glob("*.wav"))[0]
    script = textwrap.dedent(
        f"""
        import importlib.abc, sys
        BLOCKED = ("pyopen_wakeword", "ai_edge_litert", "tinykws.train.teacher")

        class Block(importlib.abc.MetaPathFinder):
            def find_spec(self, name, path=None, target=None):
                if name.startswith(BLOCKED):
                    raise ImportError("blocked: " + name)

        sys.meta_path.insert(0, Block())
        import tinykws.firmware.listen, tinykws.firmware.board, tinykws.deploy.export  # noqa: F401
        from tinykws.cli import main
        assert main(["detect", "--task", "yes", "--engine", "python", {str(wav)!r}, "--jsonl"]) == 0
        assert main(["export", "--task", "yes", "--c-dir", {str(tmp_path / "c")!r}]) == 0
        assert not any(m.startswith(BLOCKED) for m in sys.modules)
        print("ok")
        """
    )
    r = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=300)
    assert r.returncode == 0 and r.stdout.strip().endswith("ok"), r.stderr[-3000:]


def test_missing_teacher_package_is_one_line(monkeypatch):
    monkeypatch.setattr(teacher.importlib.util, "find_spec", lambda name: None)
    with pytest.raises(teacher.TinyKwsError, match="pyopen-wakeword==1.1.0"):
        teacher.model_files(dataclasses.replace(CONFIG.teacher, package_version="1.1.0"))


def test_training_with_the_teacher_uses_its_soft_labels_and_caches_them(tiny_data, tmp_path, monkeypatch, real_dir):
    from test_train import TINY

    from tinykws.train.trainer import Run

    running = tmp_path / "librispeech"
    running.mkdir()
    for wav in sorted((real_dir.parent / "librispeech").glob("*.wav"))[:6]:
        (running / wav.name).symlink_to(wav)
    cfg = dataclasses.replace(
        TINY, teacher=dataclasses.replace(TINY.teacher, extra_real_copies=1, running_copies=1, head_epochs=2)
    )

    def make_run():
        return Run(
            "kws12", tmp_path / "run", [tiny_data], cfg=cfg, bank_dir=tmp_path / "bank", progress=False,
            teacher=True, transfer=("real", "running"), running_root=running,
        )  # fmt: skip

    run = make_run()
    run.prepare_data()
    n = len(run.bank)
    assert run.soft.shape == (n, 12) and run.soft.dtype == np.float32
    is_running = run.bank.sources == "running"
    assert 0 < is_running.sum() < n
    # Running speech is the teacher's to label; every other row keeps its hard label.
    assert np.array_equal(run.hard_weight == 0, is_running)
    # Each epoch gives running speech its own share.
    rows = dataset.epoch_indices(run.bank, run.bank_labels, "kws12", 0, cfg)
    assert np.mean(is_running[rows]) == pytest.approx(cfg.teacher.running_share, abs=0.02)
    assert (tmp_path / "run" / "teacher_head.pt").exists() and "val_real" in run.teacher_report
    # A second preparation reuses the cached soft labels: no head is trained again.
    monkeypatch.setattr(teacher, "train_head", lambda *a, **k: pytest.fail("head trained again"))
    again = make_run()
    again.prepare_data()
    assert np.array_equal(again.soft, run.soft)
    result = again.train(resume=False, progress=False)
    report = again.finish(result)
    assert report["recipe"] == {"teacher": True, "transfer": ["real", "running"], "seed": cfg.train.seed}
    assert report["teacher"]["val_real"]["n"] == report["val_real"]["int8"]["n"]


def test_stream_views_are_shifted_quieter_copies_the_teacher_alone_labels(tiny_data, tmp_path, monkeypatch):
    from test_train import TINY

    from tinykws.data.augment import rms
    from tinykws.train.trainer import Run

    cfg = dataclasses.replace(TINY, teacher=dataclasses.replace(TINY.teacher, stream_copies=2, head_epochs=2))
    head_rows = []
    real_train_head = teacher.train_head
    monkeypatch.setattr(teacher, "train_head", lambda emb, *a, **k: head_rows.append(len(emb)) or real_train_head(
        emb, *a, **k))  # fmt: skip
    run = Run("yes", tmp_path / "run", [tiny_data], cfg=cfg, bank_dir=tmp_path / "bank", progress=False,
              teacher=True, transfer=("stream",))  # fmt: skip
    run.prepare_data()
    real_train = [c for c in layout.scan(tiny_data) if c.split == "train" and c.source == "real"]
    views = run.teacher_part_rows
    assert views.sum() == len(real_train) * 2 == run.data_description["stream_views"]
    assert np.all(views[-views.sum() :]), "the views are the last part of the bank"
    # A view may have cut its word: its hard label carries no weight, and the teacher's head never learns from it.
    assert np.array_equal(run.hard_weight == 0, views)
    assert head_rows == [len(run.bank) - views.sum()]
    # The views are the part's own augmentation: shifted further and quieter than the main bank's copies.
    part_clips, part_cfg = run.parts[-1]
    assert part_cfg.augment.time_shift_ms == cfg.teacher.stream_shift_ms > cfg.augment.time_shift_ms
    paths, offsets = [str(c.path) for c in part_clips], [c.offset for c in part_clips]
    roots = [str(tiny_data)]
    idx = list(range(len(paths)))
    quiet = dataset.augmented_audio(paths, offsets, idx, roots, 1, 1, part_cfg.augment)
    usual = dataset.augmented_audio(paths, offsets, idx, roots, 1, 1, cfg.augment)
    level = 20 * np.log10(np.mean([rms(q) for q in quiet]) / np.mean([rms(u) for u in usual]))
    assert level < -6, level


def _prepared_yes_run(tiny_data, tmp_path, monkeypatch, kw: dict):
    """A prepared "yes" run, and the row counts the teacher head was trained on."""
    from tinykws.train.trainer import Run

    head_rows = []
    real_train_head = teacher.train_head
    monkeypatch.setattr(teacher, "train_head", lambda emb, *a, **k: head_rows.append(len(emb)) or real_train_head(
        emb, *a, **k))  # fmt: skip
    run = Run("yes", tmp_path / "run", [tiny_data], **kw)
    run.prepare_data()
    return run, head_rows


def test_mined_windows_are_labelled_by_the_teacher_alone(tiny_data, tmp_path, monkeypatch):
    """`--transfer ...,mined` reads the windows bench/mine_windows.py wrote; their folder ("yes" / "not_yes") only
    steers the sampler: a window around a wake word may hold part of it, so the hard label carries no weight and
    the teacher head never trains on them. Without mined windows the part is one clear error."""
    from test_train import TINY

    from tinykws.train import trainer
    from tinykws.train.trainer import Run

    cfg = dataclasses.replace(TINY, teacher=dataclasses.replace(TINY.teacher, head_epochs=2))
    monkeypatch.setattr(trainer, "MINED_DIR", tmp_path / "mined")
    kw = dict(cfg=cfg, bank_dir=tmp_path / "bank", progress=False, teacher=True, transfer=("mined",))
    with pytest.raises(TinyKwsError, match="no windows in"):
        Run("yes", tmp_path / "run0", [tiny_data], **kw).prepare_data()

    sources = [c.path for c in layout.scan(tiny_data) if c.split == "validation"][:5]
    for i, src in enumerate(sources):
        write_wav(tmp_path / "mined" / "yes" / ("yes" if i < 2 else "not_yes") / f"h0_nohash_{i}.wav", read_wav(src))
    run, head_rows = _prepared_yes_run(tiny_data, tmp_path, monkeypatch, kw)
    mined = run.teacher_part_rows
    assert mined.sum() == len(sources) == run.data_description["mined_windows"]
    assert np.all(mined[-len(sources) :]), "the windows are the last part of the bank"
    assert sorted(run.bank_labels[mined].tolist()) == [0, 0, 0, 1, 1]  # the folder's class, for the sampler
    assert np.array_equal(run.hard_weight == 0, mined)
    assert head_rows == [len(run.bank) - len(sources)]


def test_stream_windows_are_labelled_by_the_teacher_alone(tiny_data, tmp_path, monkeypatch):
    """`--transfer ...,windows` cuts windows from streams of the real training clips (data/stream_windows.py):
    the last part of the bank, the teacher alone labels them and its head never trains on them. kws12 (no wake
    word) refuses the part; a word learnt from text streams its takes (tests/test_train.py)."""
    from test_train import TINY

    from tinykws.data import stream_windows as sw
    from tinykws.train.trainer import Run

    tc = dataclasses.replace(TINY.teacher, head_epochs=2, windows_negatives=6, windows_hours=0.01,
                             windows_every_hops=256)  # fmt: skip
    cfg = dataclasses.replace(TINY, teacher=tc)
    monkeypatch.setattr(sw, "WINDOWS_DIR", tmp_path / "windows")
    kw = dict(cfg=cfg, bank_dir=tmp_path / "bank", progress=False, teacher=True, transfer=("windows",))
    with pytest.raises(TinyKwsError, match="--transfer windows: .* kws12 has none"):
        Run("kws12", tmp_path / "run-kws12", [tiny_data], **kw)
    run, head_rows = _prepared_yes_run(tiny_data, tmp_path, monkeypatch, kw)
    windows = run.teacher_part_rows
    cut = sorted((tmp_path / "windows").glob("yes-*/*/*.wav"))
    assert windows.sum() == len(cut) == run.data_description["stream_windows"] > tc.windows_negatives
    assert np.all(windows[-len(cut) :]), "the windows are the last part of the bank"
    assert set(run.bank_labels[windows].tolist()) == {0, 1}  # the folder's class, for the sampler
    assert np.array_equal(run.hard_weight == 0, windows)
    assert head_rows == [len(run.bank) - len(cut)]
