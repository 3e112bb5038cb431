"""Why an ExecuTorch call from Python costs more than the inference: the first Python work after
an inference runs with cold caches. MobileNetV3-Small fp32 .pte, 1 thread, raw pybindings.

Each variant is one timed call (perf_counter) of `method(...)` plus some output handling; the
variants run in a fresh random order every round, so drift hits all alike. Reported: median per
variant and its difference to the plain call.

    python -m benchmarks.overhead_cold_calls [--rounds 1000]
Writes benchmarks/results/overhead_cold_calls.json and .md."""
from __future__ import annotations

import argparse
import sys
import time

import numpy as np

from .artifacts import REPO, ensure_artifact
from .output import write_results


def variants(method, x: np.ndarray) -> dict:
    import torch

    t = torch.from_numpy(x)
    clk = time.perf_counter_ns
    first = method([t], clone_outputs=False)[0]
    ptr, view = first.data_ptr(), first.numpy()

    def plain():
        a = clk(); method([t]); return clk() - a

    def numpy_after():
        a = clk(); o = method([t]); o[0].numpy(); return clk() - a

    def numpy_outside():
        a = clk(); o = method([t]); d = clk() - a; o[0].numpy(); return d

    def fresh_input():
        a = clk(); method([torch.from_numpy(x)]); return clk() - a

    def fresh_input_outside():
        tt = torch.from_numpy(x); a = clk(); method([tt]); return clk() - a

    def no_clone():
        a = clk(); method([t], clone_outputs=False); return clk() - a

    def no_clone_cached_view_copy():  # what edgekit's wrapper does
        a = clk(); o = method([t], clone_outputs=False)
        _ = view.copy() if o[0].data_ptr() == ptr and view.shape == o[0].shape else o[0].numpy().copy()
        return clk() - a

    return {"plain method([t])": plain, "plain again (noise floor)": plain,
            "+ o.numpy() inside the timed call": numpy_after, "+ o.numpy() after the clock stops": numpy_outside,
            "fresh torch.from_numpy(x) inside": fresh_input, "fresh torch.from_numpy(x) before the clock": fresh_input_outside,
            "clone_outputs=False": no_clone, "clone_outputs=False + cached view + copy (edgekit)": no_clone_cached_view_copy}


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--rounds", type=int, default=1000)
    args = ap.parse_args(argv)
    from executorch.extension.pybindings import portable_lib as lib

    from edgekit.bench import host_info

    lib._unsafe_reset_threadpool(1)
    path = ensure_artifact("mobilenet_v3_small", "executorch", "fp32")
    prog = lib._load_program(str(path), enable_etdump=False, debug_buffer_size=0,
                             program_verification=lib.Verification.InternalConsistency, data_path=None)
    method = prog.load_method("forward")
    x = np.random.default_rng(0).standard_normal((1, 3, 224, 224)).astype(np.float32)
    vs = variants(method, x)
    names = list(vs)
    for f in vs.values():
        for _ in range(20):
            f()
    res = {n: [] for n in names}
    rng = np.random.default_rng(1)
    for _ in range(args.rounds):
        for i in rng.permutation(len(names)):
            res[names[i]].append(vs[names[i]]())
    base = float(np.median(res[names[0]]))
    rows = [{"variant": n, "p50_ms": float(np.median(res[n])) / 1e6, "vs_plain_us": (float(np.median(res[n])) - base) / 1e3,
             "vs_plain_pct": (float(np.median(res[n])) / base - 1) * 100} for n in names]
    doc = {"benchmark": "overhead_cold_calls", "model": "mobilenet_v3_small", "artifact": str(path.relative_to(REPO)),
           "threads": 1, "rounds": args.rounds, "created": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
           "host": host_info(), "results": rows}
    md = ["# One ExecuTorch call plus output handling: what the first Python work after an inference costs", "",
          f"MobileNetV3-Small fp32, 1 thread, {doc['host']['cpu']}, {args.rounds} rounds in random order, median wall time.", "",
          "| variant | p50 ms | vs plain call |", "|---|--:|--:|"]
    md += [f"| {r['variant']} | {r['p50_ms']:.4f} | {r['vs_plain_us']:+.1f} us ({r['vs_plain_pct']:+.2f}%) |" for r in rows]
    write_results("overhead_cold_calls", doc, md)
    return 0


if __name__ == "__main__":
    sys.exit(main())
