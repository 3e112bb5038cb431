"""XNNPACK lowering configuration shared by the ExecuTorch exporter.

exporters/executorch.py imports this module; whatever lowering settings make the ExecuTorch
XNNPACK path fast live here, so the exporter picks them up.

Why a graph rewrite (docs/perf-executorch.md has the evidence): in the executorch 1.5.1 x86_64
wheel, XNNPACK's fp32 IGEMM microkernel (`f32_igemm_minmax_ukernel_5x16__fma3_broadcast_prfm`,
used for every KxK or strided convolution) is compiled by GCC 13 with one of its ten
accumulators spilled to the stack inside the innermost loop. The load -> FMA -> store chain
through memory makes that loop 2.8x slower than the same kernel in LiteRT (clang 18, no
spill). The fp32 GEMM path of the same library (`6x16` hand-written assembly, used for 1x1
stride-1 convolutions and linear layers) runs at full speed. So `prepare_program()` rewrites
each dense KxK / strided convolution into an explicit im2col (pad, stride-1 slices, one
concatenation) followed by a 1x1 convolution, which XNNPACK runs with the fast GEMM kernel.
Large stride-1 convolutions use a cheaper row-split form (see ROW_SPLIT_MIN_ROWS); eval-mode
batch norms are folded into the convolution weights first. The result is the same function
(max abs difference ~4e-6 on ResNet-18 logits); the im2col copies cost memory traffic, the GEMM
saves far more.
"""
from __future__ import annotations

# The property the test checks: fp32 programs get the im2col rewrite before lowering.
GEMM_CONV_REWRITE = True
# Stride-1 convolutions with at least this many output rows use the row-split form (less copying):
# kw column-shifted copies -> kh 1x1 convolutions over all padded rows -> row-shifted sum.
# Smaller ones use the full im2col (one K*K*C wide GEMM), where the copies are cheap.
ROW_SPLIT_MIN_ROWS = 28
# Convolutions with a reduction depth kh*kw*C_in below this stay on IGEMM: with 3 input channels
# (MobileNetV3 / EfficientNet-Lite stems, K = 27) the IGEMM loop is short and the im2col copies
# of the full-resolution input cost more than they save (measured: MobileNetV3-Small got slower).
MIN_REDUCTION = 64


def partitioners(precision: str = "fp32") -> list:
    """Partitioners to pass to ``to_edge_transform_and_lower``."""
    from executorch.backends.xnnpack.partition.xnnpack_partitioner import XnnpackPartitioner

    return [XnnpackPartitioner()]


def prepare_program(program, precision: str = "fp32", example=None):
    """Return the ExportedProgram to lower: ops XNNPACK would leave to portable kernels are
    rewritten (xnnpack_rewrites), and for fp32 dense convolutions become im2col + 1x1 conv.

    int8 programs get the op rewrites before quantization (quantizable_graph), not here: their
    IGEMM kernels are a different family and their graph is already rewritten."""
    if precision != "fp32":
        return program
    import torch

    from .xnnpack_rewrites import rewrite_for_xnnpack

    gm = program.module()
    n = sum(rewrite_for_xnnpack(gm).values())
    if GEMM_CONV_REWRITE:
        n += rewrite_convs_as_gemm(gm)
    if n == 0:
        return program
    if example is None:
        args, kwargs = program.example_inputs
    else:
        args, kwargs = (example,), {}
    return torch.export.export(gm, tuple(args), kwargs or None, strict=False)


def quantizable_graph(program):
    """The captured graph PT2E quantizes for XNNPACK: the program's module with the op rewrites
    (xnnpack_rewrites) applied, so the quantized program delegates as fully as the fp32 one."""
    from .xnnpack_rewrites import rewrite_for_xnnpack

    gm = program.module()
    rewrite_for_xnnpack(gm)
    return gm


def _conv_spec(node):
    """(x, w, b, stride, padding, dilation, groups) of an aten.conv2d / aten.convolution node."""
    import torch

    a = list(node.args)
    if node.target == torch.ops.aten.conv2d.default:
        defaults = [None, None, None, [1, 1], [0, 0], [1, 1], 1]
        a = a + defaults[len(a):]
        for i, k in enumerate(("input", "weight", "bias", "stride", "padding", "dilation", "groups")):
            if k in node.kwargs:
                a[i] = node.kwargs[k]
        return a
    if node.target == torch.ops.aten.convolution.default:
        x, w, b, stride, padding, dilation, transposed, _out_pad, groups = a
        if transposed:
            return None
        return [x, w, b, stride, padding, dilation, groups]
    return None


def _pair(v):
    v = list(v) if isinstance(v, (list, tuple)) else [v]
    return v * 2 if len(v) == 1 else v


