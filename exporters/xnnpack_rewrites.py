"""Graph rewrites that keep whole models inside the XNNPACK delegate.

Some ops have no XNNPACK partitioner rule in executorch 1.5.1, or lower to a form that leaves
small ops behind on ExecuTorch's portable kernels. Each rewrite below replaces such a node with
the same function written in ops XNNPACK takes. They run on the captured aten graph before
lowering (fp32) and before PT2E quantization (int8), so they apply to any model, not one.

- aten.hardsigmoid (SE blocks of MobileNetV3, MobileNetV4, GhostNet, LCNet...) decomposes into
  an add and a div whose scalar operands become 0-d constants of another dtype; ExecuTorch then
  converts each constant with a `_to_dim_order_copy` on portable kernels (18 of them in
  MobileNetV3-Small). Rewritten as hardtanh(x + 3, 0, 6) * (1/6) with float32 constants.
- aten.split / split_with_sizes / chunk along one dim (ShuffleNet's channel split, GhostNet)
  lower to getitem views XNNPACK does not take; rewritten as one aten.slice per piece.
- aten.slice over a whole dim (GhostNet's `out[:, :out_chs]` when out_chs is all channels) and
  aten.alias become `alias_copy` nodes that stay outside the delegate; they are the identity,
  so they are dropped.
- aten.mean.dim over the two spatial dims without keepdim (global pooling in timm / torchvision
  heads) is taken by XNNPACK only with keepdim=True: rewritten as mean(keepdim=True) + view.

After int8 quantization, drop_requantize_after_zero_pads removes the identity quantize /
dequantize pair after a zero pad quantized on its input's scale, so ExecuTorch folds the pad into
the int8 convolution (EfficientNet-Lite0: 5 float pads and 8 converts gone, XNNPACK delegate time
6.5 -> 3.9 ms on an AVX-512 VNNI CPU, ETDump).
"""
from __future__ import annotations

from collections import Counter


def rewrite_for_xnnpack(gm) -> Counter:
    """Rewrite `gm` (an fx GraphModule of aten ops) in place; returns the count per rewrite."""
    import torch

    aten = torch.ops.aten
    done: Counter = Counter()
    for node in list(gm.graph.nodes):
        if node.op != "call_function":
            continue
        if node.target == aten.hardsigmoid.default:
            _hardsigmoid(gm, node, aten)
            done["hardsigmoid"] += 1
        elif node.target in (aten.split.Tensor, aten.split_with_sizes.default, aten.chunk.default):
            if _split(node, aten):
                done[node_name(node)] += 1
        elif node.target == aten.mean.dim:
            if _flat_mean(node, aten):
                done["mean"] += 1
        elif node.target in (aten.slice.Tensor, aten.alias.default):
            if _identity_view(node, aten):
                done["identity view"] += 1
    if done:
        gm.graph.eliminate_dead_code()
        gm.recompile()
    return done


def node_name(node) -> str:
    return getattr(node.target, "__name__", str(node.target)).split(".")[0]


def _constant(gm, name: str, value: float):
    import torch

    base, i = name, 0
    while hasattr(gm, name):
        i += 1
        name = f"{base}_{i}"
    gm.register_buffer(name, torch.tensor([value], dtype=torch.float32))
    return gm.graph.get_attr(name)


def _hardsigmoid(gm, node, aten) -> None:
    x = node.args[0]
    with gm.graph.inserting_before(node):
        three = _constant(gm, "_xnn_hsig_three", 3.0)
        sixth = _constant(gm, "_xnn_hsig_sixth", 1.0 / 6.0)
        shifted = gm.graph.call_function(aten.add.Tensor, (x, three))
        clamped = gm.graph.call_function(aten.hardtanh.default, (shifted, 0.0, 6.0))
        out = gm.graph.call_function(aten.mul.Tensor, (clamped, sixth))
    for n in (shifted, clamped, out):
        n.meta = dict(node.meta)
    node.replace_all_uses_with(out)
    gm.graph.erase_node(node)


