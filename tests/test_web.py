"""The web demo in a real browser, Debian's Chromium headless (tests/chromium.py): the engine built for the wasm
board returns the Python engine's per-hop logits, smoothed sums and detections bit for bit; the page prints
`tinykws detect --jsonl`'s lines for a WAV beside it; Chromium's fake microphone playing a stream makes the page
report the same wake words; a refused or missing microphone says so; and `tinykws web` / `export --web` behave."""

from __future__ import annotations

import json
import shutil
import signal
import subprocess
import sys
import threading
import urllib.request
import wave
from pathlib import Path

import numpy as np
import pytest
from chromium import Chromium, Page, executable

from tinykws.cli import main
from tinykws.config import BUILD_DIR, CONFIG, LIVE

RATE = CONFIG.audio.sample_rate
MIC_TOLERANCE_S = 0.3  # when capture starts against the first sample heard
SCREENSHOT = BUILD_DIR / "web" / "screenshot-microphone.png"  # docs/web-demo.png is a copy of one


@pytest.fixture(scope="module", autouse=True)
def _chromium() -> None:
    if executable() is None:
        pytest.fail("chromium is missing: run make install (APT_PACKAGES)")


@pytest.fixture(scope="module")
def stream(real_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, list[tuple[str, float, float]]]:
    """Three validation "yes" clips between three other words, 0.4 s of silence apart; (word, start, end)."""
    from tinykws.data import layout
    from tinykws.data.wav import read_wav, write_wav

    clips = sorted((c for c in layout.scan(real_dir) if c.split == "validation"), key=lambda c: str(c.path))
    yes = [c for c in clips if c.word == "yes"][1:4]
    others = [next(c for c in clips if c.word == w) for w in ("no", "left", "stop")]
    gap = np.zeros(RATE * 2 // 5, np.int16)
    parts, spans, t = [gap, gap], [], 2 * len(gap) / RATE
    for pair in zip(yes, others, strict=True):
        for clip in pair:
            audio = read_wav(clip.path)
            spans.append((clip.word, t, t + len(audio) / RATE))
            parts += [audio, gap]
            t += (len(audio) + len(gap)) / RATE
    path = tmp_path_factory.mktemp("web") / "stream.wav"
    write_wav(path, np.concatenate([*parts, gap]))
    return path, spans


@pytest.fixture(scope="module")
def detect_lines(stream) -> list[str]:
    """`tinykws detect --task yes --engine python --jsonl` on the stream: exactly its yes clips."""
    out = subprocess.run([sys.executable, "-m", "tinykws.cli", "detect", "--task", "yes", "--engine", "python",
                          "--jsonl", str(stream[0])], capture_output=True, text=True, check=True).stdout  # fmt: skip
    lines = out.splitlines()
    yes_spans = [(a, b) for word, a, b in stream[1] if word == "yes"]
    got = [json.loads(line) for line in lines]
    assert [d["keyword"] for d in got] == ["yes"] * len(yes_spans), lines
    assert all(a < d["t"] < b + 1.0 for d, (a, b) in zip(got, yes_spans, strict=True)), lines
    return lines


@pytest.fixture(scope="module")
def site_dir(stream, tmp_path_factory) -> Path:
    """The shipped yes model's page, with the stream beside it."""
    from tinykws.firmware.web import export_web
    from tinykws.train.evaluate import load_model

    directory = tmp_path_factory.mktemp("site")
    model, path = load_model("yes", None)
    export_web(model, directory, path)
    shutil.copy(stream[0], directory / "stream.wav")
    return directory


@pytest.fixture(scope="module")
def site(site_dir):  # noqa: ANN201
    """The page served on a free port; yields its base URL."""
    from tinykws.firmware.web import serve

    server = serve(site_dir, 0)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}/"
    server.shutdown()
    server.server_close()


@pytest.fixture(scope="module")
def browser(tmp_path_factory):  # noqa: ANN201
    with Chromium(tmp_path_factory.mktemp("chromium") / "profile") as b:
        yield b


def _ready(page: Page, states: str = "ready") -> None:
    page.wait_for(f"['{states}', 'error'].includes(document.body.dataset.state)", timeout=30)
    status = page.evaluate("document.getElementById('status').textContent")
    assert page.evaluate("document.body.dataset.state") == states, status


