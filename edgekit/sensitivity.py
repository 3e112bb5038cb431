"""Per-layer int8 sensitivity and the accuracy guard.

`layer_sensitivity` ranks the conv/linear layers of a fake-quantized PT2E module by how much
the model's logits move toward float when that ONE layer runs in float (its weight, input and
output quantize/dequantize pairs bypassed). It needs no recalibration: the bypass reads the
quantized module made with `convert_pt2e(..., fold_quantize=False)` and edits a copy of it.

`guarded_quantize` (re-exported by edgekit.quantize) quantizes, measures top-1 agreement with the
float model on held-out inputs and, below `min_agreement`, keeps the most sensitive layers in
float, re-calibrating for real with `float_layers`, until the agreement is reached or
`max_float_layers` are kept. What was kept is recorded in `QuantResult.recipe["float_layers"]`.
"""
from __future__ import annotations

import copy
from typing import Iterable, Optional, Sequence

import numpy as np

from .errors import ExportError

# the accuracy guard's defaults (also those of `edgekit export` and ExportOptions)
MIN_AGREEMENT = 0.99  # top-1 agreement with float wanted on the held-out calibration images
MAX_FLOAT_LAYERS = 8  # layers the guard may keep in float to get there (0: only measure)


def _is_q(n) -> bool:
    return n.op == "call_function" and "quantize_per" in str(n.target) and "dequantize" not in str(n.target)


def _is_dq(n) -> bool:
    return n.op == "call_function" and "dequantize_per" in str(n.target)


def _qdq_source(n):
    """If `n` is dequantize(quantize(x)), return x; else None."""
    if hasattr(n, "op") and _is_dq(n):
        q = n.args[0]
        if hasattr(q, "op") and _is_q(q):
            return q.args[0]
    return None


def bypass_layers(converted, layers: Sequence[str], float_inputs: bool = True):
    """A copy of a converted (fold_quantize=False) PT2E module where `layers` run in float as
    `float_layers` would make them: float weights, float input where no int8 reader needs the
    tensor; their outputs stay quantized where a quantized op reads them."""
    from .fx_params import restore_for
    from .quantize import _in_layers, _is_weighted

    gm = copy.deepcopy(converted)
    targets = [n for n in gm.graph.nodes if _is_weighted(n) and _in_layers(n, layers)]
    tset = set(targets)
    for n in targets:
        args = list(n.args)
        w = _qdq_source(args[1]) if len(args) > 1 else None
        if w is not None:
            args[1] = w
            restore_for(gm, n)
        # the input runs in float only where every reader of that int8 tensor is a float layer
        # (the same rule the quantizer applies to float_layers, see quantizer._release_float_inputs;
        # float_inputs=False where the backend keeps them int8, see quantizer.float_inputs_allowed)
        a = args[0]
        src = _qdq_source(a) if float_inputs else None
        if src is not None:
            readers = [r for dq in a.args[0].users for r in dq.users]
            if all(r in tset for r in readers):
                args[0] = src
        n.args = tuple(args)
    gm.graph.eliminate_dead_code()
    gm.recompile()
    return gm


def run_batches(module, x: np.ndarray, batch: int = 1) -> np.ndarray:
    import torch

    outs = []
    with torch.no_grad():
        for i in range(0, len(x) - batch + 1, batch):
            y = module(torch.from_numpy(np.ascontiguousarray(x[i : i + batch])))
            outs.append((y[0] if isinstance(y, (tuple, list)) else y).float().numpy())
    return np.concatenate(outs)


def agreement(a: np.ndarray, b: np.ndarray) -> float:
    return float((a.argmax(-1) == b.argmax(-1)).mean())


def _log_softmax(z):
    z = z - z.max(-1, keepdims=True)
    return z - np.log(np.exp(z).sum(-1, keepdims=True))


def kl_to_float(ref: np.ndarray, y: np.ndarray) -> float:
    """Mean KL(float || quantized) of the softmax outputs: a smooth stand-in for agreement."""
    lp, lq = _log_softmax(ref.astype(np.float64)), _log_softmax(y.astype(np.float64))
    return float((np.exp(lp) * (lp - lq)).sum(-1).mean())


def layer_sensitivity(converted, layers: Sequence[str], x: np.ndarray, ref: np.ndarray, batch: int = 1,
                      float_inputs: bool = True) -> list:
    """[(layer, kl_gain)] sorted most sensitive first: kl_gain is how much KL(float || int8) on
    `x` drops when that layer alone runs in float."""
    base = kl_to_float(ref, run_batches(converted, x, batch))
    gains = []
    for layer in layers:
        y = run_batches(bypass_layers(converted, [layer], float_inputs), x, batch)
        gains.append((layer, base - kl_to_float(ref, y)))
    gains.sort(key=lambda t: -t[1])
    return gains


def improves(agreement_new: float, kl_new: float, agreement_old: float, kl_old: float) -> bool:
    """Whether the guard keeps its float layers: they cost latency, so only for a measured gain,
    higher agreement, or the same agreement with a lower KL (on the guard's few held-out images
    agreement is often tied: one photo is 4 points of 25)."""
    return agreement_new > agreement_old or (agreement_new == agreement_old and kl_new < kl_old)


