"""Which XNNPACK microkernels an int8 and an fp32 model spend their time in, on this CPU: `perf
record` over a child process that runs one artifact at 1 thread for a few seconds, then the
share of samples per symbol. LiteRT's library keeps its symbol table, so the kernels show by name
(e.g. xnn_qs8_qc8w_igemm_minmax_fp32_ukernel_3x8c8__avx2); XNNPACK picks them at start-up from
the CPU's features (AVX2 -> the c8 kernels that widen int8 to int16 and multiply with vpmaddwd;
AVX-512 VNNI / AVX-VNNI -> the vpdpbusd kernels), so the table shows what int8 runs on here.

    python -m benchmarks.int8_kernels [--models resnet18,mobilenet_v3_small] [--seconds 6]

Needs Linux `perf` (perf_event_paranoid <= 2 for a child of this user). Artifacts are the
latency table's (benchmarks.artifacts.ensure_artifact). Writes benchmarks/results/int8_kernels.json
and .md."""
from __future__ import annotations

import argparse
import re
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

from .artifacts import REPO, ensure_artifact
from .output import write_results

CALIB = REPO.parent / "shared" / "data" / "imagenet-sample-200"
_CHILD = """
import sys, time, numpy as np, edgekit
m = edgekit.load(sys.argv[1], threads=1)
x = np.random.default_rng(0).standard_normal(tuple(1 if d < 0 else d for d in m.inputs[0].shape)).astype(np.float32)
for _ in range(5): m.run(x)
t, n, end = [], 0, time.perf_counter() + float(sys.argv[2])
while time.perf_counter() < end:
    a = time.perf_counter(); m.run(x); t.append(time.perf_counter() - a)
print(f"P50 {sorted(t)[len(t) // 2] * 1e3:.3f} N {len(t)}")
"""


def kind(symbol: str) -> str:
    """A coarse class of an XNNPACK/LiteRT symbol: which op family and data type."""
    s = symbol.lower()
    for pat, name in ((r"qs8.*(igemm|gemm)", "int8 GEMM/IGEMM (conv, linear)"), (r"qs8.*dwconv", "int8 depthwise conv"),
                      (r"f32.*(igemm|gemm)", "fp32 GEMM/IGEMM (conv, linear)"), (r"f32.*dwconv", "fp32 depthwise conv"),
                      (r"(qs8|qu8).*(vadd|vmul|vcvt|vlrelu|vhswish|rsum|gavgpool)", "int8 elementwise / pooling / convert"),
                      (r"f32.*(vadd|vmul|vclamp|vhswish|vsigmoid|rsum|gavgpool|vbinary|vunary)", "fp32 elementwise / pooling"),
                      (r"maxpool|argmax", "max pooling"), (r"pack|transpose|copy|memcpy|memset", "packing / copies")):
        if re.search(pat, s):
            return name
    return "other"


def profile(path: Path, seconds: float) -> dict:
    with tempfile.TemporaryDirectory(prefix="edgekit-perf-") as tmp:
        data = Path(tmp) / "perf.data"
        run = subprocess.run(["perf", "record", "-F", "999", "-o", str(data), "--", sys.executable, "-c", _CHILD,
                              str(path), str(seconds)], capture_output=True, text=True, cwd=REPO, timeout=seconds + 300)
        if run.returncode != 0:
            raise RuntimeError(f"perf record failed: {run.stderr.strip().splitlines()[-1:]}")
        p50 = float(re.search(r"P50 ([\d.]+)", run.stdout).group(1))
        rep = subprocess.run(["perf", "report", "-i", str(data), "--stdio", "--sort", "dso,symbol", "--percent-limit", "0.5"],
                             capture_output=True, text=True, timeout=300).stdout
    rows = []
    for line in rep.splitlines():
        m = re.match(r"\s*([\d.]+)%\s+(\S+)\s+\[\.\]\s+(.+?)\s*$", line)
        if m:
            rows.append({"share": float(m.group(1)) / 100, "dso": m.group(2), "symbol": m.group(3)})
    groups: dict = {}
    for r in rows:
        groups[kind(r["symbol"])] = groups.get(kind(r["symbol"]), 0.0) + r["share"]
    return {"p50_ms": p50, "symbols": rows[:12], "groups": dict(sorted(groups.items(), key=lambda kv: -kv[1]))}


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--models", default="resnet18,mobilenet_v3_small")
    ap.add_argument("--seconds", type=float, default=6.0)
    args = ap.parse_args(argv)
    if shutil.which("perf") is None:
        raise SystemExit("perf is not installed (apt-get install linux-perf)")
    rows = []
    for model in args.models.split(","):
        for precision in ("fp32", "int8"):
            path = ensure_artifact(model, "tflite", precision, calib=str(CALIB) if precision == "int8" else None)
            r = {"model": model, "target": "tflite", "precision": precision, **profile(path, args.seconds)}
            print(r["model"], r["precision"], r["p50_ms"], r["symbols"][:3], file=sys.stderr, flush=True)
            rows.append(r)
    md = ["# Where int8 and fp32 spend their time on this CPU (TFLite/XNNPACK, 1 thread, perf samples)", "",
          "| model | precision | p50 ms | top symbols (share of samples) | by kind |", "|---|---|--:|---|---|"]
    for r in rows:
        top = "<br>".join(f"{s['share']:.0%} {s['symbol']}" for s in r["symbols"][:4])
        kinds = "<br>".join(f"{v:.0%} {k}" for k, v in list(r["groups"].items())[:4])
        md.append(f"| {r['model']} | {r['precision']} | {r['p50_ms']:.2f} | {top} | {kinds} |")
    write_results("int8_kernels", {"seconds": args.seconds, "rows": rows}, md)
    return 0


if __name__ == "__main__":
    sys.exit(main())
