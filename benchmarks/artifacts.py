"""Artifacts for the benchmark scripts: exported once with edgekit.export into
benchmarks/results/tmp/artifacts/<model>-<target>-<precision>/ (git-ignored) and reused."""
from __future__ import annotations

import json
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
ARTIFACTS = REPO / "benchmarks" / "results" / "tmp" / "artifacts"
SUFFIX = {"tflite": ".tflite", "executorch": ".pte", "onnx": ".onnx", "coreml": ".mlpackage"}


def ensure_artifact(model: str, target: str, precision: str = "fp32", calib=None, log=print) -> Path:
    """Path of `model` exported to `target` at `precision` (random weights unless the zoo
    card says otherwise: latency does not depend on the weight values)."""
    out = ARTIFACTS / f"{model}-{target}-{precision}"
    found = sorted(p for p in out.glob(f"*{SUFFIX[target]}") if not p.name.startswith("."))
    if found and (found[0].with_name(found[0].name + ".json")).is_file():
        return found[0]
    import warnings

    import edgekit

    log(f"exporting {model} -> {target} {precision} ...", file=sys.stderr)
    out.mkdir(parents=True, exist_ok=True)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        # latency does not depend on calibration quality; random weights make the accuracy guard
        # keep float layers for nothing, so int8 latency is measured on the all-int8 program
        kw = {"calib": calib, "calib_count": 32, "max_float_layers": 0} if calib else {}
        art = edgekit.export(model, target=target, precision=precision, out=str(out), verify=False, **kw)
    return Path(art.path)


def manifest(path: Path) -> dict:
    return json.loads(Path(str(path) + ".json").read_text())
