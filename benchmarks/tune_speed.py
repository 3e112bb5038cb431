"""Head-tuning speed and memory per runtime.

- time per epoch over 1,000 cached embeddings (10 classes, batch 32 -> 32 steps), for the ExecuTorch
  training program (joint graph + ExecuTorch SGD), the TFLite train signature and the numpy step;
- peak resident memory of a process that loads the program and trains (each runtime measured in
  its own child process; the baseline is the same process after imports, before loading);
- backbone embedding throughput (images/s, batch 1, preprocessed input) per runtime.

Usage: python -m benchmarks.tune_speed --artifact-dir DIR [--epochs 5] [--threads 1]
DIR holds efficientnet_lite0_fp32.{pte,tflite} exported with --trainable-head (made there with
`edgekit export efficientnet_lite0 --target T --trainable-head --weights imagenet --out DIR` if missing).
Writes benchmarks/results/tune_speed.json and .md. Timings on a shared machine are noisy: runtimes
are interleaved epoch by epoch and medians are reported."""
from __future__ import annotations

import argparse
import json
import multiprocessing as mp
import os
import platform
import resource
import statistics
import sys
import time
from pathlib import Path

import numpy as np
from .output import write_pair

RESULTS = Path(__file__).resolve().parent / "results"
N, CLASSES, SEED = 1000, 10, 0
FORMATS = {"executorch": ".pte", "tflite": ".tflite"}


def _rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0


def _embeddings(dim: int):
    rng = np.random.default_rng(SEED)
    centers = rng.gamma(1.0, 0.3, (CLASSES, dim)).astype(np.float32)
    y = rng.integers(0, CLASSES, N)
    f = np.maximum(centers[y] + rng.normal(0, 0.3, (N, dim)), 0).astype(np.float32)
    return f, y


def _train_child(runtime: str, program: str, epochs: int, threads: int, q):
    """Load one runtime's training program and run `epochs` epochs; report times and peak RSS."""
    import edgekit.tune.trainers as ht  # noqa: F401  (imports before the baseline)
    if runtime == "executorch":
        import executorch.extension.training  # noqa: F401
        import torch

        torch.set_num_threads(threads)
    base = _rss_mb()
    t = ht.make_trainer(runtime, program, 0.05, 0.9, 1e-4, threads)
    dim = getattr(t, "dim", 1280)
    f, y = _embeddings(dim)
    rng = np.random.default_rng(SEED)
    W0 = (rng.standard_normal((CLASSES, dim)) * 0.01).astype(np.float32)
    t.set_weights(W0, np.zeros(CLASSES, np.float32))
    bs = getattr(t, "batch", 32)
    times, losses = [], []
    for _ in range(epochs):
        order = rng.permutation(N)
        t0 = time.perf_counter()
        tot = 0.0
        for i in range(0, N, bs):
            idx = order[i:i + bs]
            tot += t.step(f[idx], y[idx]) * len(idx)
        times.append(time.perf_counter() - t0)
        losses.append(tot / N)
    q.put({"runtime": runtime, "epoch_s": times, "loss": losses, "batch": bs, "dim": dim,
           "rss_baseline_mb": base, "rss_peak_mb": _rss_mb()})


def _embed_child(runtime: str, backbone: str, count: int, threads: int, q):
    import edgekit

    base = _rss_mb()
    m = edgekit.load(backbone, threads=threads, probe=False)
    x = np.random.default_rng(SEED).standard_normal(m.inputs[0].shape).astype(np.float32)
    for _ in range(3):
        m.run(x)
    lat = []
    for _ in range(count):
        t0 = time.perf_counter()
        m.run(x)
        lat.append(time.perf_counter() - t0)
    q.put({"runtime": runtime, "ms_median": 1e3 * statistics.median(lat), "images_per_s": 1.0 / statistics.median(lat),
           "rss_baseline_mb": base, "rss_peak_mb": _rss_mb()})


def _in_child(fn, *args):
    ctx = mp.get_context("spawn")
    q = ctx.Queue()
    p = ctx.Process(target=fn, args=(*args, q))
    p.start()
    res = q.get(timeout=1800)
    p.join()
    return res


