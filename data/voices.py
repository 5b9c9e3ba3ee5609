"""Local TTS voices: find them at run time and make one engine say one word.

Three engines, each optional: espeak-ng (its English voices, each combined with a fixed set of its voice
variants), flite and festival. An engine that is not on PATH is skipped with one note; a voice that is listed
but does not actually speak (an mbrola voice without the mbrola program, say) is found by a one-word probe
and skipped with a note, so the corpus never holds a voice that only produced errors.

A voice id (`engine:name[+variant]`) is the voice's identity: its sha1 is the Speech Commands "speaker", so
the id must not depend on anything but the engine's own names.
"""

from __future__ import annotations

import hashlib
import re
import shutil
import subprocess
import tempfile
from collections.abc import Callable, Iterable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

from tinykws.config import CONFIG
from tinykws.errors import TinyKwsError

ESPEAK = "espeak-ng"
FLITE = "flite"
FESTIVAL = "festival"
ENGINES: tuple[str, ...] = (ESPEAK, FLITE, FESTIVAL)

# Kept as module names for readability at the call sites; the values live in the config.
ESPEAK_VARIANTS: tuple[str, ...] = CONFIG.synth.espeak_variants
ESPEAK_VARIANTS_PER_VOICE = CONFIG.synth.espeak_variants_per_voice

# espeak-ng's default rate in words per minute; a speed factor scales it.
_ESPEAK_BASE_WPM = 175
_PROBE_WORD = "seven"  # two syllables, a fricative and a nasal: a voice that says this says anything
_TIMEOUT_S = 60.0
_SAFE_NAME = re.compile(r"^[A-Za-z0-9_.+/-]+$")


class SynthError(TinyKwsError):
    """A TTS engine failed to say a word."""


@dataclass(frozen=True)
class Voice:
    """One distinct voice: an engine plus everything that selects the voice inside it."""

    id: str
    engine: str
    params: dict[str, str] = field(default_factory=dict, hash=False, compare=True)

    @property
    def speaker(self) -> str:
        return speaker_id(self.id)


@dataclass
class Discovery:
    voices: list[Voice] = field(default_factory=list)
    # One line per skipped engine or group of skipped voices, for the user.
    notes: list[str] = field(default_factory=list)
    # voice id -> why it was skipped, for voices.json.
    skipped: dict[str, str] = field(default_factory=dict)
    versions: dict[str, str] = field(default_factory=dict)


def speaker_id(voice_id: str) -> str:
    """The Speech Commands speaker of a voice: the first 8 hex digits of the sha1 of its id."""
    return hashlib.sha1(voice_id.encode("utf-8")).hexdigest()[:8]


def _run(cmd: list[str], what: str) -> subprocess.CompletedProcess:
    try:
        proc = subprocess.run(cmd, capture_output=True, text=True, timeout=_TIMEOUT_S, stdin=subprocess.DEVNULL)
    except FileNotFoundError:
        raise SynthError(f"{what}: `{cmd[0]}` is not installed") from None
    except subprocess.TimeoutExpired:
        raise SynthError(f"{what}: `{cmd[0]}` took more than {_TIMEOUT_S:.0f} s") from None
    if proc.returncode != 0:
        raise SynthError(f"{what}: `{cmd[0]}` failed (exit {proc.returncode}): {_first_error(proc.stderr)}")
    return proc


def _first_error(stderr: str) -> str:
    lines = [ln.strip() for ln in stderr.splitlines() if ln.strip()]
    if not lines:
        return "no message"
    # Engines print context before the cause (espeak-ng: "Cannot find MBROLA voice file ... paths:" and
    # then the list); a line that names the failure is the one worth showing.
    for pattern in (r"not found|not installed", r"cannot|error|does not exist"):
        for ln in lines:
            if re.search(pattern, ln, re.IGNORECASE):
                return ln[:200]
    return lines[0][:200]


# ---------------------------------------------------------------------------------------------- espeak-ng


def _espeak_table(kind: str) -> list[tuple[str, str]]:
    """(language, voice file) rows of `espeak-ng --voices=<kind>`."""
    out = _run([ESPEAK, f"--voices={kind}"], f"{ESPEAK} voice list").stdout
    rows = []
    for line in out.splitlines()[1:]:
        parts = line.split()
        # Pty Language Age/Gender VoiceName File [Other languages]; names never contain spaces.
        if len(parts) >= 5:
            rows.append((parts[1], parts[4]))
    return rows


