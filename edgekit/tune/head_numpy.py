"""The numpy oracle of the head training step (edgekit/head.py has the same math in PyTorch).
Torch-free: it is also the training step used where the artifact's runtime cannot run (Core ML on
Linux). Works on the real class count (no capacity padding needed)."""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Optional

import numpy as np


def log_softmax(z: np.ndarray) -> np.ndarray:
    z = z - z.max(axis=1, keepdims=True)
    return z - np.log(np.exp(z).sum(axis=1, keepdims=True))


def one_hot(labels: np.ndarray, num_classes: int, batch: Optional[int] = None) -> np.ndarray:
    """Integer labels -> one-hot float32 rows; padded with all-zero rows up to `batch`."""
    labels = np.asarray(labels, dtype=np.int64)
    rows = len(labels) if batch is None else batch
    y = np.zeros((rows, num_classes), np.float32)
    y[np.arange(len(labels)), labels] = 1.0
    return y


def loss_and_grads(f, y, W, b):
    """Mean softmax cross-entropy over non-padding rows, and its gradients (float64 inside)."""
    f, y, W, b = (np.asarray(a, np.float64) for a in (f, y, W, b))
    logits = f @ W.T + b
    logp = log_softmax(logits)
    n = max(y.sum(), 1.0)
    loss = -(y * logp).sum() / n
    G = (np.exp(logp) * y.sum(axis=1, keepdims=True) - y) / n
    return loss, G.T @ f, G.sum(axis=0)


def sgd_step(f, y, W, b, mW, mb, lr: float, momentum: float = 0.0, weight_decay: float = 0.0):
    """One step; returns (W', b', mW', mb', loss) as float32, following torch.optim.SGD
    (dampening 0, no Nesterov): g = grad + wd * p; m = momentum * m + g; p = p - lr * m."""
    loss, gW, gb = loss_and_grads(f, y, W, b)
    gW = gW + weight_decay * np.asarray(W, np.float64)
    gb = gb + weight_decay * np.asarray(b, np.float64)
    mW2 = momentum * np.asarray(mW, np.float64) + gW
    mb2 = momentum * np.asarray(mb, np.float64) + gb
    W2 = np.asarray(W, np.float64) - lr * mW2
    b2 = np.asarray(b, np.float64) - lr * mb2
    f32 = np.float32
    return W2.astype(f32), b2.astype(f32), mW2.astype(f32), mb2.astype(f32), float(loss)


def logits(f, W, b) -> np.ndarray:
    return np.asarray(f, np.float32) @ np.asarray(W, np.float32).T + np.asarray(b, np.float32)


@dataclass
class NumpyHeadTrainer:
    """The oracle as a stateful trainer with the same interface as the runtime trainers
    (edgekit.tune: set_weights / step / weights)."""

    lr: float
    momentum: float = 0.0
    weight_decay: float = 0.0
    name: str = "numpy"
    W: np.ndarray = field(default=None, repr=False)
    b: np.ndarray = field(default=None, repr=False)

    def set_weights(self, W, b):
        self.W, self.b = np.array(W, np.float32), np.array(b, np.float32)
        self.mW, self.mb = np.zeros_like(self.W), np.zeros_like(self.b)

    def step(self, f, labels) -> float:
        y = one_hot(labels, self.W.shape[0])
        self.W, self.b, self.mW, self.mb, loss = sgd_step(
            f, y, self.W, self.b, self.mW, self.mb, self.lr, self.momentum, self.weight_decay)
        return loss

    def weights(self):
        return self.W.copy(), self.b.copy()
