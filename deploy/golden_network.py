"""Golden vectors of the int8 network: a test model, input windows, and every layer's exact output.

`tests/golden/network/<VERSION>/` holds `model.npz` (the deterministic test model of tests/model_fixtures.py,
stored so the vectors never depend on torch's float arithmetic on the machine that reads them), and per case
`<case>.input.bin` (frames x coefficients), `<case>.layer<i>.bin` (frames_i x channels_i),
`<case>.pooled.bin`, `<case>.logits.bin`, plus a longer `stream.input.bin` with `stream.logits.bin`, the
logits of every window ending at each hop. Raw little-endian int8 described by `manifest.json`, so the C test
(firmware/tests/test_network_golden.c) needs nothing but a file read. Python (train/int_model.py) wrote them;
the C streaming network and its whole-window twin must match them exactly; the Python tests check that
IntModel still gives them. VERSION changes when the test model's recipe or the file layout does.

    python tests/model_fixtures.py --write-golden          (re)write the vectors
    python -m tinykws.deploy.golden_network sources DIR    the test model's C sources + golden_net_index.h
"""

from __future__ import annotations

import argparse
import dataclasses
import hashlib
import json
import sys
from pathlib import Path

import numpy as np

from tinykws.atomic import atomic_dir, atomic_path
from tinykws.config import CONFIG, REPO_ROOT
from tinykws.deploy import c_export
from tinykws.errors import TinyKwsError
from tinykws.train.int_model import IntModel

GOLDEN_ROOT = REPO_ROOT / "tests" / "golden" / "network"
VERSION = "v1"
INDEX_NAME = "golden_net_index.h"


def golden_dir(root: Path = GOLDEN_ROOT) -> Path:
    return root / VERSION


def layer_outputs(model: IntModel, window: np.ndarray) -> list[np.ndarray]:
    """Every feature layer's output, then the pooled frame, then the logits, as IntModel.run computes them."""
    outs, x = [], window
    for layer in model.layers:
        x = layer.run(x)
        outs.append(x)
    pooled = model.pool.run(x)
    return [*outs, pooled, model.classifier.run(pooled)]


def stream_logits(model: IntModel, frames: np.ndarray) -> np.ndarray:
    """Logits of the window ending at each frame from input_frames - 1 on: the streaming network's answer."""
    windows = np.lib.stride_tricks.sliding_window_view(frames, model.input_frames, axis=0).transpose(0, 2, 1)
    return model.run_batch(np.ascontiguousarray(windows))


def _write(out: Path, name: str, arr: np.ndarray) -> dict:
    arr = np.ascontiguousarray(arr, dtype=np.int8)
    (out / name).write_bytes(arr.tobytes())  # not tofile: numpy's C-stdio write can lose a full disk's error
    return {"file": name, "shape": list(arr.shape)}


def write_golden(model: IntModel, windows: dict[str, np.ndarray], stream: np.ndarray, root: Path = GOLDEN_ROOT) -> Path:
    target = golden_dir(root)
    manifest: dict = {
        "generator": "tests/model_fixtures.py --write-golden (deploy/golden_network.py)",
        "version": VERSION,
        "model_id": c_export.model_fingerprint(model),
        "cases": {},
    }
    with atomic_dir(target) as out:
        model.save(out / "model.npz")
        manifest["model_sha256"] = hashlib.sha256((out / "model.npz").read_bytes()).hexdigest()
        for name, window in windows.items():
            outs = layer_outputs(model, window)
            entry = {"input": _write(out, f"{name}.input.bin", window)}
            for i, o in enumerate(outs[: len(model.layers)]):
                entry[f"layer{i}"] = _write(out, f"{name}.layer{i}.bin", o)
            entry["pooled"] = _write(out, f"{name}.pooled.bin", outs[-2][0])
            entry["logits"] = _write(out, f"{name}.logits.bin", outs[-1][0])
            manifest["cases"][name] = entry
        manifest["stream"] = {
            "input": _write(out, "stream.input.bin", stream),
            "logits": _write(out, "stream.logits.bin", stream_logits(model, stream)),
        }
        (out / "manifest.json").write_text(json.dumps(manifest, indent=1) + "\n")
    return target


