"""`tinykws export --task T [--model PATH] [--c-dir DIR] [--tflite OUT.tflite] [--web DIR]`: the integer model
for a device.

--c-dir writes the firmware's kws_model.h / kws_model.c (deploy/c_export.py); --tflite a TensorFlow Lite
flatbuffer (deploy/tflite_export.py, imported only when asked for, so the C export works without it).
The model is checked against this front end first: an export for other features would be meaningless.
`--web DIR` (the page and the engine as WebAssembly) is added by firmware/web.py, which builds the engine.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from tinykws.data import layout
from tinykws.errors import TinyKwsError


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--task", type=layout.check_task, metavar="TASK", required=True)
    parser.add_argument("--model", type=Path, default=None, help="integer model .npz (default: the shipped model)")
    parser.add_argument("--c-dir", type=Path, default=None, help="write kws_model.h and kws_model.c here")
    parser.add_argument("--tflite", type=Path, default=None, metavar="OUT.tflite", help="write a .tflite model")


def run(args: argparse.Namespace) -> int:
    if args.c_dir is None and args.tflite is None:
        raise TinyKwsError("nothing to export: give --c-dir DIR, --tflite OUT.tflite and/or --web DIR")
    from tinykws.train.evaluate import load_model

    model, path = load_model(args.task, args.model)
    if args.c_dir is not None:
        from tinykws.deploy.c_export import write_c_sources

        for p in write_c_sources(model, args.c_dir, source=str(path)):
            print(p)
    if args.tflite is not None:
        try:
            from tinykws.deploy.tflite_export import write_tflite
        except ImportError as e:
            raise TinyKwsError(f"--tflite is not available: {e}") from None
        write_tflite(model, args.tflite)
        print(args.tflite)
    return 0
