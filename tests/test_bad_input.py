"""Bad input to every command: one clear line, exit != 0, nothing half-written; a full disk; Ctrl-C and resume.

Each row of TABLE is (command line, bad input prepared in a fresh folder, expected message fragment). The real
CLI runs in a subprocess through DRIVER, which calls `tinykws.cli.main` exactly as the console script does,
with three test-only settings read from the environment:
- TKWS_BUILD: `BUILD_DIR` inside the test's folder, so no row writes to the repository's build/;
- TKWS_TINY: a small model and training schedule (as tests/test_train.py's), so a training run takes seconds;
- TKWS_FSIZE: a full disk. RLIMIT_FSIZE makes any write past N bytes fail with EFBIG (SIGXFSZ ignored), for
  tinykws's own writes only: the programs it runs (espeak-ng, sox, make, git) get the limit lifted through
  `prlimit`, since espeak-ng cannot even start under one.
Ctrl-C is SIGINT to the whole process group, as a terminal sends it, so worker processes and TTS engines get
it too.

The WAV kinds of tests/test_wav_cli.py (BAD, which it feeds `tinykws features` in-process) go through the
other commands that read WAVs here, and this file adds the kinds it lacks (MORE_WAVS).
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import struct
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pytest
from test_wav_cli import BAD, TONE, _wav_bytes

from tinykws.config import CONFIG
from tinykws.data import layout
from tinykws.train.int_model import IntModel

REPO = Path(__file__).resolve().parent.parent
SHIPPED_YES = REPO / "models" / "yes" / "model.npz"

DRIVER = """
import dataclasses, os, sys
from pathlib import Path

import tinykws.config as config

config.BUILD_DIR = Path(os.environ["TKWS_BUILD"])
if os.environ.get("TKWS_TINY"):
    # One thread and one worker: a tiny model gains nothing from more, and on a loaded machine torch's
    # spinning threads make a run ten times slower.
    os.cpu_count = lambda: 1
    c = config.CONFIG
    config.CONFIG = dataclasses.replace(
        c,
        model=dataclasses.replace(c.model, channels=8, dilations=(1, 2)),
        train=dataclasses.replace(c.train, float_epochs=3, qat_epochs=3, observer_epochs=1, examples_per_epoch=2048,
                                  batch_size=64, augment_copies=1, silence_clips=40),
    )
if os.environ.get("TKWS_FSIZE"):
    import resource, signal, subprocess

    hard = resource.getrlimit(resource.RLIMIT_FSIZE)[1]
    signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
    resource.setrlimit(resource.RLIMIT_FSIZE, (int(os.environ["TKWS_FSIZE"]), hard))
    lifted = "unlimited" if hard == resource.RLIM_INFINITY else str(hard)
    popen_init = subprocess.Popen.__init__

    def unlimited_child(self, args, *a, **kw):
        popen_init(self, ["prlimit", f"--fsize={lifted}:", "--", *args], *a, **kw)

    subprocess.Popen.__init__ = unlimited_child
from tinykws.cli import main

