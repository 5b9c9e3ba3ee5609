"""`tinykws listen`: live keyword detection from a microphone (or a WAV fed in blocks as if it were one).

Audio arrives in blocks of ~50 ms of 16 kHz mono int16 and goes through the same engines as `tinykws detect`
(python or c). On a terminal it shows a level meter (dBFS), the current smoothed score and a line per
detection; when stdout is not a terminal, or with --jsonl, it prints only the detection lines of
`tinykws detect --jsonl`, flushed as they happen:

    {"t": 2.87, "hop": 142, "keyword": "yes", "score": 42.0}

`t` counts from the first sample heard. A device that cannot record at 16 kHz is opened at its default rate
and resampled as a stream (firmware/resample.py, the web page's filter): block edges leave no seam.
"""

from __future__ import annotations

import argparse
import dataclasses
import math
import queue
import sys
import time
from collections import Counter
from collections.abc import Callable, Iterator
from pathlib import Path
from types import ModuleType
from typing import TextIO

import numpy as np

from tinykws.config import CONFIG
from tinykws.data import layout
from tinykws.data.wav import to_int16
from tinykws.errors import TinyKwsError
from tinykws.firmware.detect import output_lines, scores_record
from tinykws.firmware.resample import StreamResampler
from tinykws.train.detector import detector_config
from tinykws.train.int_model import IntModel

BLOCK_SECONDS = 0.05
METER_WIDTH = 30
METER_FLOOR_DB = -60.0
NO_AUDIO_SECONDS = 5.0


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--task", type=layout.check_task, metavar="TASK", default="yes", help="default yes")
    parser.add_argument("--model", type=Path, default=None, help="integer model .npz (default: the shipped model)")
    parser.add_argument("--engine", choices=("python", "c"), default="python", help="default python")
    parser.add_argument("--device", default=None, help="input device index or name (see --list-devices)")
    parser.add_argument(
        "--threshold", type=int, default=None, help="detector threshold in int8 logit steps (default: the model's)"
    )
    parser.add_argument("--list-devices", action="store_true", help="list the input devices and exit")
    parser.add_argument("--file", type=Path, default=None, metavar="IN.wav", help="read blocks from a WAV instead")
    parser.add_argument("--realtime", action="store_true", help="with --file: pace the blocks in real time")
    parser.add_argument("--jsonl", action="store_true", help="print only the JSON detection lines")
    parser.add_argument("--seconds", type=float, default=None, help="stop after this much audio")


# --- audio sources -------------------------------------------------------------------------------------------


def import_sounddevice() -> ModuleType:
    """sounddevice, or a one-line TinyKwsError when it or the PortAudio library is missing."""
    try:
        import sounddevice
    except ImportError:
        raise TinyKwsError("the Python package sounddevice is missing: pip install sounddevice") from None
    except OSError as e:
        raise TinyKwsError(f"PortAudio is missing ({e}): apt-get install libportaudio2") from None
    return sounddevice


def input_devices(sd: ModuleType) -> list[dict]:
    return [dict(d) for d in sd.query_devices() if d["max_input_channels"] > 0]


def list_devices(out: TextIO = sys.stdout) -> None:
    sd = import_sounddevice()
    devices = input_devices(sd)
    if not devices:
        raise TinyKwsError("no audio input device found")
    default = sd.default.device[0]
    for d in devices:
        mark = "*" if d["index"] == default else " "
        rate = int(d["default_samplerate"])
        print(f"{mark} {d['index']:3d}  {d['name']}  ({d['max_input_channels']} in, {rate} Hz)", file=out)


def _device_arg(device: str | None) -> int | str | None:
    if device is None:
        return None
    return int(device) if device.strip().lstrip("-").isdigit() else device


