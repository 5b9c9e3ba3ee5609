"""Soak test of the C engine: hours of generated audio through kws_process (host build, ctypes) in chunks of
random size, checked as it goes. A script, not CI; tests/test_soak.py runs the same code on 10 minutes.

    .venv/bin/python bench/soak.py [--hours 24] [--seed S] [--model models/yes/model.npz] [--asan-hours H] [--json]

The stream is made one minute at a time (never the whole run in memory) and is a function of the seed and
the length only: background noise recordings of ../shared/data/_background_noise_ at random levels and
stretches of digital silence; real clips of ../shared/data/speech_commands_test_set_v0.02 added in 4 s slots,
the model's keywords ("targets") and every other word ("distractors"); now and then an edge case (full-scale
square wave, alternating full scale, clipped noise, DC offset up to and past full scale, digital silence).

Checked, exit status 1 if any fails:
- hops: the C engine's hop numbers, read from its hop callback in every slice below, equal the numbers the
  sample count implies, and after the last sample the engine has made exactly frames_for(samples) hops;
- slices: a PythonEngine started at a hop-aligned sample of the stream equals the long-running C engine on
  that slice: features at every hop, logits once it has input_frames frames, smoothed sums once its detector
  window is full, detections from the hop on which both detectors' refractory counters agree (the only
  state that can reach further back than input_frames + smoothing_hops hops). Each slice starts in a stretch
  the generator keeps free of clips, so that hop is the end of the warm-up; slices at the start, spread
  through the run, and ending with its last sample;
- recall of the inserted targets (a detection of that keyword between the clip's start and 1.2 s after its
  end) at least --min-recall: a sanity check of the whole chain, not an accuracy figure (the clips include
  the model's training speakers; `held-out` counts only the validation speakers);
- memory: the process's resident set (VmRSS) sampled every simulated hour grows by at most --rss-bound-mb
  after the first sample, taken once the first two slices are done (after the first hour by default);
- with --asan-hours H: the first H hours also stream into the engine's app built with AddressSanitizer and
  UBSan (its own 640-sample chunks); it must exit cleanly with the same detections and hop count.
Timings (audio hours per wall minute, C / generation / Python shares) are printed, never asserted.
"""

from __future__ import annotations

import argparse
import collections
import ctypes
import gc
import json
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from tinykws.config import CONFIG, REPO_ROOT, SHARED_DATA_DIR
from tinykws.data import layout
from tinykws.data.wav import read_wav, to_int16, wav_header
from tinykws.firmware import board
from tinykws.firmware.engine import CEngine
from tinykws.train.detector import Detection, detector_config
from tinykws.train.engine import HopRecord, PythonEngine
from tinykws.train.int_model import IntModel

SR = CONFIG.audio.sample_rate
FC = CONFIG.features
REAL = SHARED_DATA_DIR / "speech_commands_test_set_v0.02"
NOISE = SHARED_DATA_DIR / layout.NOISE_DIR
BLOCK = 60 * SR  # generated at a time
SLOT = 4 * SR  # one clip or edge case per slot; its detection window ends inside it
MATCH_AFTER = int(1.2 * SR)  # a detection this long after a clip's end still counts for it
FULL = 32768.0
EDGE_CASES = ("square", "nyquist", "clipped-noise", "dc", "silence")
_LIBC = ctypes.CDLL(None)


@dataclass
class Event:
    start: int  # absolute sample
    end: int  # last sample (exclusive) at which a detection's window end still belongs to this event
    kind: str  # "target" | "distractor" | "edge"
    label: int  # model class of a target, -1 otherwise
    held_out: bool = False  # clip from a validation speaker
    what: str = ""  # which edge case
    hit: bool = False


@dataclass
class HourStats:
    targets: int = 0
    hits: int = 0
    held_out: int = 0
    held_out_hits: int = 0
    detections: int = 0
    wrong_keyword: int = 0  # a keyword fired on a target clip of another keyword
    on_distractors: int = 0
    on_edge_cases: int = 0
    elsewhere: int = 0  # noise, silence: nothing inserted nearby
    latency: int = 0  # samples from a clip's start to its detection, summed over the hits (flat memory)


