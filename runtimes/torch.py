"""PyTorch eager, the reference runtime. Two ways in:
- a torch.export ExportedProgram saved with torch.export.save (`edgekit.load("model.pt2")`);
  preprocessing/labels come from a sidecar `model.pt2.json` if there is one;
- any nn.Module with a ModelCard (TorchModel.from_module(module, card)); `edgekit.load("zoo:NAME")`
  builds a zoo model and comes here that way.
Inputs are NCHW float32 at the card's input size. Imports torch only when a model is loaded."""
from __future__ import annotations

from typing import Optional

import numpy as np

from ..errors import ArtifactError, MissingDependencyError
from .base import RuntimeModel, TensorSpec


def _torch():
    try:
        import torch
    except ImportError:
        raise MissingDependencyError("torch", "export", "run PyTorch models") from None
    return torch


def card_manifest(card, input_shape) -> dict:
    """The parts of a manifest the runtime API reads, built from a ModelCard."""
    return {
        "model": {"name": card.name, "num_classes": card.num_classes},
        "preprocessing": card.preprocessing("NCHW"),
        "labels": list(card.labels),
        "inputs": [{"name": "image", "shape": list(input_shape), "dtype": "float32", "layout": "NCHW", "kind": "image"}],
        "outputs": [{"name": "logits", "shape": [input_shape[0], card.num_classes], "dtype": "float32", "layout": "NC", "kind": "logits"}],
    }


class TorchModel(RuntimeModel):
    runtime_name = "torch"
    package = "torch"

    def __init__(self, path, threads=None, manifest=None, module=None, input_shape=None):
        self._module, self._input_shape = module, input_shape
        super().__init__(path, threads=threads, manifest=manifest)

    @classmethod
    def from_module(cls, module, card, threads: Optional[int] = None, batch: int = 1) -> "TorchModel":
        shape = (batch, 3, card.input_size, card.input_size)
        return cls(f"module:{card.name}", threads=threads, manifest=card_manifest(card, shape), module=module, input_shape=shape)

    def _load(self) -> None:
        torch = self._torch = _torch()
        if self._threads:
            torch.set_num_threads(self._threads)
        if self._module is None:
            try:
                ep = torch.export.load(str(self.path))
            except Exception as e:  # torch raises RuntimeError/KeyError/zipfile errors for bad archives
                raise ArtifactError(f"cannot load {self.path.name} as a torch.export program: {type(e).__name__}: {str(e)[:200]}") from None
            self._module = ep.module()
            shapes = [n.meta["val"] for n in ep.graph.nodes if n.op == "placeholder"
                      and n.name in set(ep.graph_signature.user_inputs)]
            self._in_specs = [TensorSpec(f"input_{i}", tuple(int(d) for d in v.shape), str(v.dtype).replace("torch.", ""))
                              for i, v in enumerate(shapes)]
            out_node = next(n for n in ep.graph.nodes if n.op == "output")
            vals = [a.meta.get("val") for a in out_node.args[0] if hasattr(a, "meta")]
            self._out_specs = [TensorSpec(f"output_{i}", tuple(int(d) for d in v.shape), str(v.dtype).replace("torch.", ""))
                               for i, v in enumerate(vals) if v is not None]
        else:
            self._module.eval()
            self._in_specs = [TensorSpec("image", tuple(self._input_shape), "float32")]
            with torch.no_grad():
                y = self._module(torch.zeros(self._input_shape))
            self._out_specs = [TensorSpec("logits", tuple(y.shape), "float32")]

    def _native_inputs(self) -> list:
        return self._in_specs

    def _native_outputs(self) -> list:
        return self._out_specs

    def _invoke(self, arrays: list) -> list:
        torch = self._torch
        with torch.no_grad():
            out = self._module(*[torch.from_numpy(a) for a in arrays])
        outs = out if isinstance(out, (list, tuple)) else [out]
        return [o.detach().cpu().numpy() if hasattr(o, "detach") else np.asarray(o) for o in outs]

    @property
    def runtime_version(self) -> str:
        return self._torch.__version__