sys.exit(main(sys.argv[1:]))
"""


def run_cli(argv: list[str], cwd: Path, build: Path, env: dict | None = None) -> subprocess.CompletedProcess:
    full_env = {**os.environ, "TKWS_BUILD": str(build), **(env or {})}
    cmd = [sys.executable, "-c", DRIVER, *argv]
    return subprocess.run(cmd, cwd=cwd, env=full_env, capture_output=True, text=True, timeout=300)


def error_lines(stderr: str) -> list[str]:
    # `note:` lines are data synth's report of skipped voices (mbrola ones where mbrola is not installed).
    return [line for line in stderr.splitlines() if line.strip() and not line.startswith("note: ")]


def files_under(root: Path) -> set[str]:
    return {str(p.relative_to(root)) for p in root.rglob("*") if p.is_file() or p.is_symlink()}


def temp_files(root: Path) -> list[Path]:
    """Leftovers of atomic writes (`.NAME.XXXX.tmp`) anywhere under root."""
    return [p for p in root.rglob(".*") if p.name.endswith(".tmp")]


# --- inputs ----------------------------------------------------------------------------------------------------


def _rf64(claimed: int) -> bytes:
    """An RF64 header (the WAV variant for files over 4 GB) whose ds64 chunk claims `claimed` bytes of audio."""
    fmt = b"fmt " + struct.pack("<IHHIIHH", 16, 1, 1, 16000, 32000, 2, 16)
    ds64 = b"ds64" + struct.pack("<IQQQI", 28, claimed + 36, claimed, claimed // 2, 0)
    body = b"WAVE" + ds64 + fmt + b"data" + struct.pack("<I", 0xFFFFFFFF) + TONE[:1000].tobytes()
    return b"RF64" + struct.pack("<I", 0xFFFFFFFF) + body


def _chunks(*chunks: tuple[bytes, bytes]) -> bytes:
    body = b"WAVE" + b"".join(cid + struct.pack("<I", len(data)) + data for cid, data in chunks)
    return b"RIFF" + struct.pack("<I", len(body)) + body


_FMT16 = struct.pack("<HHIIHH", 1, 1, 16000, 32000, 2, 16)

# Kinds test_wav_cli.py does not have: (bytes, fragment without --convert, fragment with --convert).
MORE_WAVS = {
    "odd_byte_count": (_wav_bytes(TONE.tobytes()[:-1]), "not a whole number of 2-byte samples", None),
    "rf64_10gb_claim": (_rf64(10 * 10**9), "RF64 WAV", None),
    "pcm24": (_wav_bytes(b"\x00\x10\x00" * 16000, bits=24), "24-bit", None),
    "mulaw": (_wav_bytes(bytes(16000), bits=8, tag=7), "8-bit", "unsupported sample format (format tag 7"),
    "data_before_fmt": (_chunks((b"data", TONE.tobytes()), (b"fmt ", _FMT16)), "data chunk before fmt", None),
    "no_data_chunk": (_chunks((b"fmt ", _FMT16), (b"LIST", b"INFOjunk")), "no data chunk", None),
    "fmt_cut_short": (_chunks((b"fmt ", _FMT16[:10]), (b"data", TONE.tobytes())), "fmt chunk cut short", None),
    "zero_channels": (_wav_bytes(TONE.tobytes(), channels=0), "0 channels", "zero channels"),
    "rate_zero": (_wav_bytes(TONE.tobytes(), rate=0), "0 Hz", "invalid sample rate 0"),
    "float_nan": (_wav_bytes(np.full(16000, np.nan, "<f4").tobytes(), bits=32, tag=3), "float", "NaN"),
}
ALL_WAVS = {**BAD, **{k: (blob, msg) for k, (blob, msg, _) in MORE_WAVS.items()}}
# Some of what `listen --file` still refuses: it converts rate, channels and sample format by itself.
STRUCTURAL = ["truncated_header", "huge_claim", "empty_file", "odd_byte_count", "data_before_fmt"]


def _train_speakers(n: int) -> list[str]:
    """Speaker ids that the dataset's hash puts in the train split (so their clips are read by training)."""
    out, k = [], 0
    while len(out) < n:
        s = f"{k:08x}"
        if layout.split_of(s, 10.0, 10.0) == "train":
            out.append(s)
        k += 1
    return out


SPEAKERS = _train_speakers(4)


