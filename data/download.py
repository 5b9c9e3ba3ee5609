"""`tinykws data download`: fetch, verify and unpack the official Speech Commands v0.02 archive.

The archive is 2.3 GB, so the download resumes: bytes go to `<cache>/<name>.part` as they arrive and a rerun
asks the server for the rest with an HTTP Range request. Only an archive whose sha256 matches is unpacked,
into a temp folder beside the destination that is renamed into place at the end; a marker file written last
tells a later run that the folder is complete, so reruns are free.
"""

from __future__ import annotations

import argparse
import hashlib
import http.client
import os
import re
import socket
import sys
import tarfile
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable, Iterator
from pathlib import Path, PurePosixPath, PureWindowsPath

from tqdm import tqdm

from tinykws.atomic import atomic_dir
from tinykws.config import BUILD_DIR
from tinykws.data.layout import NOISE_DIR
from tinykws.errors import TinyKwsError

DEFAULT_URL = "http://download.tensorflow.org/data/speech_commands_v0.02.tar.gz"
DEFAULT_SHA256 = "af14739ee7dc311471de98f5f9d2c9191b18aedfe957f4a6ff791c709868ff58"
DEFAULT_DEST = BUILD_DIR / "data" / "speech_commands_v0.02"
DEFAULT_CACHE_DIR = BUILD_DIR / "downloads"
DEFAULT_TIMEOUT = 30.0
MARKER = ".tinykws-complete"
LIST_FILES = ("validation_list.txt", "testing_list.txt")

_CHUNK = 1 << 20
_SHA256_RE = re.compile(r"^[0-9a-f]{64}$")
_CONTENT_RANGE_RE = re.compile(r"^bytes\s+(?:(\d+)-(\d+)|\*)/(\d+|\*)$")


class DownloadError(TinyKwsError):
    """The archive could not be fetched, verified or unpacked."""


def archive_name(url: str) -> str:
    """File name of the archive in the cache: the last part of the URL's path."""
    name = PurePosixPath(urllib.parse.urlparse(url).path).name
    if not name or name in (".", ".."):
        raise DownloadError(f"cannot tell the archive's file name from URL {url}")
    return name


def sha256_file(path: Path) -> str:
    """Hex sha256 of a file, read in chunks so a 2 GB archive never sits in memory."""
    h = hashlib.sha256()
    with open(path, "rb") as f:
        while block := f.read(_CHUNK):
            h.update(block)
    return h.hexdigest()


def is_complete(dest: Path, sha256: str) -> bool:
    """True if `dest` holds a dataset this module finished unpacking from the archive with `sha256`."""
    marker = Path(dest) / MARKER
    try:
        return marker.read_text().strip() == sha256.lower()
    except OSError:
        return False


def _network_problem(exc: BaseException) -> str:
    if isinstance(exc, urllib.error.HTTPError):
        return f"HTTP {exc.code} {exc.reason}"
    if isinstance(exc, urllib.error.URLError):
        reason = exc.reason
        if isinstance(reason, socket.gaierror):
            return f"host name lookup failed ({reason.strerror or reason})"
        if isinstance(reason, TimeoutError):
            return "connection timed out"
        if isinstance(reason, ConnectionRefusedError):
            return "connection refused"
        return str(getattr(reason, "strerror", None) or reason)
    if isinstance(exc, TimeoutError):
        return "connection timed out"
    if isinstance(exc, http.client.IncompleteRead):
        return "connection closed before the end of the data"
    return str(getattr(exc, "strerror", None) or exc) or type(exc).__name__


def _content_range(header: str | None) -> tuple[int | None, int | None]:
    """(first byte, total size) of a Content-Range header; None where the server left it out."""
    m = _CONTENT_RANGE_RE.match((header or "").strip())
    if not m:
        return None, None
    first = int(m.group(1)) if m.group(1) is not None else None
    total = int(m.group(3)) if m.group(3) != "*" else None
    return first, total


def _open(url: str, offset: int, timeout: float) -> http.client.HTTPResponse | None:
    """Open the URL asking for bytes from `offset` on; None means the `.part` already holds them all."""
    headers = {"User-Agent": "tinykws", "Accept-Encoding": "identity"}
    if offset:
        headers["Range"] = f"bytes={offset}-"
    try:
        return urllib.request.urlopen(urllib.request.Request(url, headers=headers), timeout=timeout)
    except urllib.error.HTTPError as e:
        # 416 to a resume means we asked past the end: the part is complete if its size is the file's size.
        if e.code == 416 and offset:
            _, total = _content_range(e.headers.get("Content-Range"))
            e.close()
            if total == offset:
                return None
        raise


