"""Per clip, a custom word's models on its real recordings: the int8 student and the run's teacher head, each at
the threshold that lets 1 % of real negatives through (validation speakers' Speech Commands clips and 1 s windows
of their running speech). A coarser, stream-free view beside `bench/custom_words.py`: it says whether the
student lost what its teacher knows, or whether the streams' detector settings lose it.

`python bench/word_clips.py RUN_DIR [RUN_DIR ...]` (run folders of `tinykws train --keyword WORD`)
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import numpy as np

from tinykws.config import CONFIG, SHARED_DATA_DIR
from tinykws.data import layout
from tinykws.data.wav import fit_clip, read_wav
from tinykws.features import mfcc
from tinykws.train import teacher
from tinykws.train.dataset import read_clip
from tinykws.train.int_model import IntModel


def recall_at_fpr(pos: np.ndarray, neg: np.ndarray, fpr: float) -> float:
    threshold = np.quantile(neg, 1.0 - fpr)
    return float(np.mean(pos > threshold))


def main(runs: list[str]) -> int:
    real = SHARED_DATA_DIR / "speech_commands_test_set_v0.02"
    neg_clips = [c for c in layout.scan(real) if c.split == "validation"]
    hop = CONFIG.audio.clip_samples // 2
    running = [
        c
        for c in layout.scan_running_speech(SHARED_DATA_DIR / "librispeech", CONFIG.audio.clip_samples, hop)
        if c.split == "validation"
    ]
    neg_audio = np.stack([read_clip(c.path, c.offset) for c in neg_clips + running])
    neg_feats = mfcc.mfcc(neg_audio)
    emb = teacher.Embedder()
    neg_emb = emb.embed(neg_audio)
    for run in map(Path, runs):
        model = IntModel.load(run / "model.npz")
        word = model.labels[1]
        pos_audio = np.stack(
            [fit_clip(read_wav(p)) for p in sorted((SHARED_DATA_DIR / "wake_words" / word).glob("*.wav"))]
        )
        pos_feats = mfcc.mfcc(pos_audio)

        def margin(logits: np.ndarray) -> np.ndarray:
            return logits[:, 1].astype(np.float64) - logits[:, 0]

        s_pos, s_neg = margin(model.run_batch(pos_feats)), margin(model.run_batch(neg_feats))
        head, _ = teacher.load_head(run / "teacher_head.pt")
        t_pos = margin(teacher.head_logits(head, emb.embed(pos_audio)))
        t_neg = margin(teacher.head_logits(head, neg_emb))
        row = {"run": str(run), "word": word, "positives": len(pos_audio), "negatives": len(neg_audio)}
        for fpr in (0.01, 0.001):
            row[f"student_recall_at_{fpr:g}_fpr"] = recall_at_fpr(s_pos, s_neg, fpr)
            row[f"teacher_recall_at_{fpr:g}_fpr"] = recall_at_fpr(t_pos, t_neg, fpr)
        print(json.dumps(row), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
