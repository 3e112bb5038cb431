"""Error-compensating int8 weight rounding (GPTQ-style) for PT2E.

Rounding each weight to its nearest int8 step is not the best rounding for a layer's OUTPUT:
the errors of the weights of one output channel add up over the channel's inputs, and inputs
are correlated. Following OBQ/GPTQ (Frantar et al. 2022), each layer's weights are rounded one
input column at a time, and each column's rounding error is pushed onto the columns not yet
rounded, weighted by the inverse Hessian H = X X^T of the layer's inputs X. The bias is one more
column, fed a constant 1, that is never rounded: it absorbs the mean of what is left, so this
also does what edgekit/quant/bias.py does for nearest rounding.

Layers are done in graph order on the fake-quant module, and X is each layer's input AS THE
INT8 MODEL SEES IT (quantized activations, earlier layers already rounded): the rounding is
fitted to the inputs the layer will really get (the target is W X on those same inputs; the error
the inputs already carry is not chased, see below). The scales stay those the weight
observers measured: the new weights lie on the same int8 grid, so convert_pt2e and every
backend turn them into exactly the chosen integers.

Measured on EfficientNet-Lite0 (real weights, 100 calibration / 100 other photos, simulated in
PyTorch): KL(fp32 || int8) is lower than with nearest rounding + bias correction on every split
tried, by about 10-15% (benchmarks/int8_rounding_splits.py, int8_error_budget.py); the number of
photos whose top-1 changes moves by +-1, which is the noise of that count (docs/int8-notes.md).
Fitting the weights to the FLOAT model's outputs instead (a least-squares refit on quantized
inputs, tried in a prototype) fitted the calibration photos better and overfitted: KL 0.15-0.2.
"""
from __future__ import annotations

import numpy as np

from .params import copy_prepared, fake_quant_weights, get_tensor, replace_tensor, stepwise_runs, value

INFO_KEY = "edgekit_weight_rounding"  # GraphModule.meta: what round_weights did (for the recipe)
# Damping: DAMP x the MEDIAN of H's diagonal is added to that diagonal. It keeps H invertible where
# inputs are collinear and holds back compensation fitted to too few images. The median, not the
# mean (GPTQ's choice): one input channel 300x larger than the rest made the mean-based damping
# swamp every other input, and the free bias column with it (tests/test_quantize.py, OutlierNet).
DAMP = 0.1


def _conv_args(n):
    a = list(n.args) + [None] * (7 - len(n.args))
    return a[3] or [1, 1], a[4] or [0, 0], a[5] or [1, 1], a[6] or 1


def _patches(n, x, w):
    """Layer input x (one image) -> (G, k, L): the k inputs each output of group G sees, at L
    positions. G = 1 for dense layers, G = channels for depthwise ones. None: layout not handled."""
    import torch.nn.functional as F

    if w.dim() == 2:  # linear
        return x.reshape(-1, x.shape[-1]).T[None]
    if w.dim() != 4:
        return None
    stride, pad, dil, groups = _conv_args(n)
    if isinstance(pad, str):
        return None
    u = F.unfold(x, tuple(w.shape[2:]), dilation=dil, padding=pad, stride=stride)[0]  # (C*k, L)
    if groups == 1:
        return u[None]
    if groups == x.shape[1] == w.shape[0] and w.shape[1] == 1:
        return u.reshape(groups, -1, u.shape[-1])
    return None


def _grid(gm, qnode, out_ch: int):
    """(scale (O,), zero point (O,), qmin, qmax) of a weight quantize node."""
    import torch

    a = [value(gm, v) for v in qnode.args]
    scale, zp = torch.as_tensor(a[1]).double(), torch.as_tensor(a[2]).double()
    qmin, qmax = (a[4], a[5]) if "per_channel" in str(qnode.target) else (a[3], a[4])
    return scale.expand(out_ch).clone(), zp.expand(out_ch).clone(), float(qmin), float(qmax)


def gptq(V, H, scale, zp, qmin: float, qmax: float, free_last: bool):
    """Round V (G, O, k) column by column onto the grid (scale, zp: (G, O, 1)); each column's
    error goes to the later columns through the Cholesky factor of H^-1 (H: (G, k, k)). With
    free_last the last column (the bias) takes errors but is never rounded."""
    import torch

    V = V.clone()
    lam = torch.diagonal(H, dim1=-2, dim2=-1).median(-1).values.clamp_min(1e-12) * DAMP
    H = H + torch.eye(H.shape[-1], dtype=H.dtype) * lam[:, None, None]
    U = torch.linalg.cholesky(torch.cholesky_inverse(torch.linalg.cholesky(H)), upper=True)
    for j in range(V.shape[-1] - (1 if free_last else 0)):
        w = V[:, :, j]
        q = (torch.clamp(torch.round(w / scale[..., 0]) + zp[..., 0], qmin, qmax) - zp[..., 0]) * scale[..., 0]
        err = (w - q) / U[:, j, j][:, None]
        V[:, :, j + 1 :] -= err[:, :, None] * U[:, j, j + 1 :][:, None, :]
        V[:, :, j] = q
    return V


