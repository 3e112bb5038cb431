"""Per-layer int8 sensitivity: how much the model's logits move toward float when ONE conv/linear
layer runs in float (its weight, input and output quantize/dequantize pairs bypassed). It needs no
recalibration: the bypass edits a copy of the module made with convert(..., fold=False)."""
from __future__ import annotations

import copy
from typing import Sequence

import numpy as np

from .graph import in_layers, is_weighted, qdq_source
from .measure import guard_divergence, run_batches
from .params import restore_for


def bypass_layers(converted, layers: Sequence[str], float_inputs: bool = True):
    """A copy of a converted (fold_quantize=False) PT2E module where `layers` run in float as
    `float_layers` would make them: float weights, float input where no int8 reader needs the
    tensor; their outputs stay quantized where a quantized op reads them."""
    gm = copy.deepcopy(converted)
    targets = [n for n in gm.graph.nodes if is_weighted(n) and in_layers(n, layers)]
    tset = set(targets)
    for n in targets:
        args = list(n.args)
        w = qdq_source(args[1]) if len(args) > 1 else None
        if w is not None:
            args[1] = w
            restore_for(gm, n)
        # the input runs in float only where every reader of that int8 tensor is a float layer
        # (the same rule the quantizer applies to float_layers, see annotate._release_float_inputs;
        # float_inputs=False where the backend keeps them int8, see backends.QuantBackend.float_inputs)
        a = args[0]
        src = qdq_source(a) if float_inputs else None
        if src is not None:
            readers = [r for dq in a.args[0].users for r in dq.users]
            if all(r in tset for r in readers):
                args[0] = src
        n.args = tuple(args)
    gm.graph.eliminate_dead_code()
    gm.recompile()
    return gm


def layer_sensitivity(converted, layers: Sequence[str], x: np.ndarray, ref: np.ndarray, batch: int = 1,
                      float_inputs: bool = True, metric: str = "top1") -> list:
    """[(layer, gain)] sorted most sensitive first: gain is how much the guard's divergence from
    float on `x` (KL of the softmax outputs; 1 - cosine for metric "cosine") drops when that
    layer alone runs in float."""
    base = guard_divergence(ref, run_batches(converted, x, batch), metric)
    gains = []
    for layer in layers:
        y = run_batches(bypass_layers(converted, [layer], float_inputs), x, batch)
        gains.append((layer, base - guard_divergence(ref, y, metric)))
    gains.sort(key=lambda t: -t[1])
    return gains
