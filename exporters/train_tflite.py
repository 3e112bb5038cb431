"""TFLite head training program: one .tflite with two signatures converted from edgekit.head
through litert-torch:
  train: (embeddings [B,D], onehot [B,C], mask [C], W [C,D], b [C], mW [C,D], mb [C], hparams [3])
         -> (W', b', mW', mb', loss [1])          hparams = (lr, momentum, weight_decay)
  infer: (embeddings [B,D], W [C,D], b [C]) -> logits [B,C]
The weights travel as tensors (no TFLite variables), so the app keeps them in its own memory and
any interpreter (ai-edge-litert, tflite-runtime on a Pi, LiteRT on Android) runs the step."""
from __future__ import annotations

from pathlib import Path

from ..errors import MissingDependencyError
from ..files import staged

TRAIN_SIGNATURE = "train"
INFER_SIGNATURE = "infer"
# positional input order of the train signature (litert-torch names them args_0, args_1, ...)
TRAIN_INPUTS = ("embeddings", "onehot", "mask", "W", "b", "mW", "mb", "hparams")
TRAIN_OUTPUTS = ("W", "b", "mW", "mb", "loss")
INFER_INPUTS = ("embeddings", "W", "b")


def export_train_step(path, embedding_dim: int, max_classes: int, batch: int) -> Path:
    """Write the two-signature training program to `path` (atomically)."""
    try:
        import litert_torch
    except ImportError:
        raise MissingDependencyError("litert-torch", "export", "export a TFLite training step") from None
    import torch

    from ..head import HeadInfer, HeadTrainStep, example_inputs

    ex = example_inputs(embedding_dim, max_classes, batch)
    with torch.no_grad():
        edge = (litert_torch.signature(TRAIN_SIGNATURE, HeadTrainStep().eval(), ex["train"])
                .signature(INFER_SIGNATURE, HeadInfer().eval(), ex["infer"])
                .convert())
    path = Path(path)
    with staged(path) as tmp:
        edge.export(str(tmp))
    return path
