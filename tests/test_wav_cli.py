"""Bad input to `tinykws features`: one clear line, exit != 0, nothing written; explicit conversion."""

import struct

import numpy as np
import pytest

from tinykws.cli import main
from tinykws.data.wav import read_wav, write_wav
from tinykws.features import mfcc
from tinykws.features.streaming import StreamingFrontend


def _wav_bytes(samples: bytes, rate=16000, channels=1, bits=16, tag=1, data_size=None) -> bytes:
    block = channels * bits // 8
    fmt = struct.pack("<HHIIHH", tag, channels, rate, rate * block, block, bits)
    size = len(samples) if data_size is None else data_size
    body = b"fmt " + struct.pack("<I", 16) + fmt + b"data" + struct.pack("<I", size) + samples
    return b"RIFF" + struct.pack("<I", 4 + len(body)) + b"WAVE" + body


TONE = (np.sin(np.arange(16000) / 5.0) * 8000).astype("<i2")

BAD = {
    "rate_8k": (_wav_bytes(TONE[:8000].tobytes(), rate=8000), "8000 Hz"),
    "stereo": (_wav_bytes(np.repeat(TONE, 2).tobytes(), channels=2), "2 channels"),
    "eight_bit": (_wav_bytes((TONE // 256 + 128).astype(np.uint8).tobytes(), bits=8), "8-bit"),
    "float32": (_wav_bytes((TONE / 32768).astype("<f4").tobytes(), bits=32, tag=3), "float"),
    "truncated_header": (_wav_bytes(TONE.tobytes())[:30], "truncated header"),
    "truncated_data": (_wav_bytes(TONE.tobytes())[:20000], "truncated data"),
    # A RIFF size field tops out at 4 GiB: the largest length a header can claim.
    "huge_claim": (_wav_bytes(TONE.tobytes(), data_size=2**32 - 2), "truncated data"),
    "zero_length": (_wav_bytes(b""), "no audio samples"),
    "empty_file": (b"", "empty file"),
    "not_riff": (b"ID3\x03" + bytes(100), "not a WAV"),
    "too_short": (_wav_bytes(TONE[:100].tobytes()), "shorter than one"),
}


@pytest.mark.parametrize("case", sorted(BAD))
def test_bad_wav_gives_one_line_and_no_output(tmp_path, capsys, case):
    blob, phrase = BAD[case]
    good = tmp_path / "good.wav"
    write_wav(good, TONE)
    bad = tmp_path / f"{case}.wav"
    bad.write_bytes(blob)
    out = tmp_path / "out.npz"
    code = main(["features", str(good), str(bad), "-o", str(out)])
    err = capsys.readouterr().err.strip().splitlines()
    assert code != 0
    assert len(err) == 1 and err[0].startswith("tinykws: ") and str(bad) in err[0], err
    assert phrase in err[0], err
    assert set(tmp_path.iterdir()) == {good, bad}  # no output, no temp file


def test_missing_file_and_directory(tmp_path, capsys):
    assert main(["features", str(tmp_path / "nope.wav"), "-o", str(tmp_path / "o.npz")]) != 0
    assert "no such file" in capsys.readouterr().err
    assert main(["features", str(tmp_path), "-o", str(tmp_path / "o.npz")]) != 0
    assert "directory" in capsys.readouterr().err


@pytest.mark.parametrize("case", ["stereo", "rate_8k", "float32", "eight_bit"])
def test_convert_flag_converts_and_says_so(tmp_path, capsys, case):
    bad = tmp_path / "in.wav"
    bad.write_bytes(BAD[case][0])
    out = tmp_path / "o.npz"
    assert main(["features", str(bad), "-o", str(out), "--convert"]) == 0
    assert "converted" in capsys.readouterr().err
    feats = np.load(out)["in"]
    assert feats.dtype == np.int8 and feats.shape[1] == 10 and len(feats) > 0


def test_convert_stereo_of_identical_channels_is_lossless(tmp_path):
    p = tmp_path / "s.wav"
    p.write_bytes(BAD["stereo"][0])
    assert np.array_equal(read_wav(p, convert=True), TONE)


def test_cli_features_equal_streaming_in_random_chunks(real_dir, tmp_path):
    """`tinykws features` on real clips == the streaming front end fed random chunk sizes."""
    files = [real_dir / "yes" / "0bac8a71_nohash_0.wav", sorted((real_dir / "stop").iterdir())[0]]
    out = tmp_path / "f.npz"
    assert main(["features", *map(str, files), "-o", str(out)]) == 0
    npz = np.load(out)
    rng = np.random.default_rng(11)
    for f in files:
        audio = read_wav(f)
        fe = StreamingFrontend()
        pos, parts = 0, []
        while pos < len(audio):
            n = int(rng.integers(1, 1500))
            parts.append(fe.push(audio[pos : pos + n]))
            pos += n
        streamed = np.concatenate(parts)
        assert np.array_equal(npz[f.stem], streamed)
        assert np.array_equal(npz[f.stem], mfcc.mfcc(audio))


def test_duplicate_stems_get_distinct_names(tmp_path):
    a, b = tmp_path / "a", tmp_path / "b"
    a.mkdir(), b.mkdir()
    write_wav(a / "x.wav", TONE)
    write_wav(b / "x.wav", TONE)
    assert main(["features", str(a / "x.wav"), str(b / "x.wav"), "-o", str(tmp_path / "o.npz")]) == 0
    assert sorted(np.load(tmp_path / "o.npz").files) == ["x", "x_2"]