def rewrite_convs_as_gemm(gm) -> int:
    """Rewrite dense (groups == 1) KxK or strided 2-D convolutions of `gm` in place.

    Each becomes: pad -> (stride 2: phase split) -> K*K stride-1 slices -> cat -> 1x1 conv, with
    the weight reordered to match. Returns how many convolutions were rewritten."""
    import torch

    aten = torch.ops.aten
    count = 0
    _fold_batch_norms(gm)
    for node in list(gm.graph.nodes):
        if node.op != "call_function":
            continue
        spec = _conv_spec(node)
        if spec is None:
            continue
        x, w, b, stride, padding, dilation, groups = spec
        if groups != 1 or w.op != "get_attr" or (b is not None and b.op != "get_attr"):
            continue
        if isinstance(padding, str):
            continue
        sh, sw = _pair(stride)
        ph, pw = _pair(padding)
        if _pair(dilation) != [1, 1] or (sh, sw) not in ((1, 1), (2, 2)):
            continue
        weight = _get_attr(gm, w.target)
        xval = x.meta.get("val")
        if weight.dim() != 4 or xval is None or xval.dim() != 4 or xval.dtype != torch.float32:
            continue
        o, c, kh, kw = weight.shape
        if kh * kw == 1 or kh * kw * c < MIN_REDUCTION:
            continue  # 1x1 (also strided) or tiny K: the copies would cost more than they save
        _, _, h, wd = (int(s) for s in xval.shape)
        ho, wo = (h + 2 * ph - kh) // sh + 1, (wd + 2 * pw - kw) // sw + 1

        with gm.graph.inserting_before(node):
            g = _Builder(gm.graph, aten)
            if sh == 1 and kh > 1 and ho >= ROW_SPLIT_MIN_ROWS:
                new = _row_split(gm, g, x, w, b, weight, ph, pw, h, wd, ho, wo)
            else:
                new = _im2col(gm, g, x, w, b, weight, sh, ph, pw, h, wd, ho, wo)
        new.meta = dict(node.meta)
        node.replace_all_uses_with(new)
        gm.graph.erase_node(node)
        count += 1
    if count:
        gm.graph.eliminate_dead_code()
        gm.delete_all_unused_submodules()
        gm.recompile()
    return count


def _row_split(gm, g, x, w, b, weight, ph, pw, h, wd, ho, wo):
    """out = sum_i rows(i .. i+ho) of conv1x1(X3, W_i), X3 = cat_j(cols(j .. j+wo) of pad(x))."""
    aten = g.aten
    o, c, kh, kw = weight.shape
    src = g.pad(x, ph, ph, pw, pw, h, wd)
    cols = [g.slice(src, 3, j, j + wo) for j in range(kw)]
    x3 = g.cat(cols)
    total = None
    for i in range(kh):
        wi = weight.detach()[:, :, i, :].permute(0, 2, 1).reshape(o, kw * c, 1, 1).contiguous()
        wnode = gm.graph.get_attr(_register(gm, f"{w.target}_row{i}", wi))
        yi = g.call(aten.conv2d.default, (x3, wnode, b if i == 0 else None, [1, 1], [0, 0], [1, 1], 1))
        yi = g.slice(yi, 2, i, i + ho)
        total = yi if total is None else g.call(aten.add.Tensor, (total, yi))
    return total