def _split(node, aten) -> bool:
    """split/chunk whose outputs are only indexed (getitem): one slice per piece."""
    import operator

    val = node.args[0].meta.get("val")
    if val is None or any(u.op != "call_function" or u.target is not operator.getitem for u in node.users):
        return False
    dim = node.args[2] if len(node.args) > 2 else node.kwargs.get("dim", 0)
    dim = dim % val.dim()
    length = int(val.shape[dim])
    arg = node.args[1]
    if node.target == aten.chunk.default:
        step = -(-length // int(arg))
        sizes = [min(step, length - s) for s in range(0, length, step)]
    elif isinstance(arg, int):
        sizes = [min(arg, length - s) for s in range(0, length, arg)]
    else:
        sizes = [int(s) for s in arg]
    starts = [sum(sizes[:i]) for i in range(len(sizes))]
    graph = node.graph
    for user in list(node.users):
        i = user.args[1]
        with graph.inserting_before(user):
            piece = graph.call_function(aten.slice.Tensor, (node.args[0], dim, starts[i], starts[i] + sizes[i]))
        piece.meta = dict(user.meta)
        user.replace_all_uses_with(piece)
        graph.erase_node(user)
    graph.erase_node(node)
    return True


def _flat_mean(node, aten) -> bool:
    """mean over dims (2, 3) / (-2, -1) of a 4-d tensor without keepdim -> keepdim + view."""
    x = node.args[0]
    val = x.meta.get("val")
    dims = node.args[1] if len(node.args) > 1 else node.kwargs.get("dim")
    keep = node.args[2] if len(node.args) > 2 else node.kwargs.get("keepdim", False)
    if val is None or val.dim() != 4 or keep or dims is None or node.kwargs.get("dtype") is not None:
        return False
    if sorted(d % 4 for d in dims) != [2, 3]:
        return False
    graph = node.graph
    with graph.inserting_before(node):
        pooled = graph.call_function(aten.mean.dim, (x, [2, 3], True))
        flat = graph.call_function(aten.view.default, (pooled, [int(val.shape[0]), int(val.shape[1])]))
    pooled.meta = dict(node.meta)
    flat.meta = dict(node.meta)
    pooled.meta["val"] = val.mean(dim=[2, 3], keepdim=True)    # fake tensors: shapes only
    node.replace_all_uses_with(flat)
    graph.erase_node(node)
    return True


def _identity_view(node, aten) -> bool:
    """A slice that keeps a whole dim with step 1, or an alias: the node is its input."""
    x = node.args[0]
    if node.target == aten.slice.Tensor:
        val = x.meta.get("val")
        if val is None:
            return False
        args = list(node.args) + [None] * (5 - len(node.args))
        dim, start, end, step = (args[1] if args[1] is not None else 0), args[2], args[3], args[4]
        size = int(val.shape[dim])
        if (start or 0) != 0 or (step or 1) != 1 or (end is not None and end < size):
            return False
    node.replace_all_uses_with(x)
    node.graph.erase_node(node)
    return True


def drop_requantize_after_zero_pads(gm) -> int:
    """int8 (after PT2E convert): dequantize(s, z) -> zero pad -> quantize(s, z) -> dequantize(s, z)
    becomes dequantize(s, z) -> zero pad. The pad (TF-style "same" padding before a strided
    conv) was quantized on its input's own scale (edgekit.quant.annotate), so that quantize /
    dequantize pair is exactly the identity; without it the convolution reads the pad directly,
    the pattern ExecuTorch's XNNPACK partitioner pulls into the quantized convolution (an int8
    pad, folded into the conv) instead of a float pad between two converts. Returns how many
    pairs were dropped."""
    import torch

    aten, qd = torch.ops.aten, torch.ops.quantized_decomposed
    pads = tuple(getattr(aten, name).default for name in ("pad", "constant_pad_nd") if hasattr(aten, name))
    dq_op, q_op = qd.dequantize_per_tensor.default, qd.quantize_per_tensor.default

    def params(n):
        return tuple(n.args[1:]), tuple(sorted(n.kwargs.items()))

    dropped = 0
    for pad in list(gm.graph.nodes):
        if pad.op != "call_function" or pad.target not in pads or len(pad.users) != 1:
            continue
        src, (q,) = pad.args[0], list(pad.users)
        if not (hasattr(src, "target") and src.target == dq_op and q.target == q_op and params(q) == params(src)):
            continue
        if not pad.args[2:] in ((), ("constant",), ("constant", 0.0), ("constant", 0), (0.0,), (0,)):
            continue
        dqs = list(q.users)
        if not dqs or any(d.target != dq_op or params(d) != params(q) for d in dqs):
            continue
        for d in dqs:
            d.replace_all_uses_with(pad)
            gm.graph.erase_node(d)
        gm.graph.erase_node(q)
        dropped += 1
    if dropped:
        gm.recompile()
    return dropped
