"""Latency measurement of one artifact in this process: load time, first run, warm-up, steady
state (min/p50/p90/p99/mean/std, outliers counted, not dropped), throughput, peak RSS increase,
artifact size, runtime and host description. The result is one dict per artifact in the
documented format of edgekit/schema/bench.schema.json (`report()` wraps several into the
document `edgekit bench --json` writes). numpy only; the runtime is imported when it is needed.

The host description and the peak-RSS measurement live in edgekit.bench_system (re-exported
here). Remote runs (edgekit.remote.ssh / .adb) produce the same document."""
from __future__ import annotations

import gc
import json
import os
import sys
import time
from datetime import datetime, timezone
from pathlib import Path
from typing import Callable, Optional, Sequence, Union

import numpy as np

from .bench_system import PeakRSS, cpu_model, host_info  # noqa: F401  (re-exported)
from .errors import InputError

SCHEMA_PATH = Path(__file__).with_name("schema") / "bench.schema.json"
SCHEMA_ID = "edgekit-bench/1"
OUTLIER_RULE = "above p75 + 3*IQR"
DEFAULT_WARMUP = 10
DEFAULT_ITERS = 100
#: a time-based run still takes at least this many samples
MIN_SAMPLES = 5
#: per-run times kept in the JSON up to this many runs (a tiny model timed for minutes makes millions)
MAX_STORED_SAMPLES = 50_000

# runtime format -> modules whose first import is paid once per process, timed apart from load
_BACKEND_IMPORTS = {
    "tflite": (("ai_edge_litert.interpreter", "tflite_runtime.interpreter", "tensorflow.lite"),),
    "executorch": (("torch",), ("executorch.extension.pybindings.portable_lib",)),
    "onnx": (("onnxruntime",),),
    "torch": (("torch",),),
    "coreml": (("coremltools",),),
}


# ---------------------------------------------------------------------------------------------
# statistics
# ---------------------------------------------------------------------------------------------
def summarize(samples_ms: Sequence[float]) -> dict:
    """min/p50/p90/p99/mean/std/max of latencies in ms. Percentiles interpolate linearly."""
    a = np.asarray(samples_ms, dtype=np.float64)
    if a.size == 0:
        raise ValueError("no samples")
    p50, p90, p99 = np.percentile(a, [50, 90, 99])
    return {
        "count": int(a.size),
        "min": float(a.min()),
        "p50": float(p50),
        "p90": float(p90),
        "p99": float(p99),
        "mean": float(a.mean()),
        "std": float(a.std(ddof=1)) if a.size > 1 else 0.0,
        "max": float(a.max()),
    }


def outliers(samples_ms: Sequence[float]) -> dict:
    """Samples above p75 + 3*IQR (a run disturbed by something else: another process, a page
    fault, a frequency change). They stay in every statistic; this only says how many there were."""
    a = np.asarray(samples_ms, dtype=np.float64)
    q1, q3 = np.percentile(a, [25, 75])
    threshold = float(q3 + 3.0 * (q3 - q1))
    above = a[a > threshold]
    return {
        "rule": OUTLIER_RULE,
        "threshold_ms": threshold,
        "count": int(above.size),
        "fraction": float(above.size / a.size),
        "max_ms": float(above.max()) if above.size else None,
    }


# ---------------------------------------------------------------------------------------------
# progress
# ---------------------------------------------------------------------------------------------
class Progress:
    """A plain-text progress bar on stderr, drawn only once a phase has run for `after` seconds
    (short runs stay quiet). On a terminal it redraws one line; otherwise (a pipe, e.g. a remote
    run over ssh) it prints a line at every 10%."""

    def __init__(self, label: str, total: float, unit: str = "it", stream=None, after: float = 1.0, enabled: bool = True):
        self.label, self.total, self.unit = label, float(total), unit
        self.stream = stream if stream is not None else sys.stderr
        self.after, self.enabled = after, enabled
        self.t0 = time.perf_counter()
        self.last_draw = 0.0
        self.last_decile = -1
        self.drawn = False
        try:
            self.tty = self.stream.isatty()
        except (AttributeError, ValueError):
            self.tty = False

    def update(self, done: float, now: Optional[float] = None) -> None:
        if not self.enabled:
            return
        now = time.perf_counter() if now is None else now
        elapsed = now - self.t0
        if elapsed < self.after:
            return
        frac = min(1.0, done / self.total) if self.total > 0 else 1.0
        if self.tty:
            if now - self.last_draw < 0.1 and frac < 1.0:
                return
            self.last_draw = now
            self.stream.write("\r" + self._line(done, frac, elapsed))
        else:
            decile = int(frac * 10)
            if decile == self.last_decile:
                return
            self.last_decile = decile
            self.stream.write(self._line(done, frac, elapsed) + "\n")
        self.stream.flush()
        self.drawn = True

    def _line(self, done: float, frac: float, elapsed: float) -> str:
        width = 24
        fill = int(round(frac * width))
        bar = "#" * fill + "-" * (width - fill)
        if self.unit == "s":
            count = f"{min(done, self.total):.1f}/{self.total:g} s"
        else:
            count = f"{int(done)}/{int(self.total)}"
        return f"{self.label} [{bar}] {frac * 100:5.1f}% {count} ({elapsed:.1f} s)"

    def close(self) -> None:
        if self.drawn and self.tty:
            self.stream.write("\n")
            self.stream.flush()