# Feed the WAV's samples straight into the engine in chunks of every size the streaming contract names.
WASM_RUN = """(async () => {
  const { loadEngine, jsonLine } = await import("./kws.js");
  const bytes = await (await fetch("kws.wasm")).arrayBuffer();
  const module = await WebAssembly.compile(bytes);
  const engine = await loadEngine(module);
  const wav = await (await fetch("stream.wav")).arrayBuffer();
  const samples = new Int16Array(wav.slice(44));
  const hops = [], lines = [], sizes = [1, 160, 161, 1000, 16000, 7];
  for (let i = 0, k = 0; i < samples.length; k++) {
    const n = sizes[k % sizes.length];
    const r = engine.process(samples.subarray(i, i + n));
    for (const h of r.hops) hops.push([h.hop, h.logits && Array.from(h.logits), h.sums && Array.from(h.sums)]);
    for (const d of r.detections) lines.push(jsonLine(engine.record(d)));
    i += n;
  }
  return { hops, lines, imports: WebAssembly.Module.imports(module).length,
           exports: WebAssembly.Module.exports(module).map((e) => e.name) };
})()"""


def test_wasm_equals_the_python_engine(site, stream, detect_lines, browser):
    from tinykws.data.wav import read_wav
    from tinykws.firmware.detect import run_engine
    from tinykws.train.engine import PythonEngine
    from tinykws.train.evaluate import load_model

    model, _ = load_model("yes", None)
    engine = PythonEngine(model, record=True)
    run_engine(engine, read_wav(stream[0]), 1000)
    want = [[h.hop, None if h.logits is None else h.logits.tolist(), None if h.sums is None else h.sums.tolist()]
            for h in engine.hops]  # fmt: skip
    page = browser.open(site)
    _ready(page)
    got = page.evaluate(WASM_RUN)
    assert got["imports"] == 0, "the module imports something: no C library, no allocator, nothing from JS"
    assert not {"malloc", "free"} & set(got["exports"])
    assert len(got["hops"]) == len(want) and sum(h[1] is not None for h in want) > 0
    mismatch = next((i for i, (g, w) in enumerate(zip(got["hops"], want, strict=True)) if g != w), None)
    assert mismatch is None, f"hop {mismatch}: wasm {got['hops'][mismatch]} != python {want[mismatch]}"
    assert got["lines"] == detect_lines


def test_page_runs_a_wav_beside_it(site, detect_lines, browser):
    page = browser.open(site + "?wav=stream.wav")
    _ready(page, "done")
    assert page.evaluate("document.getElementById('detections').textContent").splitlines() == detect_lines
    assert page.evaluate("document.getElementById('detection-list').children.length") == len(detect_lines)
    assert "yes" in page.evaluate("document.getElementById('word').textContent")
    card = page.evaluate("document.getElementById('card').textContent")
    assert "kws.wasm" in card and "accuracy" in card
    missing = browser.open(site + "?wav=nothing.wav")
    _ready(missing, "error")
    assert "nothing.wav" in missing.evaluate("document.getElementById('status').textContent")


def test_page_converts_other_wavs(site, site_dir, stream, detect_lines, browser):
    """A 44.1 kHz stereo copy of the stream gives the same detections within two hops (the page's resampler is
    not scipy's, so not bit for bit)."""
    from scipy.signal import resample_poly

    from tinykws.data.wav import read_wav, to_int16

    other = to_int16(resample_poly(read_wav(stream[0]).astype(np.float64), 441, 160))
    with wave.open(str(site_dir / "stereo44.wav"), "wb") as w:
        w.setnchannels(2)
        w.setsampwidth(2)
        w.setframerate(44100)
        w.writeframes(np.stack([other, other], axis=1).astype("<i2").tobytes())
    page = browser.open(site + "?wav=stereo44.wav")
    _ready(page, "done")
    assert "converted: 2 channel(s) at 44100 Hz" in page.evaluate("document.getElementById('status').textContent")
    got = [json.loads(line) for line in page.evaluate("document.getElementById('detections').textContent")
           .splitlines()]  # fmt: skip
    want = [json.loads(line) for line in detect_lines]
    assert [d["keyword"] for d in got] == [d["keyword"] for d in want], (got, want)
    hop = CONFIG.features.hop_samples / RATE
    assert all(abs(g["t"] - w["t"]) <= 2 * hop + 1e-9 for g, w in zip(got, want, strict=True)), (got, want)


