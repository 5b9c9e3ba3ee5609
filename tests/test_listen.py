"""`tinykws listen`: the --file path equals `tinykws detect`, and a virtual microphone (a private PulseAudio
server with a null sink whose monitor is the default source) hears the yeses played into it."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from tinykws.cli import main
from tinykws.config import CONFIG

RATE = CONFIG.audio.sample_rate
MIC_THRESHOLD = 15  # well below the yes clips' scores, above every other word's in this stream


@pytest.fixture(scope="module")
def stream(real_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, list[tuple[str, float, float]]]:
    """A WAV of four validation "yes" clips and four other words, 0.5 s of silence apart; (word, start, end)."""
    from tinykws.data import layout
    from tinykws.data.wav import read_wav, write_wav

    clips = sorted((c for c in layout.scan(real_dir) if c.split == "validation"), key=lambda c: str(c.path))
    yes = [c for c in clips if c.word == "yes"][1:5]
    others = [next(c for c in clips if c.word == w) for w in ("no", "left", "stop", "down")]
    gap = np.zeros(RATE // 2, np.int16)
    parts, spans, t = [gap, gap], [], 1.0
    for pair in zip(yes, others, strict=True):
        for clip in pair:
            audio = read_wav(clip.path)
            spans.append((clip.word, t, t + len(audio) / RATE))
            parts += [audio, gap]
            t += (len(audio) + len(gap)) / RATE
    path = tmp_path_factory.mktemp("listen") / "stream.wav"
    write_wav(path, np.concatenate(parts))
    return path, spans


def _lines(argv: list[str], capsys: pytest.CaptureFixture) -> list[str]:
    capsys.readouterr()
    assert main(argv) == 0
    return capsys.readouterr().out.splitlines()


@pytest.mark.parametrize("engine", ["python", "c"])
def test_file_equals_detect(stream, capsys, engine):
    path, spans = stream
    want = _lines(["detect", "--task", "yes", "--engine", engine, "--jsonl", str(path)], capsys)
    got = _lines(["listen", "--task", "yes", "--engine", engine, "--jsonl", "--file", str(path)], capsys)
    assert len(want) >= 3
    assert got == want
    # --seconds stops early: only the detections before that point.
    cut = _lines(["listen", "--engine", engine, "--jsonl", "--file", str(path), "--seconds", "6"], capsys)
    assert cut == [line for line in want if json.loads(line)["t"] <= 6.0]


def _wait_for(predicate, timeout: float, what: str) -> None:  # noqa: ANN001
    end = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > end:
            pytest.fail(f"timed out waiting for {what}")
        time.sleep(0.02)


@pytest.fixture
def pulse(tmp_path: Path):  # noqa: ANN201
    """A private PulseAudio server with a null sink `tkws` whose monitor is the default source; yields its env."""
    for tool in ("pulseaudio", "pactl", "paplay"):
        if shutil.which(tool) is None:
            pytest.fail(f"{tool} is missing: run make install")
    env = {k: v for k, v in os.environ.items() if k not in ("PULSE_SERVER", "PULSE_SINK", "PULSE_SOURCE")}
    env["PULSE_RUNTIME_PATH"] = str(tmp_path / "pulse")
    (tmp_path / "pulse").mkdir()
    daemon = ["pulseaudio", "--daemonize=yes", "--exit-idle-time=-1", "--system=false", "--disallow-exit", "-n",
              "--load=module-native-protocol-unix", "--log-target=stderr"]  # fmt: skip
    started = subprocess.run(daemon, env=env, capture_output=True, text=True, timeout=20)
    if started.returncode != 0:
        pytest.fail(f"pulseaudio did not start: {started.stderr.strip()}")
    try:
        ok = lambda: subprocess.run(["pactl", "info"], env=env, capture_output=True).returncode == 0  # noqa: E731
        _wait_for(ok, 10, "the PulseAudio server")
        for cmd in (["pactl", "load-module", "module-null-sink", "sink_name=tkws"],
                    ["pactl", "set-default-source", "tkws.monitor"]):  # fmt: skip
            subprocess.run(cmd, env=env, check=True, capture_output=True, timeout=10)
        yield env
    finally:
        subprocess.run(["pulseaudio", "-k"], env=env, capture_output=True, timeout=10)


def test_virtual_microphone(stream, pulse, tmp_path, capsys):
    from tinykws.firmware.listen import with_threshold
    from tinykws.train.evaluate import load_model

    path, spans = stream
    model, _ = load_model("yes", None)
    model_path = tmp_path / "model.npz"
    with_threshold(model, MIC_THRESHOLD).save(model_path)
    expected = [json.loads(line) for line in _lines(["detect", "--task", "yes", "--model", str(model_path),
                                                      "--jsonl", str(path)], capsys)]  # fmt: skip
    # The threshold makes the file's detections exactly the yes clips.
    yes_spans = [(a, b) for word, a, b in spans if word == "yes"]
    assert [d["keyword"] for d in expected] == ["yes"] * len(yes_spans)
    assert all(a < d["t"] < b + 1.0 for d, (a, b) in zip(expected, yes_spans, strict=True))

    duration = spans[-1][2] + 0.5
    out, err = tmp_path / "listen.out", tmp_path / "listen.err"
    cmd = [sys.executable, "-m", "tinykws.cli", "listen", "--task", "yes", "--jsonl", "--seconds",
           f"{duration + 1.5:.2f}", "--threshold", str(MIC_THRESHOLD)]  # fmt: skip
    with open(out, "w") as fo, open(err, "w") as fe:
        proc = subprocess.Popen(cmd, env=pulse, stdout=fo, stderr=fe)
        try:
            _wait_for(lambda: "listening on" in err.read_text() or proc.poll() is not None, 30, "listen to start")
            assert proc.poll() is None, err.read_text()
            subprocess.run(["paplay", "--device=tkws", str(path)], env=pulse, check=True, timeout=duration + 10)
            assert proc.wait(timeout=30) == 0, err.read_text()
        finally:
            if proc.poll() is None:
                proc.kill()
                proc.wait()
    # listen reports "listening on" with its first block, so its t = 0 is within ~0.1 s of the playback start.
    got = [json.loads(line) for line in out.read_text().splitlines()]
    assert [d["keyword"] for d in got] == ["yes"] * len(expected), (got, expected, err.read_text())
    for g, e in zip(got, expected, strict=True):
        assert abs(g["t"] - e["t"]) <= 0.5, (got, expected)
    assert f"{len(got)} detections (yes {len(got)})" in err.read_text()


def test_a_microphone_that_cannot_record_at_16_khz_is_resampled_without_seams(stream, monkeypatch):
    """A device refusing 16 kHz is opened at its own rate (48 kHz here, a fake PortAudio) and its blocks are
    resampled as one stream: what listen hears is the 16 kHz recording again, to rounding, blocks and all."""
    import threading
    import types

    from scipy.signal import resample_poly

    from tinykws.data.wav import read_wav, to_int16
    from tinykws.firmware import listen

    original = read_wav(stream[0])[: 3 * RATE]
    at48 = to_int16(resample_poly(original.astype(np.float64), 3, 1))
    device = {"index": 0, "name": "fake mic", "max_input_channels": 1, "default_samplerate": 48000.0}

    class InputStream:
        def __init__(self, device, samplerate, channels, dtype, blocksize, callback):  # noqa: ANN001
            assert samplerate == 48000 and blocksize == round(48000 * listen.BLOCK_SECONDS)
            self.blocksize, self.callback = blocksize, callback

        def __enter__(self):  # noqa: ANN204
            def play() -> None:
                for i in range(0, len(at48), self.blocksize):
                    self.callback(at48[i : i + self.blocksize, None], self.blocksize, None, None)

            threading.Thread(target=play, daemon=True).start()
            return self

        def __exit__(self, *exc: object) -> None:
            pass

    def refuse_16k(device, samplerate, channels, dtype):  # noqa: ANN001, ANN202
        if samplerate != 48000:
            raise ValueError("Invalid sample rate")

    fake = types.SimpleNamespace(query_devices=lambda *a: device if a else [device], check_input_settings=refuse_16k,
                                 InputStream=InputStream, PortAudioError=OSError)  # fmt: skip
    monkeypatch.setattr(listen, "import_sounddevice", lambda: fake)
    said: list[str] = []
    heard, got = [], 0
    for block in listen.mic_blocks(None, said.append):
        assert block.dtype == np.int16
        heard.append(block)
        got += len(block)
        if got >= len(original) - RATE // 10:
            break
    heard = np.concatenate(heard).astype(np.float64)
    assert any("cannot record at 16000 Hz: recording at 48000 Hz" in s for s in said), said
    # The filter's delay is whole output samples at 48 -> 16 kHz: 0. Its output is the original within rounding
    # everywhere, block edges included (each 50 ms block resampled on its own was not: seams at every edge).
    ref = original[: len(heard)].astype(np.float64)
    err = heard - ref
    inner = slice(RATE // 10, len(heard) - RATE // 10)
    assert np.sqrt(np.mean(err[inner] ** 2)) < 0.01 * np.sqrt(np.mean(ref[inner] ** 2))