# ---------------------------------------------------------------------------------------------
# the measurement loop
# ---------------------------------------------------------------------------------------------
def measure(fn: Callable[[], object], warmup: int = DEFAULT_WARMUP, iters: Optional[int] = None,
            min_seconds: Optional[float] = None, progress: Optional[Callable[[str, float, str], Progress]] = None) -> dict:
    """Time fn(): the first call, `warmup` untimed calls, then `iters` timed calls (or timed calls
    until `min_seconds` have passed, at least MIN_SAMPLES). Returns first_run_ms, samples_ms and
    the wall time of the steady-state phase."""
    warmup, iters, min_seconds = check_run_options(warmup, iters, min_seconds)
    clock = time.perf_counter_ns
    t = clock()
    fn()
    first_ms = (clock() - t) / 1e6

    bar = progress("warm-up", warmup, "it") if progress and warmup else None
    for i in range(warmup):
        fn()
        if bar:
            bar.update(i + 1)
    if bar:
        bar.close()

    samples = []
    if min_seconds is not None:
        bar = progress("measure", min_seconds, "s") if progress else None
        budget = int(min_seconds * 1e9)
        start = clock()
        while True:
            t0 = clock()
            fn()
            t1 = clock()
            samples.append(t1 - t0)
            if bar:
                bar.update((t1 - start) / 1e9)
            if t1 - start >= budget and len(samples) >= MIN_SAMPLES:
                break
    else:
        bar = progress("measure", iters, "it") if progress else None
        start = clock()
        for i in range(iters):
            t0 = clock()
            fn()
            t1 = clock()
            samples.append(t1 - t0)
            if bar:
                bar.update(i + 1)
    wall_s = (clock() - start) / 1e9
    if bar:
        bar.close()
    return {"first_run_ms": first_ms, "samples_ms": [s / 1e6 for s in samples], "wall_s": wall_s}


def check_run_options(warmup, iters, min_seconds):
    """(warmup, iters, min_seconds) checked; iters defaults to DEFAULT_ITERS when neither is given."""
    if not isinstance(warmup, int) or isinstance(warmup, bool) or warmup < 0:
        raise InputError(f"--warmup must be an integer >= 0, got {warmup!r}")
    if iters is not None and min_seconds is not None:
        raise InputError("give either --iters or --min-seconds, not both")
    if min_seconds is not None:
        if not isinstance(min_seconds, (int, float)) or isinstance(min_seconds, bool) or not min_seconds > 0:
            raise InputError(f"--min-seconds must be a number > 0, got {min_seconds!r}")
        return warmup, None, float(min_seconds)
    if iters is None:
        iters = DEFAULT_ITERS
    if not isinstance(iters, int) or isinstance(iters, bool) or iters < 1:
        raise InputError(f"--iters must be an integer >= 1, got {iters!r}")
    return warmup, iters, None


def artifact_size(path: Union[str, os.PathLike]) -> int:
    """Bytes of the artifact: the file, or every file of a directory artifact (.mlpackage).
    External-data files that travel with it (<name>.data, e.g. ONNX weights) are counted too."""
    p = Path(path)
    if p.is_dir():
        return sum(f.stat().st_size for f in p.rglob("*") if f.is_file())
    size = p.stat().st_size
    for extra in companion_files(p):
        if extra.suffix == ".data":
            size += extra.stat().st_size
    return size


def companion_files(path: Union[str, os.PathLike]) -> list:
    """Files that belong with an artifact when it is copied elsewhere: the sidecar manifest
    <name>.json and an external-data file <name>.data (ONNX)."""
    p = Path(path)
    return [c for c in (p.with_name(p.name + ".json"), p.with_name(p.name + ".data")) if c.is_file()]


def random_inputs(model, seed: int = 0) -> list:
    """One float array per model input, in its shape (dynamic dimensions -> 1), values in the
    range of a normalized image. int8/uint8 inputs get float data too: the wrapper quantizes it."""
    rng = np.random.default_rng(seed)
    arrays = []
    for spec in model.inputs:
        shape = tuple(1 if d is None or d < 0 else int(d) for d in spec.shape)
        if spec.dtype in ("float32", "float16", "float64", "int8", "uint8"):
            dtype = np.float16 if spec.dtype == "float16" else np.float32
            arrays.append(rng.standard_normal(shape).astype(dtype))
        elif spec.dtype.startswith(("int", "uint")):
            arrays.append(np.zeros(shape, dtype=spec.dtype))
        else:
            arrays.append(np.zeros(shape, dtype=np.float32))
    return arrays