def mic_blocks(device: str | None, report: Callable[[str], None]) -> Iterator[np.ndarray]:
    """Blocks of 16 kHz mono int16 from an input device until the consumer stops."""
    sd = import_sounddevice()
    if not input_devices(sd):
        raise TinyKwsError("no audio input device found (see `tinykws listen --list-devices`)")
    dev = _device_arg(device)
    try:
        info = sd.query_devices(dev, "input")
    except (ValueError, sd.PortAudioError) as e:
        raise TinyKwsError(f"bad --device {device!r}: {e} (see `tinykws listen --list-devices`)") from None
    want = CONFIG.audio.sample_rate
    rate = want
    try:
        sd.check_input_settings(device=info["index"], samplerate=want, channels=1, dtype="int16")
    except Exception:  # noqa: BLE001 - PortAudio answers with several error types
        rate = int(info["default_samplerate"])
        report(f"{info['name']} cannot record at {want} Hz: recording at {rate} Hz and resampling")
    resampler = StreamResampler(rate, want)
    blocks: queue.Queue[np.ndarray] = queue.Queue()

    def callback(indata: np.ndarray, _frames: int, _time: object, _status: object) -> None:
        blocks.put(indata[:, 0].copy())

    try:
        stream = sd.InputStream(
            device=info["index"], samplerate=rate, channels=1, dtype="int16",
            blocksize=round(rate * BLOCK_SECONDS), callback=callback,
        )  # fmt: skip
    except sd.PortAudioError as e:
        raise TinyKwsError(f"cannot open {info['name']}: {e}") from None
    with stream:
        first = True
        while True:
            try:
                block = blocks.get(timeout=NO_AUDIO_SECONDS)
            except queue.Empty:
                raise TinyKwsError(f"{info['name']}: no audio for {NO_AUDIO_SECONDS:.0f} s") from None
            if first:  # some servers take a second to deliver: say so only once audio flows
                report(f"listening on {info['name']} at {rate} Hz")
                first = False
            if rate != want:
                block = to_int16(resampler.push(block))
            yield block


def file_blocks(path: Path, realtime: bool, report: Callable[[str], None]) -> Iterator[np.ndarray]:
    """The WAV in ~50 ms blocks, paced in real time if asked."""
    from tinykws.data.wav import read_wav

    audio = read_wav(path, convert=True, report=report)
    rate = CONFIG.audio.sample_rate
    n = round(rate * BLOCK_SECONDS)
    report(f"listening to {path} ({len(audio) / rate:.2f} s)")
    start = time.monotonic()
    for i in range(0, len(audio), n):
        if realtime:
            delay = start + i / rate - time.monotonic()
            if delay > 0:
                time.sleep(delay)
        yield audio[i : i + n]


# --- engine and view -----------------------------------------------------------------------------------------


def with_threshold(model: IntModel, threshold: int | None) -> IntModel:
    """`model` whose meta["detector"] carries `threshold`: both engines (and the C build) read it from there."""
    if threshold is None:
        return model
    detector = {**(model.meta.get("detector") or {}), "threshold": int(threshold)}
    return dataclasses.replace(model, meta={**model.meta, "detector": detector})


def make_engine(model: IntModel, engine: str, source: str) -> object:
    if engine == "c":
        from tinykws.firmware.engine import CEngine

        return CEngine(model, record=True, source=source)
    from tinykws.train.engine import PythonEngine

    return PythonEngine(model, record=True)


def level_dbfs(block: np.ndarray) -> float:
    if len(block) == 0:
        return METER_FLOOR_DB
    rms = float(np.sqrt(np.mean(np.square(block.astype(np.float64)))))
    return max(METER_FLOOR_DB, 20.0 * math.log10(max(rms, 1e-9) / 32768.0))


def meter(db: float, width: int = METER_WIDTH) -> str:
    filled = round(width * (db - METER_FLOOR_DB) / -METER_FLOOR_DB)
    return "#" * filled + "." * (width - filled)


