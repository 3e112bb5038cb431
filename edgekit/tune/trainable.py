"""`--trainable-head`: beside an exported inference artifact, write what a device needs to retrain
the classifier head in the same format:

  <stem>.backbone<ext>   the frozen backbone, image -> pooled embedding (lowered like the artifact:
                         same target, precision, layout, delegate)
  <stem>.train<ext>      the head training program (exporters/train_executorch.py: joint
                         forward/backward + ExecuTorch SGD; exporters/train_tflite.py: train + infer
                         signatures; exporters/train_coreml.py: the functional step as an mlprogram)
  <stem>.head.npz        the current head: weight [C,D], bias [C]

and record them in the artifact's manifest under `trainable_head` (sidecar rewritten atomically).
The training programs have a fixed batch and class capacity (edgekit.head): one program serves any
number of new classes up to `max_classes`."""
from __future__ import annotations

import importlib
import os
from pathlib import Path
from typing import Optional, Union

import numpy as np

from ..errors import ExportError, ParityError
from ..files import remove, staged
from ..formats import get_format, trainable_formats

DEFAULT_BATCH = 32
DEFAULT_MAX_CLASSES = 100
BACKBONE_TOL = 1e-3  # max abs error of the fp32 backbone embedding against PyTorch


def backbone_module(model):
    """model.forward_features as a module of its own (what the backbone program computes)."""
    import torch

    class Backbone(torch.nn.Module):
        def __init__(self, m):
            super().__init__()
            self.m = m

        def forward(self, x):
            return self.m.forward_features(x)

    return Backbone(model).eval()


def file_names(artifact: Union[str, os.PathLike], target: str) -> dict:
    p = Path(artifact)
    ext = get_format(target).suffix
    stem = p.name[:-len(ext)] if p.name.endswith(ext) else p.stem
    return {"backbone": f"{stem}.backbone{ext}", "train_step": f"{stem}.train{ext}", "head_weights": f"{stem}.head.npz"}


def export_trainable_head(model, target: str, artifact: Union[str, os.PathLike], *, precision: str = "fp32",
                          quant: Optional[str] = None, calib=None, layout: str = "nchw", batch: int = DEFAULT_BATCH,
                          max_classes: int = DEFAULT_MAX_CLASSES, verify: bool = True, input_size: Optional[int] = None,
                          log=None) -> dict:
    """Write backbone, training program and head weights next to `artifact` (an EdgeClassifier
    exported to `target`), update its sidecar manifest, and return the `trainable_head` block."""
    import torch

    from ..capture import capture
    from ..exporters import get_target
    from ..manifest import read_sidecar, sha256_file, validate, write_sidecar

    if target not in trainable_formats():
        raise ExportError(f"--trainable-head supports targets {', '.join(trainable_formats())}, not {target}")
    if not isinstance(max_classes, int) or max_classes < 2 or not isinstance(batch, int) or batch < 1:
        raise ExportError(f"--max-classes must be an integer >= 2 and the train batch >= 1, got {max_classes}, {batch}")
    for attr in ("forward_features", "head", "embedding_dim"):
        if not hasattr(model, attr):
            raise ExportError(f"--trainable-head needs a model with forward_features/head/embedding_dim "
                              f"(an edgekit zoo model); {type(model).__name__} has no {attr}")
    artifact = Path(artifact)
    names = file_names(artifact, target)
    paths = {k: artifact.parent / v for k, v in names.items()}
    D = int(model.embedding_dim)
    exporter = get_target(target)
    # the backbone outputs embeddings: the accuracy guard compares them by cosine, not argmax
    options = exporter.options(precision=precision, quant=quant, layout=layout, guard_metric="cosine")
    card = getattr(model, "card", None)
    backbone = backbone_module(model)
    cap = capture(backbone, input_size or (card.input_size if card else 224), layout)
    lowered = exporter.lower(cap, options, calib=calib, num_classes=D)
    written = []
    try:
        with staged(paths["backbone"]) as tmp:
            lowered.save(str(tmp), None)
        written.append(paths["backbone"])
        parity = _check_backbone(backbone, cap.example, paths["backbone"], precision, exporter) if verify else None
        mod = importlib.import_module(get_format(target).trainer)
        mod.export_train_step(paths["train_step"], D, max_classes, batch)
        written.append(paths["train_step"])
        with torch.no_grad():
            W = model.head.weight.detach().cpu().numpy().astype(np.float32)
            b = model.head.bias.detach().cpu().numpy().astype(np.float32)
        with staged(paths["head_weights"]) as tmp, open(tmp, "wb") as fh:
            np.savez(fh, weight=W, bias=b)
        written.append(paths["head_weights"])
        block = {
            "embedding_dim": D, "num_classes": int(W.shape[0]), **names,
            "optimizer": {"algorithm": "sgd", "loss": "softmax cross-entropy, mean over the batch",
                          "update": "torch.optim.SGD: g = grad + wd*p; m = momentum*m + g; p -= lr*m",
                          "batch": batch, "max_classes": max_classes,
                          "program": _program_description(target), "hyperparameters": _hp_description(target)},
            "backbone_parity": parity,
            "sha256": {v: sha256_file(paths[k]) for k, v in names.items()},
        }
        manifest = read_sidecar(artifact)
        if manifest is not None:
            manifest["trainable_head"] = block
            validate(manifest)
            write_sidecar(artifact, manifest)
    except BaseException:
        for p in written:
            remove(p)
        raise
    if log:
        log(f"trainable head: {names['backbone']}, {names['train_step']}, {names['head_weights']}")
    return block


