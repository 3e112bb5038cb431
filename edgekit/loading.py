"""`edgekit.load`: an artifact file through its runtime (edgekit.runtimes.load), or a model named
by its source ("zoo:NAME") run in PyTorch eager, the reference every artifact is compared with.
The runtime layer knows files only; model sources live above it, so they are resolved here."""
from __future__ import annotations

import os
from typing import Optional, Union

from .runtimes import RuntimeModel
from .runtimes import load as load_artifact

MODEL_SOURCES = ("zoo:",)


def load(path: Union[str, os.PathLike], threads: Optional[int] = None, probe: Union[bool, str] = "auto") -> RuntimeModel:
    """Load an artifact with the runtime its format needs (see edgekit.runtimes.load for `probe`),
    or "zoo:NAME": the zoo model (random weights) in PyTorch."""
    if isinstance(path, str) and path.startswith(MODEL_SOURCES):
        from .runtimes.torch import TorchModel
        from .zoo import create_model

        model = create_model(path.split(":", 1)[1])
        return TorchModel.from_module(model, model.card, threads=threads)
    return load_artifact(path, threads=threads, probe=probe)
