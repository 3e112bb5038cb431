"""The leaf of edgekit.quant: reading a captured fx graph. Which nn.Module a node came from,
which nodes are conv/linear layers, which write the model's output, and the quantize ->
dequantize pairs of a converted (fold_quantize=False) PT2E module. torch is imported inside the
functions that need it."""
from __future__ import annotations

from typing import Optional, Sequence

# torch.export paths look like "blocks.0.0.conv_dw", sometimes with one of these prefixes
_PATH_PREFIXES = ("L['self'].", "L__self__.")
_SHAPE_OPS = ("aten.view", "aten.reshape", "aten.flatten", "aten.squeeze", "aten.unsqueeze", "aten._unsafe_view")


def capture_graph(module, example_inputs: tuple):
    """torch.export the float module and return the fx GraphModule PT2E works on."""
    import torch

    module = module.eval()
    with torch.no_grad():
        return torch.export.export(module, tuple(example_inputs)).module()


def node_layer(node) -> Optional[str]:
    """The innermost nn.Module path a captured fx node came from ("blocks.0.0.conv_dw")."""
    stack = node.meta.get("nn_module_stack")
    if not stack:
        return None
    path = list(stack.values())[-1][0]
    for pre in _PATH_PREFIXES:
        if path.startswith(pre):
            path = path[len(pre) :]
    return path


def is_weighted(node) -> bool:
    """A conv or linear call (the layers int8 quantizes and the guard may keep in float)."""
    import torch

    return node.op == "call_function" and node.target in (
        torch.ops.aten.conv2d.default,
        torch.ops.aten.conv1d.default,
        torch.ops.aten.linear.default,
        torch.ops.aten.convolution.default,
    )


def in_layers(node, layers: Sequence[str]) -> bool:
    """Whether the node belongs to one of the named layers (a name or a parent module's name)."""
    if not layers:
        return False
    name = node_layer(node)
    if name is None:
        return False
    return any(name == l or name.startswith(l + ".") for l in layers)


def quantizable_layers(gm) -> list[str]:
    """Names of the conv/linear layers of a captured module, in graph order."""
    out: list[str] = []
    for n in gm.graph.nodes:
        if is_weighted(n):
            name = node_layer(n)
            if name and name not in out:
                out.append(name)
    return out


def output_layer_nodes(gm) -> list:
    """The conv/linear nodes that write the model's output: their result reaches the graph
    output through shape-only ops (view/reshape/flatten/squeeze). For a classifier: its head."""
    out = []
    for n in gm.graph.nodes:
        if not is_weighted(n):
            continue
        frontier, ok = list(n.users), bool(n.users)
        while frontier and ok:
            u = frontier.pop()
            if u.op == "output":
                continue
            if u.op == "call_function" and str(u.target).startswith(_SHAPE_OPS):
                frontier.extend(u.users)
            else:
                ok = False
        if ok:
            out.append(n)
    return out


_POOL_OPS = ("aten.adaptive_avg_pool2d", "aten.avg_pool2d", "aten.mean.dim", "aten.mean.default")


def output_pool_nodes(gm) -> list:
    """[(pooling node, [the shape-only ops after it])] for each pooling that writes the model's
    output (a backbone whose output is its pooled embedding). Empty for a model whose output
    comes from a layer (a classifier's head)."""
    out = []
    for o in gm.graph.nodes:
        if o.op != "output":
            continue
        stack = [a for a in (o.args[0] if isinstance(o.args[0], (tuple, list)) else [o.args[0]]) if hasattr(a, "op")]
        while stack:
            n = stack.pop()
            chain = []
            while n.op == "call_function" and str(n.target).startswith(_SHAPE_OPS) and len(n.users) == 1:
                chain.append(n)
                n = n.args[0]
            if n.op == "call_function" and str(n.target).startswith(_POOL_OPS) and len(n.users) == 1:
                out.append((n, chain))
    return out


def is_quantize(n) -> bool:
    return n.op == "call_function" and "quantize_per" in str(n.target) and "dequantize" not in str(n.target)


def is_dequantize(n) -> bool:
    return n.op == "call_function" and "dequantize_per" in str(n.target)


def qdq_source(n):
    """If `n` is dequantize(quantize(x)), return x; else None."""
    if hasattr(n, "op") and is_dequantize(n):
        q = n.args[0]
        if hasattr(q, "op") and is_quantize(q):
            return q.args[0]
    return None


def qdq_pairs(gm, kind: str) -> list:
    """The dequantize_per_<kind> nodes fed by a quantize_per_<kind> (kind: tensor | channel), in
    graph order: the activation (tensor) or weight (channel) roundings of a converted module."""
    import torch.fx

    return [n for n in gm.graph.nodes if n.op == "call_function" and f"dequantize_per_{kind}" in str(n.target)
            and isinstance(n.args[0], torch.fx.Node) and f"quantize_per_{kind}" in str(n.args[0].target)]


def bypass_pairs(gm, kind: str, keep: Optional[int] = None):
    """Run every quantize_per_<kind> -> dequantize_per_<kind> pair of `gm` in float (edits `gm`),
    except the one numbered `keep` in qdq_pairs order: one source of int8 error switched off."""
    for j, dq in enumerate(qdq_pairs(gm, kind)):
        if j != keep:
            dq.replace_all_uses_with(dq.args[0].args[0])
    gm.graph.eliminate_dead_code()
    gm.recompile()
    return gm
