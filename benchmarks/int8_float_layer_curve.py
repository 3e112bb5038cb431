"""How far the accuracy guard's remedy reaches: held-out error against the number of layers kept in float.

The guard (edgekit/quant/guard.py) ranks conv/linear layers by how much KL(fp32 || int8) drops
when that one layer runs in float, and keeps the top ones in float. This script makes that ranking
on calibration photos only (the first N_RANK of them, as the guard ranks on images it did not
evaluate the goal on), then bypasses the top k = 0..K layers of the export recipe (GPTQ weights,
float-output head) and measures KL and top-1 agreement on the fold's 100 held-out photos,
simulated in PyTorch (convert_pt2e fold_quantize=False). A layer kept in float has float weights
and, where only float layers read it, a float input; its OUTPUT stays int8 wherever an int8 layer
reads it, so activation rounding, most of what is left (int8_activation_split.py), mostly remains.

    python -m benchmarks.int8_float_layer_curve [--splits odd-even] [--max-layers 10]
Writes benchmarks/results/int8_float_layer_curve.json and .md."""
from __future__ import annotations

import argparse
import sys
import time

import numpy as np

from .output import write_results
from .photos import PHOTOS, fp32_margin, build, photo_split

N_RANK = 40  # calibration photos the ranking is measured on


def curve(split: str, max_layers: int) -> dict:
    import torch

    from edgekit import preprocess as pp
    from edgekit.quant import QuantRecipe
    from edgekit.quant.calibrate import convert, prepare_calibrated
    from edgekit.quant.graph import quantizable_layers
    from edgekit.quant.measure import agreement, kl_to_float, run_batches
    from edgekit.quant.params import copy_prepared
    from edgekit.quant.sensitivity import bypass_layers, layer_sensitivity

    cal, ev, _ = photo_split(split)
    m, spec, _ = build("efficientnet_lite0")
    xc, xe = pp.batch([PHOTOS / f for f in cal], spec), pp.batch([PHOTOS / f for f in ev], spec)
    with torch.no_grad():
        ref, ref_rank = m(torch.from_numpy(xe)).numpy(), m(torch.from_numpy(xc[:N_RANK])).numpy()
    prepared, _, _ = prepare_calibrated(m, (torch.from_numpy(xc[:1]),), xc, QuantRecipe())
    unfolded = convert(copy_prepared(prepared), "xnnpack", fold=False)  # as the guard's bypass needs
    t0 = time.time()
    ranking = layer_sensitivity(unfolded, quantizable_layers(unfolded), xc[:N_RANK], ref_rank)
    rank_s = time.time() - t0
    margin = fp32_margin(ref)
    rows = []
    for k in range(max_layers + 1):
        chosen = [name for name, _ in ranking[:k]]
        y = run_batches(bypass_layers(unfolded, chosen), xe)
        flips = np.flatnonzero(ref.argmax(1) != y.argmax(1))
        rows.append({"k": k, "layer": chosen[-1] if chosen else None, "gain_on_ranking_photos": round(ranking[k - 1][1], 6) if k else None,
                     "kl": round(kl_to_float(ref, y), 5), "agreement": agreement(ref, y),
                     "flip_fp32_margins": [round(float(margin[i]), 3) for i in flips]})
        print(split, rows[-1], file=sys.stderr, flush=True)
    total = sum(max(g, 0.0) for _, g in ranking)
    return {"split": split, "rows": rows, "rank_seconds": round(rank_s, 1), "layers_ranked": len(ranking),
            "sum_of_positive_gains": round(total, 6), "kl_on_ranking_photos": round(kl_to_float(ref_rank, run_batches(unfolded, xc[:N_RANK])), 5)}


def main(argv=None) -> int:
    import torch

    from edgekit.bench import host_info

    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--splits", default="odd-even")
    ap.add_argument("--max-layers", type=int, default=10)
    ap.add_argument("--threads", type=int, default=2)
    args = ap.parse_args(argv)
    torch.set_num_threads(args.threads)
    results = [curve(s, args.max_layers) for s in args.splits.split(",")]
    md = ["# int8: held-out error against layers kept in float (EfficientNet-Lite0, real weights, simulated)", "",
          f"Layers ranked by the guard's sensitivity pass on {N_RANK} calibration photos; the top k kept in float "
          "(bypassed in the fake-quant module of the export recipe); KL and agreement on the fold's 100 held-out photos.", ""]
    for r in results:
        md += [f"## {r['split']} ({r['layers_ranked']} layers ranked in {r['rank_seconds']} s; on the ranking photos KL "
               f"{r['kl_on_ranking_photos']}, the positive one-layer gains sum to {r['sum_of_positive_gains']})", "",
               "| k | layer added | its gain (ranking photos) | held-out KL | agreement | fp32 margins of the flips |",
               "|--:|---|--:|--:|--:|---|"]
        for row in r["rows"]:
            gain = f"{row['gain_on_ranking_photos']:.5f}" if row["gain_on_ranking_photos"] is not None else "-"
            md.append(f"| {row['k']} | {row['layer'] or '-'} | {gain} | {row['kl']:.5f} | {row['agreement']:.2f} | "
                      f"{', '.join(f'{x:.3f}' for x in row['flip_fp32_margins']) or '-'} |")
        md.append("")
    doc = {"benchmark": "int8_float_layer_curve", "model": "efficientnet_lite0", "n_rank": N_RANK,
           "created": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()), "host": host_info(), "results": results}
    write_results("int8_float_layer_curve", doc, md)
    return 0


if __name__ == "__main__":
    sys.exit(main())
