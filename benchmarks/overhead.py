"""Wrapper overhead: edgekit's RuntimeModel.run() against the raw interpreter calls it wraps, on
MobileNetV3-Small (fp32, 1x3x224x224), TFLite (LiteRT) and ExecuTorch (XNNPACK).

raw TFLite:     interpreter.set_tensor(in, x); interpreter.invoke(); interpreter.get_tensor(out)
raw ExecuTorch: executorch.runtime Method.execute([tensor]) (the public Python runtime API)
wrapper:        edgekit.load(path, threads).run(x)  (shape/dtype check, layout, outputs as numpy)

The two alternate call by call (raw, wrapper, wrapper, raw, ...) so a neighbour's load on the
CPU hits both alike; the overhead is the median of the per-pair differences over p50(raw) (with
a bootstrap 95% interval), next to p50(wrapper)/p50(raw)-1 and min/min. The wrapper's own Python work (prepare + finish, no
inference) is also timed on its own: that is what it adds, measured without inference noise.
Goal <= 1%, limit <= 2%.

    python -m benchmarks.overhead [--threads 1 2] [--pairs 600]
Writes benchmarks/results/overhead.json and overhead.md."""
from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np

from .artifacts import REPO, ensure_artifact
from .output import write_results
MODEL = "mobilenet_v3_small"


def raw_tflite(path: Path, threads: int, x: np.ndarray):
    from edgekit.runtimes.litert import interpreter_class

    Interpreter, _ = interpreter_class()
    it = Interpreter(model_path=str(path), num_threads=threads)
    it.allocate_tensors()
    i_in = it.get_input_details()[0]["index"]
    i_out = it.get_output_details()[0]["index"]

    def call():
        it.set_tensor(i_in, x)
        it.invoke()
        return it.get_tensor(i_out)

    return call


def raw_executorch(path: Path, threads: int, x: np.ndarray):
    import torch
    from executorch.extension.pybindings import portable_lib
    from executorch.runtime import Runtime

    portable_lib._unsafe_reset_threadpool(threads)
    method = Runtime.get().load_program(str(path)).load_method("forward")
    t = torch.from_numpy(x)

    def call():
        return method.execute([t])

    return call


def _paired(raw_ms: np.ndarray, wrap_ms: np.ndarray) -> dict:
    pairs = raw_ms.size
    p50 = float(np.median(raw_ms))
    diffs = wrap_ms - raw_ms
    rng = np.random.default_rng(0)  # bootstrap 95% interval of the paired estimate
    boots = [np.median(diffs[rng.integers(0, pairs, pairs)]) / p50 * 100 for _ in range(500)]
    return {
        "raw_p50_ms": p50,
        "wrapper_p50_ms": float(np.median(wrap_ms)),
        "raw_min_ms": float(raw_ms.min()),
        "wrapper_min_ms": float(wrap_ms.min()),
        "overhead_p50_pct": float((np.median(wrap_ms) / p50 - 1.0) * 100),
        "overhead_min_pct": float((wrap_ms.min() / raw_ms.min() - 1.0) * 100),
        "overhead_paired_pct": float(np.median(diffs) / p50 * 100),
        "overhead_paired_ci95_pct": [float(np.percentile(boots, 2.5)), float(np.percentile(boots, 97.5))],
    }


def raw_same_instance(model, target: str, x: np.ndarray):
    """Raw calls on the very native objects the wrapper holds (same interpreter / method, same
    memory), so the comparison isolates the wrapper's Python layer from instance placement
    effects (two separately loaded copies of one model differ by a few % on their own)."""
    if target == "tflite":
        it, i_in, i_out = model._interp, model._in_idx[0], model._out_idx[0]

        def call():
            it.set_tensor(i_in, x)
            it.invoke()
            return it.get_tensor(i_out)

        return call
    import torch

    method, t = model._method, torch.from_numpy(x)
    return lambda: method([t])


def measure_pair(raw, wrapped, pairs: int, warmup: int = 20) -> dict:
    """Alternate raw and wrapper call by call (AB BA AB ...): each pair of calls sees the same
    machine state, so the median of the per-pair differences is robust to a neighbour's load.
    Each call is timed on the wall clock and on this thread's CPU clock: with one thread the
    inference runs on the calling thread, and its CPU time does not count the time the OS gave
    the core to another process (the main noise on a shared machine)."""
    for _ in range(warmup):
        raw()
        wrapped()
    wall, cpu = time.perf_counter_ns, time.thread_time_ns
    r_w, w_w, r_c, w_c = (np.empty(pairs) for _ in range(4))
    for i in range(pairs):
        first, second = (raw, wrapped) if i % 2 == 0 else (wrapped, raw)
        a0, c0 = wall(), cpu()
        first()
        a1, c1 = wall(), cpu()
        second()
        a2, c2 = wall(), cpu()
        if i % 2 == 0:
            r_w[i], w_w[i], r_c[i], w_c[i] = a1 - a0, a2 - a1, c1 - c0, c2 - c1
        else:
            w_w[i], r_w[i], w_c[i], r_c[i] = a1 - a0, a2 - a1, c1 - c0, c2 - c1
    return {"pairs": pairs, "wall": _paired(r_w / 1e6, w_w / 1e6), "thread_cpu": _paired(r_c / 1e6, w_c / 1e6)}


