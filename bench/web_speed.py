"""The README's web demo figures, generated: the size of a shipped model's kws.wasm and the page's CPU time per
second of audio in headless Chromium (Debian's, driven as tests/test_web.py drives it).

    .venv/bin/python bench/web_speed.py [--task yes] [--seconds 60] [--readme] [--from-json PATH]

Exports the page (firmware/web.py), writes a stream of real clips beside it, and times in the page, with
performance.now(): the engine (kws_process through kws.js, in the page's 50 ms blocks, with and without the
per-hop record the plot reads) and the microphone path's own work (the worklet's resampler and int16
conversion, in 128-frame render quanta, from 48 kHz and 44.1 kHz). Each figure is the median of several
runs after a warm-up run (the JIT's first tier is slower). The report goes to bench/results/web-TASK.json;
--readme writes the block between the README's web markers, which tests/test_readme.py checks.
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import subprocess
import sys
import tempfile
import threading
from pathlib import Path

import numpy as np

from tinykws import readme
from tinykws.config import CONFIG, REPO_ROOT, SHARED_DATA_DIR
from tinykws.errors import TinyKwsError, run_script

RESULTS = Path(__file__).resolve().parent / "results"
RUNS = 9
MIC_RATES = (48000, 44100)

# In the page: engine and microphone-path timings, ms per second of audio, medians of RUNS after a warm-up.
MEASURE = """(async () => {
  const { loadEngine } = await import("./kws.js");
  const { Resampler, toInt16 } = await import("./resample.js");
  const engine = await loadEngine("kws.wasm");
  const samples = new Int16Array((await (await fetch("bench.wav")).arrayBuffer()).slice(44));
  const seconds = samples.length / engine.info.sampleRate;
  const block = Math.round(engine.info.sampleRate / 20);
  const median = (f) => {
    f();
    const t = [];
    for (let i = 0; i < %(runs)d; i++) { const s = performance.now(); f(); t.push(performance.now() - s); }
    t.sort((a, b) => a - b);
    return t[t.length >> 1] / seconds;
  };
  const run = (record) => () => {
    engine.reset();
    for (let i = 0; i < samples.length; i += block) engine.process(samples.subarray(i, i + block), record);
  };
  const mic = {};
  for (const rate of %(rates)s) {
    const x = new Float32Array(Math.round(seconds * rate));
    for (let i = 0; i < x.length; i++) x[i] = samples[Math.floor((i * engine.info.sampleRate) / rate)] / 32768;
    mic[rate] = median(() => {
      const r = new Resampler(rate, engine.info.sampleRate);
      for (let i = 0; i < x.length; i += 128) toInt16(r.push(x.subarray(i, i + 128)));
    });
  }
  return { seconds, engine_record: median(run(true)), engine_no_record: median(run(false)), mic,
           user_agent: navigator.userAgent };
})()"""


def bench_stream(seconds: float) -> np.ndarray:
    """Real clips of every word of the test set's validation speakers, back to back, `seconds` long."""
    from tinykws.data import layout
    from tinykws.data.wav import read_wav

    real = SHARED_DATA_DIR / "speech_commands_test_set_v0.02"
    clips = sorted((c for c in layout.scan(real) if c.split == "validation"), key=lambda c: str(c.path))
    want = round(seconds * CONFIG.audio.sample_rate)
    parts, n = [], 0
    for clip in clips:
        if n >= want:
            break
        parts.append(read_wav(clip.path))
        n += len(parts[-1])
    if n < want:
        raise TinyKwsError(f"{real}: only {n / CONFIG.audio.sample_rate:.0f} s of validation clips")
    return np.concatenate(parts)[:want]


def chromium_version() -> str:
    r = subprocess.run(["chromium", "--version"], capture_output=True, text=True)
    return r.stdout.strip() or "chromium (version unknown)"