def _fetch(url: str, part: Path, timeout: float, progress: bool, report: Callable[[str], None]) -> None:
    """Bring `part` to the whole file, resuming from its current size when the server allows it."""
    offset = part.stat().st_size if part.exists() else 0
    for attempt in range(2):
        if offset:
            report(f"resuming {url} at byte {offset}")
        resp = _open(url, offset, timeout)
        if resp is None:
            return
        with resp:
            length = resp.headers.get("Content-Length")
            remaining = int(length) if length and length.isdigit() else None
            if offset and resp.status == 206:
                first, _ = _content_range(resp.headers.get("Content-Range"))
                if first != offset:
                    # A range we did not ask for cannot be appended; start over without one.
                    if attempt == 0:
                        part.unlink()
                        offset = 0
                        continue
                    raise DownloadError(f"{url}: server sent bytes from {first}, asked for {offset}")
                mode = "ab"
            else:
                if offset:
                    report(f"server ignored the resume request; downloading {url} from the start")
                offset = 0
                mode = "wb"
            total = offset + remaining if remaining is not None else None
            received = 0
            with (
                open(part, mode) as out,
                tqdm(
                    total=total,
                    initial=offset,
                    unit="B",
                    unit_scale=True,
                    unit_divisor=1024,
                    desc=part.name.removesuffix(".part"),
                    file=sys.stderr,
                    # None lets tqdm switch itself off when stderr is not a terminal (logs, CI).
                    disable=None if progress else True,
                    leave=False,
                ) as bar,
            ):
                while remaining is None or received < remaining:
                    block = resp.read(_CHUNK if remaining is None else min(_CHUNK, remaining - received))
                    if not block:
                        break
                    out.write(block)
                    received += len(block)
                    bar.update(len(block))
            if remaining is not None and received < remaining:
                # http.client returns a short read instead of raising when the peer closes early.
                raise http.client.IncompleteRead(b"", remaining - received)
            return


def download_archive(
    url: str,
    sha256: str,
    cache_dir: str | os.PathLike,
    progress: bool = True,
    *,
    timeout: float = DEFAULT_TIMEOUT,
    report: Callable[[str], None] = print,
) -> Path:
    """The archive at `url` in `cache_dir`, sha256-checked; downloads (or resumes) only what is missing."""
    sha256 = sha256.strip().lower()
    if not _SHA256_RE.match(sha256):
        raise DownloadError(f"--sha256 must be 64 hex digits, got {sha256!r}")
    cache_dir = Path(cache_dir)
    name = archive_name(url)
    archive = cache_dir / name
    part = cache_dir / f"{name}.part"

    if archive.exists():
        if sha256_file(archive) == sha256:
            report(f"using cached {archive}")
            return archive
        # A cached archive from another URL or version: fetch the one asked for instead.
        report(f"cached {archive} has another sha256; downloading again")
        archive.unlink()

    cache_dir.mkdir(parents=True, exist_ok=True)
    try:
        _fetch(url, part, timeout, progress, report)
    except DownloadError:
        raise
    except (urllib.error.URLError, http.client.HTTPException, OSError) as e:
        kept = part.stat().st_size if part.exists() else 0
        tail = f"; {kept} bytes kept in {part}, run again to resume" if kept else ""
        raise DownloadError(f"download of {url} failed: {_network_problem(e)}{tail}") from None

    got = sha256_file(part)
    if got != sha256:
        # A bad archive must not be resumed from either: the next run starts clean.
        part.unlink(missing_ok=True)
        archive.unlink(missing_ok=True)
        raise DownloadError(f"sha256 mismatch for {url}: expected {sha256}, got {got}; the download was deleted")
    os.replace(part, archive)
    return archive


def _check_member(member: tarfile.TarInfo, archive: Path) -> None:
    name = member.name
    parts = PurePosixPath(name.replace("\\", "/")).parts
    if name.startswith(("/", "\\")) or PureWindowsPath(name).drive or ".." in parts:
        raise DownloadError(f"{archive}: unsafe path {name!r} in the archive (absolute or '..'); refusing to unpack it")
    if member.issym() or member.islnk():
        target = member.linkname.replace("\\", "/")
        if target.startswith("/") or ".." in PurePosixPath(target).parts:
            raise DownloadError(f"{archive}: link {name!r} points outside the dataset ({member.linkname!r})")
    elif not (member.isfile() or member.isdir()):
        raise DownloadError(f"{archive}: special file {name!r} in the archive; refusing to unpack it")


