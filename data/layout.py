"""Reading Speech Commands folders: clips, labels of both tasks, and speaker-disjoint splits.

Two layouts are read:
- the full v0.02 archive (and tinykws's synthetic corpus): one folder per word, `<speaker>_nohash_<n>.wav`,
  optional `validation_list.txt` / `testing_list.txt`, `_background_noise_/`;
- the official test-set layout (`../shared/data/speech_commands_test_set_v0.02`): keyword folders,
  `_unknown_/<word>_<speaker>_nohash_<n>.wav`, `_silence_/<n>.wav`.
"""

from __future__ import annotations

import hashlib
import os
import re
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from tinykws.config import CONFIG, LabelConfig
from tinykws.errors import TinyKwsError

NOISE_DIR = "_background_noise_"
_SPEAKER_RE = re.compile(r"^(?:(?P<word>[a-z]+)_)?(?P<speaker>[0-9a-f]{8})_nohash_(?P<n>\d+)\.wav$")
# The dataset's own split scheme hashes into this many buckets (TensorFlow speech_commands `which_set`).
_MAX_NUM_WAVS_PER_CLASS = 2**27 - 1

SPLITS = ("train", "validation", "test")
_HOLDOUT_SALT = "tinykws-real-holdout/"
# The pseudo-speaker of a clip whose name carries no speaker (silence snippets): it keeps the split hash
# deterministic, and it is nobody.
_NO_SPEAKER = "silence-"


@dataclass(frozen=True)
class Clip:
    path: Path
    word: str  # the spoken word; the silence label for silence clips
    speaker: str  # 8 hex digits; for silence clips, a pseudo-speaker from the file name
    source: str  # "real" (Speech Commands recordings), "synth" (local TTS) or "running" (running speech)
    split: str  # one of SPLITS
    # A window of a longer recording (running speech) starts this many samples in; 0 for a clip of its own.
    offset: int = 0


class DatasetError(TinyKwsError):
    """A folder that is not a readable Speech Commands layout."""


def split_of(speaker: str, validation_percent: float, testing_percent: float, salt: str = "") -> str:
    """The dataset's deterministic speaker-hash split: a speaker's side never changes as data grows."""
    h = int(hashlib.sha1((salt + speaker).encode()).hexdigest(), 16)
    percent = (h % (_MAX_NUM_WAVS_PER_CLASS + 1)) * (100.0 / _MAX_NUM_WAVS_PER_CLASS)
    if percent < validation_percent:
        return "validation"
    if percent < validation_percent + testing_percent:
        return "test"
    return "train"


# A task is the 12-class `kws12` or a binary wake-word task named by its word ("yes", "marvin", "hey_tiny").
_WAKE_WORD_RE = re.compile(r"^[a-z]+(?:_[a-z]+)*$")
KWS12 = "kws12"


def check_task(task: str) -> str:
    """`task` if it names a task, else TinyKwsError; argparse `type=` for every `--task` option."""
    if task == KWS12 or (_WAKE_WORD_RE.match(task) and not task.startswith("not_")):
        return task
    raise TinyKwsError(
        f"unknown task {task!r}: expected 'kws12' or a wake word in lowercase letters, words joined by '_'"
    )


def keyword_task(keyword: str) -> str:
    """The task name of a wake word or short phrase typed by a user: "Hey Tiny" -> "hey_tiny"."""
    return check_task("_".join(keyword.lower().split()))


def label_index(word: str, task: str, labels: LabelConfig = CONFIG.labels) -> int:
    """Class index of a word for a task: `kws12` (silence, unknown, 10 keywords) or a wake word (0 / 1)."""
    if task == KWS12:
        names = labels.kws12_labels
        if word in names:
            return names.index(word)
        return names.index(labels.unknown_label)
    return int(word == check_task(task))


def task_labels(task: str, labels: LabelConfig = CONFIG.labels) -> tuple[str, ...]:
    if task == KWS12:
        return labels.kws12_labels
    return (f"not_{check_task(task)}", task)


def _read_list(path: Path) -> set[str]:
    if not path.exists():
        return set()
    return {line.strip() for line in path.read_text().splitlines() if line.strip()}


def is_test_set_layout(root: Path) -> bool:
    return (root / CONFIG.labels.unknown_label).is_dir()


def is_synthetic(root: str | os.PathLike) -> bool:
    """A corpus tinykws synthesised (`data synth` writes voices.json first), as opposed to recordings."""
    return (Path(root) / "voices.json").exists()


