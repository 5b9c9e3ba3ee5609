"""Deterministic test models, built in about a second from a fixed torch seed and a few real clips, so the
tests never depend on models/ or on a training run. This is the one recipe (the firmware, .tflite and QAT
tests all use it), and it runs torch on one thread.

The recipe is the training pipeline's own, minus most of the training: train.model.KwsNet with seeded weights;
optionally a few Adam steps on the clips (an untrained net's logits barely depend on its input, which makes an
equality test of the outputs weak); one pass of the clips' features in train mode sets the batch-norm
statistics (cumulative, momentum None); fold into QatNet, one pass sets the activation observers, freeze,
`to_int_model`. Its logits are not meaningful but every layer sees realistic activation ranges, which is what
the arithmetic tests need.

    python tests/model_fixtures.py --write-golden   rewrites tests/golden/network/<VERSION>/
"""

from __future__ import annotations

import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import numpy as np

from tinykws.config import CONFIG, SHARED_DATA_DIR
from tinykws.data import layout
from tinykws.data.wav import fit_clip, read_wav
from tinykws.features import mfcc
from tinykws.train.int_model import IntModel

REAL = SHARED_DATA_DIR / "speech_commands_test_set_v0.02"
CLIPS_PER_LABEL = 2


def real_clips(per_label: int = CLIPS_PER_LABEL) -> list[Path]:
    """The first clips of every label folder, in a fixed order."""
    if not REAL.is_dir():
        raise FileNotFoundError(f"{REAL} missing: the test model is calibrated on the real clips of ../shared/data")
    folders = sorted(p for p in REAL.iterdir() if p.is_dir())
    return [c for f in folders for c in sorted(f.glob("*.wav"))[:per_label]]


def clip_features(paths: list[Path]) -> np.ndarray:
    """(clips, frames, coefficients) int8 of 1 s clips."""
    return np.stack([mfcc.mfcc(fit_clip(read_wav(p))) for p in paths])


@contextmanager
def one_torch_thread() -> Iterator[None]:
    """The passes are tiny, and a thread pool competing with a training run on the same cores turns one second
    into forty (21 s instead of 5 s measured for the .tflite fixtures on a busy 2-core machine)."""
    import torch

    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        yield
    finally:
        torch.set_num_threads(threads)


def fixture_qat(  # noqa: ANN201 - a QatNet; torch is imported lazily
    task: str, feats: np.ndarray, words: list[str] | None = None, seed: int = 0, train_steps: int = 0
):
    """The frozen QatNet of the recipe above for (clips, frames, coefficients) int8 features; `words` (the
    clips' words) only with `train_steps` > 0."""
    import torch

    from tinykws.train import dataset
    from tinykws.train.model import KwsNet, QatNet, dequantize_input

    x = dequantize_input(feats)
    with one_torch_thread():
        torch.manual_seed(seed)
        net = KwsNet(len(layout.task_labels(task)))
        if train_steps:
            y = torch.from_numpy(dataset.labels_for(np.array(words), task))
            opt = torch.optim.Adam(net.parameters(), lr=3e-3)
            net.train()
            for _ in range(train_steps):
                opt.zero_grad()
                torch.nn.functional.cross_entropy(net(x), y).backward()
                opt.step()
        for bn in net.bns:
            bn.reset_running_stats()
            bn.momentum = None  # cumulative average: one pass gives exactly this batch's statistics
        net.train()
        with torch.no_grad():
            net(x)
        qat = QatNet(net)
        qat.train()
        with torch.no_grad():
            qat(x)
        qat.freeze_observers()
    return qat


def fixture_model(
    task: str, feats: np.ndarray, words: list[str] | None = None, seed: int = 0, train_steps: int = 0
) -> IntModel:
    """`fixture_qat` exported as training exports: the model every runtime must compute exactly."""
    labels = layout.task_labels(task)
    return fixture_qat(task, feats, words, seed, train_steps).to_int_model(
        labels, input_frames=CONFIG.clip_feature_shape()[0], feature_hash=CONFIG.feature_hash()
    )


def build_test_model(task: str = "kws12", seed: int = 0) -> IntModel:
    """The firmware tests' model: the recipe on two real clips per label, with every kind of shift."""
    model = fixture_model(task, clip_features(real_clips()), seed=seed)
    model.meta = {"recipe": "tests/model_fixtures.py build_test_model", "task": task, "seed": seed}
    _use_every_shift(model)
    return model


def _use_every_shift(model: IntModel) -> None:
    """Give a few channels other (multiplier, shift) pairs of the same scale: TFLite's left shift (shift > 0),
    shift 0 and the smallest right shift, which trained models rarely produce but the kernels must get right.
    The arithmetic takes any multiplier >= 0, not only QuantizeMultiplier's normalised [2^30, 2^31)."""
    for layer in (model.layers[2], model.classifier):
        for c, shift in ((0, 1), (1, 0), (2, -1))[: layer.out_channels]:
            scale = float(layer.multiplier[c]) * 2.0 ** (int(layer.shift[c]) - 31)
            layer.multiplier[c] = round(scale * 2.0 ** (31 - shift))
            layer.shift[c] = shift


def golden_inputs(model: IntModel) -> tuple[dict[str, np.ndarray], np.ndarray]:
    """Windows of real features, random and extreme frames; a stream of three real clips' features."""
    rng = np.random.default_rng(1)
    shape = (model.input_frames, CONFIG.features.num_mfcc)
    names = ["yes/0bac8a71_nohash_0.wav", "no", "_silence_"]
    paths = [REAL / names[0], sorted((REAL / names[1]).glob("*.wav"))[3], sorted((REAL / names[2]).glob("*.wav"))[0]]
    real = clip_features(paths)
    windows = {
        "real_yes": real[0],
        "real_no": real[1],
        "real_silence": real[2],
        "random": rng.integers(-128, 128, shape).astype(np.int8),
        "all_min": np.full(shape, -128, np.int8),
        "all_max": np.full(shape, 127, np.int8),
    }
    stream = np.concatenate([real[1], real[0], rng.integers(-128, 128, shape).astype(np.int8), real[2]])
    return windows, stream


if __name__ == "__main__":
    if sys.argv[1:] != ["--write-golden"]:
        sys.exit("usage: python tests/model_fixtures.py --write-golden")
    from tinykws.deploy.golden_network import write_golden

    m = build_test_model()
    print(f"wrote {write_golden(m, *golden_inputs(m))}")
