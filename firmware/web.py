"""The web demo: the C engine built for the `wasm` board (firmware/boards/wasm/) and the static page around it.

    tinykws export --task T [--model M] --web DIR     the page, kws.wasm and model.json into DIR (with --c-dir /
                                                      --tflite as before: this module adds --web to deploy/export.py)
    tinykws web [--task T] [--model M] [--port P]     export into build/web/<model id>/ and serve it on 127.0.0.1

The server is the standard library's, for this folder only, on the loopback address: a page served from
127.0.0.1 is a secure context, so the browser lets it ask for the microphone. The page itself (deploy/web/)
needs no network: everything it loads is in the folder.
"""

from __future__ import annotations

import argparse
import errno
import functools
import http.server
import sys
from pathlib import Path
from types import SimpleNamespace

from tinykws.config import BUILD_DIR, REPO_ROOT
from tinykws.data import layout
from tinykws.deploy import export
from tinykws.errors import TinyKwsError
from tinykws.train.int_model import IntModel

BOARD = "wasm"
WEB_BUILD_DIR = BUILD_DIR / "web"
DEFAULT_PORT = 8000
# What the browser must be told: a module script needs a JavaScript type, WebAssembly.instantiateStreaming
# needs application/wasm, and a stale page after a re-export helps nobody.
CONTENT_TYPES = {".html": "text/html; charset=utf-8", ".js": "text/javascript; charset=utf-8", ".css": "text/css",
                 ".json": "application/json", ".wasm": "application/wasm", ".wav": "audio/wav"}  # fmt: skip


def build_wasm(model: IntModel, source: str) -> Path:
    """kws.wasm of this model (built once per model, like the other boards' images)."""
    from tinykws.firmware import board

    return board.build(model, BOARD, source) / "kws.wasm"


def export_web(model: IntModel, out_dir: Path, path: Path) -> list[Path]:
    """The page for the model file at `path` (named on the page relative to the repo when inside it)."""
    from tinykws.deploy.web import write_site

    path = Path(path).resolve()
    shown = str(path.relative_to(REPO_ROOT)) if path.is_relative_to(REPO_ROOT) else str(path)
    return write_site(model, out_dir, build_wasm(model, str(path)), shown)


# --- tinykws export --web ---------------------------------------------------------------------------------------


def _add_export_arguments(parser: argparse.ArgumentParser) -> None:
    export.add_arguments(parser)
    parser.add_argument("--web", type=Path, default=None, metavar="DIR",
                        help="write the web demo here: page, kws.wasm (the C engine) and model.json")  # fmt: skip


def _run_export(args: argparse.Namespace) -> int:
    if args.web is None:
        return export.run(args)
    from tinykws.train.evaluate import load_model

    model, path = load_model(args.task, args.model)
    if args.c_dir is not None or args.tflite is not None:
        export.run(args)
    for p in export_web(model, args.web, path):
        print(p)
    return 0


# --- tinykws web ------------------------------------------------------------------------------------------------


class Handler(http.server.SimpleHTTPRequestHandler):
    """Files of one folder, with the types above, never cached; one quiet line per failed request only."""

    def guess_type(self, path: str | Path) -> str:
        return CONTENT_TYPES.get(Path(path).suffix.lower(), super().guess_type(path))

    def end_headers(self) -> None:
        self.send_header("Cache-Control", "no-store")
        super().end_headers()

    def log_message(self, format: str, *args: object) -> None:  # noqa: A002 - the base class's name
        pass

    def log_error(self, format: str, *args: object) -> None:  # noqa: A002
        print(f"tinykws web: {format % args}", file=sys.stderr)


class Server(http.server.ThreadingHTTPServer):
    daemon_threads = True

    def handle_error(self, request: object, client_address: tuple) -> None:
        # A browser that drops a connection (a reload, a closed tab) is not worth a traceback.
        error = sys.exc_info()[1]
        if not isinstance(error, ConnectionError):
            print(f"tinykws web: request from {client_address[0]} failed: {error!r}", file=sys.stderr)


def serve(directory: Path, port: int, host: str = "127.0.0.1") -> Server:
    """A server for `directory` bound to host:port (0: any free port), not yet serving."""
    handler = functools.partial(Handler, directory=str(directory))
    try:
        return Server((host, port), handler)
    except OSError as e:
        if e.errno == errno.EADDRINUSE:
            raise TinyKwsError(f"{host}:{port} is in use: pass another --port (0 picks a free one)") from None
        if e.errno == errno.EACCES:
            raise TinyKwsError(f"{host}:{port}: no permission to listen there: pass a --port above 1023") from None
        raise TinyKwsError(f"cannot listen on {host}:{port}: {e.strerror or e}") from None


def _add_serve_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--task", type=layout.check_task, metavar="TASK", default="yes", help="default yes")
    parser.add_argument("--model", type=Path, default=None, help="integer model .npz (default: the shipped model)")
    parser.add_argument("--port", type=int, default=DEFAULT_PORT, help=f"default {DEFAULT_PORT}; 0 picks a free one")


def _run_serve(args: argparse.Namespace) -> int:
    from tinykws.deploy.c_export import model_fingerprint
    from tinykws.train.evaluate import load_model

    if not 0 <= args.port <= 65535:
        raise TinyKwsError(f"--port must be 0..65535, got {args.port}")
    model, path = load_model(args.task, args.model)
    site = WEB_BUILD_DIR / model_fingerprint(model)[:12]
    export_web(model, site, path)
    server = serve(site, args.port)
    host, port = server.server_address[:2]
    print(f"serving {site} at http://{host}:{port}/  (Ctrl-C to stop)", flush=True)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        print("tinykws web: stopped", file=sys.stderr)
    finally:
        server.server_close()
    return 0


export_command = SimpleNamespace(add_arguments=_add_export_arguments, run=_run_export)
serve_command = SimpleNamespace(add_arguments=_add_serve_arguments, run=_run_serve)
