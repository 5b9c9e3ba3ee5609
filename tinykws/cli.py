"""`tinykws`: one command line for the whole pipeline.

Each subcommand lives in the stage module that owns its data; the module exposes
`add_arguments(parser)` and `run(args) -> int`. Modules are imported only when their command runs, so
`tinykws --help` stays fast and a missing optional backend only breaks the command that needs it.
"""

from __future__ import annotations

import argparse
import importlib
import signal
import sys

from tinykws.errors import TinyKwsError

# (group, command) -> (module, one-line help). A group of None is a top-level command.
COMMANDS: dict[tuple[str | None, str], tuple[str, str]] = {
    ("data", "download"): (
        "tinykws.data.download",
        "fetch the official Speech Commands v0.02 archive (sha256-checked, resumable)",
    ),
    ("data", "synth"): ("tinykws.data.synth", "synthesise the offline corpus with every local TTS voice"),
    ("data", "info"): ("tinykws.data.info", "count clips, speakers and labels of a Speech Commands folder"),
    ("features", "extract"): ("tinykws.features.extract", "int8 model inputs of WAV files -> one .npz"),
    ("features", "build"): ("tinykws.features.corpus", "features of a whole corpus, cached, in parallel"),
    ("features", "golden"): ("tinykws.features.golden", "write golden vectors of every front-end stage"),
    ("features", "calibrate"): (
        "tinykws.features.calibrate",
        "measure the int8 quantisation constants for the config",
    ),
    (None, "train"): ("tinykws.train.trainer", "train a keyword model: float, then quantisation-aware, then int8"),
    (None, "eval"): (
        "tinykws.train.evaluate:eval_command",
        "accuracy of the integer model on a Speech Commands folder",
    ),
    (None, "stream-eval"): (
        "tinykws.firmware.stream_eval",
        "false rejects and false accepts per hour on long streams; tunes the detector",
    ),
    (None, "predict"): ("tinykws.train.evaluate:predict_command", "int8 model outputs for a features .npz"),
    (None, "export"): (
        "tinykws.firmware.web:export_command",  # deploy/export.py's options, and --web (the C engine as wasm)
        "write the int8 model as C sources (--c-dir), .tflite (--tflite) and/or a web page (--web)",
    ),
    (None, "inspect"): ("tinykws.deploy.inspect", "summary of a model (.npz checkpoint or .tflite)"),
    (None, "detect"): ("tinykws.firmware.detect", "streaming detection over a long WAV (python or C engine)"),
    (None, "listen"): ("tinykws.firmware.listen", "listen to the microphone (or a WAV) and print detections live"),
    (None, "web"): ("tinykws.firmware.web:serve_command", "serve the web demo (the C engine in WebAssembly) locally"),
    ("firmware", "build"): ("tinykws.firmware.board:build_command", "build the C engine for a board"),
    ("firmware", "size"): ("tinykws.firmware.board:size_command", "flash / RAM of a board image"),
    ("firmware", "run"): ("tinykws.firmware.board:run_command", "run the engine on a board (QEMU for mps2-an386)"),
}

GROUP_HELP = {
    "data": "Speech Commands data: download, offline synthetic corpus, inspection",
    "features": "the integer MFCC front end",
    "firmware": "the C99 engine: host and Cortex-M4 (mps2-an386 under QEMU) builds",
}

# `tinykws features IN.wav... -o OUT.npz` is the documented short form of `tinykws features extract ...`.
DEFAULT_SUBCOMMAND = {"features": "extract"}


def build_parser(selected: tuple[str | None, str] | None = None) -> argparse.ArgumentParser:
    """The full command tree; only the `selected` command's module is imported to add its options."""
    parser = argparse.ArgumentParser(
        prog="tinykws",
        description="Keyword spotting from Speech Commands to a Cortex-M4: data, integer MFCC, int8 CNN, C firmware.",
        epilog="Run `tinykws COMMAND --help` for a command's options.",
    )
    top = parser.add_subparsers(dest="group", metavar="COMMAND", required=True)
    groups: dict[str, argparse._SubParsersAction] = {}
    for (group, name), (module, help_text) in COMMANDS.items():
        if group is None:
            sub = top.add_parser(name, help=help_text, description=help_text)
        else:
            if group not in groups:
                gp = top.add_parser(group, help=GROUP_HELP[group], description=GROUP_HELP[group])
                groups[group] = gp.add_subparsers(dest="command", metavar="SUBCOMMAND", required=True)
            sub = groups[group].add_parser(name, help=help_text, description=help_text)
        sub.set_defaults(_module=module)
        if (group, name) == selected:
            _load(module).add_arguments(sub)
    return parser


def _load(spec: str):  # noqa: ANN202 - a module or an object with add_arguments / run
    module, _, attr = spec.partition(":")
    mod = importlib.import_module(module)
    return getattr(mod, attr) if attr else mod


def _selected(argv: list[str]) -> tuple[str | None, str] | None:
    words = [a for a in argv if not a.startswith("-")][:2]
    for key in ((words[0], words[1]) if len(words) == 2 else None, (None, words[0]) if words else None):
        if key in COMMANDS:
            return key
    return None


def _expand_default_subcommand(argv: list[str]) -> list[str]:
    if argv and argv[0] in DEFAULT_SUBCOMMAND:
        subs = {name for (group, name) in COMMANDS if group == argv[0]}
        rest = argv[1:]
        if rest and rest[0] not in subs and rest[0] not in ("-h", "--help"):
            return [argv[0], DEFAULT_SUBCOMMAND[argv[0]], *rest]
    return argv


def main(argv: list[str] | None = None) -> int:
    argv = _expand_default_subcommand(list(sys.argv[1:] if argv is None else argv))
    try:
        # Parsing is inside the try: an argparse `type=` check (layout.check_task) raises TinyKwsError.
        args = build_parser(_selected(argv)).parse_args(argv)
        return int(_load(args._module).run(args) or 0)
    except TinyKwsError as e:
        print(f"tinykws: {e}", file=sys.stderr)
        return e.exit_code
    except KeyboardInterrupt:
        print("tinykws: interrupted; finished work is kept, run the same command again to go on", file=sys.stderr)
        return 128 + signal.SIGINT
    except BrokenPipeError:
        return 0


if __name__ == "__main__":
    sys.exit(main())
