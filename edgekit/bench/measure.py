"""Latency measurement of one artifact in this process: load time, first run, warm-up, steady
state (min/p50/p90/p99/mean/std, outliers counted, not dropped), throughput, peak RSS increase,
artifact size, runtime. The result is one dict per artifact in the documented format of
edgekit/schema/bench.schema.json (document.py wraps several into the `edgekit bench --json`
document). numpy only; the runtime is imported when it is needed."""
from __future__ import annotations

import gc
import os
import sys
import time
from pathlib import Path
from typing import Callable, Optional, Union

import numpy as np

from ..errors import InputError
from ..files import size_bytes
from ..progress import Reporter, Task
from .stats import outliers, summarize
from .system import PeakRSS

DEFAULT_WARMUP = 10
DEFAULT_ITERS = 100
#: a time-based run still takes at least this many samples
MIN_SAMPLES = 5
#: per-run times kept in the JSON up to this many runs (a tiny model timed for minutes makes millions)
MAX_STORED_SAMPLES = 50_000

# ---------------------------------------------------------------------------------------------
# the measurement loop
# ---------------------------------------------------------------------------------------------
def measure(fn: Callable[[], object], warmup: int = DEFAULT_WARMUP, iters: Optional[int] = None,
            min_seconds: Optional[float] = None, progress: Optional[Callable[[str, float, str], Task]] = None) -> dict:
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

    from ..formats import get_format

    t = time.perf_counter()
    for alternatives in get_format(fmt).runtime_imports:
        for mod in alternatives:
            if mod in sys.modules:
                break
            try:
                importlib.import_module(mod)
                break
            except Exception:  # noqa: BLE001 - a missing backend is reported by load() itself
                continue
    return (time.perf_counter() - t) * 1e3


def bench_artifact(path: Union[str, os.PathLike], threads: Optional[int] = None, warmup: int = DEFAULT_WARMUP,
                   iters: Optional[int] = None, min_seconds: Optional[float] = None, progress: bool = False,
                   keep_samples: bool = True, seed: int = 0) -> dict:
    """Benchmark one artifact in this process (see the module docstring); one result dict."""
    from ..runtimes import open_artifact
    from ..runtimes.base import check_threads

    warmup, iters, min_seconds = check_run_options(warmup, iters, min_seconds)
    check_threads(threads)
    p = Path(path)
    # detecting, reading the manifest and the crash probe of an untrusted file are not load time
    opened = open_artifact(p)
    fmt = opened.format
    import_ms = _preimport(fmt)

    make_bar = None
    if progress:
        reporter = Reporter()

        def make_bar(phase, total, unit):
            return reporter.task(f"{p.name} {phase}", total, unit)

    with PeakRSS() as mem:
        t = time.perf_counter_ns()
        model = opened.load(threads)
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
        "size_bytes": size_bytes(p),
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