def _check_backbone(backbone, example, path: Path, precision: str, exporter) -> Optional[dict]:
    """Embedding of the lowered backbone vs PyTorch on the capture's example input, where the
    format runs here (not Core ML on Linux)."""
    import torch

    if not exporter.runs_here:
        return {"status": "not_run", "reason": exporter.parity_unavailable}
    from ..runtimes import load

    with torch.no_grad():
        ref = backbone(example).numpy()
    got = load(path, probe=False).run(example.numpy())[0]
    err = float(np.abs(got.reshape(ref.shape) - ref).max())
    cos = float((got.ravel() @ ref.ravel()) / (np.linalg.norm(got) * np.linalg.norm(ref) + 1e-12))
    if precision == "fp32" and err > BACKBONE_TOL:
        raise ParityError(f"backbone {path.name} differs from PyTorch: max abs error {err:.3g} > {BACKBONE_TOL}")
    return {"status": "passed" if precision != "fp32" or err <= BACKBONE_TOL else "failed",
            "max_abs_error": err, "cosine": cos}


def _program_description(target: str) -> str:
    return {
        "executorch": "joint forward/backward program (executorch.extension.training); method 'forward'(embeddings "
                      "[B,D], onehot [B,C], mask [C]) -> (loss, logits, grads, params); ExecuTorch SGD updates weight/bias",
        "tflite": "signature 'train'(embeddings, onehot, mask, W, b, mW, mb, hparams[lr,momentum,weight_decay]) -> "
                  "(W, b, mW, mb, loss); signature 'infer'(embeddings, W, b) -> logits",
        "coreml": "mlprogram 'train step'(embeddings, onehot, mask, W, b, mW, mb, hparams) -> (W, b, mW, mb, loss)",
    }[target]


def _hp_description(target: str) -> str:
    return ("given to the ExecuTorch SGD optimizer" if target == "executorch"
            else "an input tensor hparams = [lr, momentum, weight_decay]")


def add_trainable_head(artifact, *, weights=None, calib=None, calib_count: int = 100,
                       calib_seed: int = 0, batch: int = DEFAULT_BATCH, max_classes: int = DEFAULT_MAX_CLASSES,
                       verify: bool = True, log=None) -> dict:
    """--trainable-head for an artifact just exported from a zoo model (an edgekit.export Artifact,
    or its path): rebuilds the model from the manifest (name, weights) and lowers its backbone with
    the artifact's own target, precision, quantization recipe, layout and input size."""
    from ..errors import ArtifactError
    from ..manifest import read_sidecar
    from ..zoo import create_model

    path = getattr(artifact, "path", artifact)
    manifest = read_sidecar(path)
    if manifest is None:
        raise ArtifactError(f"{path} has no manifest; --trainable-head needs an edgekit export")
    target = manifest["target"]["name"]
    if target not in trainable_formats():
        raise ExportError(f"--trainable-head supports targets {', '.join(trainable_formats())}, not {target}")
    model = create_model(manifest["model"]["name"], weights=weights)
    pre = manifest["preprocessing"]
    options = getattr(artifact, "options", None)
    if options is not None:
        recipe = options.recipe
    else:  # a path: the recipe its manifest records
        from ..exporters import get_target
        from ..quant.recipe import QuantRecipe

        recipe = QuantRecipe.from_manifest(manifest.get("quantization"), get_target(target).quant_backend)
    quant = recipe.scheme if (recipe is not None and manifest["precision"] == "int8") else None
    calib_set = None
    if quant == "static":
        from ..calib import load_calibration

        if calib is None:
            raise ExportError("the int8 static backbone of --trainable-head needs --calib DIR")
        calib_set = load_calibration(calib, pre, count=calib_count, seed=calib_seed)
    return export_trainable_head(model, target, path, precision=manifest["precision"], quant=quant,
                                 calib=calib_set, layout=pre["layout"].lower(), batch=batch, max_classes=max_classes,
                                 verify=verify, input_size=int(pre["crop"]), log=log)
