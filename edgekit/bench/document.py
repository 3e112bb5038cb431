"""The `edgekit bench --json` document (schema: edgekit/schema/bench.schema.json): results of
several artifacts with their ratio to the fastest, the host they ran on and the run's config.
Remote runs (edgekit.remote.ssh / .adb) produce the same document."""
from __future__ import annotations

import json
from datetime import datetime, timezone
from pathlib import Path
from typing import Optional

from .system import host_info

SCHEMA_PATH = Path(__file__).resolve().parent.parent / "schema" / "bench.schema.json"
SCHEMA_ID = "edgekit-bench/1"


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
    from .._version import __version__

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
    from ..manifest import first_schema_error

    err = first_schema_error(schema(), doc)
    if err:
        raise ValueError(f"bench JSON does not match its schema at {err[0]}: {err[1]}")
