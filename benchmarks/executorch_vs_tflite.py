"""ExecuTorch XNNPACK vs LiteRT (TFLite) XNNPACK, fp32, per zoo model and thread count.

For each model (random weights, the card's input size) this lowers three artifacts from one
torch.export capture:
  et_before  ExecuTorch, plain XnnpackPartitioner (what executorch 1.5.1 gives by default)
  et_after   ExecuTorch through exporters/xnnpack_lowering.prepare_program (im2col -> XNNPACK GEMM)
  tflite     litert-torch conversion, run by ai_edge_litert's Interpreter (XNNPACK delegate)
then runs them interleaved in one process (so CPU contention hits all three alike) and
reports p50 wall latency, p50 thread-CPU time (1 thread: the time the calling thread actually
ran, robust when other processes share the CPU) and the ET/TFLite ratios.

    python -m benchmarks.executorch_vs_tflite                 # resnet18, mobilenet_v3_small, efficientnet_lite0
    python -m benchmarks.executorch_vs_tflite --models all --threads 1 2 --iters 30

Writes benchmarks/results/executorch_vs_tflite.json and .md.
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import sys
import tempfile
import time
import warnings
from pathlib import Path
from .output import write_pair

DEFAULT_MODELS = ["resnet18", "mobilenet_v3_small", "efficientnet_lite0"]
VARIANTS = ("et_before", "et_after", "tflite")


def build_artifacts(name: str, workdir: Path, reuse: bool = False) -> dict:
    import torch
    from executorch.exir import to_edge_transform_and_lower

    from edgekit.exporters import xnnpack_lowering
    from edgekit.zoo import create_model

    torch.manual_seed(0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        model = create_model(name, weights=None).eval()
    size = int(model.card.input_size)
    x = torch.randn(1, 3, size, size)
    with torch.no_grad():
        ref = model(x).numpy()
    paths = {"et_before": workdir / f"{name}_et_before.pte", "et_after": workdir / f"{name}_et_after.pte",
             "tflite": workdir / f"{name}.tflite"}
    if reuse and all(p.is_file() for p in paths.values()):
        return {"paths": paths, "info": {"input_size": size, "reused_artifacts": True}, "x": x.numpy(), "ref": ref}
    ep = torch.export.export(model, (x,))
    paths, info = {}, {"input_size": size}

    def lower(program, tag):
        edge = to_edge_transform_and_lower(program, partitioner=xnnpack_lowering.partitioners("fp32"))
        left = [str(n.target) for n in edge.exported_program().graph.nodes
                if n.op == "call_function" and "executorch_call_delegate" not in str(n.target)
                and "getitem" not in str(n.target)]
        path = workdir / f"{name}_{tag}.pte"
        path.write_bytes(edge.to_executorch().buffer)
        info[f"{tag}_undelegated_ops"] = left
        return path

    t = time.perf_counter()
    paths["et_before"] = lower(ep, "et_before")
    prepared = xnnpack_lowering.prepare_program(ep, "fp32")
    paths["et_after"] = lower(prepared, "et_after")
    info["prepare_s"] = round(time.perf_counter() - t, 1)

    import litert_torch

    tfl = workdir / f"{name}.tflite"
    litert_torch.convert(model, (x,)).export(str(tfl))
    paths["tflite"] = tfl
    return {"paths": paths, "info": info, "x": x.numpy(), "ref": ref}


def make_runners(paths: dict, x, threads: int) -> dict:
    import numpy as np
    import torch
    from ai_edge_litert.interpreter import Interpreter
    from executorch.extension.pybindings.portable_lib import _unsafe_reset_threadpool
    from executorch.runtime import Runtime

    _unsafe_reset_threadpool(threads)
    runners = {}
    xt = torch.from_numpy(x)
    for tag in ("et_before", "et_after"):
        method = Runtime.get().load_program(str(paths[tag])).load_method("forward")
        runners[tag] = (lambda m=method: m.execute([xt])[0].numpy())
    it = Interpreter(model_path=str(paths["tflite"]), num_threads=threads)
    it.allocate_tensors()
    inp, out = it.get_input_details()[0], it.get_output_details()[0]
    it.set_tensor(inp["index"], np.ascontiguousarray(x.astype(np.float32)))

    def run_tflite():
        it.invoke()
        return it.get_tensor(out["index"])

    runners["tflite"] = run_tflite
    return runners


def measure(runners: dict, iters: int, warmup: int) -> dict:
    for run in runners.values():
        for _ in range(warmup):
            run()
    wall = {k: [] for k in runners}
    cpu = {k: [] for k in runners}
    for _ in range(iters):  # interleaved: contention from other processes hits every variant alike
        for tag, run in runners.items():
            c0, t0 = time.thread_time(), time.perf_counter()
            run()
            wall[tag].append((time.perf_counter() - t0) * 1e3)
            cpu[tag].append((time.thread_time() - c0) * 1e3)
    return {tag: {"p50_ms": round(statistics.median(wall[tag]), 3), "min_ms": round(min(wall[tag]), 3),
                  "thread_cpu_p50_ms": round(statistics.median(cpu[tag]), 3)} for tag in runners}


def to_markdown(rows: list, meta: dict) -> str:
    lines = [
        "# ExecuTorch XNNPACK vs TFLite XNNPACK (fp32, batch 1)",
        "",
        f"{meta['cpu']}; {meta['note']}",
        "",
        "ratio = ExecuTorch / TFLite (1.0 = parity; target <= 1.2). 1 thread: thread-CPU p50 (the time "
        "the calling thread ran; robust to other processes on the CPU, the number to trust) and wall p50. "
        "2 threads: wall p50 and wall min (the least disturbed run); on a shared, overloaded 2-core "
        "machine the 2-thread wall numbers are noisy.",
        "",
        "| model | threads | TFLite ms | ET before ms | ET after ms | ratio before | ratio after | metric |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for r in rows:
        for metric in ("thread_cpu_p50_ms", "p50_ms", "min_ms"):
            if metric == ("thread_cpu_p50_ms" if r["threads"] > 1 else "min_ms"):
                continue
            t, b, a = (r["results"][k][metric] for k in ("tflite", "et_before", "et_after"))
            lines.append(f"| {r['model']} | {r['threads']} | {t:.1f} | {b:.1f} | {a:.1f} | "
                         f"{b / t:.2f}x | {a / t:.2f}x | {metric.replace('_ms', '')} |")
    lines.append("")
    lines.append("max |ET after - PyTorch| per model: " + ", ".join(
        f"{m}: {e:.1e}" for m, e in meta["max_abs_err_after"].items()))
    return "\n".join(lines) + "\n"


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--models", nargs="+", default=DEFAULT_MODELS, help="zoo names, or 'all'")
    ap.add_argument("--threads", nargs="+", type=int, default=[1, 2])
    ap.add_argument("--iters", type=int, default=20)
    ap.add_argument("--warmup", type=int, default=3)
    ap.add_argument("--out", default=str(Path(__file__).parent / "results" / "executorch_vs_tflite"))
    ap.add_argument("--workdir", default=None, help="where artifacts go (default: a temp dir)")
    ap.add_argument("--render", action="store_true", help="only rewrite the .md from the existing .json")
    ap.add_argument("--reuse", action="store_true", help="time the artifacts already in --workdir")
    args = ap.parse_args(argv)
    if args.render:
        data = json.loads(Path(args.out).with_suffix(".json").read_text())
        out = Path(args.out)
        write_pair(out.with_suffix(".json"), out.with_suffix(".md"), data, to_markdown(data["rows"], data["meta"]),
                   echo=True)
        return 0

    import numpy as np
    import torch

    torch.set_num_threads(1)
    from edgekit.zoo import list_models

    models = list_models() if args.models == ["all"] else args.models
    workdir = Path(args.workdir or tempfile.mkdtemp(prefix="et_vs_tfl_"))
    workdir.mkdir(parents=True, exist_ok=True)
    rows, errs, infos = [], {}, {}
    for name in models:
        print(f"[{name}] lowering ...", file=sys.stderr, flush=True)
        built = build_artifacts(name, workdir, args.reuse)
        infos[name] = built["info"]
        for threads in args.threads:
            runners = make_runners(built["paths"], built["x"], threads)
            out = runners["et_after"]()
            errs[name] = float(np.abs(out - built["ref"]).max())
            res = measure(runners, args.iters, args.warmup)
            rows.append({"model": name, "threads": threads, "results": res,
                         "ratio_before": round(res["et_before"]["p50_ms"] / res["tflite"]["p50_ms"], 3),
                         "ratio_after": round(res["et_after"]["p50_ms"] / res["tflite"]["p50_ms"], 3),
                         "ratio_before_thread_cpu": round(res["et_before"]["thread_cpu_p50_ms"]
                                                          / res["tflite"]["thread_cpu_p50_ms"], 3),
                         "ratio_after_thread_cpu": round(res["et_after"]["thread_cpu_p50_ms"]
                                                         / res["tflite"]["thread_cpu_p50_ms"], 3)})
            print(f"[{name}] {threads}T " + "  ".join(
                f"{k} {v['p50_ms']:.1f}ms (cpu {v['thread_cpu_p50_ms']:.1f})" for k, v in res.items()),
                file=sys.stderr, flush=True)
    import executorch

    load = os.getloadavg()
    meta = {
        "cpu": _cpu_name(), "python": platform.python_version(),
        "executorch": getattr(executorch, "__version__", "?"),
        "iters": args.iters, "warmup": args.warmup,
        "note": f"load average at the end {load[0]:.1f} on {os.cpu_count()} cores (CPU shared with other jobs)",
        "max_abs_err_after": errs, "lowering": infos,
    }
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    write_pair(out.with_suffix(".json"), out.with_suffix(".md"), {"meta": meta, "rows": rows}, to_markdown(rows, meta),
               echo=True)
    return 0


def _cpu_name() -> str:
    try:
        for line in open("/proc/cpuinfo"):
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip() + f" x{os.cpu_count()}"
    except OSError:
        pass
    return platform.processor() or "unknown CPU"


if __name__ == "__main__":
    sys.exit(main())
