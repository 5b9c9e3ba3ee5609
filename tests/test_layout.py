"""Speech Commands layouts, labels of both tasks, speaker-disjoint deterministic splits."""

import json
from collections import defaultdict

import numpy as np
import pytest

from tinykws.cli import main
from tinykws.config import CONFIG
from tinykws.data import layout
from tinykws.data.wav import write_wav
from tinykws.errors import TinyKwsError

TONE = (np.sin(np.arange(1600) / 3.0) * 1000).astype(np.int16)


def _full_layout(root):
    for word, spk in [("yes", "aaaa0001"), ("yes", "bbbb0002"), ("no", "aaaa0001"), ("bed", "cccc0003")]:
        write_wav(root / word / f"{spk}_nohash_0.wav", TONE)
    write_wav(root / "_background_noise_" / "noise.wav", TONE)
    (root / "validation_list.txt").write_text("yes/bbbb0002_nohash_0.wav\n")
    (root / "testing_list.txt").write_text("bed/cccc0003_nohash_0.wav\n")
    return root


def _assert_speaker_disjoint(clips):
    sides = defaultdict(set)
    for c in clips:
        sides[c.speaker].add(c.split)
    shared = {s: v for s, v in sides.items() if len(v) > 1}
    assert not shared, f"speakers on two sides: {list(shared.items())[:5]}"


def test_full_layout_uses_official_lists_and_skips_noise(tmp_path):
    clips = layout.scan(_full_layout(tmp_path))
    got = {(c.word, c.speaker): c.split for c in clips}
    assert got == {
        ("yes", "aaaa0001"): "train",
        ("yes", "bbbb0002"): "validation",
        ("no", "aaaa0001"): "train",
        ("bed", "cccc0003"): "test",
    }
    assert layout.noise_files([tmp_path]) == [tmp_path / "_background_noise_" / "noise.wav"]


def test_test_set_layout_words_labels_and_disjoint_split(real_dir):
    clips = layout.scan(real_dir)
    assert len(clips) == 3196
    unknown = [c for c in clips if c.path.parent.name == "_unknown_"]
    assert unknown and all(c.path.name.startswith(c.word + "_") for c in unknown)
    assert {c.word for c in clips if c.path.parent.name == "_silence_"} == {"_silence_"}
    _assert_speaker_disjoint(clips)
    splits = {c.split for c in clips}
    assert splits == {"train", "validation"}
    val_speakers = layout.people(c for c in clips if c.split == "validation")
    all_speakers = layout.people(clips)
    assert 0.1 < len(val_speakers) / len(all_speakers) < 0.3


def test_split_agrees_with_the_official_test_list(real_dir):
    """Google chose the official test set with this very hash (`which_set`, 10 % validation, 10 % test): every
    speaker of ../shared/data's test-set clips must land in "test", an outcome computed outside tinykws."""
    speakers = layout.people(layout.scan(real_dir))
    assert len(speakers) == 143
    assert {s: layout.split_of(s, 10, 10) for s in speakers} == dict.fromkeys(speakers, "test")
    # The bands are in the dataset's order (validation first, then test): with no test band they are "train".
    assert {layout.split_of(s, 10, 0) for s in speakers} == {"train"}
    assert {layout.split_of(s, 90, 10) for s in speakers} == {"validation"}
    sides = [layout.split_of(f"{i:08x}", 10, 10) for i in range(1000)]
    assert 80 <= sides.count("validation") <= 120 and 80 <= sides.count("test") <= 120


def test_labels_of_both_tasks():
    names = CONFIG.labels.kws12_labels
    assert len(names) == 12 and names[:2] == ("_silence_", "_unknown_")
    assert layout.label_index("yes", "kws12") == names.index("yes")
    assert layout.label_index("marvin", "kws12") == names.index("_unknown_")
    assert layout.label_index("_silence_", "kws12") == 0
    assert [layout.label_index(w, "yes") for w in ("yes", "no", "yet", "_silence_")] == [1, 0, 0, 0]
    assert layout.task_labels("marvin") == ("not_marvin", "marvin")
    assert [layout.label_index(w, "marvin") for w in ("marvin", "yes", "_silence_")] == [1, 0, 0]
    assert layout.keyword_task("  Hey   Tiny ") == "hey_tiny"
    for bad in ("kws35x!", "Yes", "not_yes", "two  words", "", "hey-tiny"):
        with pytest.raises(TinyKwsError, match="unknown task"):
            layout.check_task(bad)


def test_not_a_dataset_is_a_clear_error(tmp_path, capsys):
    (tmp_path / "empty").mkdir()
    assert main(["data", "info", str(tmp_path / "empty")]) != 0
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "no .wav clips" in err[0]


def test_info_json_counts(tmp_path, capsys):
    assert main(["data", "info", str(_full_layout(tmp_path)), "--json", "--task", "yes"]) == 0
    s = json.loads(capsys.readouterr().out)
    assert s["clips"] == 4 and s["speakers"] == 3 and s["silence_clips"] == 0
    assert s["splits"]["train"]["per_label"] == {"not_yes": 1, "yes": 1}


def test_info_counts_people_and_silence_clips_apart(tmp_path, capsys):
    root = tmp_path / "speech_commands_test_set_v0.02"
    for rel in ("yes/aaaa0001_nohash_0.wav", "_unknown_/bed_aaaa0001_nohash_1.wav", "no/bbbb0002_nohash_0.wav",
                "_silence_/0.wav", "_silence_/1.wav", "_silence_/2.wav"):  # fmt: skip
        write_wav(root / rel, TONE)
    assert main(["data", "info", str(root), "--json"]) == 0
    s = json.loads(capsys.readouterr().out)
    assert (s["clips"], s["speakers"], s["silence_clips"]) == (6, 2, 3)
    assert sum(side["speakers"] for side in s["splits"].values()) == 2


def test_info_of_the_real_clips_matches_the_readme(real_dir, capsys):
    """README, Data: 3,196 clips of 143 speakers; 2,632 clips / 120 speakers for training, 564 / 23 validation."""
    assert main(["data", "info", str(real_dir), "--json"]) == 0
    s = json.loads(capsys.readouterr().out)
    assert (s["clips"], s["speakers"], s["silence_clips"]) == (3196, 143, 230)
    got = {k: (v["clips"], v["speakers"]) for k, v in s["splits"].items()}
    assert got == {"train": (2632, 120), "validation": (564, 23)}
    assert main(["data", "info", str(real_dir)]) == 0
    assert capsys.readouterr().out.splitlines()[0] == "3196 clips (230 of silence), 143 speakers"
