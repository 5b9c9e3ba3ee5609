"""Paths in what is committed (model cards, model metadata): relative to the repository, not to the machine.

A run records where its data came from; written as `/home/someone/tinykws/build/data/synth` that names one
machine's checkout, and a card trained again elsewhere differs in every path. Paths inside the repository or
beside it (`../shared/data`) are written relative to the repository root instead; others stay as given.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from tinykws.config import REPO_ROOT


def repo_relative(path: str | os.PathLike, root: Path = REPO_ROOT) -> str:
    """`path` relative to the repository root if it lies in the repository or in the folder that holds it."""
    p = Path(path)
    if not p.is_absolute():
        return str(path)
    try:
        p.relative_to(root.parent)
    except ValueError:
        return str(path)
    return os.path.relpath(p, root)


def portable_paths(obj: Any, root: Path = REPO_ROOT) -> Any:
    """A copy of a JSON-like object with every absolute path string under `root`'s parent made repo-relative."""
    if isinstance(obj, dict):
        return {k: portable_paths(v, root) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [portable_paths(v, root) for v in obj]
    if isinstance(obj, str):
        return repo_relative(obj, root)  # a relative path or any other text comes back as it was
    return obj
