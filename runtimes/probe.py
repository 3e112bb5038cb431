"""Crash isolation for untrusted artifacts. Native loaders (TFLite's flatbuffer reader, the
ExecuTorch program loader, XNNPACK's delegate payload parser) can segfault or abort on a corrupt
file; a Python process cannot catch that. So the first load of a file that edgekit cannot vouch
for happens in a child process that loads it and runs it once on zeros: if the child dies, the
caller gets an ArtifactError instead of dying too.

Trusted without a probe: a file whose sidecar manifest records its sha256 (an edgekit export,
unchanged since), or one whose sha256 passed a probe before (remembered in memory and in
$EDGEKIT_CACHE or ~/.cache/edgekit/probed/). Before any probe, the file is validated statically
(runtimes/readers/): most corrupt files are rejected there, in microseconds."""
from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path
from typing import Optional, Union

from ..errors import ArtifactError, EdgekitError, first_line

PROBE_TIMEOUT_S = 300
_trusted: set = set()   # sha256 of files that passed (or did not need) a probe
_checked: set = set()   # (realpath, size, mtime_ns, inode) of files validated and trusted in this process


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


def _stat_key(path) -> Optional[tuple]:
    try:
        st = os.stat(path)
    except OSError:
        return None
    if os.path.isdir(path):
        return None  # a package's files can change without the directory's mtime changing
    return (os.path.realpath(path), st.st_size, st.st_mtime_ns, st.st_ino)


def maybe_probe(path, fmt: str, manifest: Optional[dict], probe: Union[bool, str] = "auto") -> None:
    """Validate `path` statically, then (unless trusted) load+run it once in a child process.
    Raises ArtifactError for a corrupt file; returns when the caller can load it safely.
    A file already checked in this process (same path, size, mtime, inode) is not re-read."""
    from .readers import validate

    mode = _mode(probe)
    key = _stat_key(path)
    if mode != True and key is not None and key in _checked:  # noqa: E712 (True, not truthy "auto")
        return
    validate(path, fmt)
    if mode is False:
        return
    if fmt == "coreml" and sys.platform != "darwin":
        return  # on Linux a Core ML package is only read by edgekit's own Python spec reader
    from ..manifest import sha256_file

    digest = sha256_file(path)
    if mode == "auto":
        if digest in _trusted or _sidecar_vouches(digest, manifest) or (_cache_dir() / digest).exists():
            if key is not None:
                _checked.add(key)
            return
    run_probe(path, fmt)
    _trusted.add(digest)
    if key is not None:
        _checked.add(key)
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


def python_command() -> list:
    """argv that starts another Python like this one: $EDGEKIT_PYTHON when set (under qemu-user
    the host kernel cannot exec the emulated interpreter itself, so scripts/aarch64-env.sh's
    launcher names the qemu command line there), else sys.executable."""
    import shlex

    cmd = os.environ.get("EDGEKIT_PYTHON", "").strip()
    return shlex.split(cmd) if cmd else [sys.executable]


class _Worker:
    """A child Python that probes files of one format, one job at a time, so the runtime import
    (torch for ExecuTorch: seconds) is paid once per process, not once per file. Protocol: one
    JSON line per job on its stdin, one JSON line per answer on a private pipe (native libraries
    may print to stdout/stderr, which go to /dev/null). If it dies, the job's file crashed it;
    a new worker is started for the next job."""

    def __init__(self, fmt: str):
        import json

        self.fmt, self._json = fmt, json
        r, w = os.pipe()
        code = "import sys; from edgekit.runtimes.probe import _serve; _serve(int(sys.argv[1]))"
        self.proc = subprocess.Popen([*python_command(), "-c", code, str(w)], stdin=subprocess.PIPE,
                                     stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, pass_fds=(w,),
                                     env=_child_env(), text=True)
        os.close(w)
        self.answers = os.fdopen(r, "r")

    def ask(self, path: str, timeout: float, raw: bool = False) -> dict:
        import select

        try:
            self.proc.stdin.write(self._json.dumps({"fmt": self.fmt, "path": path, "raw": raw}) + "\n")
            self.proc.stdin.flush()
        except (BrokenPipeError, OSError):
            return {"died": self._wait()}
        ready, _, _ = select.select([self.answers], [], [], timeout)
        if not ready:
            self.kill()
            return {"timeout": True}
        line = self.answers.readline()
        if not line:
            return {"died": self._wait()}
        return self._json.loads(line)

    def _wait(self) -> int:
        try:
            return self.proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            self.kill()
            return -9

    def alive(self) -> bool:
        return self.proc.poll() is None

    def kill(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()
        self.answers.close()


_workers: dict = {}


def _close_workers() -> None:
    for w in list(_workers.values()):
        try:
            w.proc.stdin.close()
            w.proc.wait(timeout=5)
        except Exception:
            w.kill()
    _workers.clear()


import atexit  # noqa: E402

atexit.register(_close_workers)


def run_probe(path, fmt: str, timeout: float = PROBE_TIMEOUT_S) -> None:
    """Load and run `path` once (on zeros) in a worker process. ArtifactError if the worker
    crashes, hangs or reports an error."""
    p = Path(path)
    w = _workers.get(fmt)
    if w is None or not w.alive():
        w = _workers[fmt] = _Worker(fmt)
    ans = w.ask(str(p.resolve()), timeout)
    if ans.get("ok"):
        return
    if "error" in ans:
        raise ArtifactError(ans["error"])
    _workers.pop(fmt, None)
    if ans.get("timeout"):
        raise ArtifactError(f"{p.name}: loading it did not finish in {timeout:.0f} s (corrupt?)")
    rc = ans.get("died", 1)
    if rc is not None and rc < 0:
        try:
            sig = signal.Signals(-rc).name
        except ValueError:
            sig = f"signal {-rc}"
        raise ArtifactError(f"{p.name}: the {fmt} runtime crashed ({sig}) loading or running it: the file is corrupt "
                            f"or not supported by this runtime version")
    raise ArtifactError(f"{p.name}: the {fmt} runtime failed loading or running it (exit {rc})")


def _zeros(spec):
    import numpy as np

    shape = tuple(1 if d < 0 else d for d in spec.shape)
    try:
        return np.zeros(shape, dtype=np.dtype(spec.dtype))
    except TypeError:
        return np.zeros(shape, dtype=np.float32)


def _probe_one(fmt: str, path: str, raw: bool = False) -> dict:
    """Load + run on zeros. raw=True skips the manifest reader, so only the native loader sees
    the file (benchmarks/fuzz_artifacts.py measures crashes that way)."""
    from ..formats import get_format
    from .detect import read_manifest

    try:
        manifest = None if raw else read_manifest(path, fmt)
        model = get_format(fmt).runtime_class()(path, threads=1, manifest=manifest)
        model._invoke([_zeros(s) for s in model.inputs])
        model.close()
    except EdgekitError as e:
        return {"error": str(e)}
    except Exception as e:  # a runtime's own exception on a bad file: still the file's fault
        msg = first_line(e)
        return {"error": f"{Path(path).name}: cannot be loaded by the {fmt} runtime: {msg}"}
    return {"ok": True}


def _serve(answer_fd: int) -> None:
    """Worker main loop (see _Worker): probe each requested file, answer on `answer_fd`."""
    import json

    out = os.fdopen(answer_fd, "w")
    for line in sys.stdin:
        job = json.loads(line)
        out.write(json.dumps(_probe_one(job["fmt"], job["path"], job.get("raw", False))) + "\n")
        out.flush()