def _im2col(gm, g, x, w, b, weight, sh, ph, pw, h, wd, ho, wo):
    """pad -> (stride 2: phase split) -> K*K stride-1 windows -> cat -> one 1x1 conv."""
    aten = g.aten
    o, c, kh, kw = weight.shape
    if sh == 1:
        src = g.pad(x, ph, ph, pw, pw, h, wd)
        taps = [g.window(src, None, i, ho, j, wo) for i in range(kh) for j in range(kw)]
    else:
        # polyphase: a stride-2 conv is stride-1 taps over the four 2x2 phases of the padded input
        hp = 2 * ((max(h + 2 * ph, 2 * (ho - 1) + kh) + 1) // 2)
        wp = 2 * ((max(wd + 2 * pw, 2 * (wo - 1) + kw) + 1) // 2)
        src = g.pad(x, ph, hp - h - ph, pw, wp - wd - pw, h, wd)
        phases = g.call(aten.reshape.default, (src, [-1, c, hp // 2, 2, wp // 2, 2]))
        phases = g.call(aten.permute.default, (phases, [0, 3, 5, 1, 2, 4]))
        src = g.call(aten.reshape.default, (phases, [-1, 4 * c, hp // 2, wp // 2]))
        taps = [g.window(src, ((i % 2) * 2 + (j % 2), c), i // 2, ho, j // 2, wo)
                for i in range(kh) for j in range(kw)]
    cols = g.cat(taps)
    # column order is tap-major: t * C + c, t = i * kw + j
    w2 = weight.detach().permute(0, 2, 3, 1).reshape(o, kh * kw * c, 1, 1).contiguous()
    wnode = gm.graph.get_attr(_register(gm, w.target + "_im2col", w2))
    return g.call(aten.conv2d.default, (cols, wnode, b, [1, 1], [0, 0], [1, 1], 1))


def _fold_batch_norms(gm) -> None:
    """Fold eval-mode aten.batch_norm into the preceding dense conv (so the rewritten conv's
    last op can carry it; XNNPACK would otherwise fuse BN only into a conv it sees directly)."""
    import torch

    aten = torch.ops.aten
    for bn in list(gm.graph.nodes):
        if bn.op != "call_function" or bn.target != aten.batch_norm.default:
            continue
        conv = bn.args[0]
        spec = _conv_spec(conv) if isinstance(conv, torch.fx.Node) and conv.op == "call_function" else None
        if spec is None or len(conv.users) != 1 or spec[6] != 1:
            continue
        gamma, beta, mean, var = bn.args[1:5]
        training, eps = bn.args[5], bn.args[7]
        params = (spec[1], spec[2], gamma, beta, mean, var)
        if training or any(p is not None and getattr(p, "op", None) != "get_attr" for p in params) \
                or mean is None or var is None:
            continue
        weight = _get_attr(gm, spec[1].target).detach()
        bias = _get_attr(gm, spec[2].target).detach() if spec[2] is not None else torch.zeros(weight.shape[0])
        g_ = _get_attr(gm, gamma.target).detach() if gamma is not None else torch.ones(weight.shape[0])
        b_ = _get_attr(gm, beta.target).detach() if beta is not None else torch.zeros(weight.shape[0])
        scale = g_ / torch.sqrt(_get_attr(gm, var.target).detach() + eps)
        new_w = weight * scale.reshape(-1, 1, 1, 1)
        new_b = b_ + (bias - _get_attr(gm, mean.target).detach()) * scale
        with gm.graph.inserting_before(conv):
            wn = gm.graph.get_attr(_register(gm, spec[1].target + "_bnfold", new_w.contiguous()))
            bnn = gm.graph.get_attr(_register(gm, spec[1].target + "_bnfold_bias", new_b.contiguous()))
        x, _, _, stride, padding, dilation, groups = spec
        with gm.graph.inserting_before(bn):
            new = gm.graph.call_function(aten.conv2d.default, (x, wn, bnn, stride, padding, dilation, groups))
        new.meta = dict(bn.meta)
        bn.replace_all_uses_with(new)
        gm.graph.erase_node(bn)
        gm.graph.erase_node(conv)


class _Builder:
    """Small helper that inserts aten nodes and memoizes identical slices."""

    def __init__(self, graph, aten):
        self.graph, self.aten, self.memo = graph, aten, {}

    def call(self, target, args):
        return self.graph.call_function(target, args)

    def slice(self, src, dim, start, end):
        key = (src, dim, start, end)
        if key not in self.memo:
            self.memo[key] = self.call(self.aten.slice.Tensor, (src, dim, start, end))
        return self.memo[key]

    def cat(self, parts: list, width: int = 5):
        """Channel concatenation as a tree of <= `width`-input cats that keeps the order and copies
        the least (XNNPACK takes at most 5 inputs; ExecuTorch would chain them, re-copying the
        growing prefix at every step)."""
        if len(parts) == 1:
            return parts[0]
        sizes = _cat_split(len(parts), width)
        groups, i = [], 0
        for n in sizes:
            groups.append(self.cat(parts[i:i + n], width))
            i += n
        return self.call(self.aten.cat.default, (groups, 1))

    def pad(self, x, top, bottom, left, right, h, w):
        if bottom < 0:
            x, bottom = self.slice(x, 2, 0, h + bottom), 0
        if right < 0:
            x, right = self.slice(x, 3, 0, w + right), 0
        if top == bottom == left == right == 0:
            return x
        return self.call(self.aten.constant_pad_nd.default, (x, [left, right, top, bottom], 0.0))

    def window(self, src, block, r0, rows, c0, cols):
        if block is not None:
            k, c = block
            src = self.slice(src, 1, k * c, (k + 1) * c)
        return self.slice(self.slice(src, 2, r0, r0 + rows), 3, c0, c0 + cols)


def _cat_split(n: int, width: int) -> list:
    """Group sizes (<= width groups, in order) minimizing the elements copied by nested cats."""
    cost, best = {1: 0}, {1: [1]}
    for m in range(2, n + 1):
        # g[k][r]: cheapest way to cover r parts with k groups
        g = [{0: (0, [])}]
        for k in range(1, width + 1):
            row = {}
            for r in range(1, m + 1):
                cands = [(g[k - 1][r - t][0] + cost[t], g[k - 1][r - t][1] + [t])
                         for t in range(1, min(r, m - 1) + 1) if (r - t) in g[k - 1]]
                if cands:
                    row[r] = min(cands)
            g.append(row)
        c, split = min(g[k][m] for k in range(2, width + 1) if m in g[k])
        cost[m], best[m] = m + c, split
    return best[n]


def _get_attr(gm, target: str):
    obj = gm
    for part in target.split("."):
        obj = getattr(obj, part)
    return obj


def _register(gm, base: str, tensor) -> str:
    import torch

    name, i = base.replace(".", "_"), 0
    while hasattr(gm, name if i == 0 else f"{name}_{i}"):
        i += 1
    name = name if i == 0 else f"{name}_{i}"
    gm.register_parameter(name, torch.nn.Parameter(tensor, requires_grad=False))
    return name
