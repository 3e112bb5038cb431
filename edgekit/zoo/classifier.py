"""EdgeClassifier: one head API over every zoo model.

    forward(x)          = forward_head(forward_features(x))
    forward_features(x) -> (N, embedding_dim) pre-logit embedding: the input of the final Linear
    forward_head(f)     -> logits
    head                -> that final nn.Linear (at attribute path `head_path`)
    reset_head(n, labels=None) -> a fresh n-class Linear; backbone weights untouched
    drop_pre_logits()   -> the embedding becomes the pooled backbone features (for weights that
                           hold the backbone only; a no-op where it is that already)

The wrapped network sits at `.model`, so state-dict keys are "model." + the torchvision/timm key.
Everything here is plain module calls on fixed shapes: torch.export captures it as is."""
from __future__ import annotations

import abc

from dataclasses import replace
from typing import Optional, Sequence

import torch
from torch import nn

from ..card import ModelCard
from ..errors import InputError
from ..labels import generic_labels


class EdgeClassifier(nn.Module, metaclass=abc.ABCMeta):
    """Base class; subclasses define forward_features for their family."""

    def __init__(self, model: nn.Module, head_path: str, card: Optional[ModelCard] = None):
        super().__init__()
        self.model = model
        self.head_path = head_path
        if not isinstance(self.get_submodule(head_path), nn.Linear):
            raise TypeError(f"{head_path} is not an nn.Linear")
        self.card = card
        self.weights_info = {"source": "random", "sha256": None}

    # --- the head API -------------------------------------------------------------------
    @property
    def head(self) -> nn.Linear:
        return self.get_submodule(self.head_path)

    @property
    def embedding_dim(self) -> int:
        return self.head.in_features

    @property
    def num_classes(self) -> int:
        return self.head.out_features

    @abc.abstractmethod
    def forward_features(self, x: torch.Tensor) -> torch.Tensor:
        """(N, embedding_dim) pre-logit embedding; each model family implements it."""

    def forward_head(self, features: torch.Tensor) -> torch.Tensor:
        return self.head(features)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.forward_head(self.forward_features(x))

    def reset_head(self, num_classes: int, labels: Optional[Sequence[str]] = None) -> None:
        """Replace the head with a new `num_classes`-way Linear (small random weights, zero
        bias); the backbone is untouched. The card's labels become `labels` or class_0.."""
        if isinstance(num_classes, bool) or not isinstance(num_classes, int) or num_classes < 1:
            raise InputError(f"num_classes must be a positive integer, got {num_classes!r}")
        if labels is not None:
            labels = tuple(str(s) for s in labels)
            if len(labels) != num_classes:
                raise InputError(f"got {len(labels)} labels for {num_classes} classes; expected one label per class")
        old = self.head
        new = nn.Linear(old.in_features, num_classes, device=old.weight.device, dtype=old.weight.dtype)
        nn.init.normal_(new.weight, std=0.01)
        nn.init.zeros_(new.bias)
        parent_path, _, attr = self.head_path.rpartition(".")
        setattr(self.get_submodule(parent_path) if parent_path else self, attr, new)
        if self.card is not None:
            card = self.card.with_labels(labels or generic_labels(num_classes))
            params = card.params + (new.weight.numel() + new.bias.numel()) - (old.weight.numel() + old.bias.numel()) \
                if card.params is not None else None
            macs = card.macs + old.in_features * (num_classes - old.out_features) if card.macs is not None else None
            self.card = replace(card, params=params, macs=macs)

    def drop_pre_logits(self) -> None:
        """Make forward_features the pooled backbone output, removing any layers between the
        pooling and the head. ResNet and EfficientNet-Lite heads read the pooled features already."""


class MobileNetV3Classifier(EdgeClassifier):
    """torchvision MobileNetV3: features -> avgpool -> Linear -> Hardswish -> Dropout | Linear.
    The embedding is the 1024 (small) / 1280 (large) vector after the first Linear block."""

    def __init__(self, model: nn.Module, card: Optional[ModelCard] = None):
        super().__init__(model, f"model.classifier.{len(model.classifier) - 1}", card)

    def forward_features(self, x: torch.Tensor) -> torch.Tensor:
        m = self.model
        x = torch.flatten(m.avgpool(m.features(x)), 1)
        for layer in list(m.classifier)[:-1]:
            x = layer(x)
        return x

    def drop_pre_logits(self) -> None:
        """classifier = [Linear(pooled, n)]: the pre-logit Linear + Hardswish + Dropout go, and the
        embedding is the pooled features (576 small / 960 large)."""
        m = self.model
        if len(m.classifier) == 1:
            return
        old = self.head
        removed_macs = sum(lin.in_features * lin.out_features for lin in m.classifier if isinstance(lin, nn.Linear))
        pooled = m.classifier[0].in_features
        m.classifier = nn.Sequential(nn.Linear(pooled, old.out_features, device=old.weight.device, dtype=old.weight.dtype))
        self.head_path = "model.classifier.0"
        if self.card is not None:
            macs = None if self.card.macs is None else self.card.macs - removed_macs + pooled * old.out_features
            self.card = replace(self.card, head=self.head_path, embedding_dim=pooled,
                                params=sum(p.numel() for p in self.parameters()), macs=macs)


class ResNetClassifier(EdgeClassifier):
    """torchvision ResNet: the embedding is the pooled output of layer4 (512 for ResNet-18)."""

    def __init__(self, model: nn.Module, card: Optional[ModelCard] = None):
        super().__init__(model, "model.fc", card)

    def forward_features(self, x: torch.Tensor) -> torch.Tensor:
        m = self.model
        x = m.maxpool(m.relu(m.bn1(m.conv1(x))))
        x = m.layer4(m.layer3(m.layer2(m.layer1(x))))
        return torch.flatten(m.avgpool(x), 1)


class TimmClassifier(EdgeClassifier):
    """timm models with forward_features / forward_head(pre_logits=True) (EfficientNet-Lite:
    the embedding is the pooled 1280-wide conv_head output)."""

    def __init__(self, model: nn.Module, card: Optional[ModelCard] = None):
        super().__init__(model, "model.classifier", card)

    def forward_features(self, x: torch.Tensor) -> torch.Tensor:
        return self.model.forward_head(self.model.forward_features(x), pre_logits=True)
