"""The speech body (train/body.py): the student's layers distilled from the teacher's embedding, then frozen.

Alignment is checked against the sample arithmetic done by hand; training must learn a target that is learnable,
resume after Ctrl-C to the very weights of an uninterrupted run, and a head trained on a frozen body must leave
every body weight as it was.
"""

import dataclasses
import json

import numpy as np
import pytest
import torch
from test_train import TINY

from tinykws.config import CONFIG, REPO_ROOT
from tinykws.errors import TinyKwsError
from tinykws.train import body, trainer
from tinykws.train.trainer import Run

SMALL = dataclasses.replace(
    TINY, body=dataclasses.replace(CONFIG.body, epochs=3, examples_per_epoch=2048, batch_size=64, learning_rate=1e-2)
)


def test_alignment_by_hand():
    a = body.alignment(16)
    frames = CONFIG.features.frames_for(CONFIG.audio.clip_samples)
    assert a.shape == (frames - CONFIG.model.receptive_field() + 1, 16)
    assert np.allclose(a.sum(axis=1), 1.0)
    # Student frame 0 sees samples [0, 32 * 320 + 480): centre 5,360. Teacher window i sees [1280 i, 1280 i +
    # 75 * 160 + 400) of the clip padded by 8,240: centre 1280 i + 6,200 - 8,240. Equal at i = 7,400 / 1,280.
    x = 7400 / 1280
    assert a[0, 5] == pytest.approx(6 - x) and a[0, 6] == pytest.approx(x - 5)
    # One student hop (320 samples) is a quarter of a teacher step (1,280).
    centres = a @ np.arange(16)
    assert np.allclose(np.diff(centres), 0.25)


