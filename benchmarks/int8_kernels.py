"""Which kernels an int8 and an fp32 artifact spend their time in, on this CPU: `perf record`
over a child process that runs one artifact at 1 thread for a few seconds, then the share of
samples by the kind of code they landed in.

XNNPACK picks its microkernels at start-up from the CPU's features: AVX-512 VNNI / AVX-VNNI ->
int8 GEMMs built on `vpdpbusd` (4 int8 MACs per 32-bit lane); AVX2 only -> kernels that widen
int8 to int16 and multiply with `vpmaddwd`. Which kind ran is read from the machine code itself,
so it works for ExecuTorch's stripped XNNPACK library as well as LiteRT's (which keeps symbol
names, shown too): every sample is attributed to the function it landed in (function bounds from
the library's unwind tables, `objdump --dwarf=frames`), and each function is classified by the
instructions it contains:

- int8 dot product (vpdpbusd): the VNNI GEMM/IGEMM and convolution kernels;
- int8 without dot product (vpmaddwd or vpmulld, no vpdpbusd): AVX2-style int8 GEMMs (a CPU
  without VNNI), and int8 depthwise convolutions, which XNNPACK runs with widened multiplies even
  on VNNI CPUs;
- fp32 FMA (vfmadd*): float convolutions, depthwise, and float layers;
- other XNNPACK/runtime code (elementwise, converts, packing) and everything outside the runtime.

    python -m benchmarks.int8_kernels [--models efficientnet_lite0,resnet18] [--targets tflite,executorch]
        [--seconds 6]

Needs Linux `perf` (perf_event_paranoid <= 2 for a child of this user) and binutils' objdump.
Artifacts are the latency table's (benchmarks.artifacts.ensure_artifact). Writes
benchmarks/results/int8_kernels.json and .md."""
from __future__ import annotations

import argparse
import bisect
import re
import shutil
import subprocess
import sys
import tempfile
from collections import defaultdict
from functools import lru_cache
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
t0 = time.clock_gettime(time.CLOCK_MONOTONIC)
while time.perf_counter() < end:
    a = time.perf_counter(); m.run(x); t.append(time.perf_counter() - a)
t1 = time.clock_gettime(time.CLOCK_MONOTONIC)
print(f"P50 {sorted(t)[len(t) // 2] * 1e3:.3f} N {len(t)} WINDOW {t0:.6f} {t1:.6f}")
"""
KINDS = ("int8 dot product (vpdpbusd)", "int8 without dot product (vpmaddwd/vpmulld)", "fp32 FMA",
         "other runtime code", "outside the runtime")


@lru_cache(maxsize=None)
def functions(lib: str) -> tuple:
    """(sorted starts, [(start, end, kind)]) of every function of a shared library with unwind
    info, each classified by the instructions it contains."""
    frames = subprocess.run(["objdump", "--dwarf=frames", lib], capture_output=True, text=True, check=True).stdout
    ranges = sorted({(int(a, 16), int(b, 16)) for a, b in re.findall(r"pc=([0-9a-f]+)\.\.([0-9a-f]+)", frames)})
    insns = []  # (address, mnemonic) in address order
    dis = subprocess.Popen(["objdump", "-d", "--no-show-raw-insn", lib], stdout=subprocess.PIPE, text=True)
    pat = re.compile(r"^\s*([0-9a-f]+):\s+(\S+)")
    for line in dis.stdout:
        m = pat.match(line)
        if m:
            insns.append((int(m.group(1), 16), m.group(2)))
    dis.wait()
    addrs = [a for a, _ in insns]
    out = []
    for start, end in ranges:
        ops = {mn for _, mn in insns[bisect.bisect_left(addrs, start):bisect.bisect_left(addrs, end)]}
        if any(o.startswith("vpdpbusd") for o in ops):
            kind = KINDS[0]
        elif ops & {"vpmaddwd", "vpmulld"}:
            kind = KINDS[1]
        elif any(o.startswith("vfmadd") for o in ops):
            kind = KINDS[2]
        else:
            kind = KINDS[3]
        out.append((start, end, kind))
    return tuple(s for s, _, _ in out), tuple(out)


@lru_cache(maxsize=None)
def _segments(lib: str) -> tuple:
    out = subprocess.run(["readelf", "-lW", lib], capture_output=True, text=True, check=True).stdout
    return tuple((int(o, 16), int(v, 16), int(n, 16)) for o, v, n in
                 re.findall(r"LOAD\s+0x([0-9a-f]+)\s+0x([0-9a-f]+)\s+0x[0-9a-f]+\s+0x([0-9a-f]+)", out))


def file_to_vaddr(lib: str, offset: int) -> int:
    """A file offset of the library -> its link-time address (what objdump prints)."""
    for off, vaddr, size in _segments(lib):
        if off <= offset < off + size:
            return offset - off + vaddr
    return offset


def classify(lib: str, addr: int) -> str:
    starts, funcs = functions(lib)
    i = bisect.bisect_right(starts, addr) - 1
    if i >= 0 and funcs[i][0] <= addr < funcs[i][1]:
        return funcs[i][2]
    return KINDS[3]


def runtime_libs(target: str) -> list:
    """The shared libraries that hold the target's XNNPACK (the child loads them from this venv)."""
    import importlib.util

    def root(package: str) -> Path:
        return Path(list(importlib.util.find_spec(package).submodule_search_locations)[0])

    if target == "executorch":
        return [str(p) for p in (root("executorch") / "lib").glob("libexecutorch_backend_xnnpack*.so")]
    if target == "tflite":
        return [str(p) for p in root("ai_edge_litert").glob("*.so") if "WebGpu" not in p.name]
    return [str(p) for p in root("onnxruntime").rglob("onnxruntime_pybind11_state*.so")]