def test_page_rounds_to_int16_as_the_board(site, browser):
    """Float samples become int16 as data/wav.py's to_int16 makes them: x * 32768, half to even, clipped; equal
    rates pass through the resampler untouched."""
    from tinykws.data.wav import to_int16

    values = [0.5, 1.5, 2.5, -0.5, -1.5, -2.5, 1000.49, -1000.51, 32767.5, 40000.0, -32768.5, -40000.0]
    page = browser.open(site)
    _ready(page)
    got = page.evaluate(f"""import("./resample.js").then(({{ Resampler, toInt16 }}) => {{
        const x = Float32Array.from({values}, (v) => v / 32768);
        return [Array.from(toInt16(x)), Array.from(toInt16(new Resampler({RATE}, {RATE}).push(x)))];
    }})""")
    want = to_int16(np.array(values, dtype=np.float32).astype(np.float64)).tolist()
    assert got == [want, want]


def test_the_page_resampler_passes_every_frequency_the_front_end_hears(site, browser):
    """Microphone audio at 48 / 44.1 kHz reaches the engine with the band the mel filters read (up to
    mel_high_hz) flat, and what would alias into that band gone: otherwise the page's top mel bands are quieter
    than those the model learnt from 16 kHz recordings."""
    top = CONFIG.features.mel_high_hz
    freqs = [1000.0, 5000.0, top - 300.0, top]
    aliased = [RATE - top + 50.0, RATE - top + 400.0, 12000.0]  # fold back to top - 50 Hz and below
    page = browser.open(site)
    _ready(page)
    got = page.evaluate(f"""import("./resample.js").then(({{ Resampler }}) => {{
        const gain = (rate, f) => {{
            const x = new Float64Array(rate).map((_, i) => 0.5 * Math.sin(2 * Math.PI * f * i / rate));
            const r = new Resampler(rate, {RATE});
            const y = [];
            for (let i = 0; i < x.length; i += 128) y.push(...r.push(x.subarray(i, i + 128)));
            const mid = y.slice(2000, y.length - 2000);  // away from the start-up zeros
            const rms = Math.sqrt(mid.reduce((a, v) => a + v * v, 0) / mid.length);
            return 20 * Math.log10(rms / (0.5 / Math.SQRT2));
        }};
        return [48000, 44100].map((rate) => [{freqs}.map((f) => gain(rate, f)), {aliased}.map((f) => gain(rate, f))]);
    }})""")
    for (passed, stopped), rate in zip(got, (48000, 44100), strict=True):
        assert max(abs(g) for g in passed) < 0.1, (rate, passed)
        assert max(stopped) < -60.0, (rate, stopped)


