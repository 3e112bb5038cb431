"""Running a (fake-quantized) module over many inputs and comparing its logits with float's:
the numbers the accuracy guard and the int8 benchmarks decide by."""
from __future__ import annotations

import numpy as np


def run_batches(module, x: np.ndarray, batch: int = 1) -> np.ndarray:
    """`module` on the float array `x`, `batch` images at a time (a captured graph has a fixed
    batch: a partial last batch is dropped)."""
    import torch

    outs = []
    with torch.no_grad():
        for i in range(0, len(x) - batch + 1, batch):
            y = module(torch.from_numpy(np.ascontiguousarray(x[i : i + batch])))
            outs.append((y[0] if isinstance(y, (tuple, list)) else y).float().numpy())
    return np.concatenate(outs)


def agreement(a: np.ndarray, b: np.ndarray) -> float:
    """Fraction of rows whose argmax agrees."""
    return float((a.argmax(-1) == b.argmax(-1)).mean())


def cosine_mean(a: np.ndarray, b: np.ndarray) -> float:
    """Mean cosine similarity of matching rows (embeddings: a backbone's output)."""
    a, b = a.reshape(len(a), -1).astype(np.float64), b.reshape(len(b), -1).astype(np.float64)
    num = (a * b).sum(-1)
    den = np.linalg.norm(a, axis=-1) * np.linalg.norm(b, axis=-1)
    return float(np.where(den > 0, num / np.maximum(den, 1e-300), (num == 0) * 1.0).mean())


GUARD_METRICS = ("top1", "cosine")


def guard_score(ref: np.ndarray, y: np.ndarray, metric: str = "top1") -> float:
    """What the accuracy guard wants >= min_agreement: top-1 agreement of logits (a classifier),
    or the mean cosine of embeddings (a backbone, whose argmax means nothing)."""
    return cosine_mean(ref, y) if metric == "cosine" else agreement(ref, y)


def guard_divergence(ref: np.ndarray, y: np.ndarray, metric: str = "top1") -> float:
    """The smooth stand-in the guard ranks layers and breaks ties by (lower is closer to float):
    KL of the softmax outputs for logits, 1 - mean cosine for embeddings."""
    return 1.0 - cosine_mean(ref, y) if metric == "cosine" else kl_to_float(ref, y)


def _log_softmax(z):
    z = z - z.max(-1, keepdims=True)
    return z - np.log(np.exp(z).sum(-1, keepdims=True))


def kl_to_float(ref: np.ndarray, y: np.ndarray) -> float:
    """Mean KL(float || quantized) of the softmax outputs: a smooth stand-in for agreement."""
    lp, lq = _log_softmax(ref.astype(np.float64)), _log_softmax(y.astype(np.float64))
    return float((np.exp(lp) * (lp - lq)).sum(-1).mean())
