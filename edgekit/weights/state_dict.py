"""State dicts on their way into a zoo model: unwrapping a loaded object into a flat
{name: tensor} dict ({"state_dict": ...} / {"model": ...} wrappers, DataParallel's "module."
prefix), detecting its key layout (edgekit's "model.*", the torchvision / timm keys of the
wrapped model, or EfficientNet-PyTorch's (lukemelas) `_conv_stem` / `_blocks.N` keys), mapping it
onto the model's keys, checking it against the model and loading it.

Where the weights come from (tags, hub caches, downloads, local files) is edgekit.weights, which
re-exports the public names here. This module imports torch only inside functions."""
from __future__ import annotations

import re
from pathlib import Path
from typing import Mapping, Optional

from ..errors import WeightsError, first_line

_MAX_LISTED = 5


def _unwrap(obj, what: str) -> dict:
    import torch

    if isinstance(obj, Mapping):
        for key in ("state_dict", "model", "model_state_dict", "state_dict_ema", "model_ema"):
            inner = obj.get(key)
            if isinstance(inner, Mapping) and inner and all(isinstance(v, torch.Tensor) for v in inner.values()):
                obj = inner
                break
    if not isinstance(obj, Mapping) or not obj:
        raise WeightsError(f"{what} is not a state dict (expected a mapping of parameter names to tensors, "
                           f"got {type(obj).__name__}{' (empty)' if isinstance(obj, Mapping) else ''})")
    bad = [k for k, v in obj.items() if not isinstance(v, torch.Tensor)]
    if bad:
        raise WeightsError(f"{what} is not a state dict: {len(bad)} entries are not tensors "
                           f"(e.g. {', '.join(map(str, bad[:_MAX_LISTED]))})")
    state = dict(obj)
    if all(k.startswith("module.") for k in state):       # saved from DataParallel/DDP
        state = {k[len("module."):]: v for k, v in state.items()}
    return state


def detect_layout(state: Mapping) -> str:
    """'edgekit' (keys 'model.*'), 'efficientnet-pytorch' (lukemelas '_conv_stem'...), or 'native'
    (the torchvision / timm keys of the wrapped model)."""
    keys = list(state)
    if keys and all(k.startswith("model.") for k in keys):
        return "edgekit"
    if any(k.startswith(("_conv_stem.", "_blocks.")) for k in keys):
        return "efficientnet-pytorch"
    return "native"


def _load_state_dict(model, state: dict, model_name: str, what: str, num_classes: Optional[int], info: dict) -> None:
    layout = detect_layout(state)
    if layout == "efficientnet-pytorch":
        state = map_efficientnet_pytorch(state, model, model_name, what)
    elif layout == "native":
        state = {f"model.{k}": v for k, v in state.items()}
    info["layout"] = layout
    _fit_head(model, state, num_classes)
    head_keys = {f"{model.head_path}.weight", f"{model.head_path}.bias"}
    if num_classes is not None and state.get(f"{model.head_path}.weight") is not None \
            and state[f"{model.head_path}.weight"].shape[0] != model.num_classes:
        # a different head than asked for: keep the backbone, the new head is made afterwards
        state = {k: v for k, v in state.items() if k not in head_keys}
        expected = {k: v for k, v in model.state_dict().items() if k not in head_keys}
    else:
        expected = model.state_dict()
    check_state_dict(state, expected, model_name, what)
    model.load_state_dict(state, strict=False)


def _fit_head(model, state: dict, num_classes: Optional[int]) -> None:
    """A checkpoint with an n-class head (a tuned model) builds an n-class head first, when
    n is what the caller wants (or the caller did not say)."""
    w = state.get(f"{model.head_path}.weight")
    if w is None or w.ndim != 2 or w.shape[1] != model.embedding_dim:
        return
    n = int(w.shape[0])
    if n != model.num_classes and (num_classes is None or num_classes == n):
        model.reset_head(n)


def key_problems(groups) -> list:
    """["3 missing: a, b, c", ...] for the non-empty (label, keys) groups, each list cut at a few keys."""
    problems = []
    for label, items in groups:
        if items:
            more = f", ... {len(items) - _MAX_LISTED} more" if len(items) > _MAX_LISTED else ""
            problems.append(f"{len(items)} {label}: {', '.join(items[:_MAX_LISTED])}{more}")
    return problems