def _good(path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(_wav_bytes(TONE.tobytes()))


def bad_wav(kind: str, name: str = "bad.wav") -> Callable[[Path, pytest.FixtureRequest], dict]:
    def setup(tmp: Path, _request: pytest.FixtureRequest) -> dict:
        (tmp / name).write_bytes(ALL_WAVS[kind][0])
        return {}

    return setup


def folder_with_bad_clip(kind: str) -> Callable[[Path, pytest.FixtureRequest], dict]:
    """data/yes/ with good clips and data/no/ with one bad clip, every clip in the train split."""

    def setup(tmp: Path, _request: pytest.FixtureRequest) -> dict:
        for s in SPEAKERS[:3]:
            _good(tmp / "data" / "yes" / f"{s}_nohash_0.wav")
        (tmp / "data" / "no").mkdir()
        (tmp / "data" / "no" / f"{SPEAKERS[3]}_nohash_0.wav").write_bytes(ALL_WAVS[kind][0])
        return {}

    return setup


def folder(*, words: tuple[str, ...] = ("yes", "no"), odd: str | None = None) -> Callable:
    """data/<word>/ of good clips, plus one odd entry in data/no/: a folder, a broken link or a FIFO named .wav."""

    def setup(tmp: Path, request: pytest.FixtureRequest) -> dict:
        for w in words:
            for s in SPEAKERS:
                _good(tmp / "data" / w / f"{s}_nohash_0.wav")
        weird = tmp / "data" / "no" / "ffffffff_nohash_9.wav"
        weird.parent.mkdir(parents=True, exist_ok=True)
        if odd == "dir":
            weird.mkdir()
        elif odd == "dangling":
            weird.symlink_to(tmp / "gone.wav")
        elif odd == "fifo":
            os.mkfifo(weird)
        (tmp / "_background_noise_").symlink_to(request.getfixturevalue("real_dir").parent / "_background_noise_")
        return {}

    return setup


def empty_folder(tmp: Path, _request: pytest.FixtureRequest) -> dict:
    (tmp / "data" / "yes").mkdir(parents=True)
    (tmp / "data" / "yes" / "README.txt").write_text("no clips here\n")
    return {}


def model_file(kind: str) -> Callable:
    """A model.npz damaged in one way, from the shipped wake-word model."""

    def setup(tmp: Path, _request: pytest.FixtureRequest) -> dict:
        blob = SHIPPED_YES.read_bytes()
        path = tmp / "model.npz"
        if kind == "truncated":
            path.write_bytes(blob[: len(blob) // 2])
        elif kind == "random":
            path.write_bytes(np.random.default_rng(3).bytes(len(blob)))
        elif kind == "flipped":
            b = bytearray(blob)
            b[len(b) // 2 : len(b) // 2 + 8] = bytes(x ^ 0xFF for x in b[len(b) // 2 : len(b) // 2 + 8])
            path.write_bytes(bytes(b))
        elif kind == "missing_array":
            with np.load(SHIPPED_YES) as z:
                arrays = {k: z[k] for k in z.files if k != "l2_weight"}
            np.savez(path, **arrays)
        elif kind == "other_front_end":
            model = IntModel.load(SHIPPED_YES)
            model.feature_hash = "0123456789ab"
            model.save(path)
        _good(tmp / "clip.wav")
        frames = CONFIG.features.frames_for(CONFIG.audio.clip_samples)
        np.savez(tmp / "feats.npz", clip=np.zeros((frames, CONFIG.features.num_mfcc), np.int8))
        (tmp / "data" / "yes").mkdir(parents=True)
        _good(tmp / "data" / "yes" / f"{SPEAKERS[0]}_nohash_0.wav")
        return {}

    return setup


def tflite_file(kind: str) -> Callable:
    def setup(tmp: Path, _request: pytest.FixtureRequest) -> dict:
        from tinykws.deploy.tflite_export import tflite_bytes

        data = tflite_bytes(IntModel.load(SHIPPED_YES))
        if kind == "truncated":
            data = data[: len(data) // 2]
        elif kind == "wrong_magic":
            data = data[:4] + b"TFL2" + data[8:]
        elif kind == "flipped":  # the middle of the file is weight bytes: the flatbuffer itself still parses
            b = bytearray(data)
            b[len(b) // 2] ^= 0x01
            data = bytes(b)
        (tmp / "m.tflite").write_bytes(data)
        return {}

    return setup


def checkpoint(kind: str) -> Callable:
    """A copy of the tiny run's checkpoint.pt in run/, damaged in one way."""

    def setup(tmp: Path, request: pytest.FixtureRequest) -> dict:
        import torch

        run = request.getfixturevalue("tiny_run")
        (tmp / "run").mkdir()
        dest = tmp / "run" / "checkpoint.pt"
        blob = (run.out / "checkpoint.pt").read_bytes()
        if kind == "truncated":
            dest.write_bytes(blob[: len(blob) // 2])
        elif kind == "foreign":
            torch.save({"weights": torch.zeros(3)}, dest)
        elif kind in ("features_differ", "other_task"):
            state = torch.load(run.out / "checkpoint.pt", weights_only=False)
            if kind == "features_differ":
                state["config"]["features"]["num_mfcc"] = 13
            else:
                state["task"] = "yes"
            torch.save(state, dest)
        return {"data": str(run.data)}

    return setup


def good_wav(tmp: Path, _request: pytest.FixtureRequest) -> dict:
    _good(tmp / "good.wav")
    return {}


def tiny_data_path(_tmp: Path, request: pytest.FixtureRequest) -> dict:
    return {"data": str(request.getfixturevalue("tiny_run").data)}


# --- the table -------------------------------------------------------------------------------------------------


@dataclass
class Row:
    argv: list[str]  # run in the row's folder; {data} etc. come from the setup's dict
    setup: Callable[[Path, pytest.FixtureRequest], dict]
    fragment: str
    env: dict = field(default_factory=dict)
    kept: tuple[str, ...] = ()  # complete files a failed run may leave (data synth writes voices.json first)
    shared_build: bool = False  # use the tiny run's build folder (its cached feature bank)


TINY = {"TKWS_TINY": "1"}
# The teacher on the tiny bank only: the running-speech windows would cost minutes of embeddings.
TRAIN = ["train", "--task", "kws12", "--data", "{data}", "--out", "run", "--no-progress", "--transfer", "none"]
TABLE: dict[str, Row] = {}

# The kinds test_wav_cli.py feeds `tinykws features` through the streaming detector; the new kinds through both.
for kind, (_, msg) in ALL_WAVS.items():
    if kind != "too_short" and (kind in BAD or kind in ("odd_byte_count", "rf64_10gb_claim")):
        # (a stream shorter than one window is no error for detect: it just holds no detection)
        TABLE[f"detect-{kind}"] = Row(["detect", "--task", "yes", "bad.wav"], bad_wav(kind), msg)
for kind, (_, msg, converted) in MORE_WAVS.items():
    TABLE[f"features-{kind}"] = Row(["features", "bad.wav", "-o", "out/f.npz"], bad_wav(kind), msg)
    if converted:
        TABLE[f"features-convert-{kind}"] = Row(
            ["features", "bad.wav", "-o", "out/f.npz", "--convert"], bad_wav(kind), converted
        )
for kind in STRUCTURAL:
    TABLE[f"listen-{kind}"] = Row(["listen", "--task", "yes", "--file", "bad.wav"], bad_wav(kind), ALL_WAVS[kind][1])
for kind in ("stereo", "truncated_data", "float_nan"):
    msg = ALL_WAVS[kind][1]
    TABLE[f"eval-folder-{kind}"] = Row(["eval", "--task", "yes", "--data", "data"], folder_with_bad_clip(kind), msg)
for kind in ("rate_8k", "zero_length"):
    msg = ALL_WAVS[kind][1]
    TABLE[f"features-build-{kind}"] = Row(
        ["features", "build", "--data", "data", "--out", "out/c.npz", "--jobs", "1", "--no-progress"],
        folder_with_bad_clip(kind),
        msg,
    )
for kind in ("stereo", "empty_file"):
    TABLE[f"firmware-run-{kind}"] = Row(
        ["firmware", "run", "--task", "yes", "bad.wav"], bad_wav(kind), ALL_WAVS[kind][1]
    )
TABLE["train-folder-stereo"] = Row(
    ["train", "--task", "yes", "--data", "data", "--out", "run", "--no-progress"],
    folder_with_bad_clip("stereo"),
    "2 channels",
    env=TINY,
)

# Dataset folders: missing classes, entries that cannot be read, nothing at all.
for cmd, argv in {
    "eval": ["eval", "--task", "yes", "--data", "{dir}"],
    "data-info": ["data", "info", "{dir}"],
    "features-build": ["features", "build", "--data", "{dir}", "--out", "out/c.npz", "--no-progress"],
}.items():
    TABLE[f"{cmd}-no-such-folder"] = Row([a.replace("{dir}", "nope") for a in argv], good_wav, "nope: no such dataset")
    argv = [a.replace("{dir}", "data") for a in argv]
    for odd, msg in (("dir", "a folder, not a WAV clip"), ("dangling", "a broken link"), ("fifo", "not a regular")):
        TABLE[f"{cmd}-{odd}-named-wav"] = Row(argv, folder(odd=odd), msg)
    TABLE[f"{cmd}-empty-folder"] = Row(argv, empty_folder, "no .wav clips")
TABLE["eval-missing-wake-word"] = Row(
    ["eval", "--task", "yes", "--data", "data"], folder(words=("no",)), "no clips of yes (split all, task yes)"
)
TABLE["eval-missing-keywords"] = Row(
    ["eval", "--task", "kws12", "--data", "data"], folder(words=("yes", "no")), "no clips of up, down, left"
)
TABLE["train-missing-wake-word"] = Row(
    ["train", "--task", "yes", "--data", "data", "--out", "run", "--no-progress"],
    folder(words=("no", "left")),
    "no training clips of yes (task yes)",
    env=TINY,
)
TABLE["train-broken-link"] = Row(
    ["train", "--task", "yes", "--data", "data", "--out", "run", "--no-progress"],
    folder(odd="dangling"),
    "a broken link",
    env=TINY,
)
TABLE["bad-task-name"] = Row(["eval", "--task", "Yes!", "--data", "data"], good_wav, "unknown task 'Yes!'")

# Models: a damaged model.npz, or one made for another front end, wherever a model is read.
MODEL_CMDS = {
    "predict": ["predict", "--task", "yes", "feats.npz", "--model", "model.npz"],
    "eval": ["eval", "--task", "yes", "--data", "data", "--model", "model.npz"],
    "detect": ["detect", "--task", "yes", "clip.wav", "--model", "model.npz"],
    "export": ["export", "--task", "yes", "--model", "model.npz", "--c-dir", "out/c", "--tflite", "out/m.tflite"],
    "inspect": ["inspect", "model.npz"],
}
for cmd, argv in MODEL_CMDS.items():
    TABLE[f"{cmd}-model-truncated"] = Row(argv, model_file("truncated"), "not a tinykws integer model (BadZipFile)")
    TABLE[f"{cmd}-model-missing-array"] = Row(argv, model_file("missing_array"), "corrupt tinykws integer model")
    if cmd != "inspect":  # inspect shows the mismatch; it is the tool for looking at such a file
        TABLE[f"{cmd}-model-other-front-end"] = Row(
            argv, model_file("other_front_end"), "model was trained on features 0123456789ab"
        )
for kind, msg in (("random", "not a tinykws integer model"), ("flipped", "not a tinykws integer model")):
    TABLE[f"export-model-{kind}"] = Row(MODEL_CMDS["export"], model_file(kind), msg)
TABLE["inspect-model-random"] = Row(MODEL_CMDS["inspect"], model_file("random"), "neither a tinykws model")
TABLE["predict-features-not-npz"] = Row(
    ["predict", "--task", "yes", "clip.wav"], model_file("truncated"), "clip.wav: not a features .npz"
)

# .tflite files: only `tinykws inspect` reads them.
TABLE["inspect-tflite-truncated"] = Row(["inspect", "m.tflite"], tflite_file("truncated"), "corrupt TFLite file")
TABLE["inspect-tflite-wrong-magic"] = Row(["inspect", "m.tflite"], tflite_file("wrong_magic"), "neither")
TABLE["inspect-tflite-flipped-weight"] = Row(
    ["inspect", "m.tflite"], tflite_file("flipped"), "tinykws.sha256 does not match"
)

# Checkpoints: `--resume` (and --export-only) refuse them before any data preparation.
for kind, msg in (
    ("truncated", "not a readable checkpoint"),
    ("foreign", "not a tinykws checkpoint (no task, epoch"),
    ("features_differ", "checkpoint was made with another config (features differ)"),
    ("other_task", "checkpoint is of task yes, not kws12"),
):
    TABLE[f"train-resume-checkpoint-{kind}"] = Row([*TRAIN, "--resume"], checkpoint(kind), msg, env=TINY)
TABLE["train-export-only-checkpoint-truncated"] = Row(
    [*TRAIN, "--export-only"], checkpoint("truncated"), "not a readable checkpoint", env=TINY
)

# A full disk while writing (every write past the limit fails with EFBIG).
TABLE["full-disk-features-extract"] = Row(
    ["features", "good.wav", "-o", "out/f.npz"], good_wav, "out/f.npz: cannot write (File too large)",
    env={"TKWS_FSIZE": "200"},
)  # fmt: skip
TABLE["full-disk-export-c"] = Row(
    ["export", "--task", "yes", "--c-dir", "out/c"], good_wav, "kws_model.h: cannot write", env={"TKWS_FSIZE": "1000"}
)
TABLE["full-disk-export-tflite"] = Row(
    ["export", "--task", "yes", "--tflite", "out/m.tflite"], good_wav, "out/m.tflite: cannot write",
    env={"TKWS_FSIZE": "1000"},
)  # fmt: skip
TABLE["full-disk-features-build"] = Row(
    ["features", "build", "--data", "data", "--out", "out/c.npz", "--jobs", "1", "--no-progress"],
    folder(words=("yes", "no")),
    "cannot write (File too large)",
    env={"TKWS_FSIZE": "1000"},
)
TABLE["full-disk-data-synth"] = Row(
    ["data", "synth", "--out", "out", "--words", "yes", "--engines", "espeak-ng", "--limit-voices", "1", "--jobs",
     "1", "--no-progress"],
    good_wav,
    "_nohash_0.wav: cannot write (File too large)",
    env={"TKWS_FSIZE": "20000"},  # a clip is 32044 bytes; voices.json, written first and whole, fits
    kept=("out/voices.json",),
)  # fmt: skip
TABLE["full-disk-train-checkpoint"] = Row(
    [*TRAIN, "--no-teacher"], tiny_data_path, "run/checkpoint.pt: cannot write (File too large)",
    env={**TINY, "TKWS_FSIZE": "20000"}, shared_build=True,
)  # fmt: skip
# With the teacher, its head (~0.9 MB) is the first file a run writes (its embeddings are in the shared cache).
TABLE["full-disk-train-teacher-head"] = Row(
    TRAIN, tiny_data_path, "run/teacher_head.pt: cannot write (File too large)",
    env={**TINY, "TKWS_FSIZE": "20000"}, shared_build=True,
)  # fmt: skip


@dataclass
class TinyRun:
    data: Path
    build: Path
    out: Path
    stderr: str


@pytest.fixture(scope="module")
def tiny_run(tiny_data, tmp_path_factory) -> TinyRun:
    """An uninterrupted tiny training run through the CLI: the reference the resumed run must equal."""
    base = tmp_path_factory.mktemp("tiny_run")
    r = run_cli([*(a.format(data=tiny_data) for a in TRAIN)], base, base / "build", TINY)
    assert r.returncode == 0, r.stderr
    return TinyRun(tiny_data, base / "build", base / "run", r.stderr)


@pytest.mark.parametrize("name", list(TABLE))
def test_bad_input_gives_one_line_and_leaves_nothing(name, tmp_path, request):
    row = TABLE[name]
    subs = row.setup(tmp_path, request) or {}
    before = files_under(tmp_path)
    build = request.getfixturevalue("tiny_run").build if row.shared_build else tmp_path / "build"
    r = run_cli([a.format(**subs) for a in row.argv], tmp_path, build, row.env)
    lines = error_lines(r.stderr)
    assert r.returncode == 2, (r.returncode, r.stderr[-2000:])  # TinyKwsError's exit code
    assert "Traceback" not in r.stderr, r.stderr[-2000:]
    assert len(lines) == 1 and lines[0].startswith("tinykws: "), r.stderr[-2000:]
    assert row.fragment in lines[0], lines[0]
    left = files_under(tmp_path) - before - set(row.kept)
    assert not left, f"{name} left {sorted(left)}"
    assert not temp_files(build), temp_files(build)


def _command(argv: list[str]) -> str:
    if argv[0] == "features" and argv[1] != "build":
        return "features extract"  # the short form `tinykws features IN.wav -o OUT.npz`
    return " ".join(argv[:2]) if argv[0] in ("data", "features", "firmware") else argv[0]


def test_table_covers_every_command_that_reads_user_files():
    """Every command of the CLI that reads a WAV, a dataset folder, a model or a checkpoint has rows."""
    from tinykws.cli import COMMANDS

    covered = {_command(r.argv) for r in TABLE.values()}
    readers = {"data info", "data synth", "features extract", "features build", "train", "eval", "predict",
               "export", "inspect", "detect", "listen", "firmware run"}  # fmt: skip
    names = {" ".join(k for k in key if k) for key in COMMANDS}
    assert readers <= names, readers - names
    assert readers <= covered, readers - covered


# --- Ctrl-C, then the same command again -------------------------------------------------------------------------


def interrupt_when(argv: list[str], cwd: Path, build: Path, ready: Callable[[], bool], env: dict | None = None):
    """Start the CLI, wait until `ready()`, then SIGINT its process group as a terminal's Ctrl-C does."""
    full_env = {**os.environ, "TKWS_BUILD": str(build), **(env or {})}
    # A shell starts background jobs with SIGINT ignored and Python then never raises KeyboardInterrupt: when
    # the suite itself runs in the background (CI runners, nohup), the child must get Ctrl-C as a terminal would.
    p = subprocess.Popen([sys.executable, "-c", DRIVER, *argv], cwd=cwd, env=full_env, text=True,
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE, start_new_session=True,
                         preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))  # fmt: skip
    deadline = time.monotonic() + 240
    while not ready() and p.poll() is None and time.monotonic() < deadline:
        time.sleep(0.005)
    if p.poll() is None:
        os.killpg(p.pid, signal.SIGINT)
    out, err = p.communicate(timeout=240)
    return subprocess.CompletedProcess(p.args, p.returncode, out, err)


def assert_interrupted(r: subprocess.CompletedProcess, root: Path) -> None:
    lines = error_lines(r.stderr)
    assert r.returncode == 130, (r.returncode, r.stderr[-2000:], "finished before the signal?")
    assert "Traceback" not in r.stderr, r.stderr[-3000:]
    assert len(lines) == 1 and lines[0].startswith("tinykws: interrupted"), r.stderr[-2000:]
    assert not temp_files(root), temp_files(root)


def test_ctrl_c_during_synth_then_rerun_equals_an_uninterrupted_run(tmp_path):
    argv = ["data", "synth", "--out", "OUT", "--words", "yes,no,up,down,left,right,on,off,stop,go", "--engines",
            "espeak-ng", "--limit-voices", "3", "--jobs", "2", "--no-progress"]  # fmt: skip
    for tool in ("espeak-ng", "sox"):
        assert shutil.which(tool), f"{tool} not installed: run `make install`"
    build = tmp_path / "build"
    ref = run_cli([a.replace("OUT", "ref") for a in argv], tmp_path, build)
    assert ref.returncode == 0, ref.stderr
    b = tmp_path / "b"
    r = interrupt_when([a.replace("OUT", "b") for a in argv], tmp_path, build, lambda: any(b.glob("*/*.wav")))
    assert_interrupted(r, tmp_path)
    made = {p.relative_to(b): p.read_bytes() for p in b.glob("*/*.wav")}
    want = {p.relative_to(tmp_path / "ref"): p.read_bytes() for p in (tmp_path / "ref").glob("*/*.wav")}
    assert made and len(made) < len(want), "the interruption came after the last clip: nothing to resume"
    assert all(want[k] == v for k, v in made.items()), "a clip written before Ctrl-C differs (half-written?)"
    assert run_cli([a.replace("OUT", "b") for a in argv], tmp_path, build).returncode == 0
    again = {p.relative_to(b): p.read_bytes() for p in b.glob("*/*.wav")}
    assert again == want
    for name in ("manifest.json", "voices.json"):
        assert json.loads((b / name).read_text()) == json.loads((tmp_path / "ref" / name).read_text()), name


@pytest.fixture(scope="module")
def half_corpus(real_dir, tmp_path_factory) -> Path:
    """Every other real clip (~1,600: seven feature shards), linked into a folder of the test-set layout."""
    ds = tmp_path_factory.mktemp("half") / "speech_commands_test_set_v0.02"
    for word_dir in sorted(p for p in real_dir.iterdir() if p.is_dir()):
        (ds / word_dir.name).mkdir(parents=True)
        for wav in sorted(word_dir.glob("*.wav"))[::2]:
            os.symlink(wav, ds / word_dir.name / wav.name)
    return ds


def test_ctrl_c_during_feature_extraction_then_rerun_equals_an_uninterrupted_run(half_corpus, tmp_path):
    argv = ["features", "build", "--data", str(half_corpus), "--out", "OUT/c.npz", "--jobs", "2", "--no-progress"]
    build = tmp_path / "build"
    assert run_cli([a.replace("OUT", "ref") for a in argv], tmp_path, build).returncode == 0
    shards = tmp_path / "b" / "shards"
    r = interrupt_when([a.replace("OUT", "b") for a in argv], tmp_path, build, lambda: any(shards.glob("*.npy")))
    assert_interrupted(r, tmp_path)
    assert not (tmp_path / "b" / "c.npz").exists()
    done = sorted(shards.glob("*.npy"))
    all_shards = sorted((tmp_path / "ref" / "shards").glob("*.npy"))
    assert done and len(done) < len(all_shards), "the interruption came after the last shard: nothing to resume"
    for p in done:  # every shard kept is whole and the same as the uninterrupted run's
        assert np.array_equal(np.load(p), np.load(tmp_path / "ref" / "shards" / p.name)), p.name
    assert run_cli([a.replace("OUT", "b") for a in argv], tmp_path, build).returncode == 0
    with np.load(tmp_path / "ref" / "c.npz") as want, np.load(tmp_path / "b" / "c.npz") as got:
        assert want.files == got.files
        for k in want.files:
            assert want[k].dtype == got[k].dtype and np.array_equal(want[k], got[k]), k


def _model_arrays(path: Path) -> dict:
    """A model.npz's arrays, and its header without the run report (which holds wall-clock seconds)."""
    with np.load(path) as z:
        arrays = {k: z[k] for k in z.files}
    header = json.loads(arrays.pop("header").tobytes())
    header["meta"].pop("report")
    header["meta"].pop("git")
    return {**arrays, "header": header}


def test_ctrl_c_during_training_then_resume_equals_an_uninterrupted_run(tiny_run, tmp_path):
    import torch

    out = tmp_path / "run"
    argv = [a.format(data=tiny_run.data) for a in TRAIN]
    ckpt = out / "checkpoint.pt"
    r = interrupt_when(argv, tmp_path, tiny_run.build, ckpt.exists, TINY)  # signal during the second epoch
    assert_interrupted(r, tmp_path)
    assert "--resume` continues" in r.stderr
    assert not (out / "model.npz").exists()
    state = torch.load(ckpt, weights_only=False)  # whole, not half-written
    assert 1 <= state["epoch"] < 6, state["epoch"]
    again = run_cli([*argv, "--resume"], tmp_path, tiny_run.build, TINY)
    assert again.returncode == 0, again.stderr
    want, got = _model_arrays(tiny_run.out / "model.npz"), _model_arrays(out / "model.npz")
    assert want.keys() == got.keys()
    for k in want:
        same = want[k] == got[k] if k == "header" else np.array_equal(want[k], got[k])
        assert same, k
    a = torch.load(tiny_run.out / "checkpoint.pt", weights_only=False)
    b = torch.load(ckpt, weights_only=False)
    for part in ("float_state", "qat_state"):
        assert a[part].keys() == b[part].keys()
        for k in a[part]:
            assert torch.equal(a[part][k], b[part][k]), (part, k)


# --- generated C sources and build products --------------------------------------------------------------------


def test_edited_generated_sources_and_a_truncated_library_are_rebuilt_not_used(real_dir, tmp_path):
    """`firmware build` regenerates kws_model.c from the .npz before make (an edited or truncated one is never
    compiled), and a shared library cut short, which make would trust by its date and which would crash the
    process when loaded (SIGBUS), is rebuilt before it is loaded."""
    build = tmp_path / "build"
    argv = ["firmware", "build", "--board", "host", "--task", "yes"]
    r = run_cli(argv, tmp_path, build)
    assert r.returncode == 0, r.stderr
    (src,) = build.glob("firmware/models/*/src/kws_model.c")
    want = src.read_bytes()
    lib = src.parent.parent / "host" / "libkws_engine.so"
    edited = want.replace(b"{", b"{127, ", 1)
    for damaged in (edited, want[: len(want) // 2]):
        src.write_bytes(damaged)
        r = run_cli(argv, tmp_path, build)
        assert r.returncode == 0, r.stderr
        assert src.read_bytes() == want
    from tinykws.data.wav import read_wav, write_wav

    clip = tmp_path / "stream.wav"  # 3 s: ~100 hops of logits to compare
    write_wav(clip, np.concatenate([read_wav(real_dir / "yes" / "0bac8a71_nohash_0.wav")] * 3))
    lib.write_bytes(lib.read_bytes()[:10000])
    detect = ["detect", "--task", "yes", "--jsonl", "--scores", str(clip)]
    c = run_cli([*detect, "--engine", "c"], tmp_path, build)
    py = run_cli([*detect, "--engine", "python"], tmp_path, build)
    assert c.returncode == 0 and py.returncode == 0, c.stderr + py.stderr
    assert c.stdout == py.stdout and c.stdout.count('"logits"') > 90  # the same numbers, hop for hop
    assert lib.stat().st_size > 10000


def test_ctrl_c_during_teacher_embeddings_keeps_finished_shards(tiny_data, real_dir, tmp_path):
    """Ctrl-C while the teacher embeds the transfer set: exit 130 with one line, no temp file, and the shards
    finished before it are reused as they are by the next run, which computes only the rest."""
    running = tmp_path / "librispeech"
    running.mkdir()
    for wav in sorted((real_dir.parent / "librispeech").glob("*.wav"))[:6]:
        (running / wav.name).symlink_to(wav)
    argv = [a.format(data=tiny_data) for a in TRAIN[:-2]] + ["--running-speech", str(running), "--prepare-only"]
    build = tmp_path / "build"
    cache = build / "teacher" / "embeddings"
    r = interrupt_when(argv, tmp_path, build, lambda: any(cache.rglob("*.npy")), TINY)
    assert_interrupted(r, tmp_path)
    before = {p: p.stat().st_mtime_ns for p in cache.rglob("*.npy")}
    assert before
    again = run_cli(argv, tmp_path, build, TINY)
    assert again.returncode == 0 and "training rows prepared with teacher soft labels" in again.stdout, again.stderr
    after = {p: p.stat().st_mtime_ns for p in cache.rglob("*.npy")}
    assert len(after) > len(before), "the interruption came after the last shard: nothing left to compute"
    assert all(after[p] == t for p, t in before.items()), "a shard finished before Ctrl-C was computed again"
