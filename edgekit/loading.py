"""`edgekit.load`: an artifact file through its runtime (edgekit.runtimes.load), or a model named
by its source ("zoo:NAME", "timm:NAME", "torchvision:NAME") run in PyTorch eager, the reference
every artifact is compared with. The runtime layer knows files only; model sources live above
it, so they are resolved here."""
from __future__ import annotations

import os
from typing import Optional, Union

from .runtimes import RuntimeModel
from .runtimes import load as load_artifact


def _is_model_spec(path) -> bool:
    if not isinstance(path, str) or ":" not in path or os.path.exists(path):
        return False
    from .zoo import source_names

    return path.partition(":")[0] in source_names()


def load(path: Union[str, os.PathLike], threads: Optional[int] = None, probe: Union[bool, str] = "auto",
         weights=None) -> RuntimeModel:
    """Load an artifact with the runtime its format needs (see edgekit.runtimes.load for `probe`),
    or a model spec "SOURCE:NAME" in PyTorch (random weights unless `weights` is given)."""
    if _is_model_spec(path):
        from .runtimes.torch import TorchModel
        from .zoo import create_model

        model = create_model(path, weights=weights)
        return TorchModel.from_module(model, model.card, threads=threads)
    if weights is not None:
        from .errors import InputError

        raise InputError("weights= applies to model specs (zoo:NAME, timm:NAME, torchvision:NAME), not artifacts")
    return load_artifact(path, threads=threads, probe=probe)