def _espeak_voices(variants_per_voice: int) -> tuple[list[Voice], list[Voice]]:
    """(formant voices x variants, mbrola voices); each list sorted by id."""
    base = sorted({f for lang, f in _espeak_table("en") if lang.startswith("en") or f.startswith("mb/")})
    installed = {f.split("/", 1)[1] for _, f in _espeak_table("variant") if f.startswith("!v/")}
    variants = [v for v in ESPEAK_VARIANTS if v == "" or v in installed][:variants_per_voice]
    formant, mbrola = [], []
    for f in base:
        if f.startswith("!v/"):
            continue  # a variant whose file declares an English language (Storm): not a voice of its own
        name = f.rsplit("/", 1)[-1]
        if f.startswith("mb/"):
            # An mbrola voice speaks with its own diphones; the formant variants would not change its timbre.
            mbrola.append(Voice(f"{ESPEAK}:{name}", ESPEAK, {"voice": f, "variant": ""}))
            continue
        for var in variants:
            vid = f"{ESPEAK}:{name}" + (f"+{var}" if var else "")
            formant.append(Voice(vid, ESPEAK, {"voice": f, "variant": var}))
    return formant, mbrola


def _espeak_say(voice: Voice, word: str, speed: float, out: Path) -> None:
    v = voice.params["voice"] + (f"+{voice.params['variant']}" if voice.params.get("variant") else "")
    wpm = round(_ESPEAK_BASE_WPM * speed)
    _run([ESPEAK, "-v", v, "-s", str(wpm), "-w", str(out), word], f"{voice.id} saying {word!r}")


# ---------------------------------------------------------------------------------------------- flite


def _flite_voices() -> tuple[list[Voice], dict[str, str]]:
    out = _run([FLITE, "-lv"], f"{FLITE} voice list").stdout
    names = out.split(":", 1)[1].split() if ":" in out else out.split()
    skipped = {}
    voices = []
    for name in sorted(set(names)):
        vid = f"{FLITE}:{name}"
        if name.endswith("_time"):
            # Limited-domain voices hold units for clock times only and mangle any other word.
            skipped[vid] = "limited-domain voice (says clock times only)"
        elif f"{name}16" in names:
            # kal is the 8 kHz build of kal16's recordings: a second copy of one speaker, without the
            # 4-8 kHz band where the "s" of "yes" lives.
            skipped[vid] = f"8 kHz duplicate of {FLITE}:{name}16"
        else:
            voices.append(Voice(vid, FLITE, {"voice": name}))
    return voices, skipped


def _flite_say(voice: Voice, word: str, speed: float, out: Path) -> None:
    cmd = [FLITE, "-voice", voice.params["voice"], "--setf", f"duration_stretch={1.0 / speed:.6f}"]
    _run([*cmd, "-t", word, "-o", str(out)], f"{voice.id} saying {word!r}")


# ---------------------------------------------------------------------------------------------- festival


def _festival_voices() -> list[Voice]:
    out = _run([FESTIVAL, "--batch", "(print (voice.list))"], f"{FESTIVAL} voice list").stdout
    m = re.search(r"\(([^()]*)\)", out)
    names = m.group(1).split() if m else []
    return [Voice(f"{FESTIVAL}:{n}", FESTIVAL, {"voice": n}) for n in sorted(set(names)) if _SAFE_NAME.match(n)]


def _festival_say(voice: Voice, word: str, speed: float, out: Path) -> None:
    # Diphone and cluster voices stretch durations by Duration_Stretch; HTS voices ignore it and take the
    # hts_engine speed rate "-r" instead (a variable that exists only once an HTS voice is loaded). Setting
    # both is harmless: each voice reads only its own.
    path = str(out).replace("\\", "\\\\").replace('"', '\\"')
    cmds = [
        f"(voice_{voice.params['voice']})",
        f"(Parameter.set 'Duration_Stretch {1.0 / speed:.6f})",
        "(if (symbol-bound? 'hts_engine_params) "
        f'(set! hts_engine_params (append hts_engine_params (list (list "-r" {speed:.6f})))))',
        f'(utt.save.wave (utt.synth (Utterance Text "{word}")) "{path}" \'riff)',
    ]
    _run([FESTIVAL, "--batch", *cmds], f"{voice.id} saying {word!r}")
    if not out.exists():
        # festival reports some scheme errors on stdout and still exits 0.
        raise SynthError(f"{voice.id} saying {word!r}: {FESTIVAL} wrote no audio")


_SAY: dict[str, Callable[[Voice, str, float, Path], None]] = {
    ESPEAK: _espeak_say,
    FLITE: _flite_say,
    FESTIVAL: _festival_say,
}

# A word, or a short phrase with "_" for its spaces ("hey_tiny"): the folder name and the task name.
_WORD = re.compile(r"^[a-z][a-z']*(?:_[a-z][a-z']*){0,3}$")


def check_word(word: str) -> str:
    """The word, if it is safe to hand to every engine and to use as a folder name; else TinyKwsError."""
    if not _WORD.match(word):
        raise TinyKwsError(
            f"word {word!r}: only lower-case letters and apostrophes, up to four words joined by '_'"
        )
    return word