def _safe_members(tar: tarfile.TarFile, archive: Path) -> Iterator[tarfile.TarInfo]:
    # Checked one by one as extraction streams on: a gzip archive cannot be listed without reading it whole.
    for member in tar:
        _check_member(member, archive)
        yield member


def check_layout(root: str | os.PathLike) -> dict:
    """Counts of a Speech Commands folder; raises DownloadError if it has no word folder with .wav files."""
    root = Path(root)
    words: dict[str, int] = {}
    for sub in sorted(root.iterdir()):
        if sub.is_dir() and not sub.name.startswith(("_", ".")):
            n = sum(1 for p in sub.iterdir() if p.suffix.lower() == ".wav")
            if n:
                words[sub.name] = n
    if not words:
        raise DownloadError(f"{root}: does not look like Speech Commands (no word folder with .wav files)")
    noise = root / NOISE_DIR
    return {
        "clips": sum(words.values()),
        "words": len(words),
        "lists": {name: (root / name).is_file() for name in LIST_FILES},
        "noise_files": sum(1 for p in noise.glob("*.wav")) if noise.is_dir() else None,
    }


def _summary(dest: Path, info: dict) -> str:
    lists = ", ".join(f"{name} {'yes' if ok else 'MISSING'}" for name, ok in info["lists"].items())
    noise = "MISSING" if info["noise_files"] is None else f"{info['noise_files']} files"
    return f"{dest}: {info['clips']} clips, {info['words']} words; {lists}; {NOISE_DIR} {noise}"


def extract_archive(archive: str | os.PathLike, dest: str | os.PathLike, sha256: str) -> dict:
    """Unpack `archive` to `dest` atomically, check the layout, mark it complete; returns check_layout()."""
    archive, dest = Path(archive), Path(dest)
    if dest.exists() and (not dest.is_dir() or (any(dest.iterdir()) and not (dest / MARKER).exists())):
        # Only a folder this module made (it has the marker) may be replaced; anything else is the user's.
        raise DownloadError(f"{dest} exists and is not a tinykws download; remove it or choose another --dest")
    kwargs = {"filter": "data"} if hasattr(tarfile, "data_filter") else {}
    with atomic_dir(dest) as tmp:
        try:
            with tarfile.open(archive, "r:*") as tar:
                tar.extractall(tmp, members=_safe_members(tar, archive), **kwargs)
        except DownloadError:
            raise
        except (tarfile.TarError, EOFError, OSError) as e:
            raise DownloadError(f"{archive}: cannot extract: {e}") from None
        info = check_layout(tmp)
        (tmp / MARKER).write_text(sha256.lower() + "\n")
    return info


def download_dataset(
    url: str,
    sha256: str,
    dest: str | os.PathLike,
    cache_dir: str | os.PathLike,
    progress: bool = True,
    *,
    timeout: float = DEFAULT_TIMEOUT,
    report: Callable[[str], None] = print,
) -> Path:
    """Make `dest` hold the dataset of the archive at `url` with `sha256`; returns `dest`."""
    dest = Path(dest)
    if is_complete(dest, sha256):
        report(f"{dest} already holds the complete dataset (sha256 {sha256.lower()[:12]}...); nothing to do")
        return dest
    archive = download_archive(url, sha256, cache_dir, progress, timeout=timeout, report=report)
    info = extract_archive(archive, dest, sha256)
    report(_summary(dest, info))
    return dest


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--url", default=DEFAULT_URL, help="archive URL (default: %(default)s)")
    parser.add_argument("--sha256", default=DEFAULT_SHA256, help="expected sha256 of the archive")
    parser.add_argument("--dest", type=Path, default=DEFAULT_DEST, help="folder to unpack into (default: %(default)s)")
    parser.add_argument(
        "--cache-dir",
        type=Path,
        default=DEFAULT_CACHE_DIR,
        help="where the partial and complete archive are kept (default: %(default)s)",
    )
    parser.add_argument(
        "--timeout", type=float, default=DEFAULT_TIMEOUT, help="network timeout in seconds (default: %(default)s)"
    )
    parser.add_argument("--no-progress", action="store_true", help="no progress bar")


def run(args: argparse.Namespace) -> int:
    download_dataset(
        args.url, args.sha256, args.dest, args.cache_dir, progress=not args.no_progress, timeout=args.timeout
    )
    return 0