def guarded_quantize(
    module,
    example_inputs: tuple,
    calib,
    eval_inputs: Optional[np.ndarray] = None,
    backend: str = "xnnpack",
    min_agreement: float = MIN_AGREEMENT,
    max_float_layers: int = MAX_FLOAT_LAYERS,
    candidates: Optional[Iterable[str]] = None,
    int8_edges: bool = False,
    **kwargs,
):
    """quantize_pt2e plus the accuracy guard (see module docstring). `eval_inputs` are held-out
    preprocessed images, never the calibration ones; without them a quarter of `calib` (every
    4th image) is held out for the check and the rest calibrates. Returns a QuantResult whose
    `agreement` is the top-1 agreement with float on the held-out images (fake-quant in PyTorch)
    and whose recipe lists the float layers kept. `int8_edges`: the model's input and output must
    be int8 tensors (TFLite int8 IO), so the first and last layer are never kept in float."""
    import torch  # noqa: F401

    from .quantize import FLOAT_OUTPUT_KEY, QuantResult, capture, convert, edit_details, make_recipe, prepare_calibrated, quantizable_layers
    from .fx_params import copy_prepared
    from .quantizer import float_inputs_allowed

    if eval_inputs is None:
        if not isinstance(calib, np.ndarray) or len(calib) < 4:
            raise ExportError("the accuracy guard needs held-out images: pass eval_inputs or at least 4 calibration images")
        idx = np.arange(len(calib))
        eval_inputs, calib = calib[idx % 4 == 3], calib[idx % 4 != 3]
    eval_inputs = np.ascontiguousarray(eval_inputs, np.float32)
    eb = int(example_inputs[0].shape[0])
    module = module.eval()
    ref = run_batches(module, eval_inputs, eb)
    per_channel = kwargs.pop("per_channel", True)
    observer = kwargs.pop("observer", "histogram")
    fuse_clamp = kwargs.pop("fuse_clamp", True)
    float_layers = list(kwargs.pop("float_layers", ()))
    bias_correction = kwargs.pop("bias_correction", True)
    rounding = kwargs.pop("rounding", "gptq")
    float_output = kwargs.pop("float_output", True) and not int8_edges  # int8 model output: the head writes int8
    captured = capture(module, example_inputs)
    float_inputs = float_inputs_allowed(backend)

    def attempt(fl):
        prepared, quantizer, n = prepare_calibrated(
            module, example_inputs, calib, backend, per_channel, fl, observer, fuse_clamp,
            captured=copy.deepcopy(captured), bias_correction=bias_correction, rounding=rounding,
            float_output=float_output, **kwargs,
        )
        unfolded = convert(copy_prepared(prepared), "litert")  # fold_quantize=False: editable
        y = run_batches(unfolded, eval_inputs, eb)
        return prepared, quantizer, n, unfolded, agreement(ref, y), kl_to_float(ref, y)

    prepared, quantizer, n, unfolded, agree, kl = attempt(float_layers)
    history = [{"float_layers": list(float_layers), "agreement": agree, "kl": kl}]
    ranking = []
    if agree < min_agreement and max_float_layers > 0:
        all_layers = quantizable_layers(captured)
        layers = list(candidates) if candidates is not None else all_layers
        if int8_edges:  # int8 model input/output (TFLite --io int8): the first and last layer stay int8
            layers = [l for l in layers if l not in all_layers[:1] + all_layers[-1:]]
        layers = [l for l in layers if l not in float_layers]
        ranking = layer_sensitivity(unfolded, layers, eval_inputs, ref, eb, float_inputs)
        # choose how many to keep with the bypass estimate, then re-calibrate for real
        chosen: list[str] = []
        for layer, gain in ranking[:max_float_layers]:
            if gain <= 0:
                break
            chosen.append(layer)
            est = agreement(ref, run_batches(bypass_layers(unfolded, chosen, float_inputs), eval_inputs, eb))
            if est >= min_agreement:
                break
        if chosen:
            fl = float_layers + chosen
            p2, q2, n2, u2, a2, k2 = attempt(fl)
            history.append({"float_layers": list(fl), "agreement": a2, "kl": k2})
            if improves(a2, k2, agree, kl):
                prepared, quantizer, n, unfolded, agree, kl, float_layers = p2, q2, n2, u2, a2, k2, fl
    converted = unfolded if backend == "litert" else convert(prepared, backend)
    recipe = make_recipe(backend, per_channel, observer, fuse_clamp, float_layers, bias_correction, rounding,
                         prepared.meta[FLOAT_OUTPUT_KEY])
    return QuantResult(
        module=converted,
        recipe=recipe,
        backend=backend,
        quantizer=quantizer,
        agreement=agree,
        details={
            "calibration_images": n,
            "eval_images": int(len(eval_inputs)),
            "min_agreement": min_agreement,
            "guard_history": history,
            **edit_details(prepared),
            "sensitivity": [(l, float(g)) for l, g in ranking[:16]],
        },
    )