class Sources:
    """The recordings the generator draws from, loaded once (float32, int16 units)."""

    def __init__(self, model: IntModel, seed: int, real: Path = REAL, noise: Path = NOISE) -> None:
        targets = {w: i for i, w in enumerate(model.labels) if w in CONFIG.labels.keywords}
        rng = np.random.default_rng([seed, 2])
        by_word: dict[str, list[layout.Clip]] = collections.defaultdict(list)
        for clip in layout.scan(real):
            if clip.word != CONFIG.labels.silence_label:
                by_word[clip.word].append(clip)
        self.targets: list[tuple[np.ndarray, int, bool]] = []
        self.distractors: list[np.ndarray] = []
        for word, clips in sorted(by_word.items()):
            keep = 300 if word in targets else 40  # bounded memory for kws12; every "yes" clip for yes
            for i in sorted(rng.permutation(len(clips))[:keep]):
                x = read_wav(clips[i].path).astype(np.float32)
                if word in targets:
                    self.targets.append((x, targets[word], clips[i].split == "validation"))
                else:
                    self.distractors.append(x)
        # Each recording scaled to RMS 1, so a level in dBFS is one multiplication.
        self.noises = []
        for path in layout.noise_files([noise.parent]):
            x = read_wav(path).astype(np.float32)
            self.noises.append(x / np.sqrt(np.mean(x**2)))
        if not self.targets or not self.noises:
            raise SystemExit(f"soak: need keyword clips in {real} and noise in {noise}")


class Generator:
    """block(i) -> samples [i * BLOCK, ...) of the stream and the events placed in them."""

    def __init__(self, sources: Sources, seed: int, total: int, quiet: list[tuple[int, int]]) -> None:
        self.src, self.seed, self.total, self.quiet = sources, seed, total, quiet

    def _is_quiet(self, a: int, b: int) -> bool:
        return any(a < q1 and q0 < b for q0, q1 in self.quiet)

    def block(self, index: int) -> tuple[np.ndarray, list[Event]]:
        a0 = index * BLOCK
        n = min(BLOCK, self.total - a0)
        rng = np.random.default_rng([self.seed, 0, index])
        mix = np.zeros(n, np.float32)
        pos = 0
        while pos < n:
            seg = min(n - pos, int(rng.uniform(2, 30) * SR))
            r = rng.random()
            if r >= 0.1:  # else digital silence; mostly -60 .. -20 dBFS, some near silence, a few loud
                low, high = (-85, -60) if r < 0.25 else (-20, -8) if r > 0.95 else (-60, -20)
                level_db = rng.uniform(low, high)
                noise = self.src.noises[rng.integers(len(self.src.noises))]
                off = int(rng.integers(0, len(noise) - seg + 1))
                mix[pos : pos + seg] = noise[off : off + seg] * np.float32(FULL * 10 ** (level_db / 20))
            pos += seg
        events, dc = [], []
        slot = 0
        while (slot + 1) * SLOT <= n:
            s = slot * SLOT
            slot += 1
            r = rng.random()
            if r < 0.2 or self._is_quiet(a0 + s, a0 + s + SLOT):
                continue
            at = s + int(rng.uniform(0, 1.2) * SR)
            if r < 0.9:  # a clip; its detection window ends <= 1.2 + 1 + 1.2 s into the slot
                if r < 0.55:
                    x, label, held_out = self.src.targets[rng.integers(len(self.src.targets))]
                else:
                    x, label, held_out = self.src.distractors[rng.integers(len(self.src.distractors))], -1, False
                mix[at : at + len(x)] += x * np.float32(10 ** (rng.uniform(-10, 6) / 20))
                kind = "target" if label >= 0 else "distractor"
                events.append(Event(a0 + at, a0 + at + len(x) + MATCH_AFTER, kind, label, held_out))
                continue
            # An edge case over 1..5 slots, which get nothing else; its window ends with its last slot.
            span = int(rng.integers(1, 6))
            while span > 0 and ((slot - 1 + span) * SLOT > n or self._is_quiet(a0 + s, a0 + s + span * SLOT)):
                span -= 1
            if span == 0:
                continue
            slot += span - 1
            end = s + span * SLOT
            b = end - MATCH_AFTER - int(rng.uniform(0, 0.8) * SR)
            what = EDGE_CASES[rng.integers(len(EDGE_CASES))]
            if what == "square":  # full-scale square wave, 20 Hz .. 4 kHz
                t = np.arange(b - at) / SR
                mix[at:b] = np.where(np.sin(2 * np.pi * rng.uniform(20, 4000) * t) >= 0, FULL, -FULL)
            elif what == "nyquist":  # alternating full scale: all the energy at Nyquist
                mix[at:b] = np.where(np.arange(b - at) % 2 == 0, FULL, -FULL)
            elif what == "clipped-noise":  # clipped white noise
                mix[at:b] = rng.uniform(-2 * FULL, 2 * FULL, b - at)
            elif what == "dc":  # DC offset on the background, up to past full scale (a constant then)
                dc.append((at, b, rng.choice([-1, 1]) * rng.uniform(1000, 40000)))
            else:  # digital silence
                mix[at:b] = 0
            events.append(Event(a0 + at, a0 + end, "edge", -1, what=what))
        for a, b, offset in dc:
            mix[a:b] += np.float32(offset)
        return to_int16(mix), events


