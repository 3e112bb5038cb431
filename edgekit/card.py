"""ModelCard: what an app needs to know to feed a model and read its output."""
from __future__ import annotations

from dataclasses import asdict, dataclass, replace
from typing import Optional, Sequence

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)
INTERPOLATIONS = ("bilinear", "bicubic", "nearest")


@dataclass(frozen=True)
class ModelCard:
    """Per-model metadata. params/macs are computed from the model, never typed in."""

    name: str
    input_size: int                      # square input, H == W
    resize: int                          # shorter side is resized to this, then center-cropped
    crop: int                            # center crop size (== input_size for the zoo)
    interpolation: str = "bilinear"      # "bilinear" | "bicubic" | "nearest"
    mean: tuple = IMAGENET_MEAN          # applied after scaling pixels to [0, 1]
    std: tuple = IMAGENET_STD
    channel_order: str = "RGB"
    labels: tuple = ()                   # class names, index == class id
    head: str = ""                       # attribute path of the classifier head inside the model
    embedding_dim: int = 0               # width of forward_features() output
    family: str = ""
    source: str = ""                     # where the definition comes from (torchvision, timm, user)
    pretrained: tuple = ()               # named pretrained tags
    params: Optional[int] = None
    macs: Optional[int] = None
    notes: str = ""

    @property
    def num_classes(self) -> int:
        return len(self.labels)

    def preprocessing(self, layout: str = "NCHW") -> dict:
        """The manifest's `preprocessing` block."""
        return {
            "resize": self.resize,
            "crop": self.crop,
            "interpolation": self.interpolation,
            "mean": list(self.mean),
            "std": list(self.std),
            "scale": 1.0 / 255.0,
            "channel_order": self.channel_order,
            "layout": layout,
        }

    def with_labels(self, labels: Sequence[str]) -> "ModelCard":
        return replace(self, labels=tuple(labels))

    def with_overrides(self, **fields) -> "ModelCard":
        """A copy with preprocessing fields replaced (None values are ignored), each checked:
        resize >= crop, three positive std values, a known interpolation."""
        from .errors import InputError

        fields = {k: v for k, v in fields.items() if v is not None}
        allowed = {"resize", "mean", "std", "interpolation"}
        unknown = sorted(set(fields) - allowed)
        if unknown:
            raise InputError(f"cannot override card fields {', '.join(unknown)} (expected some of {', '.join(sorted(allowed))})")
        for key in ("mean", "std"):
            if key in fields:
                vals = tuple(float(v) for v in fields[key])
                if len(vals) != 3 or (key == "std" and min(vals) <= 0):
                    raise InputError(f"{key} needs three {'positive ' if key == 'std' else ''}numbers (R, G, B), got {list(vals)}")
                fields[key] = vals
        if "resize" in fields and int(fields["resize"]) < self.crop:
            raise InputError(f"resize {fields['resize']} is smaller than the crop {self.crop}; expected >= {self.crop}")
        if "interpolation" in fields and fields["interpolation"] not in INTERPOLATIONS:
            raise InputError(f"interpolation must be one of {', '.join(INTERPOLATIONS)}, got {fields['interpolation']!r}")
        return replace(self, **fields)

    def to_dict(self) -> dict:
        d = asdict(self)
        d["num_classes"] = self.num_classes
        return d


def user_card(name: str, input_size: int, labels: Sequence[str], mean=IMAGENET_MEAN, std=IMAGENET_STD,
              resize: Optional[int] = None, interpolation: str = "bilinear", **kw) -> ModelCard:
    """A card for a user's own nn.Module."""
    return ModelCard(name=name, input_size=input_size, resize=resize or input_size, crop=input_size,
                     interpolation=interpolation, mean=tuple(mean), std=tuple(std), labels=tuple(labels),
                     source="user", **kw)


