"""`tinykws data synth`: an offline corpus of every local TTS voice saying every word, in the Speech Commands
layout.

Every (voice, word) gets CONFIG.synth.variations_per_voice takes. A take's speed, pitch, gain and position
come from a RNG seeded by (seed, voice id, word, take), so a clip is the same whichever job makes it and
whether or not other clips exist; that is what lets the corpus be built in parallel, interrupted, resumed and
extended with new voices or words without changing a clip already made.

A take is: the engine says the word at the take's speed (natively, see voices.py), sox shifts its pitch and
resamples it to 16 kHz, leading and trailing silence is trimmed, a word longer than MAX_WORD_SECONDS is
time-compressed (never cut), and the word is scaled to the take's gain and placed at the take's offset in a
1 s clip of int16 zeros.

    OUT/<word>/<speaker>_nohash_<n>.wav   speaker = sha1(voice id)[:8]: a voice is a speaker
    OUT/voices.json                       voice id -> speaker, engine, params (written before synthesis)
    OUT/manifest.json                     settings hash, counts per word, voices, clips (written at the end)

`--engines kokoro` is the natural voices of the optional [tts] extra (data/kokoro.py): the same layout and takes,
in a corpus of its own (KOKORO_OUT), since one folder holds the clips of one settings hash.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import math
import os
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from concurrent.futures import Future, ThreadPoolExecutor, as_completed
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from tinykws.atomic import atomic_path
from tinykws.config import BUILD_DIR, CONFIG
from tinykws.data.voices import (
    ENGINES,
    SynthError,
    Voice,
    check_word,
    discover_voices,
    probe_voice,
    say,
)
from tinykws.data.wav import to_int16, write_wav
from tinykws.errors import TinyKwsError

DEFAULT_OUT = BUILD_DIR / "data" / "synth"
KOKORO_OUT = BUILD_DIR / "data" / "synth-kokoro"  # `--engines kokoro`: the natural voices, a corpus apart

MAX_WORD_SECONDS = CONFIG.synth.max_word_seconds
TRIM_THRESHOLD_DB = CONFIG.synth.trim_threshold_db
PEAK_DBFS = CONFIG.synth.peak_dbfs

_SILENT_DBFS = -50.0  # loudest 10 ms frame below this: the engine produced no speech
_MIN_SPEECH_S = 0.08  # shorter than the shortest word ("up" is ~0.2 s): a click, not a word
_PROBE_MIN_SPEECH_S = 0.2  # the probe word "seven" is ~0.5 s in every working voice
_PAD_S = 0.05  # silence added around an engine's output before any processing
# Frames kept beyond the first and last frames above the threshold. The tail is longer because a word-final
# stop ("up", "eight") releases 50-100 ms after its vowel, often just under the threshold in diphone voices.
_LEAD_FRAMES = 3
_TAIL_FRAMES = 10
# Bump when the processing below changes the audio, so old corpora are refused rather than mixed with new.
_SYNTH_VERSION = 2


class ClipError(TinyKwsError):
    """A take that came out empty, silent or unusable."""


@dataclass(frozen=True)
class ClipParams:
    speed: float
    pitch: float
    gain_db: float
    offset: float  # in [0, 1): where the word sits in the free space of the clip


def clip_params(
    seed: int, voice_id: str, word: str, n: int, speed_range: tuple[float, float] | None = None
) -> ClipParams:
    """The random draws of one take, from a RNG seeded by a hash of (seed, voice, word, take); its speed from
    `speed_range` (default CONFIG.synth.speed_range)."""
    key = f"{seed}\0{voice_id}\0{word}\0{n}".encode()
    rng = np.random.default_rng(int.from_bytes(hashlib.sha256(key).digest()[:8], "little"))
    s = CONFIG.synth
    return ClipParams(
        speed=float(rng.uniform(*(s.speed_range if speed_range is None else speed_range))),
        pitch=float(rng.uniform(*s.pitch_range)),
        gain_db=float(rng.uniform(*s.gain_db_range)),
        offset=float(rng.uniform(0.0, 1.0)),
    )


def synth_settings(seed: int, speed_range: tuple[float, float] | None = None) -> dict:
    """Everything that changes a clip's samples. Word and voice lists only choose which clips exist."""
    s = CONFIG.synth
    return {
        "version": _SYNTH_VERSION,
        "seed": seed,
        "speed_range": list(s.speed_range if speed_range is None else speed_range),
        "pitch_range": list(s.pitch_range),
        "gain_db_range": list(s.gain_db_range),
        "sample_rate": CONFIG.audio.sample_rate,
        "clip_samples": CONFIG.audio.clip_samples,
        "max_word_seconds": MAX_WORD_SECONDS,
        "trim_threshold_db": TRIM_THRESHOLD_DB,
        "peak_dbfs": PEAK_DBFS,
    }


