"""EdgeClassifier: one head API over every zoo model.

    forward(x)          = forward_head(forward_features(x))
    forward_features(x) -> (N, embedding_dim) pre-logit embedding: the input of the final Linear
    forward_head(f)     -> logits
    head                -> that final nn.Linear (at attribute path `head_path`)
    reset_head(n, labels=None) -> a fresh n-class Linear; backbone weights untouched

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
    the embedding is the pooled 1280-wide conv_head output). `head`: the classifier's path
    inside the timm model (its pretrained_cfg["classifier"])."""

    def __init__(self, model: nn.Module, card: Optional[ModelCard] = None, head: str = "classifier"):
        super().__init__(model, f"model.{head}", card)

    def forward_features(self, x: torch.Tensor) -> torch.Tensor:
        return self.model.forward_head(self.model.forward_features(x), pre_logits=True)


class LastLinearClassifier(EdgeClassifier):
    """Any network whose output is one nn.Linear's output (torchvision's fc / classifier[-1] /
    heads.head). The embedding is that Linear's input, read with a forward pre-hook while the
    network runs, so no per-architecture code is needed; wrap_classifier checks the claim."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.model(x)

    def forward_features(self, x: torch.Tensor) -> torch.Tensor:
        seen = []
        hook = self.head.register_forward_pre_hook(lambda _m, args: seen.append(args[0]))
        try:
            self.model(x)
        finally:
            hook.remove()
        return seen[-1]


class PlainClassifier(nn.Module):
    """A classifier edgekit can export and run but whose head it cannot swap (no single Linear
    makes the output: SqueezeNet's 1x1-conv head, LeViT's two distillation heads). It has no
    head API: a new class count, --trainable-head and tune are refused with one line."""

    head_path = None

    def __init__(self, model: nn.Module, card: Optional[ModelCard] = None, reason: str = ""):
        super().__init__()
        self.model = model
        self.card = card
        self.reason = reason or "its output is not made by one nn.Linear"
        self.weights_info = {"source": "random", "sha256": None}

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.model(x)

    def reset_head(self, num_classes: int, labels=None) -> None:
        name = self.card.name if self.card is not None else type(self.model).__name__
        raise InputError(f"{name} has no swappable head ({self.reason}); export it with its own "
                         f"{self._classes()} classes, or pick a model with a Linear classifier")

    def _classes(self):
        return len(self.card.labels) if self.card is not None and self.card.labels else "original"


def _timm_head(model: nn.Module):
    """The path of a timm model's classifier when it is one nn.Linear, else None."""
    path = getattr(model, "pretrained_cfg", {}).get("classifier")
    if not isinstance(path, str):
        return None
    try:
        head = model.get_submodule(path)
    except AttributeError:
        return None
    if isinstance(head, nn.Linear):
        return path
    inner = [n for n, m in head.named_modules() if isinstance(m, nn.Linear)]
    return f"{path}.{inner[-1]}" if len(inner) == 1 else None


def _last_linear(model: nn.Module) -> Optional[str]:
    """The last registered nn.Linear: the head candidate for a torchvision-style network."""
    linears = [n for n, m in model.named_modules() if isinstance(m, nn.Linear)]
    return linears[-1] if linears else None


def _output_is_head(wrapped: EdgeClassifier, input_size: int) -> bool:
    """True when the network's output equals head(embedding) on a random input."""
    if any(p.is_meta for p in wrapped.parameters()):
        return True                      # a shapes-only copy (params/MACs count): nothing to run
    x = torch.randn(1, 3, input_size, input_size, generator=torch.Generator().manual_seed(0))
    wrapped.eval()
    with torch.no_grad():
        try:
            f = wrapped.forward_features(x)
            y = wrapped.model(x)
        except (RuntimeError, IndexError):
            return False
        return f.dim() == 2 and y.shape == (1, wrapped.num_classes) and \
            torch.allclose(wrapped.head(f), y, rtol=1e-4, atol=1e-5)


def wrap_classifier(model: nn.Module, card: Optional[ModelCard] = None):
    """An EdgeClassifier over a library model (timm: its forward_head API; otherwise the last
    Linear, checked to make the output), or a PlainClassifier when neither holds."""
    model = model.eval()
    size = card.input_size if card is not None else 224
    timm_head = _timm_head(model) if hasattr(model, "forward_head") else None
    if timm_head is not None:
        wrapped = TimmClassifier(model, card, head=timm_head)
        if _output_is_head(wrapped, size):
            return wrapped
    path = _last_linear(model)
    if path is not None:
        wrapped = LastLinearClassifier(model, f"model.{path}", card)
        if _output_is_head(wrapped, size):
            return wrapped
    return PlainClassifier(model, card)
