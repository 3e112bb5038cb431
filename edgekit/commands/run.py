"""`edgekit run ARTIFACT --inputs X.npy --out Y.npy`: run a batch of already-preprocessed float
inputs (N, ...) through the artifact's own runtime, one input at a time, and save the (N, C)
outputs. Torch-free: this is what `edgekit verify --isa aarch64` runs inside the emulated
environment, and what a script on a device can call to get raw logits. Prints one JSON line:
runtime, version, and the machine it ran on (emulation and CPU features included)."""
from __future__ import annotations

import json


def register(sub) -> None:
    p = sub.add_parser("run", help="run preprocessed inputs (.npy) through an artifact, save the outputs",
                       description="Run a float batch (N, ...) saved with numpy.save through the artifact, one "
                                   "input at a time, and save the (N, C) outputs; prints one JSON line.")
    p.add_argument("artifact", help=".pte, .tflite or .onnx")
    p.add_argument("--inputs", required=True, help=".npy float32 array (N, ...) in the artifact's input layout")
    p.add_argument("--out", required=True, help=".npy file for the (N, C) float32 outputs")
    p.add_argument("--threads", type=int, default=None, help="runtime threads (default: the runtime's choice)")
    p.set_defaults(func=run)


def run(args) -> int:
    import os
    import time

    import numpy as np

    from ..bench.system import host_info
    from ..errors import InputError
    from ..files import staged
    from ..runtimes import load

    try:
        x = np.load(args.inputs, allow_pickle=False)
    except (OSError, ValueError) as e:
        raise InputError(f"--inputs {args.inputs}: expected a .npy array saved with numpy.save ({e})") from None
    if x.ndim < 2 or x.dtype.kind != "f":
        raise InputError(f"--inputs {args.inputs}: expected a float array (N, ...), got {x.dtype} {x.shape}")
    if not args.out.endswith(".npy"):
        raise InputError(f"--out {args.out}: expected a .npy file name")
    model = load(args.artifact, threads=args.threads)
    outs = []
    t0 = time.perf_counter()
    for i in range(len(x)):
        y = model.run([np.ascontiguousarray(x[i:i + 1], np.float32)])[0]
        outs.append(np.asarray(y, np.float32).reshape(1, -1))
    seconds = time.perf_counter() - t0
    with staged(args.out) as tmp:
        with open(tmp, "wb") as f:
            np.save(f, np.concatenate(outs, 0))
    print(json.dumps({"artifact": os.path.basename(args.artifact), "runtime": model.runtime_name,
                      "runtime_version": model.runtime_version, "n": len(x), "seconds": seconds,
                      "host": host_info()}))
    return 0