def settings_hash(seed: int) -> str:
    return fingerprint(synth_settings(seed))


def fingerprint(settings: dict) -> str:
    """The corpus hash of a settings dict (the local voices' synth_settings, or Kokoro's settings)."""
    return hashlib.sha256(json.dumps(settings, sort_keys=True).encode()).hexdigest()[:12]


# ---------------------------------------------------------------------------------------------- audio

_RAW_F32 = ["-t", "raw", "-e", "floating-point", "-b", "32", "-L", "-c", "1"]


def _sox(args: list[str], what: str, data: bytes | None = None) -> np.ndarray:
    # -V1: errors only; float output, so sox neither clips nor dithers (dither would be random noise).
    cmd = ["sox", "-V1", *args]
    try:
        proc = subprocess.run(cmd, input=data, capture_output=True, timeout=60)
    except FileNotFoundError:
        raise TinyKwsError(
            "sox is not installed; it resamples and pitch-shifts the voices (apt-get install sox)"
        ) from None
    except subprocess.TimeoutExpired:
        raise ClipError(f"{what}: sox took more than 60 s") from None
    if proc.returncode != 0:
        raise ClipError(f"{what}: sox failed: {proc.stderr.decode(errors='replace').strip()[:200]}")
    return np.frombuffer(proc.stdout, dtype="<f4").astype(np.float32)


def _voice_effects(pitch: float) -> list[str]:
    # Some engines start the first vowel at sample 0 (espeak-ng's "up"); padding gives the trim a silent
    # margin to keep and the pitch shifter context at the edges.
    effects = ["pad", f"{_PAD_S}", f"{_PAD_S}"]
    cents = 1200.0 * math.log2(pitch)
    if abs(cents) >= 0.5:
        effects += ["pitch", f"{cents:.3f}"]
    return effects + ["rate", "-v", str(CONFIG.audio.sample_rate)]


def load_voice_wav(path: str | Path, pitch: float = 1.0) -> np.ndarray:
    """An engine's WAV as float32 mono at the configured rate, pitch-shifted by the ratio `pitch`."""
    return _sox([str(path), *_RAW_F32, "-", *_voice_effects(pitch)], f"{path}")


def load_voice_samples(x: np.ndarray, rate: int, what: str, pitch: float = 1.0) -> np.ndarray:
    """An in-process engine's float samples at `rate` (Kokoro's 24 kHz), treated as load_voice_wav treats a WAV."""
    args = [*_RAW_F32, "-r", str(rate), "-", *_RAW_F32, "-", *_voice_effects(pitch)]
    return _sox(args, what, data=np.asarray(x, dtype="<f4").tobytes())


def _tempo(x: np.ndarray, factor: float) -> np.ndarray:
    rate = str(CONFIG.audio.sample_rate)
    # WSOLA in speech mode: shortens the word, keeps its pitch.
    args = [*_RAW_F32, "-r", rate, "-", *_RAW_F32, "-", "tempo", "-s", f"{factor:.6f}"]
    return _sox(args, "time compression", data=np.asarray(x, dtype="<f4").tobytes())