def chunk_sizes(rng: np.random.Generator) -> Iterator[int]:
    """kws_process chunk lengths: 0, 1, around a hop, multiples of a hop, log-uniform to 8192, rarely 64 K."""
    hop = FC.hop_samples
    while True:
        u = rng.random(4096)
        sizes = np.select(
            [u < 0.05, u < 0.10, u < 0.22, u < 0.28, u < 0.29],
            [
                0,
                1,
                rng.integers(2, 2 * hop + 1, 4096),
                hop * rng.integers(1, 20, 4096),
                rng.integers(8192, 65537, 4096),
            ],
            np.exp(rng.uniform(0, np.log(8192), 4096)).astype(np.int64),
        )
        yield from sizes.tolist()


class Matcher:
    """Assigns detections (in time order) to the events whose window holds them; counts per hour."""

    def __init__(self) -> None:
        self.pending: collections.deque[Event] = collections.deque()
        self.hours: dict[int, HourStats] = collections.defaultdict(HourStats)
        self.inserted: collections.Counter[str] = collections.Counter()  # by kind, edge cases by name
        self.edge_fires: collections.Counter[str] = collections.Counter()  # edge cases with a detection

    def _close(self, ev: Event) -> None:
        self.inserted[ev.what or ev.kind] += 1
        if ev.kind == "edge":
            self.edge_fires[ev.what] += ev.hit
        if ev.kind == "target":
            h = self.hours[ev.start // (3600 * SR)]
            h.targets += 1
            h.hits += ev.hit
            h.held_out += ev.held_out
            h.held_out_hits += ev.held_out and ev.hit

    def close_before(self, sample: int) -> None:
        while self.pending and self.pending[0].end <= sample:
            self._close(self.pending.popleft())

    def detection(self, det: Detection) -> None:
        at = CONFIG.features.hop_end_sample(det.hop)
        self.close_before(at)
        h = self.hours[at // (3600 * SR)]
        h.detections += 1
        ev = self.pending[0] if self.pending and self.pending[0].start <= at else None
        if ev is None:
            h.elsewhere += 1
        elif ev.kind == "target" and det.keyword == ev.label:
            if not ev.hit:
                h.latency += at - ev.start
            ev.hit = True
        elif ev.kind == "target":
            h.wrong_keyword += 1
        elif ev.kind == "distractor":
            h.on_distractors += 1
        else:
            h.on_edge_cases += 1
            ev.hit = True


def refractory_left(dets: list[int], hop: int, refractory: int) -> int:
    """The detector's refractory counter on entering `hop`, given the hops it fired on."""
    before = [d for d in dets if d < hop]
    return max(0, refractory - (hop - 1 - before[-1])) if before else 0


def compare_slice(
    model: IntModel, samples: np.ndarray, first: int, c_hops: list[HopRecord], c_dets: list[Detection]
) -> dict:
    """PythonEngine on `samples` (the stream from hop `first`'s first sample) against the C engine's records."""
    dc = detector_config(model)
    ref = PythonEngine(model, dc, record=True)
    ref_dets = ref.process(samples)
    n = len(ref.hops)
    out = {
        "start_s": first * FC.hop_samples / SR,
        "hops": n,
        "c_last_hop": max((h.hop for h in c_hops), default=None),
        "problems": [],
    }
    got = {h.hop: h for h in c_hops if first <= h.hop < first + n}
    if sorted(got) != list(range(first, first + n)):
        out["problems"].append(
            f"C hop numbers {min(got, default=None)}..{max(got, default=None)} ({len(got)}), "
            f"want {first}..{first + n - 1}"
        )
        return out
    logits = sums = 0
    for r in ref.hops:
        c = got[first + r.hop]
        bad = "features" if not np.array_equal(c.features, r.features) else None
        if bad is None and r.logits is not None:
            logits += 1
            bad = "logits" if c.logits is None or not np.array_equal(c.logits, r.logits) else None
        if bad is None and r.sums is not None:
            sums += 1
            bad = "sums" if c.sums is None or not np.array_equal(c.sums, r.sums) else None
        if bad:
            out["problems"].append(
                f"{bad} differ at hop {first + r.hop}: C {getattr(c, bad)}, Python {getattr(r, bad)}"
            )
            return out
    # From the first hop with full sums on, only the refractory counters can differ; once equal, they stay so.
    full = next((r.hop for r in ref.hops if r.sums is not None), n)
    c_rel = [d.hop - first for d in c_dets]
    r_rel = [d.hop for d in ref_dets]
    sync = next(
        (
            j
            for j in range(full, n)
            if refractory_left(c_rel, j, dc.refractory_hops) == refractory_left(r_rel, j, dc.refractory_hops)
        ),
        None,
    )
    warmup = model.input_frames + dc.smoothing_hops + dc.refractory_hops
    if sync is None or sync > warmup:
        out["problems"].append(f"detectors not in step by hop {warmup} of the slice (at {sync})")
        return out
    want = [(d.hop + first, d.keyword, d.score_sum) for d in ref_dets if d.hop >= sync]
    have = [(d.hop, d.keyword, d.score_sum) for d in c_dets if first + sync <= d.hop < first + n]
    if have != want:
        out["problems"].append(f"detections differ from hop {first + sync}: C {have[:5]}, Python {want[:5]}")
    out.update(logits=logits, sums=sums, detections=len(want), from_hop=sync)
    return out


def plan_slices(total: int, length: int, every: int) -> list[tuple[int, int]]:
    """Disjoint hop-aligned [start, end) sample ranges: the start, one per `every` samples (mid-period), the end."""
    hop = FC.hop_samples
    length = min(length, total)
    starts = [0, *range(every // 2, total - 2 * length, every), total - length]
    out: list[tuple[int, int]] = []
    for s in (t // hop * hop for t in starts):
        if not out or s >= out[-1][1]:
            out.append((s, min(total, s + length)))
    return out


def rss_kb() -> int:
    """Resident set of live memory: what the allocator holds free (glibc keeps freed heap after a burst such as
    a slice's Python reference, and the high-water mark would depend on when the sample falls) goes back first."""
    gc.collect()
    if hasattr(_LIBC, "malloc_trim"):
        _LIBC.malloc_trim(0)
    with open("/proc/self/status") as f:
        return next(int(line.split()[1]) for line in f if line.startswith("VmRSS:"))


class Soak:
    """One run: blocks from the generator, cut into random chunks for the C engine, slices kept for Python."""

    def __init__(
        self, model_path: Path, hours: float, seed: int, slice_s: float, slice_every_s: float, asan_hours: float
    ) -> None:
        self.model = IntModel.load(model_path)
        self.dc = detector_config(self.model)
        self.total = int(round(hours * 3600 * SR))
        warm_hops = self.model.input_frames + self.dc.smoothing_hops + self.dc.refractory_hops
        if slice_s * SR < 2 * warm_hops * FC.hop_samples or self.total < slice_s * SR:
            raise SystemExit(f"soak: slices must be >= {2 * warm_hops * FC.hop_samples / SR} s and fit the run")
        self.slices = plan_slices(self.total, int(slice_s * SR), int(slice_every_s * SR))
        warm = CONFIG.features.hop_end_sample(warm_hops)
        # No clip or edge case from 2 s before a slice to 1 s past its warm-up: its detectors start in step.
        quiet = [(s - 2 * SR, s + warm + SR) for s, _ in self.slices]
        self.gen = Generator(Sources(self.model, seed), seed, self.total, quiet)
        self.engine = CEngine(self.model, source=str(model_path))
        self.chunks = chunk_sizes(np.random.default_rng([seed, 1]))
        self.matcher = Matcher()
        self.recent: collections.deque[Detection] = collections.deque(maxlen=256)  # a slice's lead-in
        self.todo = list(self.slices)
        self.audio: dict[tuple[int, int], list[np.ndarray]] = {}  # slice -> its samples so far
        self.slice_reports: list[dict] = []
        self.fed = self.calls = 0
        self.chunk_stats = collections.Counter()  # calls of 0 and 1 samples, the longest chunk
        self.t_gen = self.t_c = self.t_ref = 0.0
        asan_samples = min(self.total, int(round(asan_hours * 3600 * SR)))
        self.asan = _start_asan(self.model, model_path, asan_samples) if asan_samples > 0 else None
        self.asan_dets: list[Detection] = []

    def add_block(self, index: int) -> np.ndarray:
        a0 = index * BLOCK
        t = time.perf_counter()
        block, events = self.gen.block(index)
        self.t_gen += time.perf_counter() - t
        self.matcher.pending.extend(events)
        for s0, s1 in self.todo:
            if s0 < a0 + len(block) and a0 < s1:
                self.audio.setdefault((s0, s1), []).append(block[max(0, s0 - a0) : s1 - a0])
        if self.asan is not None and a0 < self.asan["samples"]:
            _feed_asan(self.asan, block[: self.asan["samples"] - a0], a0 + len(block) >= self.asan["samples"])
        return block

    def feed(self, chunk: np.ndarray) -> None:
        a, b = self.fed, self.fed + len(chunk)
        want = bool(self.todo) and a < self.todo[0][1] and self.todo[0][0] < b
        if want != self.engine.record:
            self.engine.set_record(want)
        t = time.perf_counter()
        dets = self.engine.process(chunk)
        self.t_c += time.perf_counter() - t
        self.fed, self.calls = b, self.calls + 1
        if len(chunk) < 2:
            self.chunk_stats[f"{len(chunk)}-sample calls"] += 1
        self.chunk_stats["longest"] = max(self.chunk_stats["longest"], len(chunk))
        for d in dets:
            if not 0 <= d.score_sum <= 255 * self.dc.smoothing_hops:
                raise RuntimeError(f"score sum {d.score_sum} out of range at hop {d.hop}")
            self.matcher.detection(d)
            self.recent.append(d)
            if self.asan is not None and d.hop < FC.frames_for(self.asan["samples"]):
                self.asan_dets.append(d)
        if self.todo and self.fed >= self.todo[0][1]:
            self._finish_slice(self.todo.pop(0))

    def _finish_slice(self, span: tuple[int, int]) -> None:
        t = time.perf_counter()
        first = span[0] // FC.hop_samples
        c_dets = [d for d in self.recent if d.hop >= first - 2 * self.dc.refractory_hops]
        audio = np.concatenate(self.audio.pop(span))
        self.slice_reports.append(compare_slice(self.model, audio, first, self.engine.hops, c_dets))
        self.engine.set_record(False)
        self.engine.hops.clear()
        self.t_ref += time.perf_counter() - t

    def idle(self) -> bool:
        """No slice in progress: nothing but the engine's fixed state is held."""
        return not self.audio and not self.engine.hops


def run_soak(
    model_path: Path,
    hours: float,
    seed: int = 0,
    slice_s: float = 60.0,
    slice_every_s: float = 3600.0,
    rss_every_s: float = 3600.0,
    rss_bound_mb: float = 4.0,
    min_recall: float = 0.5,
    asan_hours: float = 0.0,
    progress: bool = False,
) -> dict:
    """Run the soak; returns the report (see `format_report`) with `ok` and the failed checks in `failed`."""
    t_start = time.perf_counter()
    soak = Soak(model_path, hours, seed, slice_s, slice_every_s, asan_hours)
    rss: list[tuple[float, int]] = []
    rss_every = int(rss_every_s * SR)
    carry, size = np.zeros(0, np.int16), next(soak.chunks)
    blocks = (soak.total + BLOCK - 1) // BLOCK
    for index in range(blocks):
        # The baseline waits until every code path (a slice inside the run included) has run once.
        if index > 0 and index * BLOCK % rss_every == 0 and soak.idle() and (rss or len(soak.slice_reports) >= 2):
            rss.append((index * BLOCK / SR, rss_kb()))
            if progress:
                print(
                    f"  {index * BLOCK / SR / 3600:6.2f} h  RSS {rss[-1][1] / 1024:.1f} MB  "
                    f"{time.perf_counter() - t_start:.0f} s",
                    file=sys.stderr,
                )
        buf = np.concatenate([carry, soak.add_block(index)])
        pos = 0
        # A chunk longer than what is left waits for the next block; the last block ends with a short one.
        while pos < len(buf) and (pos + size <= len(buf) or index == blocks - 1):
            chunk = buf[pos : pos + size]
            soak.feed(chunk)
            pos, size = pos + len(chunk), next(soak.chunks)
        carry = buf[pos:]
        soak.matcher.close_before(soak.fed)
    soak.matcher.close_before(1 << 62)
    rss.append((soak.total / SR, rss_kb()))
    report = _report(soak, rss, rss_bound_mb, min_recall)
    if soak.asan is not None:
        report["asan"] = _finish_asan(soak.asan, soak.asan_dets, len(soak.model.labels))
        if report["asan"]["problems"]:
            report["failed"].append("asan")
    report["ok"] = not report["failed"]
    wall = time.perf_counter() - t_start
    report["timing"] = {
        "wall_s": round(wall, 1),
        "c_s": round(soak.t_c, 1),
        "generate_s": round(soak.t_gen, 1),
        "python_reference_s": round(soak.t_ref, 1),
        "audio_hours_per_wall_minute": round(soak.total / SR / 3600 / wall * 60, 2),
    }
    return report


def _start_asan(model: IntModel, model_path: Path, samples: int) -> dict:
    """The keyword app under ASan + UBSan, reading a WAV of the stream's first `samples` from a pipe."""
    out = board.build(model, "host", str(model_path), variant="asan")
    log = tempfile.TemporaryFile(mode="w+")
    proc = subprocess.Popen(
        [str(board.image(out, "host")), "/dev/stdin"], stdin=subprocess.PIPE, stdout=log, stderr=subprocess.STDOUT
    )
    asan = {"proc": proc, "log": log, "samples": samples, "broken": False}
    _feed_asan(asan, wav_header(samples), False)
    return asan


def _feed_asan(asan: dict, data: np.ndarray | bytes, last: bool) -> None:
    try:
        if not asan["broken"]:
            asan["proc"].stdin.write(data if isinstance(data, bytes) else data.astype("<i2").tobytes())
        if last:
            asan["proc"].stdin.close()
    except BrokenPipeError:
        asan["broken"] = True  # the app died; _finish_asan reports its output


def _finish_asan(asan: dict, c_dets: list[Detection], num_classes: int) -> dict:
    proc, log = asan["proc"], asan["log"]
    if not proc.stdin.closed:
        try:
            proc.stdin.close()
        except BrokenPipeError:
            pass
    rc = proc.wait()
    log.seek(0)
    text = log.read()
    rep = {"hours": asan["samples"] / SR / 3600, "exit": rc, "problems": []}
    if rc != 0 or asan["broken"] or "Sanitizer" in text or "runtime error" in text:
        rep["problems"].append(f"app exited {rc}: {text[-600:]}")
        return rep
    run = board.parse_app_output(text, num_classes)
    rep.update(hops=run.num_hops, detections=len(run.detections))
    if run.num_hops != FC.frames_for(asan["samples"]):
        rep["problems"].append(f"app made {run.num_hops} hops, want {FC.frames_for(asan['samples'])}")
    if run.detections != c_dets:
        rep["problems"].append(f"app detections differ: {run.detections[:5]} vs ctypes {c_dets[:5]}")
    return rep


def _report(soak: Soak, rss: list[tuple[float, int]], rss_bound_mb: float, min_recall: float) -> dict:
    hours = [
        {
            "hour": h,
            "targets": s.targets,
            "hits": s.hits,
            "detections": s.detections,
            "wrong_keyword": s.wrong_keyword,
            "on_distractors": s.on_distractors,
            "on_edge_cases": s.on_edge_cases,
            "elsewhere": s.elsewhere,
            "latency_ms": round(s.latency / s.hits / SR * 1000, 1) if s.hits else None,
        }
        for h, s in sorted(soak.matcher.hours.items())
    ]
    stats = list(soak.matcher.hours.values())
    targets, hits = sum(s.targets for s in stats), sum(s.hits for s in stats)
    held, held_hits = sum(s.held_out for s in stats), sum(s.held_out_hits for s in stats)
    # The last slice ends with the stream: the last hop the C engine reported there is its last.
    last = soak.slice_reports[-1] if soak.slice_reports else {}
    hops_seen = last["c_last_hop"] + 1 if last.get("c_last_hop") is not None else None
    growth = (max(kb for _, kb in rss[1:]) - rss[0][1]) / 1024 if len(rss) > 1 else None
    rep = {
        "model": soak.model.meta.get("task", "?"),
        "labels": list(soak.model.labels),
        "audio_hours": soak.total / SR / 3600,
        "samples": soak.fed,
        "kws_process_calls": soak.calls,
        "chunks": dict(soak.chunk_stats),
        "inserted": dict(soak.matcher.inserted),
        "edge_cases_with_detections": dict(soak.matcher.edge_fires),
        "hops_expected": FC.frames_for(soak.total),
        "hops_seen": hops_seen,
        "detections": sum(s.detections for s in stats),
        "targets": targets,
        "hits": hits,
        "recall": hits / targets if targets else None,
        "held_out_targets": held,
        "held_out_recall": held_hits / held if held else None,
        "per_hour": hours,
        "slices": soak.slice_reports,
        "rss_mb": [(round(t / 3600, 3), round(kb / 1024, 1)) for t, kb in rss],
        "rss_growth_mb": None if growth is None else round(growth, 2),
        "rss_bound_mb": rss_bound_mb,
    }
    failed = []
    if soak.fed != soak.total or hops_seen != FC.frames_for(soak.total):
        failed.append("hops")
    if len(soak.slice_reports) != len(soak.slices) or any(s["problems"] for s in soak.slice_reports):
        failed.append("slices")
    if rep["recall"] is None or rep["recall"] < min_recall:
        failed.append("recall")
    if growth is None or growth > rss_bound_mb:
        failed.append("memory")
    rep["failed"] = failed
    return rep


def format_report(rep: dict) -> str:
    lines = [
        f"soak: {rep['audio_hours']:.3f} h of audio ({rep['samples']} samples) through kws_process in "
        f"{rep['kws_process_calls']} calls of random size {rep['chunks']}, model {rep['model']} {rep['labels']}",
        f"inserted: {rep['inserted']}; edge cases with a detection: {rep['edge_cases_with_detections']}",
    ]
    lines.append(f"hops: {rep['hops_seen']} made, {rep['hops_expected']} expected from the sample count")
    per_h = rep["detections"] / rep["audio_hours"]
    lines.append(
        f"detections: {rep['detections']} ({per_h:.0f} per hour); recall {rep['hits']}/{rep['targets']} "
        f"= {rep['recall']:.3f}, held-out speakers {rep['held_out_recall'] or 0:.3f} "
        f"({rep['held_out_targets']} clips)"
    )
    lines.append("hour  targets  hits  dets  wrong  on-distractors  on-edge  elsewhere  latency-ms")
    for h in rep["per_hour"]:
        lines.append(
            f"{h['hour']:4d}  {h['targets']:7d}  {h['hits']:4d}  {h['detections']:4d}  {h['wrong_keyword']:5d}  "
            f"{h['on_distractors']:14d}  {h['on_edge_cases']:7d}  {h['elsewhere']:9d}  {h['latency_ms']}"
        )
    ok_slices = sum(not s["problems"] for s in rep["slices"])
    lines.append(
        f"slices vs PythonEngine: {ok_slices}/{len(rep['slices'])} identical, "
        f"{sum(s.get('logits', 0) for s in rep['slices'])} hops of logits, "
        f"{sum(s.get('detections', 0) for s in rep['slices'])} detections compared"
    )
    for s in rep["slices"]:
        if s["problems"]:
            lines.append(f"  slice at {s['start_s']:.2f} s: {s['problems'][0]}")
    lines.append(
        f"RSS (h, MB): {rep['rss_mb']}; growth after the first sample {rep['rss_growth_mb']} MB "
        f"(bound {rep['rss_bound_mb']})"
    )
    if "asan" in rep:
        a = rep["asan"]
        lines.append(
            f"ASan+UBSan app on the first {a['hours']:.3f} h: {a.get('hops')} hops, {a.get('detections')} "
            f"detections, {'identical' if not a['problems'] else a['problems'][0]}"
        )
    if "timing" in rep:
        t = rep["timing"]
        lines.append(
            f"wall {t['wall_s']} s ({t['audio_hours_per_wall_minute']} audio h per wall minute): C {t['c_s']} s, "
            f"generation {t['generate_s']} s, Python reference {t['python_reference_s']} s"
        )
    lines.append("PASS" if rep["ok"] else f"FAIL: {', '.join(rep['failed'])}")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--hours", type=float, default=24.0)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--model", type=Path, default=REPO_ROOT / "models" / "yes" / "model.npz")
    p.add_argument("--slice-seconds", type=float, default=60.0, help="length of each slice compared with Python")
    p.add_argument("--slice-every", type=float, default=3600.0, help="seconds of audio between slices")
    p.add_argument("--rss-every", type=float, default=3600.0, help="seconds of audio between RSS samples")
    p.add_argument("--rss-bound-mb", type=float, default=4.0)
    p.add_argument("--min-recall", type=float, default=0.5)
    p.add_argument("--asan-hours", type=float, default=0.0, help="also stream the first H hours into the ASan app")
    p.add_argument("--json", action="store_true", help="print the report as JSON")
    args = p.parse_args(argv)
    rep = run_soak(
        args.model,
        args.hours,
        args.seed,
        args.slice_seconds,
        args.slice_every,
        args.rss_every,
        args.rss_bound_mb,
        args.min_recall,
        args.asan_hours,
        progress=not args.json,
    )
    print(json.dumps(rep, indent=1) if args.json else format_report(rep))
    return 0 if rep["ok"] else 1


if __name__ == "__main__":
    sys.exit(main())
