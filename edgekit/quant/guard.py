"""The accuracy guard, the top of edgekit.quant: quantize (calibrate.py), measure top-1 agreement
with the float model on held-out images and, below the recipe's `min_agreement`, keep the most
sensitive layers in float (sensitivity.py: single layers, and pairs of layers joined by one
tensor that only both in float keep out of int8), re-calibrating for real with them, until the agreement
is reached or `max_float_layers` are kept. What was kept is in the result's recipe.float_layers;
what it measured is in QuantResult.agreement and details["guard_history"].

    from edgekit.quant import QuantRecipe, guarded_quantize
    qr = guarded_quantize(model, (x,), calib, QuantRecipe(backend="xnnpack"))
    ep = torch.export.export(qr.module, (x,))          # then lower it for the target
    manifest["quantization"] = qr.manifest(calibration={...})
"""
from __future__ import annotations

import copy
from typing import Iterable, Optional

import numpy as np

from ..errors import ExportError
from ..progress import stage
from .calibrate import FLOAT_OUTPUT_KEY, FLOAT_POOL_KEY, convert, edit_details, prepare_calibrated, quantize
from .graph import capture_graph, quantizable_layers
from .measure import guard_divergence, guard_score, run_batches
from .params import copy_prepared
from .recipe import QuantRecipe, QuantResult
from .sensitivity import bypass_layers, layer_sensitivity, unit_layers


def improves(agreement_new: float, kl_new: float, agreement_old: float, kl_old: float) -> bool:
    """Whether the guard keeps its float layers: they cost latency, so only for a measured gain,
    higher agreement, or the same agreement with a lower KL (on the guard's few held-out images
    agreement is often tied: one photo is 4 points of 25)."""
    return agreement_new > agreement_old or (agreement_new == agreement_old and kl_new < kl_old)


def guarded_quantize(module, example_inputs: tuple, calib, recipe: QuantRecipe = QuantRecipe(),
                     eval_inputs: Optional[np.ndarray] = None, candidates: Optional[Iterable[str]] = None,
                     captured=None) -> QuantResult:
    """quantize() plus the accuracy guard (see module docstring). `eval_inputs` are held-out
    preprocessed images, never the calibration ones; without them a quarter of `calib` (every
    4th image) is held out for the check and the rest calibrates. The agreement is top-1
    agreement with float on the held-out images (fake-quant in PyTorch), or the mean cosine of
    the outputs with recipe.guard_metric "cosine" (a backbone that outputs embeddings). With int8 IO (recipe.io)
    the model's input and output must be int8 tensors, so the first and last layer are never
    kept in float. A backend without edgekit's recipe (Core ML) is quantized without the guard.
    `captured`: the graph to quantize when the exporter rewrote it first (default: a fresh
    torch.export of `module`); it is not modified."""
    if not recipe.backend_tunable:
        return quantize(module, example_inputs, calib, recipe, captured=captured)
    if eval_inputs is None:
        if not isinstance(calib, np.ndarray) or len(calib) < 4:
            raise ExportError("the accuracy guard needs held-out images: pass eval_inputs or at least 4 calibration images")
        idx = np.arange(len(calib))
        eval_inputs, calib = calib[idx % 4 == 3], calib[idx % 4 != 3]
    eval_inputs = np.ascontiguousarray(eval_inputs, np.float32)
    eb = int(example_inputs[0].shape[0])
    module = module.eval()
    ref = run_batches(module, eval_inputs, eb)
    int8_edges = recipe.io == "int8"
    captured = capture_graph(module, example_inputs) if captured is None else captured
    float_inputs = recipe.backend_object.float_inputs
    metric = recipe.guard_metric

    def attempt(r: QuantRecipe):
        prepared, quantizer, n = prepare_calibrated(module, example_inputs, calib, r, captured=copy.deepcopy(captured))
        stage("guard", None, None)
        unfolded = convert(copy_prepared(prepared), r, fold=False)  # editable
        y = run_batches(unfolded, eval_inputs, eb)
        return prepared, quantizer, n, unfolded, guard_score(ref, y, metric), guard_divergence(ref, y, metric)

    prepared, quantizer, n, unfolded, agree, kl = attempt(recipe)
    history = [{"float_layers": list(recipe.float_layers), "agreement": agree, "kl": kl}]
    ranking = []
    if agree < recipe.min_agreement and recipe.max_float_layers > 0:
        all_layers = quantizable_layers(captured)
        layers = list(candidates) if candidates is not None else all_layers
        if int8_edges:  # int8 model input/output (TFLite --io int8): the first and last layer stay int8
            layers = [l for l in layers if l not in all_layers[:1] + all_layers[-1:]]
        layers = [l for l in layers if l not in recipe.float_layers]
        ranking = layer_sensitivity(unfolded, layers, eval_inputs, ref, eb, float_inputs, metric, pairs=True)
        # choose how many to keep with the bypass estimate, then re-calibrate for real
        chosen: list[str] = []
        for unit, gain in ranking:
            if gain <= 0 or len(chosen) >= recipe.max_float_layers:
                break
            new = [l for l in unit_layers(unit) if l not in chosen]
            if not new or len(chosen) + len(new) > recipe.max_float_layers:
                continue
            chosen += new
            est = guard_score(ref, run_batches(bypass_layers(unfolded, chosen, float_inputs), eval_inputs, eb), metric)
            if est >= recipe.min_agreement:
                break
        if chosen:
            r2 = recipe.with_float_layers(list(recipe.float_layers) + chosen)
            p2, q2, n2, u2, a2, k2 = attempt(r2)
            history.append({"float_layers": list(r2.float_layers), "agreement": a2, "kl": k2})
            if improves(a2, k2, agree, kl):
                prepared, quantizer, n, unfolded, agree, kl, recipe = p2, q2, n2, u2, a2, k2, r2
    converted = unfolded if not recipe.backend_object.fold_quantize else convert(prepared, recipe)
    return QuantResult(
        module=converted,
        recipe=recipe,
        quantizer=quantizer,
        agreement=agree,
        guarded=True,
        float_output_layers=tuple(prepared.meta[FLOAT_OUTPUT_KEY]),
        float_output_pooling=tuple(prepared.meta[FLOAT_POOL_KEY]),
        details={
            "calibration_images": n,
            "eval_images": int(len(eval_inputs)),
            "min_agreement": recipe.min_agreement,
            "metric": metric,
            "guard_history": history,
            **edit_details(prepared),
            "sensitivity": [(" + ".join(unit_layers(u)), float(g)) for u, g in ranking[:16]],
        },
    )

