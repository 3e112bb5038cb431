"""Converter failures as one line: which target, which converter, which operator, what to try.

A converter that cannot handle a model raises deep inside its own code (litert-torch's lowering
table, coremltools' op registry, the XNNPACK partitioner, torch.onnx's dispatcher), with messages
many lines long. `explain()` turns any of them into an ExportError naming the target, the
converter, the operator when the message names one, and the alternatives (another target, or
fp32 for an int8 failure). The original exception stays chained for `-v`."""
from __future__ import annotations

import re
from typing import Optional

from ..errors import ExportError, first_line

CONVERTERS = {"executorch": "ExecuTorch/XNNPACK", "tflite": "litert-torch", "coreml": "coremltools",
              "onnx": "torch.onnx"}

# operator names as converters print them: aten.foo.default, torch.ops.aten.foo, aten::foo,
# and coremltools' "Unsupported op 'foo'" / "PyTorch convert function for op 'foo' not implemented"
_OP_PATTERNS = (
    re.compile(r"\baten(?:\.|::)([A-Za-z_][\w]*)(?:\.([A-Za-z_]\w*))?"),
    re.compile(r"(?:op|operator)s? ['\"]([\w.:]+)['\"]", re.I),
)


def operator_in(text: str) -> Optional[str]:
    """The first operator a converter's message names, as aten.NAME[.overload], or None."""
    for pat in _OP_PATTERNS:
        m = pat.search(text)
        if m:
            if pat is _OP_PATTERNS[0]:
                return "aten." + m.group(1) + (f".{m.group(2)}" if m.group(2) and m.group(2) != "default" else "")
            return m.group(1)
    return None


def explain(exc: BaseException, target: str, precision: str, stage: str = "convert") -> ExportError:
    """One-line ExportError for a converter exception (chain it: `raise explain(e, ...) from e`)."""
    text = f"{exc}"
    op = operator_in(text)
    converter = CONVERTERS.get(target, target)
    what = f"cannot {stage} operator {op}" if op else f"failed to {stage} this model"
    others = [t for t in CONVERTERS if t != target and t != "coreml"]
    tries = [f"--target {' or '.join(others)}"]
    if precision != "fp32":
        tries.append("--precision fp32")
    detail = first_line(exc, 160)
    return ExportError(f"{target} {precision}: {converter} {what} ({type(exc).__name__}: {detail}); "
                       f"try {', or '.join(tries)}")
