"""`edgekit bench`: latency, load time and memory of artifacts, here (measure.py), over SSH or adb
(edgekit.remote), as one JSON document (document.py) shown as a table or CSV (output.py) and a
plot (plot.py), with the machine it ran on (system.py)."""
from __future__ import annotations

from .document import SCHEMA_ID, SCHEMA_PATH, add_ratios, report, schema, validate
from .measure import (DEFAULT_ITERS, DEFAULT_WARMUP, MAX_STORED_SAMPLES, MIN_SAMPLES, bench_artifact,
                      check_run_options, measure, random_inputs)
from .stats import OUTLIER_RULE, outliers, summarize
from .system import PeakRSS, cpu_isa, cpu_model, host_info, isa_line

__all__ = ["SCHEMA_ID", "SCHEMA_PATH", "add_ratios", "report", "schema", "validate", "DEFAULT_ITERS", "DEFAULT_WARMUP",
           "MAX_STORED_SAMPLES", "MIN_SAMPLES", "bench_artifact", "check_run_options", "measure", "random_inputs",
           "OUTLIER_RULE", "outliers", "summarize", "PeakRSS", "cpu_model", "cpu_isa", "host_info", "isa_line"]
