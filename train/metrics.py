"""Classification metrics shared by training and `tinykws eval`: accuracy, per-class recall, confusion matrix,
and for the wake word its false-reject / false-accept rates."""

from __future__ import annotations

import numpy as np


def confusion(labels: np.ndarray, preds: np.ndarray, num_classes: int) -> np.ndarray:
    m = np.zeros((num_classes, num_classes), dtype=np.int64)
    np.add.at(m, (labels, preds), 1)
    return m


def wake_scores(logits: np.ndarray) -> np.ndarray:
    """Wake-word score: logit(yes) - logit(not yes), in int8 logit steps (a monotone stand-in for p(yes))."""
    return logits[:, 1].astype(np.int64) - logits[:, 0].astype(np.int64)


def frr_at_far(scores: np.ndarray, labels: np.ndarray, max_far: float) -> tuple[float, float]:
    """Lowest false-reject rate whose threshold keeps the false-accept rate <= max_far; (frr, threshold)."""
    pos, neg = scores[labels == 1], scores[labels == 0]
    if len(pos) == 0 or len(neg) == 0:
        return float("nan"), float("nan")
    best = (1.0, float(np.max(neg)) + 1)
    for t in np.unique(np.concatenate([pos, neg, [np.max(neg) + 1]])):
        far = float(np.mean(neg >= t))
        if far <= max_far:
            frr = float(np.mean(pos < t))
            if frr < best[0] or (frr == best[0] and t < best[1]):
                best = (frr, float(t))
    return best


def summarize(labels: np.ndarray, logits: np.ndarray, names: tuple[str, ...]) -> dict:
    preds = logits.argmax(axis=1)
    cm = confusion(labels, preds, len(names))
    per_class = {}
    for i, n in enumerate(names):
        total = int(cm[i].sum())
        per_class[n] = {"recall": float(cm[i, i] / total) if total else None, "n": total}
    out = {
        "accuracy": float(np.mean(preds == labels)) if len(labels) else float("nan"),
        "n": int(len(labels)),
        "per_class": per_class,
        "confusion": cm.tolist(),
        "labels": list(names),
    }
    if len(names) == 2:
        pos, neg = labels == 1, labels == 0
        out["frr"] = float(np.mean(preds[pos] != 1)) if pos.any() else None
        out["far"] = float(np.mean(preds[neg] == 1)) if neg.any() else None
        frr, thr = frr_at_far(wake_scores(logits), labels, 0.005)
        out["frr_at_far_0.5%"] = frr
        out["threshold_at_far_0.5%"] = thr
    return out


def format_table(m: dict) -> str:
    lines = [f"accuracy {100 * m['accuracy']:.2f} % over {m['n']} clips"]
    if "frr" in m:
        lines.append(
            f"FRR {100 * (m['frr'] or 0):.2f} %  FAR {100 * (m['far'] or 0):.2f} % (per clip, argmax);  "
            f"FRR at FAR <= 0.5 %: {100 * m['frr_at_far_0.5%']:.2f} %"
        )
    lines.append(f"{'class':<12}{'recall':>8}{'n':>7}")
    for name, pc in m["per_class"].items():
        r = "-" if pc["recall"] is None else f"{100 * pc['recall']:.1f}"
        lines.append(f"{name:<12}{r:>8}{pc['n']:>7}")
    names = m["labels"]
    width = max(4, max(len(n) for n in names) if len(names) <= 2 else 5)
    lines.append("confusion (rows: truth, columns: predicted)")
    lines.append(" " * 12 + "".join(f"{n[:width]:>{width + 1}}" for n in names))
    for n, row in zip(names, m["confusion"], strict=True):
        lines.append(f"{n:<12}" + "".join(f"{v:>{width + 1}}" for v in row))
    return "\n".join(lines)


def plot_confusion(m: dict, path: str, title: str) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    cm = np.asarray(m["confusion"], dtype=np.float64)
    norm = cm / np.maximum(cm.sum(axis=1, keepdims=True), 1)
    names = m["labels"]
    fig, ax = plt.subplots(figsize=(1.0 + 0.6 * len(names), 0.8 + 0.55 * len(names)))
    ax.imshow(norm, cmap="Blues", vmin=0, vmax=1)
    for i in range(len(names)):
        for j in range(len(names)):
            if cm[i, j]:
                ax.text(
                    j,
                    i,
                    int(cm[i, j]),
                    ha="center",
                    va="center",
                    fontsize=7,
                    color="white" if norm[i, j] > 0.5 else "black",
                )
    ax.set_xticks(range(len(names)), names, rotation=60, ha="right", fontsize=8)
    ax.set_yticks(range(len(names)), names, fontsize=8)
    ax.set_xlabel("predicted")
    ax.set_ylabel("truth")
    ax.set_title(f"{title}\naccuracy {100 * m['accuracy']:.1f} % (n={m['n']})", fontsize=9)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
