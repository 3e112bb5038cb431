"""Model sources: where a model name comes from, resolved in one place.

A model spec is "SOURCE:NAME" or a bare zoo name:
    zoo:mobilenet_v3_small   (or just mobilenet_v3_small): edgekit's own zoo, tuned cards
    torchvision:regnet_y_400mf  any torchvision classification model, card from its weights' metadata
    timm:mobilenetv4_conv_small any timm model, card from its pretrained_cfg

Each source answers the same three questions (what names it has, and the ZooEntry of one name:
builder, card, pretrained tags), so create_model, the weights loader, `edgekit zoo` and
`edgekit.load` treat every source alike. A new source is one class and one register_source()
line. Listing the zoo needs no torch; the library sources import their library when asked."""
from __future__ import annotations

import abc
import fnmatch
from typing import Dict, List, Optional, Tuple

from ..errors import UnknownNameError

_SOURCES: Dict[str, "ModelSource"] = {}
DEFAULT_SOURCE = "zoo"


class ModelSource(abc.ABC):
    """One place model names come from. Subclasses set `name` and implement names() and entry()."""

    name = ""
    description = ""

    @abc.abstractmethod
    def names(self) -> List[str]:
        """Every model name this source has (sorted)."""

    @abc.abstractmethod
    def entry(self, name: str):
        """The ZooEntry (builder, card, weights tags) of `name`; UnknownNameError if it has none."""

    def spec(self, name: str) -> str:
        return name if self.name == DEFAULT_SOURCE else f"{self.name}:{name}"

    def unknown(self, name: str) -> UnknownNameError:
        return UnknownNameError(f"{self.name} model", name, self.names(),
                                more=f"`edgekit zoo --source {self.name} --filter TEXT` lists them")


def register_source(source: ModelSource) -> ModelSource:
    if source.name in _SOURCES:
        raise ValueError(f"model source {source.name!r} is registered twice")
    _SOURCES[source.name] = source
    return source


def source_names() -> Tuple[str, ...]:
    return tuple(_SOURCES)


def get_source(name: str) -> ModelSource:
    try:
        return _SOURCES[name]
    except KeyError:
        raise UnknownNameError("model source", name, source_names()) from None


def split_spec(spec: str) -> Tuple[ModelSource, str]:
    """("timm:mobilenetv4_conv_small") -> (the timm source, "mobilenetv4_conv_small")."""
    if not isinstance(spec, str) or not spec:
        raise UnknownNameError("model", repr(spec), _SOURCES[DEFAULT_SOURCE].names())
    prefix, sep, rest = spec.partition(":")
    if sep and prefix in _SOURCES:
        return _SOURCES[prefix], rest
    if sep:
        raise UnknownNameError("model source", prefix, source_names())
    return _SOURCES[DEFAULT_SOURCE], spec


def resolve_entry(spec: str):
    """The ZooEntry of a model spec from any source."""
    source, name = split_spec(spec)
    return source.entry(name)


def is_library_spec(spec) -> bool:
    return isinstance(spec, str) and spec.partition(":")[0] in _SOURCES and ":" in spec


def list_models(pattern: Optional[str] = None, source: Optional[str] = None) -> list:
    """Model names (as specs) of one source, default the zoo; `pattern` is a shell-style filter
    ("mobilenet*") or a plain substring ("mobilenet")."""
    src = get_source(source or DEFAULT_SOURCE)
    names = src.names()
    if pattern:
        glob = pattern if any(c in pattern for c in "*?[") else f"*{pattern}*"
        names = [n for n in names if fnmatch.fnmatchcase(n, glob)]
    return [src.spec(n) for n in names]