def _learnable(n: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Clips whose features hold one random vector in every frame, and whose teacher embedding is a fixed map
    of it (ReLU, then linear) in every window: a body can reproduce it exactly."""
    rng = np.random.default_rng(seed)
    v = rng.integers(-100, 100, (n, 10))
    feats = np.repeat(v[:, None, :], 49, axis=1).astype(np.int8)
    w = np.random.default_rng(99).normal(size=(4, 96)) / 100  # rank 4: within the tiny body's 8 channels
    emb = np.repeat((np.maximum(v[:, :4], 0) @ w)[:, None, :], 16, axis=1).astype(np.float16)
    return feats, emb


def test_body_learns_a_learnable_embedding(tmp_path):
    feats, emb = _learnable(600, 0)
    val = _learnable(100, 1)
    sources = np.array(["real", "synth"] * 300)
    report = body.train_body(feats, emb, sources, val, tmp_path, SMALL, progress=False)
    r2 = [h["val_real_r2"] for h in report["history"]]
    # An untrained body explains nothing (R^2 ~ 0); this one explains most of a target it can reproduce.
    assert r2[-1] > 0.4 and r2[-1] > r2[0] + 0.2, r2
    state = body.load_body(tmp_path / "body.pt", SMALL)
    assert state["layers"] == len(state["specs"]) == 5 and state["summary"]["val_real_r2"] == r2[-1]


def test_body_resumes_after_ctrl_c_to_the_same_weights(tmp_path, monkeypatch):
    feats, emb = _learnable(300, 2)
    sources = np.array(["real"] * 300)
    body.train_body(feats, emb, sources, None, tmp_path / "straight", SMALL, progress=False)
    saves = []
    real_save = trainer.save_torch

    def save_then_stop(obj, path):
        real_save(obj, path)
        saves.append(path)
        if len(saves) == 1:
            raise KeyboardInterrupt

    monkeypatch.setattr(trainer, "save_torch", save_then_stop)
    with pytest.raises(KeyboardInterrupt):
        body.train_body(feats, emb, sources, None, tmp_path / "resumed", SMALL, progress=False)
    report = body.train_body(feats, emb, sources, None, tmp_path / "resumed", SMALL, progress=False)
    assert [h["epoch"] for h in report["history"]] == [1, 2, 3]
    a = torch.load(tmp_path / "straight" / "body.pt", weights_only=False)["body"]
    b = torch.load(tmp_path / "resumed" / "body.pt", weights_only=False)["body"]
    assert all(torch.equal(a[k], b[k]) for k in a)


def test_bad_body_files_are_one_line_errors(tmp_path):
    junk = tmp_path / "junk.pt"
    junk.write_bytes(b"not a torch file")
    with pytest.raises(TinyKwsError, match="not a readable speech body"):
        body.load_body(junk)
    feats, emb = _learnable(128, 3)
    one_epoch = dataclasses.replace(SMALL, body=dataclasses.replace(SMALL.body, epochs=1))
    body.train_body(feats, emb, np.array(["real"] * 128), None, tmp_path, one_epoch, progress=False)
    # A body of the tiny model does not fit the shipped model's layers.
    with pytest.raises(TinyKwsError, match="body layers do not match"):
        body.load_body(tmp_path / "body.pt", CONFIG)


def test_a_head_on_a_frozen_body_leaves_the_body_as_it_was(tiny_data, tmp_path):
    feats, emb = _learnable(256, 4)
    body.train_body(feats, emb, np.array(["real"] * 256), None, tmp_path / "body", SMALL, progress=False)
    state = body.load_body(tmp_path / "body" / "body.pt", SMALL)
    run = Run("yes", tmp_path / "run", [tiny_data], cfg=SMALL, bank_dir=tmp_path / "bank", progress=False,
              body=tmp_path / "body" / "body.pt")  # fmt: skip
    run.prepare_data()
    result = run.train(resume=False, progress=False)
    net, qat = result["float_net"], result["qat_net"]
    for k, v in state["body"].items():
        assert torch.equal(net.state_dict()[k], v), k
    assert not torch.equal(net.classifier.weight, torch.zeros_like(net.classifier.weight))
    # QAT folds the frozen batch norms into the frozen convs: the folded body weights never moved either.
    from tinykws.train.model import KwsNet, QatNet

    ref = KwsNet(2, SMALL.model)
    ref.load_state_dict({**ref.state_dict(), **state["body"]})
    folded = QatNet(ref)
    for i in range(state["layers"]):
        assert torch.equal(qat.convs[i].weight, folded.convs[i].weight)
        assert torch.equal(qat.convs[i].bias, folded.convs[i].bias)
    report = run.finish(result)
    assert report["recipe"]["body"]["file"] == "body.pt"


def test_train_refuses_a_missing_body_in_one_line(tmp_path, capsys):
    from tinykws.cli import main

    assert main(["train", "--task", "yes", "--body", str(tmp_path / "nope.pt"), "--out", str(tmp_path / "run")]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert err == [f"tinykws: --body {tmp_path / 'nope.pt'}: no such file (python -m tinykws.train.body makes one)"]


def test_custom_words_start_from_the_shipped_body_which_fits_the_model():
    # A custom word starts from the shipped body unless told otherwise; a 12-class or real-clip task does not.
    assert trainer.body_file(None, keyword=True) == trainer.SHIPPED_BODY
    assert trainer.body_file(None, keyword=False) is None and trainer.body_file("none", keyword=True) is None
    state = body.load_body(trainer.SHIPPED_BODY)  # refuses a body of other layers or another front end
    net = body.BodyNet()
    net.load_state_dict({**state["body"], **{f"proj.{k}": v for k, v in state["proj"].items()}})
    assert state["summary"]["val_real_r2"] > 0.4 and state["summary"]["parameters"] < 20 * 1024


def test_a_shipped_card_says_how_to_train_it_again_and_its_body_must_be_the_shipped_one(tmp_path, monkeypatch):
    import hashlib

    from tinykws.train import ship
    from tinykws.train.int_model import IntModel

    default = {"teacher": True, "transfer": list(ship.DEFAULT_TRANSFER), "seed": CONFIG.train.seed}
    assert ship.reproduce("yes", default) == "tinykws train --task yes"
    with_body = {**default, "seed": CONFIG.train.seed + 1, "body": {"frozen": False}}
    assert ship.reproduce("kws12", with_body) == (
        f"tinykws train --task kws12 --body models/body/body.pt --seed {CONFIG.train.seed + 1}"
    )
    assert ship.reproduce("kws12", {**default, "teacher": False, "transfer": []}).endswith(
        "--no-teacher --transfer none"
    )
    # A run started from another body than models/body/body.pt is refused before anything is written.
    body = tmp_path / "body.pt"
    body.write_bytes(b"the shipped body")
    monkeypatch.setattr(ship, "SHIPPED_BODY", body)
    monkeypatch.setattr(ship, "MODELS_DIR", tmp_path / "models")
    run = tmp_path / "run"
    run.mkdir()
    model = IntModel.load(REPO_ROOT / "models" / "yes" / "model.npz")
    other = hashlib.sha256(b"another body").hexdigest()
    model.meta = {"report": {"recipe": {**default, "body": {"sha256": other, "frozen": False}}}}
    model.save(run / "model.npz")
    torch.save({"float_state": {}, "qat_state": {}, "history": []}, run / "checkpoint.pt")
    with pytest.raises(TinyKwsError, match="another speech body"):
        ship.ship("yes", run)
    assert not (tmp_path / "models").exists()
    model.meta["report"]["recipe"]["body"]["sha256"] = hashlib.sha256(b"the shipped body").hexdigest()
    model.save(run / "model.npz")
    card = json.loads((ship.ship("yes", run) / "model.json").read_text())
    assert card["reproduce"].startswith(f"tinykws train --task yes --body {body}  (then")


def test_a_card_names_the_data_beside_the_repository_relative_to_it_not_to_one_machine(tmp_path, monkeypatch):
    from pathlib import Path

    from tinykws.portable import portable_paths, repo_relative
    from tinykws.train import ship
    from tinykws.train.int_model import IntModel

    root = tmp_path / "checkout"
    assert repo_relative(root / "build" / "data" / "synth", root) == "build/data/synth"
    assert repo_relative(tmp_path / "beside" / "data", root) == "../beside/data"
    assert repo_relative("/elsewhere/data", root) == "/elsewhere/data"  # not beside the repository: kept
    assert repo_relative("build/runs/yes", root) == "build/runs/yes"
    nested = {"roots": [str(root / "a"), "x"], "n": 3, "inner": {"png": str(root / "b.png"), "s": "/"}}
    assert portable_paths(nested, root) == {"roots": ["a", "x"], "n": 3, "inner": {"png": "b.png", "s": "/"}}
    # Shipping writes the card that way: the run's absolute roots become the repository's relative ones.
    monkeypatch.setattr(ship, "MODELS_DIR", tmp_path / "models")
    run = tmp_path / "run"
    run.mkdir()
    model = IntModel.load(REPO_ROOT / "models" / "yes" / "model.npz")
    beside = REPO_ROOT.parent / "beside" / "clips"
    model.meta = {"report": {"data": {"roots": [str(REPO_ROOT / "build" / "data" / "synth"), str(beside)]}}}
    model.save(run / "model.npz")
    torch.save({"float_state": {}, "qat_state": {}, "history": []}, run / "checkpoint.pt")
    card = json.loads((ship.ship("yes", run) / "model.json").read_text())
    assert card["training_data"]["roots"] == ["build/data/synth", "../beside/clips"]
    # And the shipped cards are written so (their stream-eval figures too: written by `stream-eval --apply`).
    for task in ("yes", "kws12"):
        shipped = json.loads((REPO_ROOT / "models" / task / "model.json").read_text())
        stream = shipped.get("stream_eval") or {}
        paths = [*shipped["training_data"]["roots"], *stream.get("data", []), stream.get("det_png", "")]
        assert paths and not [p for p in paths if Path(p).is_absolute()]
