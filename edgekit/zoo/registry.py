"""The model registry: a decorator that files a builder function under its card's name.

    @register_model(card, weights={"imagenet": [...sources...]})
    def mobilenet_v3_small():
        return MobileNetV3Classifier(torchvision.models.mobilenet_v3_small(weights=None))

A builder takes no arguments and returns an EdgeClassifier with random weights and the card's
1000-class head; create_model() attaches the card, loads weights and swaps the head. This module
is torch-free, so listing models and reading cards works without torch."""
from __future__ import annotations

import fnmatch
from dataclasses import dataclass, field
from typing import Callable, Dict, Optional, Sequence

from ..card import ModelCard
from ..errors import UnknownNameError


@dataclass(frozen=True)
class ZooEntry:
    name: str
    builder: Callable
    card: ModelCard                                   # without params/macs (computed on demand)
    weights: Dict[str, tuple] = field(default_factory=dict)  # tag -> sources tried in order


_REGISTRY: Dict[str, ZooEntry] = {}


def register_model(card: ModelCard, weights: Optional[Dict[str, Sequence]] = None):
    """Decorator: register `fn` (a no-argument builder) under card.name."""

    def wrap(fn: Callable) -> Callable:
        if card.name in _REGISTRY:
            raise ValueError(f"model {card.name!r} is registered twice")
        tags = {tag: tuple(srcs) for tag, srcs in (weights or {}).items()}
        _REGISTRY[card.name] = ZooEntry(card.name, fn, _with_tags(card, tags), tags)
        return fn

    return wrap


def _with_tags(card: ModelCard, tags: dict) -> ModelCard:
    from dataclasses import replace

    return replace(card, pretrained=tuple(tags))


def list_models(pattern: Optional[str] = None) -> list:
    """Registered model names, sorted; `pattern` is a shell-style filter ("efficientnet*")."""
    names = sorted(_REGISTRY)
    if pattern:
        names = [n for n in names if fnmatch.fnmatchcase(n, pattern)]
    return names


def get_entry(name: str) -> ZooEntry:
    try:
        return _REGISTRY[name]
    except (KeyError, TypeError):
        raise UnknownNameError("model", name, list_models()) from None