def speech_bounds(x: np.ndarray) -> tuple[int, int] | None:
    """[start, end) of the speech in `x` plus a short margin, or None if `x` holds no speech."""
    frame = CONFIG.audio.sample_rate // 100
    n = len(x) // frame
    if n == 0:
        return None
    rms = np.sqrt(np.mean(np.square(x[: n * frame].astype(np.float64)).reshape(n, frame), axis=1))
    loudest = float(rms.max())
    if loudest < 10.0 ** (_SILENT_DBFS / 20.0):
        return None
    # Relative to the loudest frame, so a quiet voice keeps its fricatives and a loud one sheds its hiss.
    active = np.flatnonzero(rms >= loudest * 10.0 ** (TRIM_THRESHOLD_DB / 20.0))
    start = max(0, (int(active[0]) - _LEAD_FRAMES) * frame)
    end = min(len(x), (int(active[-1]) + 1 + _TAIL_FRAMES) * frame)
    return start, end


def trim(x: np.ndarray) -> np.ndarray:
    """`x` without its leading and trailing silence; ClipError if nothing is left."""
    bounds = speech_bounds(x)
    if bounds is None:
        raise ClipError("silent (no speech above the noise floor)")
    seg = x[bounds[0] : bounds[1]]
    if len(seg) < _MIN_SPEECH_S * CONFIG.audio.sample_rate:
        raise ClipError(f"only {len(seg) / CONFIG.audio.sample_rate * 1000:.0f} ms of sound")
    return seg


def fit_word(seg: np.ndarray) -> np.ndarray:
    """Time-compress a word longer than MAX_WORD_SECONDS until it fits; a cut would drop part of the word."""
    max_len = round(MAX_WORD_SECONDS * CONFIG.audio.sample_rate)
    for _ in range(3):
        if len(seg) <= max_len:
            return seg
        # 3 % short of the target: WSOLA lengths are approximate, and the result is trimmed again.
        seg = trim(_tempo(seg, len(seg) / (0.97 * max_len)))
    if len(seg) <= max_len:
        return seg
    raise ClipError(f"still {len(seg) / CONFIG.audio.sample_rate:.2f} s after time compression")


def place(seg: np.ndarray, params: ClipParams) -> np.ndarray:
    """The word at its take's gain and offset in one clip of int16 zeros."""
    n = CONFIG.audio.clip_samples
    peak = float(np.max(np.abs(seg)))
    if len(seg) > n or peak <= 0.0:
        raise ClipError("word does not fit in a clip")
    scale = 10.0 ** ((PEAK_DBFS + params.gain_db) / 20.0) / peak
    start = min(int(params.offset * (n - len(seg) + 1)), n - len(seg))
    out = np.zeros(n, dtype=np.float64)
    out[start : start + len(seg)] = seg.astype(np.float64) * scale
    return to_int16(out * 32767.0)


def render_clip(voice: Voice, word: str, params: ClipParams, tmp_dir: str | Path) -> np.ndarray:
    """One take of `voice` saying `word`: a clip_samples int16 array. Raises SynthError or ClipError."""
    raw = Path(tmp_dir) / "say.wav"
    say(voice, word, params.speed, raw)
    x = load_voice_wav(raw, params.pitch)
    return place(fit_word(trim(x)), params)


def _probe_check(wav: Path) -> str | None:
    try:
        seg = trim(load_voice_wav(wav))
    except ClipError as e:
        return str(e)
    if len(seg) < _PROBE_MIN_SPEECH_S * CONFIG.audio.sample_rate:
        return f"says a two-syllable word in {len(seg) / CONFIG.audio.sample_rate * 1000:.0f} ms"
    return None


def probe(voice: Voice) -> str | None:
    """None if `voice` says a test word audibly, else why not."""
    return probe_voice(voice, _probe_check)


# ---------------------------------------------------------------------------------------------- corpus


def clip_path(out: Path, voice: Voice, word: str, n: int) -> Path:
    return out / word / f"{voice.speaker}_nohash_{n}.wav"


@dataclass
class SynthReport:
    out: Path
    made: int = 0
    cached: int = 0
    failed: list[dict] = field(default_factory=list)
    voices_per_engine: dict[str, int] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)
    words: list[str] = field(default_factory=list)
    seconds: float = 0.0
    takes: int = CONFIG.synth.variations_per_voice  # per (voice, word)

    @property
    def voices(self) -> int:
        return sum(self.voices_per_engine.values())

    @property
    def clips(self) -> int:
        return self.made + self.cached


