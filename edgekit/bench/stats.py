"""Latency statistics: the summary of a run's per-call times and its outliers."""
from __future__ import annotations

from typing import Sequence

import numpy as np

OUTLIER_RULE = "above p75 + 3*IQR"


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
