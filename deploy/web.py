"""The web demo's static folder: the page (deploy/web/: HTML, CSS, JavaScript, the AudioWorklet processor), the
engine as WebAssembly with the model compiled in (built by firmware/web.py for the `wasm` board), and
model.json, the figures of the model's card the page shows. Nothing is fetched from elsewhere at run time.

    index.html style.css app.js kws.js resample.js worklet.js    copied from deploy/web/
    kws.wasm                                                     the engine (firmware/boards/wasm/kws_wasm.c)
    model.json                                                   {"task", "model_id", "source", "labels", ...}
"""

from __future__ import annotations

import dataclasses
import json
import os
from pathlib import Path

from tinykws.atomic import atomic_path
from tinykws.deploy.c_export import model_fingerprint
from tinykws.errors import TinyKwsError
from tinykws.train.detector import detector_config, keyword_mask
from tinykws.train.int_model import IntModel

ASSETS = Path(__file__).resolve().parent / "web"
PAGE_FILES = ("index.html", "style.css", "app.js", "kws.js", "resample.js", "worklet.js")
WASM_NAME = "kws.wasm"
CARD_NAME = "model.json"


def _percent(x: float) -> str:
    return f"{100 * x:.1f} %"


def figures(meta: dict) -> list[tuple[str, str]]:
    """(name, value) rows of the model card (train/ship.py's report, stream-eval's tuned detector) that the
    model file carries; a model without them (a fresh `tinykws train` run) has fewer rows."""
    rows = []
    report = meta.get("report") or {}
    if "parameters" in report:
        rows.append(("parameters", f"{report['parameters']:,}"))
    for split, what in (("val_real", "real"), ("val_synth", "synthetic")):
        int8 = (report.get(split) or {}).get("int8") or {}
        if "accuracy" in int8:
            rows.append(
                (f"accuracy ({what} clips)", f"{_percent(int8['accuracy'])} of {int8['n']:,} validation clips, int8")
            )
    tuned = (meta.get("stream_eval") or {}).get("tuned") or {}
    if "frr" in tuned:
        hours = meta["stream_eval"].get("hours", 0.0)
        rows.append(("on streams", f"{_percent(tuned['frr'])} of the words missed, {tuned['fa_per_hour']:.2f} false "
                     f"accepts per hour ({hours:.1f} h of streams, this detector)"))  # fmt: skip
    if meta.get("git"):
        rows.append(("trained at", f"git {meta['git']}"))
    return rows


def card(model: IntModel, source: str, wasm_bytes: int) -> dict:
    return {
        "task": model.meta.get("task"),
        "model_id": model_fingerprint(model)[:12],
        "source": source,
        "labels": list(model.labels),
        "keywords": [label for label, k in zip(model.labels, keyword_mask(model.labels), strict=True) if k],
        "detector": dataclasses.asdict(detector_config(model)),
        "weight_bytes": model.weight_bytes(),
        "macs_per_hop": model.macs_per_hop(),
        "wasm_bytes": wasm_bytes,
        "figures": figures(model.meta),
    }


def _write(path: Path, data: bytes) -> None:
    """Atomically, and not at all when unchanged (a page being served never sees half a file)."""
    if path.exists() and path.read_bytes() == data:
        return
    with atomic_path(path) as tmp:
        tmp.write_bytes(data)


def write_site(model: IntModel, out_dir: str | os.PathLike, wasm: Path, source: str) -> list[Path]:
    """Write the page, `wasm` (the engine built for this model) and model.json into out_dir; returns the files."""
    out_dir = Path(out_dir)
    if out_dir.exists() and not out_dir.is_dir():
        raise TinyKwsError(f"{out_dir}: exists and is not a folder")
    try:
        out_dir.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        raise TinyKwsError(f"{out_dir}: cannot create the folder ({e.strerror})") from None
    wasm_data = wasm.read_bytes()
    files = {name: (ASSETS / name).read_bytes() for name in PAGE_FILES}
    files[WASM_NAME] = wasm_data
    files[CARD_NAME] = (json.dumps(card(model, source, len(wasm_data)), indent=1) + "\n").encode()
    for name, data in files.items():
        _write(out_dir / name, data)
    return [out_dir / name for name in files]
