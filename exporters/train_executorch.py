"""ExecuTorch head training program through executorch.extension.training.

The head (edgekit.head.HeadLoss: W [C,D] and b [C] as parameters, forward (embeddings [B,D],
onehot [B,C], mask [C]) -> (loss, logits)) is captured with torch.export, its joint
forward/backward graph is built by torch.export.experimental._export_forward_backward, and the
result is lowered to a .pte. On the device the training module runs the method "forward", which
returns (loss, logits, dW, db, W, b); ExecuTorch's own SGD optimizer (get_sgd_optimizer in Python,
org.pytorch.executorch.training.SGD on Android, executorch::extension::training::optimizer::SGD in
C++) updates W and b in place. This is what ExecuTorch apps run for on-device training, so it is the
program shipped; the update rule is torch.optim.SGD's, which is what edgekit.head writes out."""
from __future__ import annotations

from pathlib import Path

from ..errors import MissingDependencyError
from ..files import staged

METHOD = "forward"
PARAM_NAMES = ("weight", "bias")


def export_train_step(path, embedding_dim: int, max_classes: int, batch: int) -> Path:
    """Write the joint forward/backward training program to `path` (atomically)."""
    try:
        from executorch.exir import to_edge
    except ImportError:
        raise MissingDependencyError("executorch", "executorch", "export an ExecuTorch training step") from None
    import torch
    from torch.export.experimental import _export_forward_backward

    from ..head import HeadLoss, example_inputs

    module = HeadLoss(embedding_dim, max_classes)
    ep = torch.export.export(module, example_inputs(embedding_dim, max_classes, batch)["loss"], strict=True)
    ep = _export_forward_backward(ep)
    program = to_edge(ep).to_executorch()
    path = Path(path)
    with staged(path) as tmp, open(tmp, "wb") as fh:
        program.write_to_file(fh)
    return path
