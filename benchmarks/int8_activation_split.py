"""Which activation quantizer costs the most: each one switched on alone.

EfficientNet-Lite0 (real weights), quantized with edgekit's recipe and simulated in PyTorch
(convert_pt2e, fold_quantize=False). The weights' quantize/dequantize pairs are bypassed
(float weights, but GPTQ's edited float weights and biases, so every row shares a small floor);
then for each activation quantize/dequantize pair in turn, only that pair is left in place.
KL(fp32 || simulated) on the held-out photos of one fold, minus the floor (no pair in place),
is that quantizer's own share. With --int8-logits the head writes int8 logits (the recipe before
the float-output head, edgekit.quant.annotate.float_output_annotation): that is the run that showed
the logits' rounding as the largest share by far.

    python -m benchmarks.int8_activation_split [--split odd-even] [--int8-logits]
Writes benchmarks/results/int8_activation_split.json and .md (~10 min per run on 1 thread here)."""
from __future__ import annotations

import argparse
import copy
import sys
import time

import numpy as np

from .output import write_results
from .photos import PHOTOS, build, photo_split

from edgekit.quant import QuantRecipe
from edgekit.quant.calibrate import convert, prepare_calibrated
from edgekit.quant.graph import bypass_pairs, qdq_pairs
from edgekit.quant.measure import run_batches
from edgekit.quant.params import copy_prepared


def only_pair(base, keep: int | None):
    """A copy of `base` with every activation pair but number `keep` bypassed (None: all)."""
    return bypass_pairs(copy.deepcopy(base), "tensor", keep)


def main(argv=None) -> int:
    import torch

    from edgekit import preprocess as pp
    from edgekit.bench import host_info

    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--split", default="odd-even")
    ap.add_argument("--int8-logits", action="store_true")
    args = ap.parse_args(argv)
    torch.set_num_threads(1)
    cal, ev, _ = photo_split(args.split)
    m, spec, _ = build("efficientnet_lite0")
    xc, xe = pp.batch([PHOTOS / f for f in cal], spec), pp.batch([PHOTOS / f for f in ev], spec)
    with torch.no_grad():
        ref = m(torch.from_numpy(xe)).numpy()
    prepared, _, _ = prepare_calibrated(m, (torch.from_numpy(xc[:1]),), xc,
                                        QuantRecipe(float_output=not args.int8_logits))
    base = bypass_pairs(convert(copy_prepared(prepared), "xnnpack", fold=False), "channel")

    def kl(g) -> float:
        return kl(ref, run_batches(g, xe))

    floor = kl(only_pair(base, None))
    rows = []
    for i, dq in enumerate(qdq_pairs(base, "tensor")):
        q = dq.args[0]
        k = kl(only_pair(base, i))
        rows.append({"index": i, "tensor": q.args[0].name, "scale": round(float(q.args[1]), 6),
                     "kl": round(k, 6), "share": round(k - floor, 6)})
        print(rows[-1], file=sys.stderr, flush=True)
    ranked = sorted(rows, key=lambda r: -r["share"])
    shares = np.array([r["share"] for r in rows])
    md = [f"# Activation quantizers one at a time, EfficientNet-Lite0, {args.split} fold, "
          f"{'int8 logits' if args.int8_logits else 'float-output head'}", "",
          f"Weights in float (GPTQ-edited), one activation quantize/dequantize pair in place at a time; KL(fp32 || sim) "
          f"on 100 held-out photos. Floor (no pair): {floor:.5f}. {len(rows)} pairs; median share {np.median(shares):.6f}, "
          f"sum of shares {shares.sum():.5f}.", "",
          "| rank | tensor | scale | KL | share (KL - floor) |", "|--:|---|--:|--:|--:|"]
    md += [f"| {k + 1} | {r['tensor']} | {r['scale']:.5f} | {r['kl']:.5f} | {r['share']:.5f} |" for k, r in enumerate(ranked[:12])]
    doc = {"benchmark": "int8_activation_split", "model": "efficientnet_lite0", "split": args.split,
           "int8_logits": args.int8_logits, "floor_kl": round(floor, 6),
           "created": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()), "host": host_info(), "results": rows}
    write_results("int8_activation_split" + ("_int8_logits" if args.int8_logits else ""), doc, md)
    return 0


if __name__ == "__main__":
    sys.exit(main())
