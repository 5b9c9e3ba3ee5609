"""`tinykws data download` against a local HTTP server: never the real network."""

from __future__ import annotations

import hashlib
import http.server
import io
import socket
import tarfile
import threading
from pathlib import Path

import numpy as np
import pytest

from tinykws.cli import main
from tinykws.data import download
from tinykws.data.wav import write_wav
from tinykws.errors import TinyKwsError

ARCHIVE = "speech_commands_v0.02.tar.gz"
WORDS = ("yes", "no", "up")
SPEAKERS = ("0a1b2c3d", "4e5f6a7b")


@pytest.fixture(autouse=True)
def _no_proxy(monkeypatch):
    # A proxy from the environment would route 127.0.0.1 away from the test server.
    for var in ("http_proxy", "HTTP_PROXY", "https_proxy", "HTTPS_PROXY", "all_proxy", "ALL_PROXY"):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv("no_proxy", "*")


def _tar_gz(root: Path, extra: list[tarfile.TarInfo] | None = None) -> bytes:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w:gz") as tar:
        # The real archive's members start with "./", with no top-level folder.
        tar.add(root, arcname=".")
        for info in extra or []:
            data = b"owned\n" if info.isfile() else None
            if data is not None:
                info.size = len(data)
            tar.addfile(info, io.BytesIO(data) if data is not None else None)
    return buf.getvalue()


@pytest.fixture(scope="module")
def dataset(tmp_path_factory) -> Path:
    """A Speech Commands-style folder: word folders of short 16 kHz int16 clips, lists, background noise."""
    root = tmp_path_factory.mktemp("sc_src")
    rng = np.random.default_rng(0)
    for word in WORDS:
        for speaker in SPEAKERS:
            write_wav(root / word / f"{speaker}_nohash_0.wav", rng.integers(-3000, 3000, 800).astype(np.int16))
    (root / "validation_list.txt").write_text(f"yes/{SPEAKERS[0]}_nohash_0.wav\n")
    (root / "testing_list.txt").write_text(f"no/{SPEAKERS[1]}_nohash_0.wav\n")
    write_wav(root / "_background_noise_" / "noise.wav", rng.integers(-500, 500, 1600).astype(np.int16))
    return root


@pytest.fixture(scope="module")
def payload(dataset) -> bytes:
    return _tar_gz(dataset)