class View:
    """The terminal view: a status line redrawn in place, detection lines scrolling above it."""

    def __init__(self, out: TextIO, live: bool, threshold: int) -> None:
        self.out = out
        self.live = live
        self.threshold = threshold

    def detection(self, line: str) -> None:
        if self.live:
            self.out.write("\r\x1b[2K" + line + "\n")
        else:
            self.out.write(line + "\n")
        self.out.flush()

    def status(self, seconds: float, db: float, score: tuple[str, float] | None) -> None:
        if not self.live:
            return
        shown = f"{score[0]} {score[1]:6.1f}" if score else "(warming up)"
        self.out.write(
            f"\r\x1b[2K{seconds:8.2f} s  [{meter(db)}] {db:6.1f} dBFS  score {shown}  (threshold {self.threshold})"
        )
        self.out.flush()

    def end(self) -> None:
        if self.live:
            self.out.write("\r\x1b[2K")
            self.out.flush()


def best_score(model: IntModel, engine: object) -> tuple[str, float] | None:
    """The highest keyword smoothed score of the engine's latest hop; clears the engine's hop records."""
    hops = engine.hops
    latest = next((h for h in reversed(hops) if h.sums is not None), None)
    hops.clear()
    if latest is None:
        return None
    scores = scores_record(model, latest.hop, latest.logits, latest.sums).get("scores", {})
    return max(scores.items(), key=lambda kv: kv[1]) if scores else None


@dataclasses.dataclass
class Stats:
    samples: int = 0
    counts: Counter = dataclasses.field(default_factory=Counter)  # detections per keyword

    def summary(self) -> str:
        found = ", ".join(f"{k} {v}" for k, v in sorted(self.counts.items())) or "none"
        seconds = self.samples / CONFIG.audio.sample_rate
        return f"{seconds:.2f} s of audio, {sum(self.counts.values())} detections ({found})"


def listen(
    model: IntModel,
    engine: object,
    blocks: Iterator[np.ndarray],
    view: View,
    jsonl: bool,
    seconds: float | None = None,
    stats: Stats | None = None,
) -> Stats:
    """Feed `blocks` to `engine` until they end or `seconds` of audio; `stats` is kept up to date."""
    rate = CONFIG.audio.sample_rate
    limit = None if seconds is None else round(seconds * rate)
    stats = stats if stats is not None else Stats()
    for block in blocks:
        if limit is not None:
            block = block[: limit - stats.samples]
        stats.samples += len(block)
        heard = stats.samples
        detections = engine.process(np.ascontiguousarray(block, dtype=np.int16))
        for det in detections:
            stats.counts[model.labels[det.keyword]] += 1
        for line in output_lines(model, detections, None, jsonl):
            view.detection(line)
        view.status(heard / rate, level_dbfs(block), best_score(model, engine))
        if limit is not None and heard >= limit:
            break
    return stats


def run(args: argparse.Namespace) -> int:
    from tinykws.train.evaluate import load_model

    if args.list_devices:
        list_devices()
        return 0
    if args.seconds is not None and args.seconds <= 0:
        raise TinyKwsError(f"--seconds must be > 0, got {args.seconds}")
    if args.realtime and args.file is None:
        raise TinyKwsError("--realtime needs --file")
    jsonl = args.jsonl or not sys.stdout.isatty()

    def report(s: str) -> None:
        print(f"tinykws: {s}", file=sys.stderr, flush=True)

    model, path = load_model(args.task, args.model)
    model = with_threshold(model, args.threshold)
    engine = make_engine(model, args.engine, str(path))
    if args.file is not None:
        blocks = file_blocks(args.file, args.realtime, report)
    else:
        blocks = mic_blocks(args.device, report)
    view = View(sys.stdout, live=not jsonl, threshold=detector_config(model).threshold)
    interrupted = False
    stats = Stats()
    try:
        listen(model, engine, blocks, view, jsonl, args.seconds, stats)
    except KeyboardInterrupt:
        interrupted = True
    finally:
        try:
            blocks.close()  # stops the microphone stream
        except KeyboardInterrupt:
            interrupted = True
    view.end()
    summary = f"tinykws: {'stopped: ' if interrupted else ''}{stats.summary()}"
    print(summary, file=sys.stderr if jsonl else sys.stdout, flush=True)
    return 0
