"""Generated blocks of the README: the text between `<!-- NAME:start -->` and `<!-- NAME:end -->` is written by
a script from its measurements (bench/speed.py: `bench`, bench/firmware_size.py: `firmware`), never by hand,
so a figure is typed in one place only. tests/test_readme.py checks the blocks against their sources."""

from __future__ import annotations

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
