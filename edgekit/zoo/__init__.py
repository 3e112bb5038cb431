"""Models by name: edgekit's zoo, and any torchvision / timm classifier (zoo/sources.py).

    list_models(pattern=None, source=None)   names of one source (default: the zoo)
    get_card(spec)                           the card (params/MACs need torch)
    create_model(spec, weights=None, num_classes=None, labels=None)

A spec is a zoo name ("efficientnet_lite0", also "zoo:efficientnet_lite0") or "SOURCE:NAME"
("torchvision:regnet_y_400mf", "timm:mobilenetv4_conv_small"). Listing the zoo and reading its
cards needs no torch; building a model or computing its params/MACs does. Adding a zoo model =
one builder decorated with @register_model in a family module imported below."""
from __future__ import annotations

import warnings
from dataclasses import replace
from typing import Dict, Optional, Sequence, Tuple

from ..card import ModelCard
from ..errors import InputError, MissingDependencyError
from . import efficientnet_lite, mobilenetv3, resnet  # noqa: F401  (registers the models)
from .library_models import TimmModels, TorchvisionModels
from .registry import ZooEntry, get_entry, register_model
from .registry import list_models as _zoo_names
from .sources import (  # noqa: F401  (public)
    ModelSource, get_source, list_models, register_source, resolve_entry, source_names, split_spec,
)

__all__ = ["list_models", "get_card", "create_model", "register_model", "register_source", "model_stats",
           "resolve_entry", "source_names"]


class ZooModels(ModelSource):
    name = "zoo"
    description = "edgekit's tuned zoo"

    def names(self) -> list:
        return _zoo_names()

    def entry(self, name: str) -> ZooEntry:
        return get_entry(name)


register_source(ZooModels())
register_source(TorchvisionModels())
register_source(TimmModels())

_STATS: Dict[str, Tuple[int, int]] = {}   # spec -> (params, MACs) of the default-head model, per process


def model_stats(spec: str) -> Tuple[int, int]:
    """(params, MACs) of the model at its input size, computed once per process from a copy
    built on the meta device (shapes only, no weights in memory)."""
    entry = resolve_entry(spec)
    if entry.name not in _STATS:
        torch = _torch()
        from .stats import count_macs, count_params

        with torch.device("meta"):
            model = entry.builder()
        _STATS[entry.name] = (count_params(model), count_macs(model, entry.card.input_size))
    return _STATS[entry.name]


def get_card(spec: str, stats: bool = True) -> ModelCard:
    """The model's card; with stats=True (needs torch) params and MACs are filled in."""
    card = resolve_entry(spec).card
    if stats:
        params, macs = model_stats(spec)
        card = replace(card, params=params, macs=macs)
    return card


def create_model(spec: str, weights=None, num_classes: Optional[int] = None,
                 labels: Optional[Sequence[str]] = None):
    """Build a model by spec, in eval mode (an EdgeClassifier, or a PlainClassifier for library
    models without one Linear head).

    weights: None (random init, warns), a tag from card.pretrained ("imagenet", ...), a path to a
    .pth/.pt/.safetensors state dict, or a state-dict mapping. num_classes: the head's width
    (backbone weights kept; a checkpoint with an n-class head sets it to n when not given).
    labels: the class names (one per class); default class_0.. for a new head."""
    entry: ZooEntry = resolve_entry(spec)
    _torch()
    from ..weights import load_weights, plan_weights

    if labels is not None:
        labels = tuple(str(s) for s in labels)
        if num_classes is not None and len(labels) != num_classes:
            raise InputError(f"got {len(labels)} labels for {num_classes} classes; expected one label per class")
    plan = None if weights is None else plan_weights(weights, entry)   # bad tag / file / offline: fail now
    params, macs = model_stats(spec)        # shape-only count: cheaper than a real forward
    model = entry.builder()
    model.card = replace(entry.card, params=params, macs=macs)
    if not model.card.embedding_dim and getattr(model, "head_path", None):   # library models: read off the model
        model.card = replace(model.card, embedding_dim=model.embedding_dim, head=model.head_path)
    if plan is None:
        warnings.warn(f"{entry.name}: no weights given, using random initialization "
                      f"(pass weights='imagenet' or a .pth/.pt/.safetensors file)", UserWarning, stacklevel=2)
    else:
        load_weights(model, plan, entry, num_classes)
    # labels alone size a new head on random weights; with weights they must fit the loaded head
    want = num_classes if num_classes is not None else (len(labels) if labels is not None and plan is None else None)
    if want is not None and want != _width(model):
        model.reset_head(want, labels)
    elif labels is not None:
        if len(labels) != _width(model):
            raise InputError(f"got {len(labels)} labels for the {_width(model)} classes of {entry.name} with these "
                             f"weights; expected one label per class (--num-classes {len(labels)} makes a new head)")
        model.card = model.card.with_labels(labels)
    return model.eval()


def _width(model) -> int:
    return model.num_classes if hasattr(model, "num_classes") else len(model.card.labels)


def _torch():
    try:
        import torch
    except ImportError:
        raise MissingDependencyError("torch", "export", "build models") from None
    return torch
