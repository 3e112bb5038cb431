"""Where an ExecuTorch program spends its time: XNNPACK delegate calls vs. operators left to
ExecuTorch's portable kernels, from the runtime's own profiler (ETDump, read by
executorch.devtools.Inspector).

Undelegated operators are the silent 10x: this is what `edgekit export` prints when an artifact
is not fully delegated, and what the coverage benchmark records."""
from __future__ import annotations

import os
import tempfile
from collections import defaultdict

import numpy as np

DELEGATE_EVENT = "DELEGATE_CALL"


def etdump_inspector(module):
    """An executorch.devtools.Inspector over what `module` (loaded with enable_etdump=True) has
    recorded so far: its method events, and the XNNPACK delegate's per-operator events."""
    from executorch.devtools import Inspector

    fd, etdump = tempfile.mkstemp(suffix=".etdp", prefix="edgekit-")
    os.close(fd)
    try:
        module.write_etdump_result_to_file(etdump)
        return Inspector(etdump_path=etdump)
    finally:
        os.remove(etdump)


def executorch_op_times(path, runs: int = 10, seed: int = 0) -> dict:
    """{"method_ms", "delegate_ms", "portable_ms", "portable_fraction", "portable_ops": {op: ms}}
    per forward call (mean over `runs` after one warm-up), for a .pte with a float input."""
    from executorch.extension.pybindings.portable_lib import _load_for_executorch
    import torch

    module = _load_for_executorch(str(path), enable_etdump=True)
    meta = module.method_meta("forward")
    spec = meta.input_tensor_meta(0)
    shape = tuple(int(s) for s in spec.sizes())
    x = torch.from_numpy(np.random.default_rng(seed).standard_normal(shape).astype(np.float32))
    module.forward((x,))
    for _ in range(runs):
        module.forward((x,))
    inspector = etdump_inspector(module)
    per_op, delegate, method = defaultdict(list), [], []
    for block in inspector.event_blocks:
        for ev in block.events:
            if ev.perf_data is None:
                continue
            times = list(ev.perf_data.raw)
            if ev.name == "Method::execute":
                method += times
            elif ev.name == DELEGATE_EVENT or ev.is_delegated_op:
                if ev.name == DELEGATE_EVENT:
                    delegate += times
            elif ev.name.startswith("native_call_") or ev.op_types:
                per_op[ev.name.replace("native_call_", "")] += times
    calls = max(len(method), 1)
    portable = {op: sum(t) / calls for op, t in per_op.items()}
    method_ms = sum(method) / calls if method else None
    portable_ms = sum(portable.values())
    return {
        "method_ms": method_ms,
        "delegate_ms": sum(delegate) / calls,
        "portable_ms": portable_ms,
        "portable_fraction": (portable_ms / method_ms) if method_ms else None,
        "portable_ops": dict(sorted(portable.items(), key=lambda kv: -kv[1])),
    }
