"""edgekit: PyTorch image classifiers -> ExecuTorch / TFLite / Core ML / ONNX, run, benchmarked
and head-tuned on the device.

Importing edgekit is cheap and torch-free; the public functions below import what they need
when first used, so a device with only numpy and a TFLite interpreter can `import edgekit`."""
from __future__ import annotations

import importlib

from ._version import __version__  # noqa: E402,F401

from .card import ModelCard  # noqa: E402
from .errors import EdgekitError  # noqa: E402
# edgekit.export is both a submodule and its main function: importing the (torch-free) module
# here binds the name to the function for good; a lazy attribute would be replaced by the
# submodule as soon as anything imported `edgekit.export`.
from .export import Artifact, export  # noqa: E402

def _tune_artifact(artifact, data_dir, out, **kwargs):
    from .tune import tune

    return tune(artifact, data_dir, out, **kwargs)


# RuntimeModel.tune() retrains a head; the runtime layer cannot import the tune feature above it
from .runtimes.base import set_head_tuner  # noqa: E402

set_head_tuner(_tune_artifact)

# public name -> "module:attribute", resolved on first access (PEP 562)
_LAZY = {
    "list_models": "edgekit.zoo:list_models",
    "create_model": "edgekit.zoo:create_model",
    "get_card": "edgekit.zoo:get_card",
    "load": "edgekit.loading:load",
}

__all__ = ["__version__", "ModelCard", "EdgekitError", "export", "Artifact", *_LAZY]


def __getattr__(name: str):
    target = _LAZY.get(name)
    if target is None:
        raise AttributeError(f"module 'edgekit' has no attribute {name!r}")
    mod, attr = target.split(":")
    value = getattr(importlib.import_module(mod), attr)
    globals()[name] = value
    return value
