"""Core ML head training program: edgekit.head.HeadTrainStep converted to an ML Program
(.mlpackage, float32 compute, iOS 16+):

  inputs  embeddings [B,D], onehot [B,C], mask [C], W [C,D], b [C], mW [C,D], mb [C],
          hparams [3] = (lr, momentum, weight_decay)
  outputs W_new, b_new, mW_new, mb_new, loss [1]

Why this and not an updatable model: Core ML's on-device update (MLUpdateTask) only works on the
legacy NeuralNetwork spec, not on ML Programs (what edgekit exports the backbone as), and its SGD has
learning rate, batch size and momentum but no weight decay, with the loss fixed to categorical
cross-entropy over a fixed label set. The functional step is the same math as every other format
(the oracle test pins it), runs through the ordinary MLModel.prediction API on any iOS 16+ device
(the app keeps W, b and the momentum buffers between calls and loops over batches), and serves any
number of classes up to the capacity through the mask. It cannot run on Linux; it is converted and
saved here, and its interface is checked from the spec."""
from __future__ import annotations

from pathlib import Path

from ..errors import MissingDependencyError
from ..files import staged

INPUTS = ("embeddings", "onehot", "mask", "W", "b", "mW", "mb", "hparams")
OUTPUTS = ("W_new", "b_new", "mW_new", "mb_new", "loss")
DEPLOYMENT_TARGET = "iOS16"


def export_train_step(path, embedding_dim: int, max_classes: int, batch: int) -> Path:
    """Write the training-step .mlpackage to `path` (staged, then renamed)."""
    try:
        import coremltools as ct
    except ImportError:
        raise MissingDependencyError("coremltools", "export", "export a Core ML training step") from None
    import logging

    import torch

    from ..head import HeadTrainStep, example_inputs

    logging.getLogger("coremltools").setLevel(logging.ERROR)
    ex = example_inputs(embedding_dim, max_classes, batch)["train"]
    with torch.no_grad():
        ep = torch.export.export(HeadTrainStep().eval(), ex, strict=False)
    mlmodel = ct.convert(
        ep.run_decompositions({}),
        inputs=[ct.TensorType(name=n, shape=tuple(t.shape)) for n, t in zip(INPUTS, ex)],
        outputs=[ct.TensorType(name=n) for n in OUTPUTS],
        convert_to="mlprogram",
        compute_precision=ct.precision.FLOAT32,
        minimum_deployment_target=getattr(ct.target, DEPLOYMENT_TARGET),
    )
    mlmodel.short_description = (f"edgekit head training step: SGD on softmax cross-entropy, batch {batch}, "
                                 f"up to {max_classes} classes, {embedding_dim}-d embeddings")
    path = Path(path)
    with staged(path) as tmp:
        mlmodel.save(str(tmp))
    return path


def spec_io(path) -> tuple:
    """(input names and shapes, output names) read from the saved package's spec."""
    import coremltools as ct

    spec = ct.utils.load_spec(str(path))
    ins = {i.name: tuple(i.type.multiArrayType.shape) for i in spec.description.input}
    outs = [o.name for o in spec.description.output]
    return ins, outs
