"""`tinykws stream-eval`: train/stream_eval.py's evaluation on long streams, with the engines it may run.

The streams, the detector replay and the tuning are the training stage's; the C engine (firmware/engine.py,
through ctypes), the command's default because it is bit-identical to the Python one and much faster, is this
stage's. Data flows one way, so train/ does not import it: this command hands it in.
"""

from __future__ import annotations

import argparse

from tinykws.firmware.engine import CEngine
from tinykws.train import stream_eval
from tinykws.train.engine import PythonEngine

ENGINES: dict[str, stream_eval.EngineFactory] = {"c": CEngine, "python": PythonEngine}

add_arguments = stream_eval.add_arguments


def run(args: argparse.Namespace) -> int:
    return stream_eval.run(args, ENGINES)