@dataclass(frozen=True)
class ClipTask:
    """One take to make: `voice` saying `word`, take number `n`, written to `path`."""

    voice: Voice
    word: str
    n: int
    path: Path


def _read_json(path: Path) -> dict | None:
    try:
        return json.loads(path.read_text())
    except FileNotFoundError:
        return None
    except (OSError, ValueError) as e:
        raise TinyKwsError(f"{path}: unreadable ({e}); delete it or pass another --out") from None


def _write_json(path: Path, obj: dict) -> None:
    with atomic_path(path) as tmp:
        tmp.write_text(json.dumps(obj, indent=1, sort_keys=True) + "\n")


def _check_settings(out: Path, want: str, remake: bool = False) -> None:
    for name in ("voices.json", "manifest.json"):
        old = _read_json(out / name)
        if old is not None and old.get("settings_hash") != want:
            if remake:
                _note(f"{out} was made with other synth settings (hash {old.get('settings_hash')}); remaking it")
                shutil.rmtree(out)
                return
            raise TinyKwsError(
                f"{out} holds clips made with other synth settings (hash {old.get('settings_hash')}, now "
                f"{want}); pass another --out or delete it"
            )


def _make(task: ClipTask, params: ClipParams, stop: threading.Event) -> str | None:
    """Synthesise and write one clip; the error message if it failed, None if it was written."""
    if stop.is_set():
        return "interrupted"
    try:
        with tempfile.TemporaryDirectory(prefix="tinykws-synth-") as tmp:
            clip = render_clip(task.voice, task.word, params, tmp)
    except (SynthError, ClipError) as e:
        return str(e)
    if stop.is_set():
        # Stopping: end promptly and leave this clip to the next run rather than write after Ctrl-C.
        return "interrupted"
    write_wav(task.path, clip)
    return None


def _note(msg: str) -> None:
    print(f"note: {msg}", file=sys.stderr)


