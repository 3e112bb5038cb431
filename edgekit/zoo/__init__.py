"""The model zoo: list_models, get_card, create_model.

Listing models and reading cards (without params/MACs) needs no torch; building a model or
computing its params/MACs does. Adding a model = one builder decorated with @register_model
in a family module imported below."""
from __future__ import annotations

import warnings
from dataclasses import replace
from typing import Dict, Optional, Tuple

from ..card import ModelCard
from ..errors import MissingDependencyError
from . import efficientnet_lite, mobilenetv3, resnet  # noqa: F401  (registers the models)
from .registry import ZooEntry, get_entry, list_models, register_model

__all__ = ["list_models", "get_card", "create_model", "register_model", "model_stats"]

_STATS: Dict[str, Tuple[int, int]] = {}   # name -> (params, MACs) of the 1000-class model, per process


def model_stats(name: str) -> Tuple[int, int]:
    """(params, MACs) of the registered model at its input size, computed once per process from
    a copy built on the meta device (shapes only, no weights in memory)."""
    entry = get_entry(name)
    if name not in _STATS:
        torch = _torch()
        from .stats import count_macs, count_params

        with torch.device("meta"):
            model = entry.builder()
        _STATS[name] = (count_params(model), count_macs(model, entry.card.input_size))
    return _STATS[name]


def get_card(name: str, stats: bool = True) -> ModelCard:
    """The model's card; with stats=True (needs torch) params and MACs are filled in."""
    card = get_entry(name).card
    if stats:
        params, macs = model_stats(name)
        card = replace(card, params=params, macs=macs)
    return card


def create_model(name: str, weights=None, num_classes: Optional[int] = None):
    """Build a zoo model as an EdgeClassifier in eval mode.

    weights: None (random init, warns), a tag from card.pretrained ("imagenet", ...), a path to a
    .pth/.pt/.safetensors state dict, or a state-dict mapping. num_classes: a new head of that
    width (backbone weights kept; labels class_0..)."""
    entry: ZooEntry = get_entry(name)
    _torch()
    from ..weights import load_weights, plan_weights

    plan = None if weights is None else plan_weights(weights, entry)   # bad tag / file / offline: fail now
    params, macs = model_stats(name)        # shape-only count: cheaper than a real forward
    model = entry.builder()
    model.card = replace(entry.card, params=params, macs=macs)
    if plan is None:
        warnings.warn(f"{name}: no weights given, using random initialization "
                      f"(pass weights='imagenet' or a .pth/.pt/.safetensors file)", UserWarning, stacklevel=2)
    else:
        load_weights(model, plan, entry, num_classes)
    if num_classes is not None and num_classes != model.num_classes:
        model.reset_head(num_classes)
    return model.eval()


def _torch():
    try:
        import torch
    except ImportError:
        raise MissingDependencyError("torch", "export", "build zoo models") from None
    return torch