def check_state_dict(state: Mapping, expected: Mapping, model_name: str, what: str) -> None:
    """WeightsError listing the first few missing / unexpected keys and shape mismatches.
    BatchNorm's num_batches_tracked may be absent (older checkpoints); it is not used in eval."""
    missing = [k for k in expected if k not in state and not k.endswith("num_batches_tracked")]
    unexpected = [k for k in state if k not in expected]
    shapes = [f"{k} {tuple(state[k].shape)} vs {tuple(expected[k].shape)}"
              for k in expected if k in state and tuple(state[k].shape) != tuple(expected[k].shape)]
    problems = key_problems((("missing", missing), ("unexpected", unexpected), ("shape mismatch (file vs model)", shapes)))
    if problems:
        raise WeightsError(f"{what} does not fit {model_name}: {'; '.join(problems)}")


# --- the EfficientNet-PyTorch (lukemelas) layout ---------------------------------------------
_LM_TOP = ("_conv_stem", "_bn0", "_blocks", "_conv_head", "_bn1", "_fc")
_LM_BLOCK = ("_expand_conv", "_bn0", "_depthwise_conv", "_bn1", "_se_reduce", "_se_expand", "_project_conv", "_bn2")
_PARAM_ORDER = ("weight", "bias", "running_mean", "running_var", "num_batches_tracked")


def _lukemelas_order(key: str):
    parts = key.split(".")
    try:
        top = _LM_TOP.index(parts[0])
        if parts[0] == "_blocks":
            sub = parts[2:]
            return (top, int(parts[1]), _LM_BLOCK.index(sub[0]), *_param_rank(sub[1:]))
        return (top, 0, 0, *_param_rank(parts[1:]))
    except (ValueError, IndexError):
        return None


def _param_rank(rest):
    name = ".".join(rest)
    return (_PARAM_ORDER.index(name) if name in _PARAM_ORDER else len(_PARAM_ORDER), name)


def map_efficientnet_pytorch(state: Mapping, model, model_name: str, what: str) -> dict:
    """Map EfficientNet-PyTorch keys onto the wrapped timm tf_efficientnet_lite keys.

    Both networks hold the same tensors in the same execution order (stem conv + BN, per block:
    [expand conv + BN], depthwise conv + BN, [SE], project conv + BN, then head conv + BN and the
    classifier), so the keys are put in that order on both sides and paired one by one; every
    pair must agree on the tensor kind (weight, running_var, ...) and shape."""
    if not hasattr(model.model, "conv_stem"):
        raise WeightsError(f"{what} is in the EfficientNet-PyTorch layout, which only fits the efficientnet_lite* models, "
                           f"not {model_name}")
    unknown = [k for k in state if _lukemelas_order(k) is None]
    if unknown:
        raise WeightsError(f"{what}: unrecognised EfficientNet-PyTorch keys: {', '.join(unknown[:_MAX_LISTED])}")
    src = sorted((k for k in state if not k.endswith("num_batches_tracked")), key=_lukemelas_order)
    dst = [k for k in model.model.state_dict() if not k.endswith("num_batches_tracked")]
    target = model.model.state_dict()
    problems = []
    if len(src) != len(dst):
        problems.append(f"{len(src)} tensors in the file vs {len(dst)} in the model")
    for s, d in zip(src, dst):
        s_kind, d_kind = s.rsplit(".", 1)[-1], d.rsplit(".", 1)[-1]
        if s_kind != d_kind:
            problems.append(f"{s} -> {d}: {s_kind} vs {d_kind}")
        elif tuple(state[s].shape) != tuple(target[d].shape) and not d.startswith("classifier."):
            # (a classifier of another width is a tuned head: _fit_head / check_state_dict judge it)
            problems.append(f"{s} {tuple(state[s].shape)} -> {d} {tuple(target[d].shape)}")
    if problems:
        more = f", ... {len(problems) - _MAX_LISTED} more" if len(problems) > _MAX_LISTED else ""
        raise WeightsError(f"{what} (EfficientNet-PyTorch layout) does not fit {model_name}: "
                           f"{'; '.join(problems[:_MAX_LISTED])}{more}")
    return {f"model.{d}": state[s] for s, d in zip(src, dst)}


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
            from ..errors import MissingDependencyError

            raise MissingDependencyError("safetensors", "export", "read .safetensors weights") from None
        except Exception as e:
            raise WeightsError(f"{path.name} is not a readable .safetensors file ({type(e).__name__}: {first_line(e, 200)})") from None
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
            reason = reason.group(1).strip() if reason else first_line(e, 200)
            raise WeightsError(f"{path.name} is not a readable PyTorch state dict ({type(e).__name__}: {reason})") from None
    return _unwrap(obj, path.name)


def state_dict_sha256(module) -> str:
    """sha256 over a module's state dict (names and tensor bytes, in name order): which weights an
    artifact was made from, independent of the file they came in."""
    import hashlib

    h = hashlib.sha256()
    for k, v in sorted(module.state_dict().items()):
        h.update(k.encode() + b"\0")
        h.update(v.detach().cpu().contiguous().numpy().tobytes())
    return h.hexdigest()