def test_the_page_resamples_as_listen_does(site, browser):
    """deploy/web/resample.js and firmware/resample.py (`listen`'s) are one filter: the same outputs for the same
    input, fed in other block sizes (each is seamless: pushing in blocks equals pushing all at once)."""
    from tinykws.firmware.resample import StreamResampler

    rng = np.random.default_rng(7)
    page = browser.open(site)
    _ready(page)
    for rate in (48000, 44100, 8000):
        x = (0.3 * rng.standard_normal(rate // 4)).round(6)
        got = page.evaluate(f"""import("./resample.js").then(({{ Resampler }}) => {{
            const x = Float64Array.from({x.tolist()});
            const r = new Resampler({rate}, {RATE});
            const y = [];
            for (let i = 0; i < x.length; i += 128) y.push(...r.push(x.subarray(i, i + 128)));
            return y;
        }})""")
        r = StreamResampler(rate, RATE)
        sizes = rng.integers(1, 700, size=len(x))
        cuts = np.cumsum(sizes)[np.cumsum(sizes) < len(x)]
        want = np.concatenate([r.push(part) for part in np.split(x, cuts)])
        assert len(got) == len(want) > 0.9 * len(x) * RATE / rate - LIVE.resample_half_taps * 2
        assert np.abs(np.array(got) - want).max() < 1e-9, rate


def test_page_hears_the_fake_microphone(site, stream, detect_lines, tmp_path):
    path, spans = stream
    duration = spans[-1][2] + 0.4
    flags = ("--use-fake-ui-for-media-stream", "--use-fake-device-for-media-stream",
             f"--use-file-for-fake-audio-capture={path}%noloop")  # fmt: skip
    with Chromium(tmp_path / "profile", *flags) as b:
        page = b.open(site + "?listen=1")
        _ready(page, "listening")
        end = f"window.kws.engine.samples >= {round((duration + 0.3) * RATE)}"
        # The screenshot as the last yes is found (the meter still shows speech), then the rest of the stream.
        page.wait_for(f"document.getElementById('detection-list').children.length >= {len(detect_lines)} || {end}",
                      timeout=duration + 15)  # fmt: skip
        SCREENSHOT.parent.mkdir(parents=True, exist_ok=True)
        page.screenshot(SCREENSHOT)
        page.wait_for(end, timeout=duration + 15)
        got = [json.loads(line) for line in page.evaluate("document.getElementById('detections').textContent")
               .splitlines()]  # fmt: skip
        status = page.evaluate("document.getElementById('status').textContent")
    want = [json.loads(line) for line in detect_lines]
    assert [d["keyword"] for d in got] == [d["keyword"] for d in want], (got, want, status)
    # Each yes found once, at its word, as the file's detections are (the fixture's check). Not at the file's
    # very hop: the shipped detector's scores sit near its threshold, and the microphone's audio (resampled by
    # Chromium and back) may cross it a few hops earlier or later within the same word.
    yes_spans = [(a, b) for word, a, b in spans if word == "yes"]
    for g, (a, b) in zip(got, yes_spans, strict=True):
        assert a - MIC_TOLERANCE_S < g["t"] < b + 1.0 + MIC_TOLERANCE_S, (got, want)
    assert "resampled" in status


def test_page_says_when_there_is_no_microphone(site, browser):
    page = browser.open(site + "?listen=1")  # this browser has no fake device, and the machine none
    _ready(page, "error")
    assert "No microphone found" in page.evaluate("document.getElementById('status').textContent")
    assert page.evaluate("document.getElementById('listen').disabled") is False


def test_page_says_when_the_microphone_is_refused(site, tmp_path):
    with Chromium(tmp_path / "profile", "--use-fake-device-for-media-stream", "--deny-permission-prompts") as b:
        page = b.open(site + "?listen=1")
        _ready(page, "error")
        assert "refused" in page.evaluate("document.getElementById('status').textContent")


def test_web_command_serves_and_refuses_a_busy_port(tmp_path, capsys):
    # SIGINT as a terminal's Ctrl-C, also when the suite runs in the background (where it starts ignored).
    proc = subprocess.Popen([sys.executable, "-m", "tinykws.cli", "web", "--port", "0"], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True,
                            preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))  # fmt: skip
    try:
        line = proc.stdout.readline()
        assert line.startswith("serving ") and "http://127.0.0.1:" in line, line + proc.stderr.read()
        url = line.split()[3]
        with urllib.request.urlopen(url + "kws.wasm", timeout=10) as r:
            assert r.headers["Content-Type"] == "application/wasm" and r.read(4) == b"\0asm"
        with urllib.request.urlopen(url, timeout=10) as r:
            assert b'id="detections"' in r.read()
        port = url.rstrip("/").rsplit(":", 1)[1]
        capsys.readouterr()
        assert main(["web", "--port", port]) == 2
        err = capsys.readouterr().err
        assert err == f"tinykws: 127.0.0.1:{port} is in use: pass another --port (0 picks a free one)\n"
    finally:
        proc.send_signal(signal.SIGINT)
        assert proc.wait(timeout=10) == 0


def test_export_web_writes_the_folder_and_refuses_a_file(tmp_path, capsys):
    out = tmp_path / "site"
    assert main(["export", "--task", "yes", "--web", str(out), "--c-dir", str(tmp_path / "c")]) == 0
    printed = [Path(p) for p in capsys.readouterr().out.split()]
    names = {p.name for p in printed}
    assert {"index.html", "app.js", "worklet.js", "kws.js", "kws.wasm", "model.json", "kws_model.h"} <= names
    card = json.loads((out / "model.json").read_text())
    assert card["keywords"] == ["yes"] and card["wasm_bytes"] == (out / "kws.wasm").stat().st_size
    html = (out / "index.html").read_text() + (out / "app.js").read_text()
    assert "http://" not in html.replace("http://127.0.0.1", "") and "https://" not in html  # no CDN
    (tmp_path / "file").write_text("x")
    assert main(["export", "--task", "yes", "--web", str(tmp_path / "file")]) == 2
    assert capsys.readouterr().err.strip().endswith("exists and is not a folder")
