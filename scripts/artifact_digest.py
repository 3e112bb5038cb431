"""Export with the clock frozen and print each artifact's sha256: a check that a refactor writes
the same bytes.

An artifact embeds its manifest, and the manifest records when it was made and how long it took,
so two exports of the same model never match byte for byte. Here those two readings are fixed
(the creation time and every perf_counter read of edgekit's own modules), so what is left to
differ is what the converters and edgekit write. Compare the output of two checkouts:

    python scripts/artifact_digest.py efficientnet_lite0 --weights imagenet --target all > a.txt

A converter that is not deterministic (Core ML's package writes fresh identifiers) shows up as
a differing digest in both runs of the same checkout; run it twice to see which ones are. ONNX
files also record the exporting source file's path in each node's stack trace, so for .onnx a
second digest is printed with the nodes' metadata removed ("content")."""
from __future__ import annotations

import argparse
import datetime as _dt
import json
import sys
import tempfile
import types
from pathlib import Path

FROZEN = _dt.datetime(2026, 1, 1, tzinfo=_dt.timezone.utc)


class _FrozenDatetime(_dt.datetime):
    @classmethod
    def now(cls, tz=None):
        return FROZEN if tz is not None else FROZEN.replace(tzinfo=None)


def _freeze_clock() -> None:
    """Give every loaded edgekit module a frozen `datetime` class and a `time` whose perf_counter
    stands still (other functions of `time` are the real ones)."""
    import time as real_time

    still = types.SimpleNamespace(**{k: getattr(real_time, k) for k in dir(real_time) if not k.startswith("__")})
    still.perf_counter = lambda: 0.0
    for name, mod in list(sys.modules.items()):
        if not name.startswith("edgekit") or mod is None:
            continue
        if getattr(mod, "datetime", None) is _dt.datetime:
            mod.datetime = _FrozenDatetime
        if getattr(mod, "_dt", None) is _dt:
            mod._dt = types.SimpleNamespace(datetime=_FrozenDatetime, timezone=_dt.timezone)
        if getattr(mod, "time", None) is real_time:
            mod.time = still


def _onnx_content_digest(path: Path) -> str:
    """sha256 of an ONNX model with every node's metadata_props (stack traces, source paths)
    removed."""
    import hashlib

    import onnx

    m = onnx.load(str(path))
    for node in m.graph.node:
        del node.metadata_props[:]
    return hashlib.sha256(m.SerializeToString(deterministic=True)).hexdigest()


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("model")
    ap.add_argument("--target", default="all")
    ap.add_argument("--precision", default=None)
    ap.add_argument("--weights", default=None)
    ap.add_argument("--calib", default=None)
    ap.add_argument("--out", default=None, help="keep the artifacts here (default: a temporary folder)")
    a = ap.parse_args(argv)

    import edgekit
    import edgekit.export  # noqa: F401  (loaded before the clock is frozen in it)

    for mod in ("edgekit.capture", "edgekit.parity", "edgekit.manifest"):
        __import__(mod)
    _freeze_clock()
    out = Path(a.out) if a.out else Path(tempfile.mkdtemp(prefix="edgekit-digest-"))
    arts = edgekit.export(a.model, target=a.target, precision=a.precision, weights=a.weights, calib=a.calib,
                          out=out)
    from edgekit.manifest import sha256_file

    for art in arts if isinstance(arts, list) else [arts]:
        side = art.path.with_name(art.path.name + ".json")
        manifest = json.loads(side.read_text())
        extra = f"  content {_onnx_content_digest(art.path)}" if art.path.suffix == ".onnx" else ""
        print(f"{art.path.name}  artifact {sha256_file(art.path)}  manifest {sha256_file(side)}{extra}  "
              f"parity {manifest['parity'].get('status')} maxabs {manifest['parity'].get('max_abs_error')}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