def wrapper_only_us(model, x: np.ndarray, raw_out, n: int = 2000) -> float:
    """Median microseconds of the wrapper's own work around the native call (input check and
    conversion + output conversion), without running the model."""
    native_out = [np.asarray(raw_out)] if not isinstance(raw_out, (list, tuple)) else list(raw_out)
    native_out = [o.numpy() if hasattr(o, "numpy") else o for o in native_out]
    clock = time.perf_counter_ns
    ts = []
    for _ in range(n):
        t0 = clock()
        model.finish(native_out)
        model.prepare([x])
        ts.append(clock() - t0)
    return float(np.median(ts) / 1e3)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--threads", type=int, nargs="+", default=[1])
    ap.add_argument("--pairs", type=int, default=600, help="raw/wrapper call pairs per configuration")
    ap.add_argument("--targets", nargs="+", default=["tflite", "executorch"])
    args = ap.parse_args(argv)

    import edgekit
    from edgekit.bench import host_info

    rng = np.random.default_rng(0)
    rows = []
    for target in args.targets:
        path = ensure_artifact(MODEL, target, "fp32")
        for threads in args.threads:
            model = edgekit.load(path, threads=threads)
            x = rng.standard_normal(tuple(model.inputs[0].shape)).astype(np.float32)
            raw = (raw_tflite if target == "tflite" else raw_executorch)(path, threads, x)
            raw2 = (raw_tflite if target == "tflite" else raw_executorch)(path, threads, x)
            same = raw_same_instance(model, target, x)
            r_out = raw()
            w_out = model.run(x)[0]
            r_np = r_out[0].numpy() if target == "executorch" else r_out
            max_diff = float(np.max(np.abs(np.asarray(r_np) - w_out)))
            print(f"{target} {threads}T: {args.pairs} call pairs x 3 comparisons ...", file=sys.stderr)
            m = {"target": target, "runtime": f"{model.runtime_name} {model.runtime_version}", "threads": threads,
                 "artifact": str(path.relative_to(REPO)), "outputs_max_abs_diff": max_diff,
                 # the overhead: raw calls on the wrapper's own interpreter vs the wrapper
                 "same_instance": measure_pair(same, lambda: model.run(x), args.pairs),
                 # a raw copy loaded separately vs the wrapper (adds instance placement effects)
                 "separate_instance": measure_pair(raw, lambda: model.run(x), args.pairs),
                 # control: two raw copies against each other (the noise floor of the separate comparison)
                 "control_raw_vs_raw": measure_pair(raw, raw2, args.pairs),
                 "wrapper_only_us": wrapper_only_us(model, x, r_out)}
            m["wrapper_only_pct_of_raw_p50"] = m["wrapper_only_us"] / 1e3 / m["same_instance"]["thread_cpu"]["raw_p50_ms"] * 100
            rows.append(m)
            model.close()
            del model, raw, raw2, same

    doc = {"benchmark": "overhead", "model": MODEL, "created": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
           "host": host_info(), "goal_pct": 1.0, "limit_pct": 2.0, "pairs": args.pairs, "results": rows}
    md = ["# Wrapper overhead: edgekit RuntimeModel.run() vs raw interpreter calls", "",
          f"MobileNetV3-Small fp32 1x3x224x224, {doc['host']['cpu']} ({doc['host']['cores']} cores, shared with other work), "
          f"{args.pairs} call pairs per comparison, alternating call by call. Goal <= 1%, limit <= 2%.", "",
          "| target | runtime | threads | comparison | clock | raw p50 ms | wrapper p50 ms | overhead paired (95% CI) | overhead p50 | overhead min |",
          "|---|---|--:|---|---|--:|--:|--:|--:|--:|"]
    labels = {"same_instance": "raw (same interpreter) vs wrapper", "separate_instance": "raw (separate copy) vs wrapper",
              "control_raw_vs_raw": "control: raw copy A vs raw copy B"}
    for r in rows:
        for comp in ("same_instance", "separate_instance", "control_raw_vs_raw"):
            for clock in ("thread_cpu", "wall"):
                c = r[comp][clock]
                ci = c["overhead_paired_ci95_pct"]
                md.append(f"| {r['target']} | {r['runtime']} | {r['threads']} | {labels[comp]} | {clock} | {c['raw_p50_ms']:.3f} | "
                          f"{c['wrapper_p50_ms']:.3f} | {c['overhead_paired_pct']:+.2f}% ({ci[0]:+.2f}..{ci[1]:+.2f}) | "
                          f"{c['overhead_p50_pct']:+.2f}% | {c['overhead_min_pct']:+.2f}% |")
    md += ["", "| target | threads | wrapper-only work per call (us) | as % of raw p50 | outputs max abs diff |", "|---|--:|--:|--:|--:|"]
    for r in rows:
        md.append(f"| {r['target']} | {r['threads']} | {r['wrapper_only_us']:.1f} | {r['wrapper_only_pct_of_raw_p50']:.3f}% | {r['outputs_max_abs_diff']:.2g} |")
    md += ["", "The overhead is the 'same interpreter' row: raw set_tensor/invoke/get_tensor (TFLite) or method([tensor]) "
           "(ExecuTorch) on the wrapper's own native objects vs wrapper.run(x). 'separate copy' compares against a second "
           "load of the same file; the control row shows how much two such copies differ by themselves.",
           "paired: median over call pairs of (second - first) / p50(first), bootstrap 95% interval; p50: ratio of p50s - 1; "
           "min: fastest vs fastest call. thread_cpu: CPU time of the calling thread (with 1 thread the inference runs on it; "
           "time the core spent on other processes is not counted); wall: perf_counter. wrapper-only: the wrapper's own Python "
           "work per call (input check/conversion + output conversion) timed without inference."]
    write_results("overhead", doc, md)
    return 0


if __name__ == "__main__":
    sys.exit(main())