def _ensure(artifact_dir: Path, fmt: str) -> dict:
    art = artifact_dir / f"efficientnet_lite0_fp32{FORMATS[fmt]}"
    if not Path(str(art) + ".json").is_file():
        import edgekit
        from edgekit.tune.trainable import add_trainable_head

        a = edgekit.export("efficientnet_lite0", target=fmt, weights="imagenet", out=artifact_dir, verify=False)
        add_trainable_head(a.path, weights="imagenet", verify=False)
    block = json.loads(Path(str(art) + ".json").read_text())["trainable_head"]
    return {"backbone": str(artifact_dir / block["backbone"]), "train_step": str(artifact_dir / block["train_step"])}


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--artifact-dir", type=Path, required=True)
    ap.add_argument("--epochs", type=int, default=5)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--embed-count", type=int, default=30)
    args = ap.parse_args(argv)
    args.artifact_dir.mkdir(parents=True, exist_ok=True)
    files = {fmt: _ensure(args.artifact_dir, fmt) for fmt in FORMATS}

    # training: each runtime in its own process (clean peak RSS); epochs already interleave-free
    # inside a process, so the order of processes alternates over two rounds and medians are kept
    train = {}
    for rnd in range(2):
        order = ["executorch", "tflite", "numpy"] if rnd == 0 else ["numpy", "tflite", "executorch"]
        for rt in order:
            prog = files[rt]["train_step"] if rt in files else ""
            r = _in_child(_train_child, rt, prog, args.epochs, args.threads)
            train.setdefault(rt, []).append(r)
    embed = {}
    for rnd in range(2):
        for rt in (["executorch", "tflite"] if rnd == 0 else ["tflite", "executorch"]):
            embed.setdefault(rt, []).append(_in_child(_embed_child, rt, files[rt]["backbone"], args.embed_count,
                                                      args.threads))
    rows = []
    for rt, runs in train.items():
        ep = [t for r in runs for t in r["epoch_s"]]
        rows.append({"runtime": rt, "epoch_ms_median": 1e3 * statistics.median(ep), "epoch_ms_min": 1e3 * min(ep),
                     "steps_per_epoch": -(-N // runs[0]["batch"]), "batch": runs[0]["batch"],
                     "final_loss": runs[0]["loss"][-1],
                     "train_peak_rss_mb": max(r["rss_peak_mb"] for r in runs),
                     "train_rss_increase_mb": max(r["rss_peak_mb"] - r["rss_baseline_mb"] for r in runs),
                     **({"embed_ms_median": statistics.median(r["ms_median"] for r in embed[rt]),
                         "embed_images_per_s": statistics.median(r["images_per_s"] for r in embed[rt]),
                         "embed_peak_rss_mb": max(r["rss_peak_mb"] for r in embed[rt])} if rt in embed else {})})
    result = {"benchmark": "tune_speed", "model": "efficientnet_lite0 (fp32, ImageNet weights)",
              "embeddings": N, "classes": CLASSES, "epochs_per_run": args.epochs, "threads": args.threads,
              "machine": {"platform": platform.platform(), "python": sys.version.split()[0],
                          "cpus": mp.cpu_count(), "load_average_at_end": [round(x, 2) for x in os.getloadavg()]},
              "notes": "program capacity 100 classes, 10 used; peak RSS is ru_maxrss of the child process "
                       "(includes Python and the runtime); medians over interleaved runs on a shared machine",
              "rows": rows}
    md = ["| runtime | epoch (1,000 emb, ms) | steps | final loss | train peak RSS MB (+ over baseline) | "
          "backbone ms/image | images/s | backbone peak RSS MB |", "|---|---|---|---|---|---|---|---|"]
    for r in rows:
        e = (f"{r['embed_ms_median']:.1f} | {r['embed_images_per_s']:.1f} | {r['embed_peak_rss_mb']:.0f}"
             if "embed_ms_median" in r else "- | - | -")
        md.append(f"| {r['runtime']} | {r['epoch_ms_median']:.1f} | {r['steps_per_epoch']} | {r['final_loss']:.4f} | "
                  f"{r['train_peak_rss_mb']:.0f} (+{r['train_rss_increase_mb']:.0f}) | {e} |")
    text = "\n".join(md) + (f"\n\n{result['model']}, {args.threads} thread(s), {result['notes']}. "
                             f"Load average at the end: {result['machine']['load_average_at_end']} on "
                             f"{result['machine']['cpus']} CPUs.\n")
    write_pair(RESULTS / "tune_speed.json", RESULTS / "tune_speed.md", result, "# Head tuning speed\n\n" + text, echo=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