def build_corpus(
    out: str | Path | None = None,
    words: list[str] | None = None,
    seed: int | None = None,
    jobs: int | None = None,
    limit_voices: int | None = None,
    engines: list[str] | None = None,
    progress: bool = True,
    takes: int | None = None,
    speed_range: tuple[float, float] | None = None,
    remake_stale: bool = False,
) -> SynthReport:
    """Synthesise every missing clip of (voices x words x takes) into `out`; return what was done.

    `engines=["kokoro"]` makes the natural voices' corpus (data/kokoro.py; default out KOKORO_OUT): a
    corpus of its own, since its settings (model, voices) are not the local voices' and one folder has one hash.
    `takes` per (voice, word), default CONFIG.synth.variations_per_voice: take n is the same clip whatever the
    count, so raising it only adds takes to a cached corpus. `speed_range` overrides CONFIG.synth.speed_range
    (a custom word's takes are said slower, see SynthConfig.keyword_speed_range); it is one of the corpus's
    settings, so one folder holds one range. `remake_stale`: `out` is a cache of tinykws's own (a custom word's
    takes), so a corpus made with other settings is deleted and made again rather than refused.
    """
    from tinykws.data import kokoro  # a light module: the [tts] extra itself is imported only to synthesise

    natural = engines is not None and kokoro.ENGINE in engines
    if natural and list(engines) != [kokoro.ENGINE]:
        raise TinyKwsError(
            f"--engines: {kokoro.ENGINE} makes a corpus of its own (default {KOKORO_OUT}); "
            "synthesise it apart from the local engines"
        )
    start_time = time.monotonic()
    out = Path(out if out is not None else KOKORO_OUT if natural else DEFAULT_OUT)
    seed = CONFIG.synth.seed if seed is None else int(seed)
    jobs = (os.cpu_count() or 1) if jobs is None else int(jobs)
    if jobs < 1:
        raise TinyKwsError("--jobs must be at least 1")
    if limit_voices is not None and limit_voices < 1:
        raise TinyKwsError("--limit-voices must be at least 1")
    words = list(dict.fromkeys(CONFIG.labels.keywords + CONFIG.synth.other_words if words is None else words))
    if not words:
        raise TinyKwsError("no words to synthesise")
    for w in words:
        check_word(w)
    if shutil.which("sox") is None:
        raise TinyKwsError("sox is not installed; it resamples and pitch-shifts the voices (apt-get install sox)")
    if speed_range is not None and not 0.0 < speed_range[0] <= speed_range[1]:
        raise TinyKwsError(f"speed range {speed_range} must be two positive factors, slowest first")
    settings = kokoro.settings(seed, speed_range) if natural else synth_settings(seed, speed_range)
    want_hash = fingerprint(settings)
    _check_settings(out, want_hash, remake_stale)

    if natural:
        found, files = kokoro.discover(seed)
    else:
        found = discover_voices(engines, probe=probe, jobs=jobs)
    report = SynthReport(out=out, notes=list(found.notes), words=words)
    for msg in found.notes:
        _note(msg)
    voices = found.voices[:limit_voices] if limit_voices else found.voices
    if not voices:
        raise TinyKwsError(
            "no working TTS voice found; install espeak-ng (apt-get install espeak-ng)"
            + (f" ({'; '.join(found.notes)})" if found.notes else "")
        )
    speakers = Counter(v.speaker for v in voices)
    clash = [v.id for v in voices if speakers[v.speaker] > 1]
    if clash:
        raise TinyKwsError(f"voices {', '.join(clash)} share a speaker hash; rename one")
    report.voices_per_engine = {e: c for e in (*ENGINES, kokoro.ENGINE) if (c := sum(v.engine == e for v in voices))}

    # voices.json first, so that even an interrupted corpus says which settings and voices made it.
    listed = _read_json(out / "voices.json") or {}
    listing = dict(listed.get("voices", {}))
    for v in voices:
        listing[v.id] = {"speaker": v.speaker, "engine": v.engine, "params": dict(v.params)}
    skipped = {**listed.get("skipped", {}), **found.skipped}
    for vid in listing:
        skipped.pop(vid, None)
    _write_json(
        out / "voices.json",
        {"settings_hash": want_hash, "voices": listing, "skipped": skipped, "engines": found.versions},
    )

    takes = CONFIG.synth.variations_per_voice if takes is None else int(takes)
    if takes < 1:
        raise TinyKwsError("takes per voice must be at least 1")
    report.takes = takes
    # Word-major order mixes the fast and slow engines along the run, so the progress bar's rate is honest.
    tasks = [ClipTask(v, w, n, clip_path(out, v, w, n)) for w in words for v in voices for n in range(takes)]
    todo = [t for t in tasks if not t.path.exists()]
    report.cached = len(tasks) - len(todo)
    if not todo:
        print(f"synth: all {len(tasks)} clips already in {out}; nothing to synthesise", file=sys.stderr)
    elif natural:
        kokoro.run_pool(todo, seed, jobs, progress, report, files, speed_range)
    else:
        _run_pool(todo, seed, jobs, progress, report, speed_range)

    counts = {w: sum(1 for t in tasks if t.word == w and t.path.exists()) for w in words}
    report.seconds = time.monotonic() - start_time
    merge_manifest(
        out,
        counts,
        report.failed,
        {
            "settings_hash": want_hash,
            "settings": settings,
            "variations_per_voice": takes,
            "voices": len(voices),
            "voices_per_engine": report.voices_per_engine,
            "engines": found.versions,
        },
    )
    return report