class ArchiveServer:
    """Serves one file with Range support; can drop the connection mid-body or ignore Range."""

    def __init__(self, payload: bytes, name: str = ARCHIVE) -> None:
        self.payload = payload
        self.path = f"/{name}"
        self.cut_after: int | None = None  # body bytes to send before dropping; applies to one response
        self.ignore_range = False
        self.requests: list[tuple[str, str | None]] = []  # (path, Range header)
        owner = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def log_message(self, format, *args):  # keep pytest output clean
                pass

            def do_GET(self):
                rng = self.headers.get("Range")
                owner.requests.append((self.path, rng))
                if self.path != owner.path:
                    self.send_error(404, "Not Found")
                    return
                data, start = owner.payload, 0
                if rng and not owner.ignore_range:
                    start = int(rng.removeprefix("bytes=").split("-")[0])
                    if start >= len(data):
                        self.send_response(416)
                        self.send_header("Content-Range", f"bytes */{len(data)}")
                        self.send_header("Content-Length", "0")
                        self.end_headers()
                        return
                    self.send_response(206)
                    self.send_header("Content-Range", f"bytes {start}-{len(data) - 1}/{len(data)}")
                else:
                    self.send_response(200)
                body = data[start:]
                self.send_header("Content-Type", "application/gzip")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                if owner.cut_after is not None:
                    body, owner.cut_after = body[: owner.cut_after], None
                    self.wfile.write(body)
                    self.wfile.flush()
                    self.close_connection = True
                    self.connection.shutdown(socket.SHUT_RDWR)
                    return
                self.wfile.write(body)

        self.httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}{self.path}"
        self.thread = threading.Thread(target=self.httpd.serve_forever, kwargs={"poll_interval": 0.05})
        self.thread.daemon = True
        self.thread.start()

    def close(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()


@pytest.fixture
def serve():
    servers: list[ArchiveServer] = []

    def start(data: bytes) -> ArchiveServer:
        servers.append(ArchiveServer(data))
        return servers[-1]

    yield start
    for s in servers:
        s.close()


def _sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def _cli(url: str, sha: str, dest: Path, cache: Path) -> int:
    return main(
        ["data", "download", "--url", url, "--sha256", sha, "--dest", str(dest), "--cache-dir", str(cache)]
        + ["--no-progress", "--timeout", "5"]
    )


def _assert_extracted(dest: Path, dataset: Path, sha: str) -> None:
    expected = sorted(p.relative_to(dataset) for p in dataset.rglob("*") if p.is_file())
    got = sorted(p.relative_to(dest) for p in dest.rglob("*") if p.is_file() and p.name != download.MARKER)
    assert got == expected
    for rel in expected:
        assert (dest / rel).read_bytes() == (dataset / rel).read_bytes()
    assert download.is_complete(dest, sha)
    # The atomic temp folder beside dest is gone.
    assert [p.name for p in dest.parent.iterdir()] == [dest.name]


def _one_error_line(capsys) -> str:
    lines = capsys.readouterr().err.splitlines()
    assert len(lines) == 1, lines
    assert lines[0].startswith("tinykws: ")
    return lines[0]


def test_download_extracts_then_second_run_does_nothing(serve, payload, dataset, tmp_path, capsys):
    server = serve(payload)
    dest, cache = tmp_path / "out" / "sc", tmp_path / "cache"
    assert _cli(server.url, _sha(payload), dest, cache) == 0
    _assert_extracted(dest, dataset, _sha(payload))
    out = capsys.readouterr().out
    assert "6 clips, 3 words" in out and "validation_list.txt yes" in out and "_background_noise_ 1 files" in out
    assert server.requests == [(server.path, None)]

    assert _cli(server.url, _sha(payload), dest, cache) == 0
    assert "nothing to do" in capsys.readouterr().out
    assert len(server.requests) == 1


def test_wrong_sha256_leaves_nothing(serve, payload, tmp_path, capsys):
    server = serve(payload)
    dest, cache = tmp_path / "out" / "sc", tmp_path / "cache"
    assert _cli(server.url, "0" * 64, dest, cache) != 0
    line = _one_error_line(capsys)
    assert "sha256" in line and "0" * 64 in line and _sha(payload) in line and server.url in line
    assert not dest.exists() and not dest.parent.exists()
    assert list(cache.iterdir()) == []


def test_interrupted_download_resumes_with_range(serve, payload, dataset, tmp_path, capsys):
    server = serve(payload)
    dest, cache = tmp_path / "out" / "sc", tmp_path / "cache"
    k = len(payload) // 3
    server.cut_after = k
    assert _cli(server.url, _sha(payload), dest, cache) != 0
    line = _one_error_line(capsys)
    assert server.url in line and "resume" in line
    part = cache / f"{ARCHIVE}.part"
    assert part.read_bytes() == payload[:k]
    assert not dest.exists()

    assert _cli(server.url, _sha(payload), dest, cache) == 0
    assert server.requests[-1] == (server.path, f"bytes={k}-")
    assert not part.exists() and (cache / ARCHIVE).read_bytes() == payload
    _assert_extracted(dest, dataset, _sha(payload))


def test_server_ignoring_range_restarts_from_zero(serve, payload, dataset, tmp_path, capsys):
    server = serve(payload)
    dest, cache = tmp_path / "out" / "sc", tmp_path / "cache"
    server.cut_after = 100
    with pytest.raises(TinyKwsError):
        download.download_dataset(server.url, _sha(payload), dest, cache, progress=False)
    server.ignore_range = True
    download.download_dataset(server.url, _sha(payload), dest, cache, progress=False)
    assert server.requests[-1] == (server.path, "bytes=100-")
    assert "from the start" in capsys.readouterr().out
    assert (cache / ARCHIVE).read_bytes() == payload
    _assert_extracted(dest, dataset, _sha(payload))


def test_ctrl_c_keeps_part_for_resume(serve, payload, dataset, tmp_path, monkeypatch):
    server = serve(payload)
    dest, cache = tmp_path / "out" / "sc", tmp_path / "cache"
    monkeypatch.setattr(download, "_CHUNK", 1000)

    class CtrlC(download.tqdm):
        def update(self, n=1):
            super().update(n)
            raise KeyboardInterrupt

    monkeypatch.setattr(download, "tqdm", CtrlC)
    with pytest.raises(KeyboardInterrupt):
        download.download_dataset(server.url, _sha(payload), dest, cache, progress=False)
    assert (cache / f"{ARCHIVE}.part").read_bytes() == payload[:1000]
    monkeypatch.undo()
    download.download_dataset(server.url, _sha(payload), dest, cache, progress=False)
    assert server.requests[-1] == (server.path, "bytes=1000-")
    _assert_extracted(dest, dataset, _sha(payload))


def test_part_already_complete_is_not_downloaded_again(serve, payload, dataset, tmp_path):
    # A run stopped between the last byte and the checksum: the server answers 416 to the resume.
    server = serve(payload)
    dest, cache = tmp_path / "out" / "sc", tmp_path / "cache"
    cache.mkdir()
    (cache / f"{ARCHIVE}.part").write_bytes(payload)
    download.download_dataset(server.url, _sha(payload), dest, cache, progress=False)
    assert server.requests == [(server.path, f"bytes={len(payload)}-")]
    _assert_extracted(dest, dataset, _sha(payload))


def _evil(kind: str, tmp_path: Path) -> list[tarfile.TarInfo]:
    if kind == "dotdot":
        return [tarfile.TarInfo("../evil")]
    if kind == "absolute":
        return [tarfile.TarInfo(str(tmp_path / "abs_evil"))]
    link = tarfile.TarInfo("yes/escape")
    link.type, link.linkname = tarfile.SYMTYPE, "../../.."
    return [link, tarfile.TarInfo("yes/escape/evil")]


@pytest.mark.parametrize("kind", ["dotdot", "absolute", "symlink"])
def test_path_traversal_is_refused(kind, serve, dataset, tmp_path, capsys):
    work = tmp_path / "work"
    dest, cache = work / "out" / "sc", work / "cache"
    data = _tar_gz(dataset, _evil(kind, tmp_path))
    server = serve(data)
    assert _cli(server.url, _sha(data), dest, cache) != 0
    line = _one_error_line(capsys)
    assert "unsafe path" in line or "outside the dataset" in line
    assert not dest.exists() and list(dest.parent.iterdir()) == []
    written = {p.name for p in tmp_path.rglob("*evil*")}
    assert written == set()


def test_404_is_one_line(serve, payload, tmp_path, capsys):
    server = serve(payload)
    url = server.url.replace(ARCHIVE, "missing.tar.gz")
    assert _cli(url, _sha(payload), tmp_path / "sc", tmp_path / "cache") != 0
    line = _one_error_line(capsys)
    assert url in line and "404" in line
    assert not (tmp_path / "sc").exists()


def test_connection_refused_and_timeout_are_one_line(tmp_path, capsys):
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    url = f"http://127.0.0.1:{port}/{ARCHIVE}"
    assert _cli(url, "a" * 64, tmp_path / "sc", tmp_path / "cache") != 0
    line = _one_error_line(capsys)
    assert url in line and "refused" in line

    # A listener that never answers: the request must give up after the timeout, not hang.
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        s.listen(1)
        url = f"http://127.0.0.1:{s.getsockname()[1]}/{ARCHIVE}"
        with pytest.raises(TinyKwsError, match="timed out"):
            download.download_dataset(url, "a" * 64, tmp_path / "sc", tmp_path / "cache", timeout=0.2)
