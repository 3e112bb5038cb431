"""torchvision: and timm: model sources: any classification model of those libraries.

The card comes from the library's own metadata:
- torchvision: the DEFAULT weights' `transforms()` (crop, resize, mean, std, interpolation) and
  `meta["categories"]` (labels); the tags are the weights enum's members, "imagenet" = DEFAULT.
- timm: the model's `pretrained_cfg` (input_size, crop_pct, interpolation, mean, std); labels are
  ImageNet-1k's when it has 1000 classes; the tags are timm's pretrained tags ("e2400_r224_in1k"),
  "imagenet" = timm's default tag.
Where the library has no such metadata, the card says which default it used (card.notes), and
the CLI's --input-size/--resize/--mean/--std/--interpolation override it.

Weights come through edgekit.weights like the zoo's: hub names when online, a file in the
library's hub cache, or a local state dict (--weights FILE)."""
from __future__ import annotations

from functools import lru_cache

from ..card import ModelCard
from ..errors import MissingDependencyError
from ..labels import generic_labels, imagenet_labels
from .registry import ZooEntry
from .sources import ModelSource

DEFAULT_NOTE = "no preprocessing metadata in {lib}: defaults used (224 px, resize 256, bilinear, ImageNet mean/std)"


def _import(module: str, what: str):
    import importlib

    try:
        return importlib.import_module(module)
    except ImportError:
        raise MissingDependencyError(module, "export", what) from None


class TorchvisionModels(ModelSource):
    name = "torchvision"
    description = "torchvision.models classification models"

    @lru_cache(maxsize=1)
    def names(self) -> list:
        tv = _import("torchvision", "list torchvision models")
        return sorted(tv.models.list_models(module=tv.models))

    def entry(self, name: str) -> ZooEntry:
        if name not in self.names():
            raise self.unknown(name)
        from ..weights import TorchvisionSource

        tv = _import("torchvision", "build torchvision models")
        try:
            enum = tv.models.get_model_weights(name)
        except (ValueError, KeyError):
            enum = None
        members = list(enum) if enum is not None else []
        tags = {}
        if members:
            default = enum.DEFAULT
            tags["imagenet"] = (TorchvisionSource(f"{enum.__name__}.{default.name}"),)
            for m in members:
                tags[m.name] = (TorchvisionSource(f"{enum.__name__}.{m.name}", _tv_card_updates(m, default)),)
        card = _tv_card(self.spec(name), members[0].__class__.DEFAULT if members else None, tuple(tags))

        def build():
            from .classifier import wrap_classifier

            return wrap_classifier(tv.models.get_model(name, weights=None), card)

        return ZooEntry(self.spec(name), build, card, tags)


def _tv_transform(weights) -> dict:
    t = weights.transforms()
    crop = int(t.crop_size[0])
    resize = int(t.resize_size[0])
    return {"input_size": crop, "crop": crop, "resize": resize,
            "mean": tuple(float(v) for v in t.mean), "std": tuple(float(v) for v in t.std),
            "interpolation": str(t.interpolation.value).lower()}


def _tv_card_updates(member, default) -> tuple:
    """The card fields a non-default weights member evaluates differently (e.g. resize 232)."""
    mine, base = _tv_transform(member), _tv_transform(default)
    return tuple((k, v) for k, v in mine.items() if v != base[k])


def _tv_card(spec: str, weights, tags: tuple) -> ModelCard:
    if weights is None:
        return ModelCard(name=spec, input_size=224, resize=256, crop=224, labels=imagenet_labels(),
                         source="torchvision", family=spec.split(":", 1)[1], pretrained=tags,
                         notes=DEFAULT_NOTE.format(lib="torchvision"))
    cats = weights.meta.get("categories") or ()
    labels = tuple(cats) if cats else imagenet_labels()
    return ModelCard(name=spec, labels=labels, source="torchvision", family=spec.split(":", 1)[1],
                     pretrained=tags, channel_order="RGB", **_tv_transform(weights),
                     notes=f"card from torchvision {weights.__class__.__name__}.{weights.name} transforms()")


class TimmModels(ModelSource):
    name = "timm"
    description = "timm (pytorch-image-models) models"

    @lru_cache(maxsize=1)
    def names(self) -> list:
        return sorted(_import("timm", "list timm models").list_models())

    def entry(self, name: str) -> ZooEntry:
        timm = _import("timm", "build timm models")
        arch, _, tag = name.partition(".")
        if arch not in self.names():
            raise self.unknown(name)
        from ..weights import TimmSource

        pretrained = timm.list_pretrained(f"{arch}.*")
        tags = {}
        if pretrained:
            default = f"{arch}.{tag}" if tag else pretrained[0]
            tags["imagenet"] = (TimmSource(default),)
            for full in pretrained:
                tags[full.split(".", 1)[1]] = (TimmSource(full, _timm_card_updates(timm, full, default)),)
        card = _timm_card(timm, self.spec(arch), tags["imagenet"][0].pretrained if tags else arch, tuple(tags))

        def build():
            from .classifier import wrap_classifier

            return wrap_classifier(timm.create_model(arch, pretrained=False), card)

        return ZooEntry(self.spec(arch), build, card, tags)


def _timm_fields(timm, full: str):
    cfg = timm.models.get_pretrained_cfg(full)
    if cfg is None:
        return None, None
    size = int(cfg.input_size[-1])
    crop_pct = float(cfg.crop_pct or 0.875)
    interp = cfg.interpolation or "bilinear"
    fields = {"input_size": size, "crop": size, "resize": int(round(size / crop_pct)),
              "mean": tuple(float(v) for v in cfg.mean), "std": tuple(float(v) for v in cfg.std),
              "interpolation": interp if interp in ("bilinear", "bicubic", "nearest") else "bilinear"}
    return fields, cfg


def _timm_card_updates(timm, full: str, default: str) -> tuple:
    mine, _ = _timm_fields(timm, full)
    base, _ = _timm_fields(timm, default)
    if mine is None or base is None:
        return ()
    return tuple((k, v) for k, v in mine.items() if v != base[k])


def _timm_card(timm, spec: str, full: str, tags: tuple) -> ModelCard:
    fields, cfg = _timm_fields(timm, full)
    if fields is None:
        return ModelCard(name=spec, input_size=224, resize=256, crop=224, labels=imagenet_labels(),
                         source="timm", family=spec.split(":", 1)[1], pretrained=tags,
                         notes=DEFAULT_NOTE.format(lib="timm"))
    n = int(cfg.num_classes or 1000)
    labels = imagenet_labels() if n == 1000 else generic_labels(n)
    return ModelCard(name=spec, labels=labels, source="timm", family=spec.split(":", 1)[1], pretrained=tags,
                     notes=f"card from timm pretrained_cfg of {full}", **fields)


