"""Where the int8 error of EfficientNet-Lite0 comes from, and two corrections that did not help.

The quantized model is simulated in PyTorch (convert_pt2e with fold_quantize=False: every
quantize/dequantize pair runs in float), so one source of error can be switched off at a time:
- weights only: the activations' per-tensor quantize/dequantize pairs are bypassed;
- activations only: the weights' per-channel quantize/dequantize pairs are bypassed.
Variants of the recipe: edgekit's GPTQ weight rounding with the float-output head (the default;
edgekit/quant/rounding.py, edgekit.quant.annotate.float_output_annotation), the same with int8 logits,
nearest rounding with the analytic bias correction (the default before it), the same on all 100
calibration images instead of 32, a min/max activation observer instead of the histogram one,
and a sequential EMPIRICAL bias correction (each conv's output mean on the calibration images
matched to fp32, layer by layer, every downstream layer seeing the corrected outputs; the
correction data-free-quantization papers describe). Real ImageNet weights, the two folds of
benchmarks/int8_fidelity.py (100 calibration photos, 100 other photos each).

    python -m benchmarks.int8_error_budget
Writes benchmarks/results/int8_error_budget.json and .md."""
from __future__ import annotations

import copy
import sys
import time

import numpy as np

from .output import write_results
from .photos import PHOTOS, kl, build, photo_split

from edgekit.quant import QuantRecipe
from edgekit.quant.calibrate import convert
from edgekit.quant.graph import bypass_pairs
from edgekit.quant.measure import run_batches
from edgekit.quant.params import copy_prepared


def simulate(prepared, x: np.ndarray, bypass=None) -> np.ndarray:
    q = convert(copy_prepared(prepared), "xnnpack", fold=False)
    if bypass:
        q = bypass_pairs(q, bypass)
    return run_batches(q, x)


def empirical_bias_correction(prepared, xs: np.ndarray) -> int:
    """Sequential empirical correction: walk the fake-quant graph node by node for all images at
    once; at each conv/linear, subtract (mean int8 output - mean fp32 output) per channel from
    its output (so later layers see it corrected) and from its float bias in `prepared`."""
    import torch

    from edgekit.quant.bias import channel_means, correctable, shift_bias
    from edgekit.quant.params import stepwise_runs

    gm = convert(copy_prepared(prepared), "xnnpack", fold=False)
    layers = correctable(gm)
    # fp32 output means: the prepared module's observers pass values through unchanged
    ref = channel_means(copy.deepcopy(prepared), {n.name for n in layers}, xs, 1, of="output")
    runs, frees = stepwise_runs(gm, xs)
    deltas = {}
    with torch.no_grad():
        for n in gm.graph.nodes:
            if n.op == "output":
                break
            outs = [r.run_node(n) for r in runs]
            if n in layers:
                dims = [0] + list(range(2, outs[0].dim()))
                d = sum(o.double().mean(dim=dims) for o in outs) / len(outs) - ref[n.name]
                shape = [1, -1] + [1] * (outs[0].dim() - 2)
                outs = [o - d.view(shape).to(o.dtype) for o in outs]
                deltas[n] = d
            for r, o in zip(runs, outs):
                r.env[n] = o
                for a in frees.get(n, []):
                    r.env.pop(a, None)
    return sum(shift_bias(prepared, n.args[2].target, -d) is not None for n, d in deltas.items())


def main() -> int:
    import torch

    from edgekit import preprocess as pp
    from edgekit.bench import host_info
    from edgekit.quant.bias import correct_biases
    from edgekit.quant.calibrate import BIAS_CORRECTION_IMAGES, ROUNDING_IMAGES, prepare_calibrated

    rows = []
    for split in ("even-odd", "odd-even"):
        cal, ev, _ = photo_split(split)
        m, spec, _ = build("efficientnet_lite0")
        xc, xe = pp.batch([PHOTOS / f for f in cal], spec), pp.batch([PHOTOS / f for f in ev], spec)
        with torch.no_grad():
            ref = m(torch.from_numpy(xe)).numpy()
        ex = (torch.from_numpy(xc[:1]),)
        torch.set_num_threads(1)
        gptq, _, _ = prepare_calibrated(m, ex, xc, QuantRecipe(float_output=False))
        head, _, _ = prepare_calibrated(m, ex, xc, QuantRecipe())
        plain, _, _ = prepare_calibrated(m, ex, xc, QuantRecipe(bias_correction=False, rounding="nearest"))
        bc = copy.deepcopy(plain)
        correct_biases(bc, xc[:BIAS_CORRECTION_IMAGES])
        bc_all = copy.deepcopy(plain)
        correct_biases(bc_all, xc)  # (all 100 calibration images)
        minmax, _, _ = prepare_calibrated(m, ex, xc, QuantRecipe(observer="minmax", rounding="nearest"))
        emp = copy.deepcopy(plain)
        empirical_bias_correction(emp, xc[:BIAS_CORRECTION_IMAGES])
        cases = [("nearest rounding, no bias correction", plain, None),
                 ("nearest, no bias correction, weights only", plain, "tensor"),
                 ("activations only (weights in float)", plain, "channel"),
                 (f"edgekit (GPTQ rounding, bias free, {ROUNDING_IMAGES} images, float-output head)", head, None),
                 ("GPTQ rounding, int8 logits (the default before the float-output head)", gptq, None),
                 ("GPTQ, weights only", gptq, "tensor"),
                 (f"nearest rounding + bias correction ({BIAS_CORRECTION_IMAGES} images)", bc, None),
                 ("nearest rounding + bias correction, weights only", bc, "tensor"),  # (activations only +
                 # corrected weights is no recipe: the edits are for int8 weights; 'activations only' above is
                 # the activation share)
                 ("nearest + bias correction on all 100 images", bc_all, None),
                 ("min/max activation observer (nearest + bias correction)", minmax, None),
                 (f"empirical sequential bias correction ({BIAS_CORRECTION_IMAGES} images)", emp, None)]
        for name, prep, bypass in cases:
            y = simulate(prep, xe, bypass)
            rows.append({"split": split, "variant": name, "kl": round(kl(ref, y), 5),
                         "flips": int((ref.argmax(1) != y.argmax(1)).sum()), "n_eval": len(xe)})
            print(split, name, rows[-1]["kl"], rows[-1]["flips"], file=sys.stderr, flush=True)
    variants = list(dict.fromkeys(r["variant"] for r in rows))
    md = ["# int8 error budget, EfficientNet-Lite0 (real weights), simulated in PyTorch", "",
          "KL(fp32 || int8 softmax), mean over 100 held-out photos per fold; flips = photos whose top-1 changes. "
          "'weights only' / 'activations only': the other kind of quantization switched off. Every row but "
          "'GPTQ rounding, int8 logits' has the float-output head (int8 weights, no rounding of the logits; "
          "the 'weights only' rows switch all activation rounding off anyway).", "",
          "| variant | KL even-odd | KL odd-even | flips even-odd | flips odd-even |", "|---|--:|--:|--:|--:|"]
    for v in variants:
        a, b = (next(r for r in rows if r["variant"] == v and r["split"] == s) for s in ("even-odd", "odd-even"))
        md.append(f"| {v} | {a['kl']:.5f} | {b['kl']:.5f} | {a['flips']} | {b['flips']} |")
    doc = {"benchmark": "int8_error_budget", "model": "efficientnet_lite0", "simulated": "convert_pt2e fold_quantize=False",
           "created": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()), "host": host_info(), "results": rows}
    write_results("int8_error_budget", doc, md)
    return 0


if __name__ == "__main__":
    sys.exit(main())
