"""Parity: run an exported artifact in its own runtime on N inputs and compare with PyTorch eager.

Metrics over the N inputs (logits):
  max_abs_error   max |artifact - eager| over all logits of all inputs
  cosine          the WORST (minimum) per-input cosine similarity of the logit vectors
  top1_agreement  fraction of inputs whose argmax agrees
  top5_overlap    mean |top5(artifact) & top5(eager)| / 5

Thresholds per precision (a check passes when every listed bound holds):
  fp32: top-1 agreement 100%, max abs error <= 1e-3, and cosine >= 0.9999 (the same program in
        float32; the cosine bound is scale-free, so it still bites when logits are tiny, e.g.
        a randomly initialised network)
  fp16: top-1 agreement >= 95%, cosine >= 0.995, top-5 overlap >= 0.9 (half-precision weights /
        compute shift logits by ~1e-2; near-ties may flip)
  int8: top-1 agreement >= 85%, cosine >= 0.95, top-5 overlap >= 0.75. This is a guard
        against broken quantization (wrong scales, a failed op gives cosine ~0), not the
        fidelity target; the int8 fidelity numbers (>= 99% agreement goal) are measured on
        held-out photos by benchmarks/fidelity.py.
"""
from __future__ import annotations

import os
from dataclasses import asdict, dataclass, field
from typing import Callable, Optional

import numpy as np

from .progress import stage

THRESHOLDS = {
    "fp32": {"top1_agreement": 1.0, "max_abs_error": 1e-3, "cosine": 0.9999},
    "fp16": {"top1_agreement": 0.95, "cosine": 0.995, "top5_overlap": 0.9},
    "int8": {"top1_agreement": 0.85, "cosine": 0.95, "top5_overlap": 0.75},
}
_UPPER_BOUNDS = ("max_abs_error",)  # everything else is a lower bound


@dataclass
class ParityReport:
    status: str                       # passed | failed | not_run
    reason: str = ""
    runtime: str = ""
    n: int = 0
    max_abs_error: Optional[float] = None
    cosine: Optional[float] = None
    top1_agreement: Optional[float] = None
    top5_overlap: Optional[float] = None
    thresholds: dict = field(default_factory=dict)
    inputs: str = ""                  # where the inputs came from

    @property
    def passed(self) -> bool:
        return self.status == "passed"

    def to_dict(self) -> dict:
        d = asdict(self)
        if self.status == "not_run":
            return {k: d[k] for k in ("status", "reason", "runtime") if d[k]}
        return {k: v for k, v in d.items() if v not in ("", None) or k == "status"}

    def summary(self) -> str:
        if self.status == "not_run":
            return f"not run: {self.reason}"
        s = (f"{self.status} (n={self.n}, top-1 {self.top1_agreement:.1%}, max abs {self.max_abs_error:.2e}, "
             f"cos {self.cosine:.5f}, top-5 {self.top5_overlap:.1%})")
        return s + (f": {self.reason}" if self.reason else "")


def not_run(reason: str, runtime: str = "") -> ParityReport:
    return ParityReport(status="not_run", reason=reason, runtime=runtime)


def metrics(ref: np.ndarray, out: np.ndarray) -> dict:
    """Compare two (N, C) logit arrays."""
    ref = np.asarray(ref, np.float64).reshape(len(ref), -1)
    out = np.asarray(out, np.float64).reshape(len(out), -1)
    if ref.shape != out.shape:
        raise ValueError(f"shape mismatch: eager {ref.shape} vs artifact {out.shape}")
    k = min(5, ref.shape[1])
    denom = np.linalg.norm(ref, axis=1) * np.linalg.norm(out, axis=1)
    cos = np.where(denom > 0, (ref * out).sum(1) / np.maximum(denom, 1e-30), 1.0)
    top_r = np.argsort(-ref, axis=1)[:, :k]
    top_o = np.argsort(-out, axis=1)[:, :k]
    overlap = [len(set(a) & set(b)) / k for a, b in zip(top_r, top_o)]
    return {
        "max_abs_error": float(np.abs(ref - out).max()),
        "cosine": float(cos.min()),
        "top1_agreement": float((top_r[:, 0] == top_o[:, 0]).mean()),
        "top5_overlap": float(np.mean(overlap)),
    }


def judge(m: dict, precision: str) -> tuple[str, str]:
    """('passed'|'failed', reason listing the bounds that failed)."""
    bad = []
    for key, bound in THRESHOLDS[precision].items():
        v = m[key]
        ok = v <= bound if key in _UPPER_BOUNDS else v >= bound
        if not ok:
            bad.append(f"{key} {v:.4g} {'>' if key in _UPPER_BOUNDS else '<'} {bound:g}")
    return ("failed", "; ".join(bad)) if bad else ("passed", "")


def compare(ref: np.ndarray, out: np.ndarray, precision: str, runtime: str = "", inputs: str = "") -> ParityReport:
    m = metrics(ref, out)
    status, reason = judge(m, precision)
    return ParityReport(status=status, reason=reason, runtime=runtime, n=len(ref), thresholds=THRESHOLDS[precision],
                        inputs=inputs, **m)


def eager_logits(module, inputs: np.ndarray, batch: int = 16) -> np.ndarray:
    """PyTorch eager reference on the same float inputs (the artifact's layout)."""
    import torch

    outs = []
    with torch.no_grad():
        for i in range(0, len(inputs), batch):
            outs.append(module(torch.from_numpy(np.ascontiguousarray(inputs[i:i + batch]))).float().numpy())
    return np.concatenate(outs, 0)


def _runner(path: str, fmt: str) -> tuple[Callable[[np.ndarray], np.ndarray], str]:
    """A function running one (1, ...) float input through the artifact with edgekit's runtime
    for its format (float in/out; int8 IO is (de)quantized by the runtime wrapper), and the
    runtime's name and version. The file must read back as the format it was written as."""
    from .errors import ExportError
    from .runtimes import open_artifact

    opened = open_artifact(path, probe=False)  # written by this process: no crash probe
    if opened.format != fmt:
        raise ExportError(f"{os.path.basename(path)} was written as {fmt} but reads as {opened.format}")
    rm = opened.load()
    name = f"{rm.runtime_name} {rm.runtime_version}".strip()
    return (lambda x: np.asarray(rm.run([x])[0], np.float32)), name


def artifact_logits(path: str, fmt: str, inputs: np.ndarray) -> tuple[np.ndarray, str]:
    run, name = _runner(path, fmt)
    outs = []
    for i in range(len(inputs)):
        stage("parity", i, len(inputs))
        outs.append(run(np.ascontiguousarray(inputs[i:i + 1])).reshape(1, -1))
    stage("parity", len(inputs), len(inputs))
    return np.concatenate(outs), name


def check(path: str, fmt: str, module, inputs: np.ndarray, precision: str, inputs_desc: str = "") -> ParityReport:
    """Run `path` (format `fmt`) and the eager `module` on `inputs` and judge by `precision`."""
    ref = eager_logits(module, inputs)
    out, runtime = artifact_logits(path, fmt, inputs)
    return compare(ref, out, precision, runtime=runtime, inputs=inputs_desc)