def _preimport(fmt: str) -> float:
    """Import the runtime's backend once (timed apart: it is paid once per process, not per load)."""
    import importlib

    t = time.perf_counter()
    for alternatives in _BACKEND_IMPORTS.get(fmt, ()):
        for mod in alternatives:
            if mod in sys.modules:
                break
            try:
                importlib.import_module(mod)
                break
            except Exception:  # noqa: BLE001 - a missing backend is reported by load() itself
                continue
    return (time.perf_counter() - t) * 1e3


def _probe(path: Path, fmt: str, manifest) -> None:
    try:
        from .runtimes.probe import maybe_probe
    except ImportError:  # a runtimes package without the crash guard
        return
    maybe_probe(path, fmt, manifest, "auto")


def bench_artifact(path: Union[str, os.PathLike], threads: Optional[int] = None, warmup: int = DEFAULT_WARMUP,
                   iters: Optional[int] = None, min_seconds: Optional[float] = None, progress: bool = False,
                   keep_samples: bool = True, seed: int = 0) -> dict:
    """Benchmark one artifact in this process (see the module docstring); one result dict."""
    from .runtimes import detect_format, read_manifest, runtime_class
    from .runtimes.base import check_threads

    warmup, iters, min_seconds = check_run_options(warmup, iters, min_seconds)
    check_threads(threads)
    p = Path(path)
    fmt = detect_format(p)
    manifest = read_manifest(p, fmt)
    # a child-process check of an untrusted file (edgekit.load's crash guard) is not load time
    _probe(p, fmt, manifest)
    cls = runtime_class(fmt)
    import_ms = _preimport(fmt)

    make_bar = None
    if progress:
        name = p.name

        def make_bar(phase, total, unit):
            return Progress(f"{name} {phase}", total, unit)

    with PeakRSS() as mem:
        t = time.perf_counter_ns()
        model = cls(p, threads=threads, manifest=manifest)
        load_ms = (time.perf_counter_ns() - t) / 1e6
        try:
            x = random_inputs(model, seed)
            timing = measure(lambda: model.run(x), warmup, iters, min_seconds, make_bar)
            info = {
                "format": fmt,
                "runtime": {"name": model.runtime_name, "version": str(model.runtime_version)},
                "inputs": [{"name": s.name, "shape": [int(d) for d in s.shape], "dtype": s.dtype} for s in model.inputs],
            }
            batch = int(x[0].shape[0]) if x and x[0].ndim else 1
        finally:
            close = getattr(model, "close", None)
            if close:
                close()
            del model
    samples = timing["samples_ms"]
    total_s = sum(samples) / 1e3
    result = {
        "artifact": p.name,
        "path": str(p),
        "size_bytes": artifact_size(p),
        **info,
        "threads": threads,
        "source": "edgekit",
        "import_ms": import_ms,
        "load_ms": load_ms,
        "first_run_ms": timing["first_run_ms"],
        "warmup": warmup,
        "latency_ms": summarize(samples),
        "outliers": outliers(samples),
        "throughput_per_s": batch * len(samples) / total_s if total_s > 0 else None,
        "batch": batch,
        "peak_rss_increase_bytes": int(mem.bytes),
        "rss_method": mem.method,
        "samples_ms": [round(s, 6) for s in samples] if keep_samples and len(samples) <= MAX_STORED_SAMPLES else None,
    }
    if keep_samples and len(samples) > MAX_STORED_SAMPLES:
        result["notes"] = [f"{len(samples)} timed runs: per-run times not stored (more than {MAX_STORED_SAMPLES})"]
    gc.collect()
    return result


def add_ratios(results: list) -> Optional[str]:
    """Set `ratio_to_fastest` (p50 / fastest p50, by the mean where a tool gives no p50) on every
    result; returns the fastest artifact's name."""
    def key(r):
        lat = r.get("latency_ms") or {}
        return lat.get("p50") if lat.get("p50") is not None else lat.get("mean")

    timed = [r for r in results if key(r)]
    if not timed:
        return None
    best = min(timed, key=key)
    for r in results:
        r["ratio_to_fastest"] = key(r) / key(best) if key(r) else None
    return best["artifact"]


def report(results: list, config: dict, host: Optional[dict] = None) -> dict:
    """The whole `edgekit bench --json` document (schema: edgekit/schema/bench.schema.json)."""
    from ._version import __version__

    fastest = add_ratios(results)
    return {
        "schema": SCHEMA_ID,
        "edgekit_version": __version__,
        "created": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "host": host if host is not None else host_info(),
        "remote": None,
        "config": config,
        "fastest": fastest,
        "results": results,
    }


def schema() -> dict:
    return json.loads(SCHEMA_PATH.read_text())


def validate(doc: dict) -> None:
    """Raise ValueError with the first violation of the bench schema (needs jsonschema)."""
    from .manifest import first_schema_error

    err = first_schema_error(schema(), doc)
    if err:
        raise ValueError(f"bench JSON does not match its schema at {err[0]}: {err[1]}")