def measure(task: str, seconds: float) -> dict:
    sys.path.insert(0, str(REPO_ROOT / "tests"))
    from chromium import Chromium, executable

    from tinykws.data.wav import write_wav
    from tinykws.deploy.c_export import model_fingerprint
    from tinykws.firmware.web import WEB_BUILD_DIR, export_web, serve
    from tinykws.train.evaluate import load_model

    if executable() is None:
        raise TinyKwsError("chromium not found: run `make install`")
    model, path = load_model(task, None)
    site = WEB_BUILD_DIR / model_fingerprint(model)[:12]
    export_web(model, site, path)
    write_wav(site / "bench.wav", bench_stream(seconds))
    server = serve(site, 0)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        with tempfile.TemporaryDirectory() as tmp, Chromium(Path(tmp) / "profile") as browser:
            page = browser.open(f"http://127.0.0.1:{server.server_address[1]}/")
            page.wait_for("document.body.dataset.state === 'ready'")
            got = page.evaluate(MEASURE % {"runs": RUNS, "rates": json.dumps(list(MIC_RATES))}, timeout=600)
    finally:
        server.shutdown()
        server.server_close()
    return {
        "task": task,
        "model": str(path.relative_to(REPO_ROOT)) if path.is_relative_to(REPO_ROOT) else str(path),
        "model_id": model_fingerprint(model)[:12],
        "wasm_bytes": (site / "kws.wasm").stat().st_size,
        "audio_seconds": got["seconds"],
        "ms_per_audio_second": {
            "engine_with_hop_record": got["engine_record"],
            "engine_detections_only": got["engine_no_record"],
            **{f"microphone_path_{r}_hz": got["mic"][str(r)] for r in MIC_RATES},
        },  # fmt: skip
        "browser": chromium_version(),
        "cores": os.cpu_count(),
        "load_average": round(os.getloadavg()[0], 1),  # the machine's other work inflates every figure
        "runs": RUNS,
        "measured": {
            "utc": f"{datetime.datetime.now(datetime.UTC):%Y-%m-%d %H:%M}",
            "command": f"python bench/web_speed.py --task {task}",
        },  # fmt: skip
    }


def results_path(task: str) -> Path:
    return RESULTS / f"web-{task}.json"


def render(rep: dict) -> str:
    ms = rep["ms_per_audio_second"]
    page = ms["engine_with_hop_record"] + ms[f"microphone_path_{MIC_RATES[0]}_hz"]
    mic = ", ".join(f"{r / 1000:g} kHz {ms[f'microphone_path_{r}_hz']:.2f} ms" for r in MIC_RATES)
    rows = [
        ("`kws.wasm` (engine + model, no imports)", f"{rep['wasm_bytes']:,} B"),
        ("engine, per second of audio", f"{ms['engine_with_hop_record']:.2f} ms with the per-hop scores the plot "
         f"reads ({ms['engine_detections_only']:.2f} ms detections only)"),
        ("microphone path, per second of audio", f"resampling to {CONFIG.audio.sample_rate // 1000} kHz + int16 "
         f"in the worklet: {mic}"),
        ("the page's audio work while listening", f"**{page:.1f} ms per second of audio, {page / 10:.2f} % of one "
         "core** (engine + 48 kHz microphone path; drawing the plot comes on top)"),
    ]  # fmt: skip
    head = (
        f"Measured {rep['measured']['utc']} UTC with `{rep['measured']['command']}` on `{rep['model']}` (model "
        f"{rep['model_id']}), {rep['audio_seconds']:.0f} s of real clips, median of {rep['runs']} runs, in "
        f"{rep['browser']} headless on {rep['cores']} cores busy with other work (load average "
        f"{rep['load_average']}); recorded in "
        f"`bench/results/{results_path(rep['task']).name}`."
    )
    lines = [head, "", "| figure | value |", "| --- | --- |"] + [f"| {a} | {b} |" for a, b in rows]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--task", choices=("kws12", "yes"), default="yes", help="shipped model to measure")
    p.add_argument("--seconds", type=float, default=60.0, help="audio per run (default 60)")
    p.add_argument("--readme", action="store_true", help="write the table into README.md's web block")
    p.add_argument("--from-json", type=Path, default=None, help="render a recorded report instead of measuring")
    args = p.parse_args(argv)
    return readme.report_to_block(
        "web", results_path(args.task), args.from_json, args.readme, lambda: measure(args.task, args.seconds), render
    )


if __name__ == "__main__":
    run_script(main)