def merge_manifest(out: Path, counts: dict[str, int], failed: list[dict], fields: dict) -> None:
    """Write OUT/manifest.json for `counts`' words, keeping every other word an earlier run listed there.

    A folder that collects words run by run (a custom word's takes) lists them all, not the last run's alone: the
    earlier words' clips are still there, made with the same settings (_check_settings). Two runs may finish at
    once (two `make keyword`s): the read and the write are one step under a lock, or one run's word is lost."""
    import fcntl

    out.mkdir(parents=True, exist_ok=True)
    with open(out / ".manifest.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        earlier = _read_json(out / "manifest.json") or {}
        merged = {**{w: n for w, n in earlier.get("counts", {}).items() if w not in counts}, **counts}
        kept = [f for f in earlier.get("failed", []) if f.get("word") not in counts]
        _write_json(
            out / "manifest.json",
            {**fields, "words": list(merged), "counts": merged, "clips": sum(merged.values()), "failed": kept + failed},
        )


def _run_pool(
    todo: list[ClipTask],
    seed: int,
    jobs: int,
    progress: bool,
    report: SynthReport,
    speed_range: tuple[float, float] | None = None,
) -> None:
    from tqdm import tqdm

    stop = threading.Event()
    # Threads, not processes: the work is in the engine and sox subprocesses, so the GIL is not the limit.
    pool = ThreadPoolExecutor(max_workers=jobs)
    bar = tqdm(total=len(todo), unit="clip", file=sys.stderr, disable=not progress, mininterval=1.0)
    try:
        futures: dict[Future, ClipTask] = {
            pool.submit(_make, t, clip_params(seed, t.voice.id, t.word, t.n, speed_range), stop): t for t in todo
        }
        for fut in as_completed(futures):
            err = fut.result()
            t = futures[fut]
            if err is None:
                report.made += 1
            else:
                report.failed.append({"voice": t.voice.id, "word": t.word, "n": t.n, "error": err})
            bar.update(1)
    except BaseException:
        # Ctrl-C: queued clips are dropped, running ones finish or fail; write_wav's rename means no clip is
        # ever half written, and the next run starts from the clips that exist.
        stop.set()
        pool.shutdown(wait=False, cancel_futures=True)
        raise
    finally:
        bar.close()
    pool.shutdown()
    report.failed.sort(key=lambda f: (f["voice"], f["word"], f["n"]))


def format_report(report: SynthReport) -> str:
    per_engine = ", ".join(f"{e} {c}" for e, c in report.voices_per_engine.items())
    lines = [
        f"synth: {report.made} clips made, {report.cached} cached, {len(report.failed)} failed "
        f"in {report.seconds:.0f} s -> {report.out}",
        f"voices: {per_engine}; {report.voices} in total "
        f"({len(report.words)} words x {report.takes} takes each)",
    ]
    for f in report.failed[:10]:
        lines.append(f"failed: {f['voice']} {f['word']!r} take {f['n']}: {f['error']}")
    if len(report.failed) > 10:
        lines.append(f"failed: ... and {len(report.failed) - 10} more, listed in manifest.json")
    return "\n".join(lines)


# ---------------------------------------------------------------------------------------------- CLI


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--out", type=Path, default=None, help=f"corpus folder (default: {DEFAULT_OUT}; kokoro's: {KOKORO_OUT})"
    )
    parser.add_argument("--jobs", type=int, default=None, help="parallel syntheses (default: CPU count)")
    parser.add_argument("--seed", type=int, default=None, help=f"RNG seed (default: {CONFIG.synth.seed})")
    parser.add_argument("--limit-voices", type=int, default=None, metavar="N", help="use the first N voices only")
    parser.add_argument(
        "--words", default=None, help="comma-separated words (default: the keywords and CONFIG.synth.other_words)"
    )
    parser.add_argument(
        "--engines",
        default=None,
        help=f"comma-separated TTS engines to use (default: all of {','.join(ENGINES)}); or kokoro alone, the "
        "natural voices of the [tts] extra, in a corpus of their own",
    )
    parser.add_argument("--no-progress", action="store_true", help="no progress bar")


def _split(value: str | None) -> list[str] | None:
    if value is None:
        return None
    return [w.strip() for w in value.split(",") if w.strip()]


def run(args: argparse.Namespace) -> int:
    report = build_corpus(
        out=args.out,
        words=_split(args.words),
        seed=args.seed,
        jobs=args.jobs,
        limit_voices=args.limit_voices,
        engines=_split(args.engines),
        progress=not args.no_progress,
    )
    print(format_report(report))
    if report.clips == 0:
        raise TinyKwsError("no clip could be synthesised; see the failures above")
    return 0
