"""The synthetic corpus: deterministic, cached, valid 1 s clips, and engines that may be missing.

espeak-ng and sox are required (the project's `make install` installs them): without them these tests fail
with a message saying so, rather than skip and hide a broken setup. flite and festival are optional.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import shutil
from pathlib import Path

import numpy as np
import pytest

from tinykws import cli
from tinykws.config import CONFIG
from tinykws.data import synth, voices
from tinykws.data.wav import read_wav
from tinykws.errors import TinyKwsError

WORDS = ["yes", "left"]
LIMIT = 2
NAME = re.compile(r"^[0-9a-f]{8}_nohash_\d+\.wav$")


def _require_tools() -> None:
    missing = [t for t in ("espeak-ng", "sox") if shutil.which(t) is None]
    if missing:
        pytest.fail(
            f"{' and '.join(missing)} not installed: run `make install` (apt-get install espeak-ng sox)",
            pytrace=False,
        )


def _build(out: Path, **kw) -> synth.SynthReport:
    _require_tools()
    args = {"words": WORDS, "engines": ["espeak-ng"], "limit_voices": LIMIT, "jobs": 2, "progress": False}
    return synth.build_corpus(out, **{**args, **kw})


@pytest.fixture(scope="module")
def corpus(tmp_path_factory) -> tuple[Path, synth.SynthReport]:
    out = tmp_path_factory.mktemp("synth") / "a"
    return out, _build(out)


def _wavs(out: Path) -> dict[str, bytes]:
    return {str(p.relative_to(out)): p.read_bytes() for p in sorted(out.rglob("*.wav"))}


def _frame_rms(x: np.ndarray) -> np.ndarray:
    frame = CONFIG.audio.sample_rate // 100
    n = len(x) // frame
    return np.sqrt(np.mean(x[: n * frame].astype(np.float64).reshape(n, frame) ** 2, axis=1))


def test_first_run_makes_every_clip(corpus):
    out, report = corpus
    expected = len(WORDS) * LIMIT * CONFIG.synth.variations_per_voice
    assert report.made == expected and report.cached == 0 and report.failed == []
    assert len(_wavs(out)) == expected
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["settings_hash"] == synth.settings_hash(CONFIG.synth.seed)
    assert manifest["counts"] == {w: LIMIT * CONFIG.synth.variations_per_voice for w in WORDS}
    assert manifest["voices"] == LIMIT and manifest["clips"] == expected


def test_same_seed_gives_identical_bytes(corpus, tmp_path):
    out, _ = corpus
    _build(tmp_path / "b", jobs=1)  # another job count: results must not depend on scheduling
    assert _wavs(tmp_path / "b") == _wavs(out)


def test_other_seed_gives_other_takes(corpus, tmp_path):
    out, _ = corpus
    _build(tmp_path / "c", seed=CONFIG.synth.seed + 1, words=WORDS[:1], limit_voices=1)
    other = _wavs(tmp_path / "c")
    assert other and all(other[k] != _wavs(out)[k] for k in other)


def test_second_run_is_all_cached(corpus, capsys):
    out, first = corpus
    before = {p: p.stat().st_mtime_ns for p in out.rglob("*.wav")}
    again = _build(out)
    assert again.made == 0 and again.failed == []
    assert again.cached == first.made
    assert {p: p.stat().st_mtime_ns for p in out.rglob("*.wav")} == before
    assert "nothing to synthesise" in capsys.readouterr().err


def test_clips_are_valid_one_second_speech(corpus):
    out, _ = corpus
    listing = json.loads((out / "voices.json").read_text())["voices"]
    speakers = {v["speaker"] for v in listing.values()}
    for path in out.rglob("*.wav"):
        assert NAME.match(path.name), path.name
        assert path.name[:8] in speakers
        assert path.parent.name in WORDS
        x = read_wav(path)  # strict: raises unless 16 kHz mono int16
        assert x.dtype == np.int16 and len(x) == CONFIG.audio.clip_samples
        rms_dbfs = 20 * np.log10(np.sqrt(np.mean(x.astype(np.float64) ** 2)) / 32768)
        assert rms_dbfs > -50, f"{path}: silent ({rms_dbfs:.1f} dBFS)"
        # The word is placed whole: the clip's first and last 10 ms are far below its loudest 10 ms.
        rms = _frame_rms(x)
        edge_db = 20 * np.log10(max(rms[0], rms[-1]) / rms.max() + 1e-12)
        assert edge_db < -30, f"{path}: speech at the clip's edge ({edge_db:.1f} dB)"


def test_speaker_is_sha1_of_voice_id(corpus):
    out, _ = corpus
    listing = json.loads((out / "voices.json").read_text())["voices"]
    assert len(listing) == LIMIT
    for vid, info in listing.items():
        assert info["speaker"] == hashlib.sha1(vid.encode()).hexdigest()[:8]
        assert info["engine"] == "espeak-ng"


def test_other_settings_are_refused(corpus):
    out, _ = corpus
    with pytest.raises(TinyKwsError, match="other synth settings"):
        _build(out, seed=CONFIG.synth.seed + 7)


def test_clip_params_are_seeded_and_in_range():
    a = synth.clip_params(1, "espeak-ng:en", "yes", 0)
    assert a == synth.clip_params(1, "espeak-ng:en", "yes", 0)
    assert a != synth.clip_params(1, "espeak-ng:en", "yes", 1)
    assert a != synth.clip_params(2, "espeak-ng:en", "yes", 0)
    s = CONFIG.synth
    for n in range(50):
        p = synth.clip_params(s.seed, "flite:slt", "go", n)
        assert s.speed_range[0] <= p.speed <= s.speed_range[1]
        assert s.pitch_range[0] <= p.pitch <= s.pitch_range[1]
        assert s.gain_db_range[0] <= p.gain_db <= s.gain_db_range[1]
        assert 0 <= p.offset < 1


def test_speed_range_says_words_slower_and_is_a_corpus_setting(tmp_path):
    # A custom word's takes are said slower than the corpus's (SynthConfig.keyword_speed_range).
    for n in range(20):
        assert 0.6 <= synth.clip_params(1, "flite:slt", "go", n, (0.6, 0.7)).speed <= 0.7

    def active_seconds(out: Path) -> float:
        lengths = []
        for p in sorted(out.rglob("*.wav")):
            rms = _frame_rms(read_wav(p))
            loud = np.flatnonzero(rms >= rms.max() * 10 ** (-25 / 20))
            lengths.append((loud[-1] - loud[0] + 1) / 100)
        return float(np.mean(lengths))

    slow = _build(tmp_path / "slow", words=["seven"], speed_range=(0.6, 0.6))
    fast = _build(tmp_path / "fast", words=["seven"], speed_range=(1.1, 1.1))
    assert slow.made == fast.made == LIMIT * CONFIG.synth.variations_per_voice
    assert active_seconds(tmp_path / "slow") > 1.3 * active_seconds(tmp_path / "fast")
    with pytest.raises(TinyKwsError, match="other synth settings"):
        _build(tmp_path / "slow", words=["seven"])  # the corpus's own range: not mixed into the slow takes
    with pytest.raises(TinyKwsError, match="speed range"):
        _build(tmp_path / "bad", words=["seven"], speed_range=(1.2, 0.8))


def test_long_word_is_compressed_not_cut(tmp_path):
    _require_tools()
    voice = voices.Voice("espeak-ng:en-US", "espeak-ng", {"voice": "gmw/en-US", "variant": ""})
    slow = 0.5
    voices.say(voice, "backward", slow, tmp_path / "raw.wav")
    raw = synth.trim(synth.load_voice_wav(tmp_path / "raw.wav"))
    assert len(raw) > synth.MAX_WORD_SECONDS * CONFIG.audio.sample_rate  # the case under test
    params = synth.ClipParams(speed=slow, pitch=1.0, gain_db=0.0, offset=0.0)
    clip = synth.render_clip(voice, "backward", params, tmp_path)
    rms = _frame_rms(clip)
    assert len(clip) == CONFIG.audio.clip_samples
    assert 20 * np.log10(max(rms[0], rms[-1]) / rms.max() + 1e-12) < -30


def test_a_stale_cache_of_takes_is_remade_not_refused(tmp_path):
    # A custom word's takes live in a folder of tinykws's own (build/data/synth-keywords): after a settings
    # change it is made again, where a corpus the user named is refused (test_other_settings_are_refused).
    out = tmp_path / "kw"
    _build(out, words=["seven"], limit_voices=1)
    (out / "seven" / "stale.wav").write_bytes(b"")  # a file of the old corpus
    report = _build(out, words=["seven"], limit_voices=1, speed_range=(0.6, 0.6), remake_stale=True)
    assert report.made == CONFIG.synth.variations_per_voice and report.cached == 0
    assert not (out / "seven" / "stale.wav").exists()
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["settings"]["speed_range"] == [0.6, 0.6]


def test_a_folder_that_collects_words_lists_them_all(tmp_path):
    # build/data/synth-keywords gets one word per `train --keyword`: its manifest must not forget the others.
    out = tmp_path / "kw"
    _build(out, words=["seven"], limit_voices=1)
    _build(out, words=["eight"], limit_voices=1)
    manifest = json.loads((out / "manifest.json").read_text())
    takes = CONFIG.synth.variations_per_voice
    assert manifest["words"] == ["seven", "eight"] and manifest["counts"] == {"seven": takes, "eight": takes}
    assert manifest["clips"] == len(list(out.rglob("*.wav"))) == 2 * takes


def _merge_many(out: str, word: str, times: int) -> None:
    for n in range(times):
        synth.merge_manifest(Path(out), {word: n + 1}, [], {"settings_hash": "h"})


def test_runs_that_finish_at_once_keep_each_others_words(tmp_path):
    """Two `make keyword`s finishing together read-merge-write the same manifest: under its lock no word is lost
    (without it, one process's write replaced the other's within a few rounds)."""
    import multiprocessing

    words = ["one", "two", "three", "four"]
    ctx = multiprocessing.get_context("spawn")
    procs = [ctx.Process(target=_merge_many, args=(str(tmp_path), w, 60)) for w in words]
    for p in procs:
        p.start()
    for p in procs:
        p.join(60)
        assert p.exitcode == 0
    manifest = json.loads((tmp_path / "manifest.json").read_text())
    assert manifest["counts"] == {w: 60 for w in words} and manifest["clips"] == 240


def test_discovery_finds_espeak_voices():
    _require_tools()
    found = voices.discover_voices(["espeak-ng"], probe=synth.probe, jobs=2)
    assert found.voices, f"no working espeak-ng voice; notes: {found.notes}"
    assert all(v.engine == "espeak-ng" and v.id.startswith("espeak-ng:") for v in found.voices)
    # every base voice comes with the configured number of variants (or all installed, if fewer)
    bases = {v.params["voice"] for v in found.voices if not v.params["voice"].startswith("mb/")}
    assert len(found.voices) >= len(bases) * min(2, voices.ESPEAK_VARIANTS_PER_VOICE)


def test_missing_engines_are_skipped(tmp_path, monkeypatch):
    _require_tools()
    # A PATH holding only espeak-ng and sox: flite and festival look uninstalled.
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    for tool in ("espeak-ng", "sox"):
        os.symlink(shutil.which(tool), bin_dir / tool)
    monkeypatch.setenv("PATH", str(bin_dir))
    found = voices.discover_voices(probe=None)
    assert {v.engine for v in found.voices} == {"espeak-ng"}
    assert any(n.startswith("flite: not installed") for n in found.notes)
    assert any(n.startswith("festival: not installed") for n in found.notes)
    report = synth.build_corpus(tmp_path / "out", words=["no"], limit_voices=1, jobs=1, progress=False)
    assert report.made == CONFIG.synth.variations_per_voice and report.voices_per_engine == {"espeak-ng": 1}


@pytest.mark.parametrize("engine", ["flite", "festival"])
def test_optional_engine_says_a_word(engine, tmp_path):
    _require_tools()
    if shutil.which(engine) is None:
        pytest.skip(f"{engine} is optional and not installed")
    found = voices.discover_voices([engine], probe=synth.probe)
    assert found.voices, f"{engine} is installed but no voice works: {found.notes}"
    params = synth.clip_params(CONFIG.synth.seed, found.voices[0].id, "go", 0)
    clip = synth.render_clip(found.voices[0], "go", params, tmp_path)
    assert len(clip) == CONFIG.audio.clip_samples and np.abs(clip).max() > 1000


def test_cli_reports_and_rejects_bad_words(tmp_path, capsys):
    _require_tools()
    argv = ["data", "synth", "--out", str(tmp_path), "--words", "go", "--engines", "espeak-ng",
            "--limit-voices", "1", "--jobs", "1", "--no-progress"]
    assert cli.main(argv) == 0
    out = capsys.readouterr().out
    assert f"{CONFIG.synth.variations_per_voice} clips made, 0 cached, 0 failed" in out
    assert "espeak-ng 1; 1 in total" in out
    assert cli.main([*argv[:4], "--words", "go,../etc"]) == 2
    assert "only lower-case letters" in capsys.readouterr().err