def load_golden(root: Path = GOLDEN_ROOT) -> tuple[Path, dict, IntModel]:
    d = golden_dir(root)
    if not (d / "manifest.json").exists():
        raise TinyKwsError(f"{d}: no network golden vectors; run `python tests/model_fixtures.py --write-golden`")
    manifest = json.loads((d / "manifest.json").read_text())
    model = IntModel.load(d / "model.npz")
    if c_export.model_fingerprint(model) != manifest["model_id"]:
        raise TinyKwsError(f"{d}: model.npz is not the model the vectors were written with")
    return d, manifest, model


def load_array(d: Path, spec: dict) -> np.ndarray:
    return np.fromfile(d / spec["file"], dtype=np.int8).reshape(spec["shape"])


def index_header(d: Path, manifest: dict) -> str:
    names = list(manifest["cases"])
    stream = manifest["stream"]
    where = d.relative_to(REPO_ROOT) if d.is_relative_to(REPO_ROOT) else d
    return (
        f"/* {INDEX_NAME}: the network golden cases of {where}\n"
        " * for firmware/tests/test_network_golden.c. Generated by tinykws.deploy.golden_network: do not edit. */\n"
        "#ifndef KWS_GOLDEN_NET_INDEX_H\n#define KWS_GOLDEN_NET_INDEX_H\n\n"
        f"#define KWS_GOLDEN_NET_DIR {c_export.c_string(str(d.resolve()))}\n"
        f"#define KWS_GOLDEN_NET_NUM_CASES {len(names)}\n"
        f"#define KWS_GOLDEN_NET_STREAM_FRAMES {stream['input']['shape'][0]}\n"
        f"#define KWS_GOLDEN_NET_STREAM_HOPS {stream['logits']['shape'][0]}\n\n"
        "/* Files <case>.input.bin, <case>.layer<i>.bin, <case>.pooled.bin, <case>.logits.bin. */\n"
        "static const char *const kws_golden_net_cases[KWS_GOLDEN_NET_NUM_CASES] = {"
        + ", ".join(c_export.c_string(n) for n in names)
        + "};\n\n#endif /* KWS_GOLDEN_NET_INDEX_H */\n"
    )


def write_sources(out_dir: Path, root: Path = GOLDEN_ROOT) -> list[Path]:
    """The golden model's kws_model.h / .c and golden_net_index.h, for `make net-test`."""
    d, manifest, model = load_golden(root)
    # The vectors are int8 frames in, int8 logits out: they do not depend on the front end, so the model is
    # stamped with this build's feature hash instead of failing the engine's compile-time check after a
    # front-end change (a change of num_mfcc still fails it: then the vectors need a new VERSION).
    model = dataclasses.replace(model, feature_hash=CONFIG.feature_hash())
    written = c_export.write_c_sources(model, out_dir, source=f"{d / 'model.npz'} (network golden test model)")
    path = Path(out_dir) / INDEX_NAME
    text = index_header(d, manifest)
    if not path.exists() or path.read_text() != text:
        with atomic_path(path) as tmp:
            tmp.write_text(text)
    return [*written, path]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tinykws.deploy.golden_network", description=__doc__.split("\n")[0])
    sub = parser.add_subparsers(dest="command", required=True)
    src = sub.add_parser("sources", help="write the golden model's C sources and golden_net_index.h")
    src.add_argument("out_dir", type=Path)
    args = parser.parse_args(argv)
    try:
        for p in write_sources(args.out_dir):
            print(p)
    except TinyKwsError as e:
        print(f"tinykws: {e}", file=sys.stderr)
        return e.exit_code
    return 0


if __name__ == "__main__":
    sys.exit(main())