def scan(root: str | os.PathLike, source: str | None = None, labels: LabelConfig = CONFIG.labels) -> list[Clip]:
    """All clips under a Speech Commands folder of either layout, sorted by path.

    Splits: the full archive's lists where present, else the speaker hash. A test-set-layout folder is all
    official test data; tinykws trains on part of it, so it is split by the same speaker hash into train /
    validation with `real_validation_percent` of speakers held out.
    """
    root = Path(root)
    if not root.is_dir():
        raise DatasetError(f"{root}: no such dataset folder")
    if source is None:
        source = "synth" if is_synthetic(root) else "real"
    test_layout = is_test_set_layout(root)
    val_list = _read_list(root / "validation_list.txt")
    test_list = _read_list(root / "testing_list.txt")
    clips = []
    for word_dir in sorted(p for p in root.iterdir() if p.is_dir() and p.name != NOISE_DIR):
        for wav in sorted(word_dir.glob("*.wav")):
            if not wav.is_file():  # refused here, before a later stage stats or reads it in a worker
                kind = "a folder" if wav.is_dir() else "a broken link" if wav.is_symlink() else "not a regular file"
                raise DatasetError(f"{wav}: {kind}, not a WAV clip")
            clips.append(_clip(root, word_dir.name, wav, source, test_layout, val_list, test_list, labels))
    if not clips:
        raise DatasetError(f"{root}: no .wav clips in word folders (not a Speech Commands layout)")
    return clips


def _clip(
    root: Path,
    folder: str,
    wav: Path,
    source: str,
    test_layout: bool,
    val_list: set[str],
    test_list: set[str],
    labels: LabelConfig,
) -> Clip:
    m = _SPEAKER_RE.match(wav.name)
    if folder == labels.silence_label or m is None:
        # Silence snippets carry no speaker; hashing the file name still keeps the split deterministic.
        word = labels.silence_label if folder == labels.silence_label else folder
        speaker = _NO_SPEAKER + wav.stem
    else:
        word = m["word"] if folder == labels.unknown_label and m["word"] else folder
        speaker = m["speaker"]
    if test_layout:
        # Every test-set speaker hashes into the same 10 % band of the unsalted scheme (that is how the
        # official test set was chosen), so this second split needs a hash of its own.
        split = split_of(speaker, labels.real_validation_percent, 0.0, salt=_HOLDOUT_SALT)
    elif val_list or test_list:
        rel = f"{folder}/{wav.name}"
        split = "validation" if rel in val_list else "test" if rel in test_list else "train"
    else:
        split = split_of(speaker, labels.validation_percent, labels.testing_percent)
    return Clip(path=wav, word=word, speaker=speaker, source=source, split=split)


def people(clips: Iterable[Clip]) -> set[str]:
    """The speakers who said these clips: silence snippets (and files named without a speaker) are nobody."""
    return {c.speaker for c in clips if not c.speaker.startswith(_NO_SPEAKER)}


def noise_files(roots: Iterable[str | os.PathLike]) -> list[Path]:
    """Background-noise recordings found in `_background_noise_/` of any of the roots (or their parents)."""
    found: list[Path] = []
    for root in map(Path, roots):
        for cand in (root / NOISE_DIR, root.parent / NOISE_DIR):
            if cand.is_dir():
                found.extend(sorted(cand.glob("*.wav")))
    return sorted(set(found))


def default_roots() -> list[Path]:
    """The corpus a user trains on by default: the synthetic corpus plus the real clips of ../shared/data."""
    from tinykws.config import BUILD_DIR, SHARED_DATA_DIR

    roots = []
    synth = BUILD_DIR / "data" / "synth"
    if synth.is_dir():
        roots.append(synth)
    real = SHARED_DATA_DIR / "speech_commands_test_set_v0.02"
    if real.is_dir():
        roots.append(real)
    return roots


def default_running_speech_root() -> Path:
    """Real running speech beside the real clips: ../shared/data/librispeech."""
    from tinykws.config import SHARED_DATA_DIR

    return SHARED_DATA_DIR / "librispeech"


RUNNING_WORD = "_running_"  # a window of running speech: any word may be in it, so it is no class of its own
_RUNNING_RE = re.compile(r"^(?P<speaker>\d+)-\d+-\d+\.wav$")


def scan_running_speech(
    root: str | os.PathLike, window: int, hop: int, labels: LabelConfig = CONFIG.labels
) -> list[Clip]:
    """Windows (`window` samples every `hop`) of LibriSpeech-style running speech, `<speaker>-<chapter>-<n>.wav`,
    split by speaker with the same salted hash as the real clips, so no reader is on two sides."""
    from tinykws.data.wav import read_wav

    root = Path(root)
    if not root.is_dir():
        raise DatasetError(f"{root}: no such running-speech folder")
    out = []
    for wav in sorted(root.glob("*.wav")):
        m = _RUNNING_RE.match(wav.name)
        if m is None:
            raise DatasetError(f"{wav}: not a LibriSpeech file name (<speaker>-<chapter>-<n>.wav)")
        speaker = "librispeech-" + m["speaker"]
        split = split_of(speaker, labels.real_validation_percent, 0.0, salt=_HOLDOUT_SALT)
        n = len(read_wav(wav))
        for start in range(0, max(n - window, 0) + 1, hop):
            out.append(Clip(wav, RUNNING_WORD, speaker, "running", split, offset=start))
    if not out:
        raise DatasetError(f"{root}: no running-speech recordings (*.wav) in it")
    return out