def say(voice: Voice, word: str, speed: float, out: str | Path) -> None:
    """Write `voice` saying `word` at `speed` (> 1 is faster) to the WAV `out`, in the engine's own format.

    Speed is applied natively by each engine (its prosody stretches vowels more than stops, unlike a
    time-stretch of the waveform). Raises SynthError with the engine's message if it fails.
    """
    check_word(word)
    out = Path(out)
    _SAY[voice.engine](voice, word.replace("_", " "), speed, out)
    if not out.exists() or out.stat().st_size <= 44:
        raise SynthError(f"{voice.id} saying {word!r}: no audio written")


# ---------------------------------------------------------------------------------------------- discovery


def _version(engine: str) -> str:
    try:
        proc = subprocess.run([engine, "--version"], capture_output=True, text=True, timeout=_TIMEOUT_S)
    except (OSError, subprocess.TimeoutExpired):
        return "unknown"
    lines = [ln.strip() for ln in (proc.stdout + proc.stderr).splitlines() if ln.strip()]
    pick = [ln for ln in lines if "version" in ln.lower() or re.search(r"\d+\.\d+", ln)]
    return (pick or lines or ["unknown"])[0][:120]


def discover_voices(
    engines: Iterable[str] | None = None,
    variants_per_voice: int = ESPEAK_VARIANTS_PER_VOICE,
    probe: Callable[[Voice], str | None] | None = None,
    jobs: int = 1,
) -> Discovery:
    """Every voice of the installed engines, in a fixed order (engine, then id).

    `probe(voice)` returns None if the voice works and an error message if not; each espeak-ng base voice,
    flite voice and festival voice is probed once (an espeak-ng voice's variants share its probe) and
    broken ones are skipped with a note. Without `probe`, nothing is tested.
    """
    wanted = list(ENGINES if engines is None else engines)
    unknown = [e for e in wanted if e not in ENGINES]
    if unknown:
        raise TinyKwsError(f"unknown TTS engine {', '.join(unknown)}; known: {', '.join(ENGINES)}")
    found = Discovery()
    # engine -> list of (voice to probe, voices that stand or fall with it)
    groups: dict[str, list[tuple[Voice, list[Voice]]]] = {}
    for engine in ENGINES:
        if engine not in wanted:
            continue
        if shutil.which(engine) is None:
            found.notes.append(f"{engine}: not installed (no `{engine}` on PATH), skipped")
            continue
        found.versions[engine] = _version(engine)
        try:
            if engine == ESPEAK:
                formant, mbrola = _espeak_voices(variants_per_voice)
                by_base: dict[str, list[Voice]] = {}
                for v in formant:
                    by_base.setdefault(v.params["voice"], []).append(v)
                # Probe the plain voice: a variant only changes formants and pitch, not whether it speaks.
                gs = [(Voice(f"{ESPEAK}:{b.rsplit('/', 1)[-1]}", ESPEAK, {"voice": b, "variant": ""}), vs)
                      for b, vs in by_base.items()]
                gs += [(v, [v]) for v in mbrola]
            elif engine == FLITE:
                voices, skipped = _flite_voices()
                found.skipped.update(skipped)
                found.notes += [f"{vid}: skipped, {why}" for vid, why in skipped.items()]
                gs = [(v, [v]) for v in voices]
            else:
                gs = [(v, [v]) for v in _festival_voices()]
        except SynthError as e:
            found.notes.append(f"{engine}: cannot list its voices, skipped ({e})")
            continue
        if not gs:
            found.notes.append(f"{engine}: installed but lists no English voice, skipped")
        groups[engine] = gs
    todo = [g for engine in groups for g in groups[engine]]
    if probe is None:
        errors: list[str | None] = [None] * len(todo)
    else:
        with ThreadPoolExecutor(max_workers=max(1, jobs)) as pool:
            errors = list(pool.map(lambda g: probe(g[0]), todo))
    result = dict(zip((g[0].id for g in todo), errors, strict=True))
    for engine, gs in groups.items():
        broken = []
        for head, members in gs:
            err = result[head.id]
            if err is None:
                found.voices.extend(members)
            else:
                broken.append((head.id, err))
                for v in members:
                    found.skipped[v.id] = err
        if broken:
            names = ", ".join(vid.split(":", 1)[1] for vid, _ in broken)
            found.notes.append(
                f"{engine}: skipped {len(broken)} voice(s) that do not work here: {names} "
                f"(first error: {broken[0][1]})"
            )
    found.voices.sort(key=lambda v: (ENGINES.index(v.engine), v.id))
    return found


def probe_voice(voice: Voice, check: Callable[[Path], str | None]) -> str | None:
    """Say the probe word with `voice`; None if it works, else why not. `check(wav)` judges the audio."""
    with tempfile.TemporaryDirectory(prefix="tinykws-probe-") as tmp:
        wav = Path(tmp) / "probe.wav"
        try:
            say(voice, _PROBE_WORD, 1.0, wav)
        except SynthError as e:
            return str(e).split(": ", 1)[-1]
        return check(wav)
