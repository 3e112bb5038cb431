"""Corrupt and truncated artifacts (issue 4 section 6): for every format, many mutated files go
through edgekit.load(...).run(...) and `edgekit info`'s reader IN THIS PROCESS. Each must either
work or raise an EdgekitError (one line); any other exception fails the test, and a native crash
would kill pytest itself. Native crashes are kept out by static validation plus the probe worker
(runtimes/probe.py); benchmarks/fuzz_artifacts.py measures how many mutations crash the
runtimes when neither is used. Default: ~220 mutations; EDGEKIT_SLOW=1 adds a 4x larger run."""
from __future__ import annotations

import collections

import numpy as np
import pytest

from edgekit.errors import EdgekitError
from edgekit.runtimes import inspect, load, probe

from benchmarks.tiny import cached_build
from benchmarks.fuzzcases import mutations

DEFAULT_COUNTS = {"tiny.tflite": 80, "tiny.onnx": 48, "tiny.pte": 40, "tiny.mlpackage": 56}


@pytest.fixture
def counted_probes(monkeypatch, tmp_path):
    """Count probe outcomes; keep the probe cache out of the user's home."""
    monkeypatch.setenv("EDGEKIT_CACHE", str(tmp_path / "cache"))
    monkeypatch.delenv("EDGEKIT_PROBE", raising=False)
    seen = collections.Counter()
    real = probe.run_probe

    def wrapped(path, fmt, timeout=probe.PROBE_TIMEOUT_S):
        try:
            real(path, fmt, timeout)
        except EdgekitError as e:
            seen["probe rejected: crashed" if "crashed" in str(e) else "probe rejected: error"] += 1
            raise
        seen["probe passed"] += 1

    monkeypatch.setattr(probe, "run_probe", wrapped)
    return seen


def _one(path) -> str:
    """Outcome of loading, running and inspecting one file; raises on anything but EdgekitError."""
    from edgekit.runtimes.info import artifact_info as collect

    outcome = "ok"
    try:
        collect(path)
    except EdgekitError as e:
        assert "\n" not in str(e), str(e)
        outcome = "info: error"
    try:
        m = inspect(path) if path.is_dir() else load(path)
        x = [np.zeros(tuple(max(d, 1) for d in s.shape), np.float32) for s in m.inputs]
        m.run(x)
        return outcome + ", load+run: ok"
    except EdgekitError as e:
        assert "\n" not in str(e), str(e)
        return outcome + f", load+run: {type(e).__name__}"


def _fuzz(name: str, count: int, tmp_path, seen, seed: int = 0) -> collections.Counter:
    src = cached_build() / name
    outcomes = collections.Counter()
    failures = []
    for path, kind in mutations(src, tmp_path / "mut", count, seed=seed):
        try:
            outcomes[_one(path)] += 1
        except Exception as e:  # not an EdgekitError: a bug in edgekit's handling
            failures.append(f"{path.name} ({kind}): {type(e).__name__}: {str(e)[:200]}")
    print(f"\n{name}: {count} mutations: {dict(outcomes)}; probes: {dict(seen)}")
    assert not failures, f"{len(failures)} of {count} mutations raised non-edgekit errors:\n" + "\n".join(failures[:20])
    return outcomes


@pytest.mark.parametrize("name", sorted(DEFAULT_COUNTS))
def test_mutated_artifacts_never_crash_the_caller(name, tmp_path, counted_probes):
    outcomes = _fuzz(name, DEFAULT_COUNTS[name], tmp_path, counted_probes)
    errors = sum(v for k, v in outcomes.items() if "load+run: ok" not in k)
    assert errors >= DEFAULT_COUNTS[name] // 4, f"too few mutations were rejected: {dict(outcomes)}"
    if name != "tiny.mlpackage":
        # the fuzz reaches the native runtime (not only the Python validator)
        assert sum(counted_probes.values()) >= 3, dict(counted_probes)


@pytest.mark.slow
@pytest.mark.parametrize("name", sorted(DEFAULT_COUNTS))
def test_mutated_artifacts_large_run(name, tmp_path, counted_probes):
    _fuzz(name, DEFAULT_COUNTS[name] * 4, tmp_path, counted_probes, seed=1)


def test_a_native_crash_in_the_probe_is_an_artifact_error(tmp_path, monkeypatch):
    """The worker dying (what a segfault in a loader looks like) becomes an ArtifactError."""
    import os
    import signal

    monkeypatch.setenv("EDGEKIT_CACHE", str(tmp_path / "cache"))
    src = cached_build() / "tiny.tflite"
    art = tmp_path / "victim.tflite"
    art.write_bytes(src.read_bytes())
    real = probe._Worker.ask

    def ask_and_crash(self, path, timeout, raw=False):
        os.kill(self.proc.pid, signal.SIGSEGV)
        self.proc.wait()
        return real(self, path, timeout, raw)

    monkeypatch.setattr(probe._Worker, "ask", ask_and_crash)
    with pytest.raises(EdgekitError, match="crashed \\(SIGSEGV\\)"):
        load(art, probe=True)
    monkeypatch.setattr(probe._Worker, "ask", real)
    assert load(art, probe=True).run(np.zeros((1, 3, 32, 32), np.float32))[0].shape == (1, 10)
