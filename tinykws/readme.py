"""Generated blocks of the README: the text between `<!-- NAME:start -->` and `<!-- NAME:end -->` is written by
a script from its measurements (bench/speed.py: `bench`, bench/firmware_size.py: `firmware`), never by hand,
so a figure is typed in one place only. tests/test_readme.py checks the blocks against their sources."""

from __future__ import annotations

import json
import sys
from collections.abc import Callable
from pathlib import Path

from tinykws.atomic import atomic_path
from tinykws.config import REPO_ROOT
from tinykws.errors import TinyKwsError

README = REPO_ROOT / "README.md"


def markers(name: str) -> tuple[str, str]:
    return f"<!-- {name}:start -->", f"<!-- {name}:end -->"


def _span(text: str, name: str) -> tuple[int, int]:
    start, end = markers(name)
    i, j = text.find(start), text.find(end)
    if i < 0 or j < i or text.count(start) != 1 or text.count(end) != 1:
        raise TinyKwsError(f"README has no single {start} ... {end} block")
    return i + len(start), j


def read_block(text: str, name: str) -> str:
    """The block's text, without the newlines next to its markers."""
    i, j = _span(text, name)
    return text[i:j].strip("\n")


def replace_block(text: str, name: str, block: str) -> str:
    i, j = _span(text, name)
    return text[:i] + "\n" + block + "\n" + text[j:]


def write_block(name: str, block: str, path: Path = README) -> None:
    """Replace one block of the README in place (atomically: an interrupted write leaves the old file)."""
    text = replace_block(path.read_text(), name, block)
    with atomic_path(path) as tmp:
        tmp.write_text(text)


def report_to_block(
    name: str, results: Path, from_json: Path | None, to_readme: bool, measure: Callable[[], dict],
    render: Callable[[dict], str],
) -> int:  # fmt: skip
    """The tail every figure-writing bench script shares: measure and record the report in `results` (or read a
    recorded one from `from_json`), print its rendered table and, with `to_readme`, write it into the README's
    block `name`."""
    if from_json:
        rep = json.loads(from_json.read_text())
    else:
        rep = measure()
        results.parent.mkdir(exist_ok=True)
        with atomic_path(results) as tmp:
            tmp.write_text(json.dumps(rep, indent=1, sort_keys=True) + "\n")
        print(f"{name}: report recorded in {results}", file=sys.stderr)
    block = render(rep)
    print(block)
    if to_readme:
        write_block(name, block)
        print(f"{name}: table written into {README}", file=sys.stderr)
    return 0
