"""The classifier head's training step, defined once in PyTorch and exported to every format.

Math (the numpy oracle in edgekit/tune/head_numpy.py is the same, line for line):

    logits = f @ W.T + b + (mask - 1) * 1e9         # inactive classes (mask 0) get probability 0
    n      = max(sum(y), 1)                          # y: one-hot rows; an all-zero row is padding
    loss   = sum(-y * log_softmax(logits)) / n       # softmax cross-entropy, mean over the real rows
    G      = (softmax(logits) * sum(y, axis=1) - y) / n
    gW     = G.T @ f + wd * W ;  gb = sum(G, axis=0) + wd * b
    mW     = momentum * mW + gW ; mb = momentum * mb + gb   # torch.optim.SGD, dampening 0
    W'     = W - lr * mW ;        b' = b - lr * mb

The programs have a fixed batch (`batch`) and a fixed class capacity (`max_classes`), so one
exported program serves any number of new classes up to the capacity: padding rows are all-zero
one-hot rows, unused classes have mask 0 and zero weights (their gradient is exactly zero).

Two shapes of the same step:
- `HeadTrainStep`: a pure function (embeddings, onehot, mask, W, b, mW, mb, hparams) -> (W', b', mW',
  mb', loss), with the gradient written out; it has no state, so it exports as a plain forward program
  (TFLite signature, Core ML mlprogram) and the app keeps the weights.
- `HeadLoss`: nn.Module owning W and b whose forward returns the loss; ExecuTorch's training API
  takes its joint forward/backward graph (autograd) and applies its own SGD optimizer, which follows
  torch.optim.SGD (the update lines above).
"""
from __future__ import annotations

import torch
from torch import nn

MASK_NEG = 1e9  # added (negated) to the logits of inactive classes


def masked_logits(f: torch.Tensor, W: torch.Tensor, b: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    return f @ W.t() + b + (mask - 1.0) * MASK_NEG


def cross_entropy(logits: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """Mean softmax cross-entropy over the rows whose one-hot target is not all zero."""
    n = torch.clamp(y.sum(), min=1.0)
    return -(y * torch.log_softmax(logits, dim=1)).sum() / n


class HeadTrainStep(nn.Module):
    """One SGD step of the head as a pure function (no parameters)."""

    def forward(self, f, y, mask, W, b, mW, mb, hparams):
        lr, momentum, wd = hparams[0], hparams[1], hparams[2]
        logits = masked_logits(f, W, b, mask)
        n = torch.clamp(y.sum(), min=1.0)
        loss = -(y * torch.log_softmax(logits, dim=1)).sum() / n
        G = (torch.softmax(logits, dim=1) * y.sum(dim=1, keepdim=True) - y) / n
        gW = G.t() @ f + wd * W
        gb = G.sum(dim=0) + wd * b
        mW2 = momentum * mW + gW
        mb2 = momentum * mb + gb
        return W - lr * mW2, b - lr * mb2, mW2, mb2, loss.reshape(1)


class HeadInfer(nn.Module):
    """Logits of the head for given weights: (embeddings, W, b) -> logits."""

    def forward(self, f, W, b):
        return f @ W.t() + b


class HeadLoss(nn.Module):
    """The head as a module with parameters, returning the training loss (for ExecuTorch's joint
    forward/backward graph). Also returns the masked logits, detached."""

    def __init__(self, embedding_dim: int, max_classes: int):
        super().__init__()
        self.weight = nn.Parameter(torch.zeros(max_classes, embedding_dim))
        self.bias = nn.Parameter(torch.zeros(max_classes))

    def forward(self, f, y, mask):
        logits = masked_logits(f, self.weight, self.bias, mask)
        return cross_entropy(logits, y), logits.detach()


def example_inputs(embedding_dim: int, max_classes: int, batch: int):
    """Example tensors for exporting HeadTrainStep / HeadInfer / HeadLoss."""
    D, C, B = embedding_dim, max_classes, batch
    f = torch.randn(B, D)
    y = torch.zeros(B, C)
    y[:, 0] = 1.0
    mask = torch.ones(C)
    W, b = torch.zeros(C, D), torch.zeros(C)
    hp = torch.tensor([0.01, 0.0, 0.0])
    return {
        "train": (f, y, mask, W, b, torch.zeros(C, D), torch.zeros(C), hp),
        "infer": (f, W, b),
        "loss": (f, y, mask),
    }
