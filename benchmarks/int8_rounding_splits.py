"""GPTQ weight rounding vs nearest rounding + bias correction, over several calibration splits.

On 100 held-out photos one flipped photo is one point of agreement, and which photos flip moves
with noise as small as the thread count of the calibration run; one split cannot tell two
recipes apart. This runs both recipes of edgekit.quant on the same splits of the 200 shared
photos (EfficientNet-Lite0, real weights; 100 calibrate, the other 100 evaluate; the split is a
seeded permutation) and compares KL(fp32 || int8) and flips split by split. The quantized model
is simulated in PyTorch (convert_pt2e, fold_quantize=False), as in int8_error_budget.py; the
real-runtime numbers are in int8_fidelity.py. Both recipes round the logits to int8 (float_output=False:
the rows were measured before the float-output head became the default, and stay comparable).

    python -m benchmarks.int8_rounding_splits [--seeds 1,2,3] [--threads 1]
Writes benchmarks/results/int8_rounding_splits.json and .md, keeping the rows of earlier runs at
other seeds or thread counts (the thread count changes the float sums of calibration, so it is
part of a row's key: it shows how much of a flip count is noise)."""
from __future__ import annotations

import argparse
import json
import sys
import time

import numpy as np

from .output import RESULTS, write_results
from .int8_error_budget import simulate
from .photos import PHOTOS, kl, build, photo_split

RECIPES = {"nearest + bias correction": "nearest", "GPTQ (edgekit default)": "gptq"}


def main(argv=None) -> int:
    import torch

    from edgekit import preprocess as pp
    from edgekit.bench import host_info
    from edgekit.quant import QuantRecipe
    from edgekit.quant.calibrate import prepare_calibrated

    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--seeds", default="1,2,3")
    ap.add_argument("--threads", type=int, default=1)
    args = ap.parse_args(argv)
    torch.set_num_threads(args.threads)
    _, _, labels = photo_split("even-odd")
    files = sorted(labels)
    m, spec, _ = build("efficientnet_lite0")
    x = pp.batch([PHOTOS / f for f in files], spec)
    with torch.no_grad():
        ref_all = np.concatenate([m(torch.from_numpy(x[i : i + 20])).numpy() for i in range(0, len(x), 20)])
    rows = []
    for seed in [int(s) for s in args.seeds.split(",")]:
        perm = np.random.RandomState(seed).permutation(len(x))
        cal, ev = perm[:100], perm[100:]
        ref = ref_all[ev]
        for name, rounding in RECIPES.items():
            t = time.time()
            prepared, _, _ = prepare_calibrated(m, (torch.from_numpy(x[cal[:1]]),), x[cal],
                                                QuantRecipe(rounding=rounding, float_output=False))  # int8 logits
            t_q = time.time() - t
            y = simulate(prepared, x[ev])
            rows.append({"seed": seed, "threads": args.threads, "recipe": name, "kl": round(kl(ref, y), 5),
                         "flips": int((ref.argmax(1) != y.argmax(1)).sum()), "n_eval": len(ev),
                         "quantize_s": round(t_q, 1)})
            print(rows[-1], file=sys.stderr, flush=True)
    old = RESULTS / "int8_rounding_splits.json"
    key = lambda r: (r["seed"], r.get("threads", 1), r["recipe"])  # noqa: E731
    merged = {key(r): r for r in (json.loads(old.read_text())["results"] if old.exists() else [])}
    merged.update({key(r): r for r in rows})
    rows = sorted(merged.values(), key=key)
    md = ["# GPTQ weight rounding vs nearest + bias correction, EfficientNet-Lite0, several splits", "",
          "Simulated in PyTorch; 100 calibration / 100 held-out photos per split (seeded permutation of the "
          "200 shared photos). KL = mean KL(fp32 || int8 softmax); flips = held-out photos whose top-1 changes. "
          "threads = torch threads during calibration and rounding.", "",
          "| split seed | threads | " + " | ".join(f"KL {r} | flips {r}" for r in RECIPES) + " |",
          "|---|--:|" + "--:|--:|" * len(RECIPES)]
    for seed, threads in dict.fromkeys((r["seed"], r.get("threads", 1)) for r in rows):
        cells = [next((r for r in rows if key(r) == (seed, threads, name)), None) for name in RECIPES]
        if None in cells:
            continue
        md.append(f"| {seed} | {threads} | " + " | ".join(f"{c['kl']:.5f} | {c['flips']}" for c in cells) + " |")
    means = {name: np.mean([r["kl"] for r in rows if r["recipe"] == name]) for name in RECIPES}
    md += ["", "Mean KL over all rows: " + ", ".join(f"{k} {v:.5f}" for k, v in means.items()) + "."]
    doc = {"benchmark": "int8_rounding_splits", "model": "efficientnet_lite0",
           "simulated": "convert_pt2e fold_quantize=False",
           "created": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()), "host": host_info(), "results": rows}
    write_results("int8_rounding_splits", doc, md)
    return 0


if __name__ == "__main__":
    sys.exit(main())
