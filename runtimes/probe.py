"""Crash isolation for untrusted artifacts. Native loaders (TFLite's flatbuffer reader, the
ExecuTorch program loader, XNNPACK's delegate payload parser) can segfault or abort on a corrupt
file; a Python process cannot catch that. So the first load of a file that edgekit cannot vouch
for happens in a child process that loads it and runs it once on zeros: if the child dies, the
caller gets an ArtifactError instead of dying too.

Trusted without a probe: a file whose sidecar manifest records its sha256 (an edgekit export,
unchanged since), or one whose sha256 passed a probe before (remembered in memory and in
$EDGEKIT_CACHE or ~/.cache/edgekit/probed/). Before any probe, the file is validated statically
(runtimes/validate.py): most corrupt files are rejected there, in microseconds."""
from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path
from typing import Optional, Union

from ..errors import ArtifactError, EdgekitError

PROBE_TIMEOUT_S = 300
_OK_EXIT, _USER_ERROR_EXIT = 0, 3
_trusted: set = set()


def _cache_dir() -> Path:
    base = os.environ.get("EDGEKIT_CACHE") or os.path.join(os.environ.get("XDG_CACHE_HOME") or os.path.expanduser("~/.cache"), "edgekit")
    return Path(base) / "probed"


def _mode(probe: Union[bool, str]) -> Union[bool, str]:
    env = os.environ.get("EDGEKIT_PROBE", "").strip().lower()
    if probe == "auto" and env in ("0", "no", "false", "off"):
        return False
    if probe == "auto" and env in ("1", "yes", "true", "on", "always"):
        return True
    return probe


def _sidecar_vouches(digest: str, manifest: Optional[dict]) -> bool:
    art = (manifest or {}).get("artifact") or {}
    return isinstance(art, dict) and art.get("sha256") == digest


def maybe_probe(path, fmt: str, manifest: Optional[dict], probe: Union[bool, str] = "auto") -> None:
    """Validate `path` statically, then (unless trusted) load+run it once in a child process.
    Raises ArtifactError for a corrupt file; returns when the caller can load it safely."""
    from .validate import validate

    validate(path, fmt)
    mode = _mode(probe)
    if mode is False:
        return
    if fmt == "coreml" and sys.platform != "darwin":
        return  # on Linux a Core ML package is only read by edgekit's own Python spec reader
    from ..manifest import sha256_file

    digest = sha256_file(path)
    if mode == "auto":
        if digest in _trusted or _sidecar_vouches(digest, manifest) or (_cache_dir() / digest).exists():
            return
    run_probe(path, fmt)
    _trusted.add(digest)
    try:
        d = _cache_dir()
        d.mkdir(parents=True, exist_ok=True)
        (d / digest).touch()
    except OSError:
        pass  # a read-only home only costs a probe next time


def _child_env() -> dict:
    env = dict(os.environ)
    pkg_parent = str(Path(__file__).resolve().parents[1].parent)  # where `edgekit` resolves from
    env["PYTHONPATH"] = os.pathsep.join(p for p in (pkg_parent, env.get("PYTHONPATH")) if p)
    env["EDGEKIT_PROBE"] = "0"
    for k in ("OMP_NUM_THREADS", "MKL_NUM_THREADS"):
        env.setdefault(k, "1")
    return env


def run_probe(path, fmt: str, timeout: float = PROBE_TIMEOUT_S) -> None:
    """Load and run `path` once in a child Python. ArtifactError if the child crashes, hangs or
    reports an error."""
    p = Path(path)
    cmd = [sys.executable, "-c", "from edgekit.runtimes.probe import _child; _child()", fmt, str(p)]
    try:
        r = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, env=_child_env(),
                           stdin=subprocess.DEVNULL)
    except subprocess.TimeoutExpired:
        raise ArtifactError(f"{p.name}: loading it did not finish in {timeout:.0f} s (corrupt?)") from None
    if r.returncode == _OK_EXIT:
        return
    if r.returncode == _USER_ERROR_EXIT:
        lines = [ln for ln in r.stdout.splitlines() if ln.startswith("edgekit-probe: ")]
        msg = lines[-1][len("edgekit-probe: "):] if lines else f"{p.name}: cannot be loaded"
        raise ArtifactError(msg)
    if r.returncode < 0:
        try:
            sig = signal.Signals(-r.returncode).name
        except ValueError:
            sig = f"signal {-r.returncode}"
        raise ArtifactError(f"{p.name}: the {fmt} runtime crashed ({sig}) loading or running it: the file is corrupt "
                            f"or not supported by this runtime version")
    tail = (r.stderr.strip().splitlines() or ["no output"])[-1][:200]
    raise ArtifactError(f"{p.name}: the {fmt} runtime failed loading or running it (exit {r.returncode}: {tail})")


def _zeros(spec):
    import numpy as np

    shape = tuple(1 if d < 0 else d for d in spec.shape)
    try:
        return np.zeros(shape, dtype=np.dtype(spec.dtype))
    except TypeError:
        return np.zeros(shape, dtype=np.float32)


def _child() -> None:
    """Entry point of the probe process: argv = [fmt, path]."""
    fmt, path = sys.argv[1], sys.argv[2]
    from . import runtime_class, read_manifest

    try:
        model = runtime_class(fmt)(path, threads=1, manifest=read_manifest(path, fmt))
        model._invoke([_zeros(s) for s in model.inputs])
    except EdgekitError as e:
        print(f"edgekit-probe: {e}", flush=True)
        sys.exit(_USER_ERROR_EXIT)
    except Exception as e:  # a runtime's own exception on a bad file: still the file's fault
        msg = str(e).strip().splitlines()[0][:300] if str(e).strip() else type(e).__name__
        print(f"edgekit-probe: {Path(path).name}: cannot be loaded by the {fmt} runtime: {msg}", flush=True)
        sys.exit(_USER_ERROR_EXIT)
    sys.exit(_OK_EXIT)
