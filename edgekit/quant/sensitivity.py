"""int8 sensitivity: how much the model's output moves toward float when ONE unit runs in float.
A unit is one conv/linear layer (its weight, and its input where the backend lets a float layer
read float) or two layers joined by one tensor through single-input ops only (conv -> hard-swish
-> depthwise conv): with both in float that tensor is never quantized, which no single layer
achieves. MobileNetV3's stem output is such a tensor: four of its 16 channels stay within +-0.4
while another reaches 80, and the next depthwise conv multiplies the small ones by up to 25, so
per-tensor int8 (step ~0.3) erases them; that one tensor alone takes the backbone's int8
embedding from cosine 1.0 to 0.3 (docs/int8-notes.md). No recalibration is needed: the bypass
edits a copy of the module made with convert(..., fold=False)."""
from __future__ import annotations

import copy
from typing import Sequence

import numpy as np

from .graph import in_layers, is_dequantize, is_quantize, is_weighted, node_layer, qdq_source
from .measure import guard_divergence, run_batches
from .params import restore_for


def unit_layers(unit) -> list:
    """The layers of a sensitivity unit: one layer's name, or a (producer, consumer) pair."""
    return [unit] if isinstance(unit, str) else list(unit)


def _pass_through(n) -> bool:
    """A single-input op that is neither a layer nor a quantize/dequantize and that quantizes no
    input of its own: unannotated (hard-swish on XNNPACK runs in float between its neighbours'
    pairs) or the tail of its producer's pattern (the ReLU of conv -> ReLU, output only). An op
    quantized in its own right (average pooling) would keep the tensor int8: not pass-through."""
    if n.op != "call_function" or is_weighted(n) or is_quantize(n) or is_dequantize(n):
        return False
    ann = n.meta.get("quantization_annotation")
    if ann is not None and ann.input_qspec_map:
        return False
    return sum(1 for a in n.args if hasattr(a, "op")) == 1 and hasattr(n.args[0], "op")


def _chain_to_producer(n):
    """(producer layer node, [(dequantize node, its float source, reader)]) when `n`'s input comes
    from one conv/linear node through pass-through ops and quantize/dequantize pairs only, every
    tensor on the way read by that chain alone; None otherwise."""
    pairs, a, reader = [], n.args[0] if n.args else None, n
    while hasattr(a, "op"):
        src = qdq_source(a)
        if src is not None:
            readers = {r for dq in a.args[0].users for r in dq.users}
            if readers != {reader}:
                return None
            pairs.append((a, src, reader))
            a = src
        elif is_weighted(a):
            return a, pairs
        elif _pass_through(a) and len(a.users) == 1:
            reader, a = a, a.args[0]
        else:
            return None
    return None


def layer_pairs(converted, layers: Sequence[str]) -> list[tuple]:
    """(producer, consumer) layer names of `layers` joined by a tensor through pass-through ops
    only (see _chain_to_producer), in graph order: the two-layer units of the sensitivity pass."""
    out = []
    for n in converted.graph.nodes:
        if not is_weighted(n):
            continue
        found = _chain_to_producer(n)
        if found is None:
            continue
        pair = (node_layer(found[0]), node_layer(n))
        if None not in pair and pair[0] != pair[1] and pair[0] in layers and pair[1] in layers and pair not in out:
            out.append(pair)
    return out


def bypass_layers(converted, layers: Sequence[str], float_inputs: bool = True):
    """A copy of a converted (fold_quantize=False) PT2E module where `layers` run in float as
    `float_layers` would make them: float weights; float input where no int8 reader needs the
    tensor (float_inputs=False where the backend keeps a float layer's input int8, see
    backends.QuantBackend.float_inputs); and float all the way from a float layer to the next one
    where a chain of pass-through ops alone joins them (nothing on the way is annotated). Their
    outputs stay quantized where a quantized op reads them."""
    gm = copy.deepcopy(converted)
    targets = [n for n in gm.graph.nodes if is_weighted(n) and in_layers(n, layers)]
    tset = set(targets)
    for n in targets:
        found = _chain_to_producer(n)
        if found is not None and found[0] in tset:
            for dq, src, reader in found[1]:
                reader.replace_input_with(dq, src)
        args = list(n.args)
        w = qdq_source(args[1]) if len(args) > 1 else None
        if w is not None:
            args[1] = w
            restore_for(gm, n)
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


def unit_sensitivity(converted, units: Sequence, x: np.ndarray, ref: np.ndarray, batch: int = 1,
                     float_inputs: bool = True, metric: str = "top1") -> list:
    """[(unit, gain)] sorted most sensitive first; a unit is a layer name or a tuple of them. The
    gain is how much the guard's divergence from float on `x` (KL of the softmax outputs; 1 -
    cosine for metric "cosine") drops when that unit alone runs in float."""
    base = guard_divergence(ref, run_batches(converted, x, batch), metric)
    gains = []
    for unit in units:
        y = run_batches(bypass_layers(converted, unit_layers(unit), float_inputs), x, batch)
        gains.append((unit, base - guard_divergence(ref, y, metric)))
    gains.sort(key=lambda t: -t[1])
    return gains


def layer_sensitivity(converted, layers: Sequence[str], x: np.ndarray, ref: np.ndarray, batch: int = 1,
                      float_inputs: bool = True, metric: str = "top1", pairs: bool = False) -> list:
    """unit_sensitivity over each layer alone, and with pairs=True also over every two-layer
    unit of `layers` (layer_pairs)."""
    units = list(layers) + (layer_pairs(converted, layers) if pairs else [])
    return unit_sensitivity(converted, units, x, ref, batch, float_inputs, metric)
