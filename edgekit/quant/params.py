"""Reading and replacing the constant tensors (weights, biases) of a captured fx GraphModule.

The passes that edit a calibrated PT2E module (bias correction, weight rounding) never edit a
tensor in place: a captured module shares its parameters with the caller's nn.Module, which must
come back unchanged. They put a new tensor at the attribute and remember the old one in
`gm.meta[ORIGINALS_KEY]`, so a layer later run in float (the accuracy guard's bypass) can get its
original weight and bias back (`restore_for`). The meta dict survives deepcopy and convert_pt2e.
"""
from __future__ import annotations

from .graph import is_weighted, qdq_source

ORIGINALS_KEY = "edgekit_original_params"  # GraphModule.meta: {attribute: tensor before any edit}


def value(gm, node):
    """Evaluate a node whose inputs are all constants (get_attr / literals)."""
    import torch.fx

    if not isinstance(node, torch.fx.Node):
        return node
    if node.op == "get_attr":
        return get_tensor(gm, node.target)
    if node.op == "call_function":
        args = [value(gm, a) for a in node.args]
        return node.target(*args, **{k: value(gm, v) for k, v in node.kwargs.items()})
    raise ValueError(f"not a constant: {node.op} {node.name}")


def fake_quant_weights(gm) -> dict:
    """{conv/linear node: its weight's quantize node} of a converted (fold_quantize=False) module,
    for the layers whose weight is fake-quantized from a get_attr tensor."""
    out = {}
    for n in gm.graph.nodes:
        if is_weighted(n) and len(n.args) > 1:
            w = qdq_source(n.args[1])
            if w is not None and getattr(w, "op", None) == "get_attr":
                out[n] = n.args[1].args[0]
    return out


def get_tensor(root, target: str):
    """The attribute at dotted `target` of `root`, or None."""
    obj = root
    for part in target.split("."):
        obj = getattr(obj, part, None)
        if obj is None:
            return None
    return obj


def replace_tensor(root, target: str, new, remember: bool = True):
    """Put `new` at the dotted attribute `target` of `root` (as a Parameter where the old one was
    one), after checking a tensor of the same shape is there. With `remember`, the first tensor
    ever replaced at `target` is kept in root.meta[ORIGINALS_KEY]. Returns the old tensor, or
    None (nothing replaced) where there is no such tensor."""
    import torch

    *path, attr = target.split(".")
    owner = get_tensor(root, ".".join(path)) if path else root
    old = getattr(owner, attr, None) if owner is not None else None
    if not isinstance(old, torch.Tensor) or old.shape != new.shape:
        return None
    new = new.detach().to(old.dtype)
    setattr(owner, attr, torch.nn.Parameter(new, requires_grad=False) if isinstance(old, torch.nn.Parameter) else new)
    if remember and hasattr(root, "meta"):
        root.meta.setdefault(ORIGINALS_KEY, {}).setdefault(target, old)
    return old


def restore_for(gm, node) -> None:
    """Give a conv/linear `node` of a converted copy of an edited module its original weight and
    bias back: a layer that runs with float weights has no rounding to correct."""
    import torch.fx

    originals = gm.meta.get(ORIGINALS_KEY) or {}
    w = node.args[1] if len(node.args) > 1 else None
    w = qdq_source(w) or w
    for p in (w, node.args[2] if len(node.args) > 2 else None):
        if isinstance(p, torch.fx.Node) and p.op == "get_attr" and p.target in originals:
            replace_tensor(gm, p.target, originals[p.target], remember=False)


def stepwise_runs(gm, x, batch: int = 1) -> tuple:
    """For walking `gm` node by node over many inputs at once: ([a torch.fx.Interpreter per batch of
    the float array `x`, its placeholder primed], {node: the inputs whose last reader it is, to
    drop from each run's env once it has run})."""
    import numpy as np
    import torch
    import torch.fx

    x = np.ascontiguousarray(x, np.float32)
    runs = []
    for i in range(0, len(x) - batch + 1, batch):
        r = torch.fx.Interpreter(gm)
        r.args_iter = iter([torch.from_numpy(x[i : i + batch])])
        runs.append(r)
    last_reader = {}
    for n in gm.graph.nodes:
        for a in n.all_input_nodes:
            last_reader[a] = n
    frees: dict = {}
    for a, n in last_reader.items():
        frees.setdefault(n, []).append(a)
    return runs, frees


def copy_prepared(prepared):
    """A deep copy of a prepared (observed) PT2E module that convert_pt2e can work on: the copy's
    quantization annotations still name the ORIGINAL graph's nodes as inputs (deepcopy does not
    re-key them), which convert's metadata pass follows; for a dynamically quantized input (the
    float-output head on XNNPACK) it then finds no choose_qparams node and fails. Re-key them by
    node name."""
    import copy

    gm = copy.deepcopy(prepared)
    by_name = {n.name: n for n in gm.graph.nodes}
    for n in gm.graph.nodes:
        ann = n.meta.get("quantization_annotation")
        if ann is not None and ann.input_qspec_map:
            ann = copy.copy(ann)
            ann.input_qspec_map = {by_name.get(k.name, k): v for k, v in ann.input_qspec_map.items()}
            n.meta["quantization_annotation"] = ann
    return gm