def round_weights(prepared, calib: np.ndarray, batch: int = 1, free_bias: bool = True) -> dict:
    """Round the weights of `prepared` (a calibrated prepare_pt2e module) as the module docstring
    says, measured on all of `calib` (the caller picks how many images). The prepared module gets
    new weight (and bias) tensors; the weight observers keep their ranges, so the scales do not
    change. Records {"layers", "images", "skipped"} in prepared.meta[INFO_KEY] and returns it."""
    import torch
    from torchao.quantization.pt2e.quantize_pt2e import convert_pt2e

    gm = convert_pt2e(copy_prepared(prepared), fold_quantize=False)
    targets = fake_quant_weights(gm)
    runs, frees = stepwise_runs(gm, calib, batch)
    done, skipped = 0, []
    with torch.no_grad():
        for n in gm.graph.nodes:
            if n.op == "output":
                break
            if n in targets and runs:
                new = _round_layer(gm, prepared, n, targets[n], runs, free_bias)
                if new:
                    done += 1
                    # the weight's quantize -> dequantize chain and the bias ran before this node:
                    # give it the rounded values (already on the int8 grid), so that this layer's
                    # output, and every later layer's input, comes from the rounded weights
                    for r in runs:
                        for node, t in new.items():
                            r.env[node] = t.to(r.env[node].dtype)
                else:
                    skipped.append(n.name)
            for r in runs:
                r.env[n] = r.run_node(n)
                for a in frees.get(n, []):
                    r.env.pop(a, None)
    info = {"method": "gptq", "layers": done, "images": len(runs) * batch, "skipped": skipped}
    prepared.meta[INFO_KEY] = info
    return info


def _round_layer(gm, prepared, n, qnode, runs, free_bias: bool) -> dict:
    """Round one layer in `prepared` and in its fake-quant copy `gm`, from the layer's inputs in
    `runs`. Returns {node of `n`'s weight (its dequantize) or bias: new tensor}; empty (nothing
    changed) where the layer's shape is not one handled here."""
    import torch

    wnode = qnode.args[0]
    W = value(gm, wnode)
    bias = n.args[2] if len(n.args) > 2 else None
    has_bias = free_bias and getattr(bias, "op", None) == "get_attr"
    targets = [wnode.target] + ([bias.target] if has_bias else [])
    if any(getattr(get_tensor(prepared, t), "shape", None) != get_tensor(gm, t).shape for t in targets):
        return {}
    H = None
    for r in runs:
        p = _patches(n, r.env[n.args[0]], W)
        if p is None:
            return {}
        p = p.double()
        if has_bias:
            p = torch.cat([p, torch.ones(p.shape[0], 1, p.shape[2], dtype=p.dtype)], 1)
        h = p @ p.transpose(-1, -2)
        H = h if H is None else H + h
    out_ch, groups = W.shape[0], H.shape[0]
    rows = out_ch // groups
    V = W.double().reshape(groups, rows, -1)
    if V.shape[-1] + int(has_bias) != H.shape[-1]:
        return {}
    if has_bias:
        V = torch.cat([V, value(gm, bias).double().reshape(groups, rows, 1)], -1)
    scale, zp, qmin, qmax = _grid(gm, qnode, out_ch)
    try:
        V = gptq(V, H, scale.reshape(groups, rows, 1), zp.reshape(groups, rows, 1), qmin, qmax, has_bias)
    except RuntimeError:  # H not positive definite even damped (torch.linalg.LinAlgError): keep nearest
        return {}
    k = W[0].numel()
    # (node whose value the walk must replace, attribute behind it, new tensor)
    edits = [(n.args[1], wnode.target, V[..., :k].reshape(W.shape))]
    if has_bias:
        edits.append((bias, bias.target, V[..., k].reshape(get_tensor(gm, bias.target).shape)))
    for _, target, t in edits:
        replace_tensor(prepared, target, t)
        replace_tensor(gm, target, t, remember=False)
    return {node: t for node, _, t in edits}