def profile(path: Path, target: str, seconds: float) -> dict:
    libs = {Path(p).name: p for p in runtime_libs(target)}
    with tempfile.TemporaryDirectory(prefix="edgekit-perf-") as tmp:
        data = Path(tmp) / "perf.data"
        run = subprocess.run(["perf", "record", "-k", "CLOCK_MONOTONIC", "-F", "1999", "-o", str(data), "--", sys.executable, "-c", _CHILD,
                              str(path), str(seconds)], capture_output=True, text=True, cwd=REPO, timeout=seconds + 300)
        if run.returncode != 0:
            raise RuntimeError(f"perf record failed: {run.stderr.strip().splitlines()[-1:]}")
        p50 = float(re.search(r"P50 ([\d.]+)", run.stdout).group(1))
        t0, t1 = (float(v) for v in re.search(r"WINDOW ([\d.]+) ([\d.]+)", run.stdout).groups())
        # one line per sample: time, address and the symbol perf resolved (if any); only the
        # samples of the timed loop count (not start-up, imports or loading)
        script = subprocess.run(["perf", "script", "-i", str(data), "-F", "time,ip,sym,dso", "--show-mmap-events"],
                                capture_output=True, text=True, timeout=600).stdout
        mmaps = {}  # dso path -> (start, pgoff) of its executable mapping
        for line in script.splitlines():
            m = re.search(r"PERF_RECORD_MMAP2? .*\[0x([0-9a-f]+)\(0x[0-9a-f]+\) @ 0x([0-9a-f]+) [^\]]*\]: r-xp (\S+)$",
                          line)
            if m:
                mmaps[m.group(3)] = (int(m.group(1), 16), int(m.group(2), 16))
    kinds, symbols, total = defaultdict(int), defaultdict(int), 0
    for line in script.splitlines():
        m = re.match(r"\s*([\d.]+):\s+([0-9a-f]+)\s+(.*?)\s*\((\S+)\)\s*$", line)
        if not m or not t0 <= float(m.group(1)) <= t1:
            continue
        ip, sym, dso = int(m.group(2), 16), m.group(3), m.group(4)
        total += 1
        name = Path(dso).name
        if name not in libs or dso not in mmaps:
            kinds[KINDS[4]] += 1
            continue
        start, pgoff = mmaps[dso]
        kind = classify(libs[name], file_to_vaddr(libs[name], ip - start + pgoff))
        kinds[kind] += 1
        if sym and sym != "[unknown]":
            symbols[sym] += 1
    share = {k: kinds[k] / max(total, 1) for k in KINDS}
    top = [{"symbol": s, "share": n / max(total, 1)} for s, n in sorted(symbols.items(), key=lambda kv: -kv[1])[:8]]
    return {"p50_ms": p50, "samples": total, "kinds": share, "symbols": top}


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--models", default="efficientnet_lite0,resnet18,mobilenet_v3_small")
    ap.add_argument("--targets", default="tflite,executorch")
    ap.add_argument("--seconds", type=float, default=6.0)
    args = ap.parse_args(argv)
    for tool in ("perf", "objdump"):
        if shutil.which(tool) is None:
            raise SystemExit(f"{tool} is not installed (apt-get install linux-perf binutils)")
    rows = []
    for model in args.models.split(","):
        for target in args.targets.split(","):
            for precision in ("fp32", "int8"):
                path = ensure_artifact(model, target, precision, calib=str(CALIB) if precision == "int8" else None)
                r = {"model": model, "target": target, "precision": precision, **profile(path, target, args.seconds)}
                print(r["model"], r["target"], r["precision"], r["p50_ms"],
                      {k: round(v, 3) for k, v in r["kinds"].items()}, file=sys.stderr, flush=True)
                rows.append(r)
    md = ["# Where int8 and fp32 spend their time on this CPU (XNNPACK, 1 thread, perf samples)", "",
          "Share of perf samples by the kind of machine code they landed in (each function of the runtime's "
          "library classified by its instructions; see benchmarks/int8_kernels.py). p50: the profiled run's own.", "",
          "| model | target | precision | p50 ms | " + " | ".join(KINDS) + " | top named symbols |",
          "|---|---|---|--:|" + "--:|" * len(KINDS) + "---|"]
    for r in rows:
        top = "<br>".join(f"{s['share']:.0%} {s['symbol']}" for s in r["symbols"][:3]) or "(stripped library)"
        md.append(f"| {r['model']} | {r['target']} | {r['precision']} | {r['p50_ms']:.2f} | "
                  + " | ".join(f"{r['kinds'][k]:.0%}" for k in KINDS) + f" | {top} |")
    write_results("int8_kernels", {"seconds": args.seconds, "rows": rows}, md)
    return 0


if __name__ == "__main__":
    sys.exit(main())
