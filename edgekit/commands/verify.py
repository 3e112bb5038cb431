"""`edgekit verify ARTIFACT --isa aarch64 [--images DIR] [-n N]`: run the artifact on ARM kernels
(the aarch64 environment of scripts/aarch64-env.sh, under qemu-user) and compare with this
machine's run and PyTorch eager; records parity.aarch64 in the sidecar manifest."""
from __future__ import annotations

import json


def register(sub) -> None:
    p = sub.add_parser("verify", help="check an artifact's outputs on another ISA (aarch64, emulated)",
                       description="Run the artifact in the aarch64 environment (scripts/aarch64-env.sh) under "
                                   "qemu-user, compare with the x86 run and PyTorch eager (max abs error, cosine, "
                                   "top-1 agreement) and record parity.aarch64 in the sidecar manifest. Emulated "
                                   "timings are not device latency.")
    p.add_argument("artifact", help=".tflite or .onnx with its manifest")
    p.add_argument("--isa", required=True, help="instruction set to check on: aarch64")
    p.add_argument("--images", default=None, help="folder of photos (default: seeded random inputs)")
    p.add_argument("-n", type=int, default=8, help="inputs to run (default 8; emulation takes seconds per image)")
    p.add_argument("--env", default=None, help="the environment folder (default $EDGEKIT_AARCH64_ENV or "
                                               "~/.cache/edgekit/aarch64)")
    p.add_argument("--threads", type=int, default=None, help="runtime threads on the emulated side")
    p.add_argument("--no-eager", dest="eager", action="store_false", help="compare with the x86 run only")
    p.add_argument("--no-write", dest="write", action="store_false", help="do not record the result in the manifest")
    p.add_argument("--json", action="store_true", help="print the parity entry as JSON")
    p.set_defaults(func=run)


def _fmt(m) -> str:
    if not m:
        return "-"
    return (f"top-1 {m['top1_agreement']:.1%}  max abs {m['max_abs_error']:.2e}  cos {m['cosine']:.6f}  "
            f"top-5 {m['top5_overlap']:.1%}")


def run(args) -> int:
    from ..isa import verify

    e = verify(args.artifact, isa=args.isa, images=args.images, n=args.n, env_dir=args.env, write=args.write,
               threads=args.threads, eager=args.eager)
    if args.json:
        print(json.dumps(e, indent=2))
    else:
        where = f"{e['machine']}" + (f", emulated by {e['emulator']} ({e['cpu_model']})" if e["emulated"] else "")
        print(f"{args.isa} run   {e['runtime']} on {where}; features {' '.join(e['cpu_features']) or '-'}")
        print(f"inputs        {e['inputs']}")
        print(f"vs x86        {_fmt(e['vs_x86'])}  ({e['vs_x86']['runtime']})")
        print(f"vs eager      {_fmt(e['vs_eager']) if e['vs_eager'] else 'not run: ' + e.get('eager_not_run', '')}")
        status = e["status"] + (f": {e['reason']}" if e.get("reason") else "")
        print(f"parity        {status} (judged against {e['judged_against']})")
        if "recorded" in e:
            print(f"recorded      {e['recorded']}")
        if e["emulated"]:
            print(f"time          {e['seconds_per_input']:.2f} s per input under emulation (not device latency)")
    return 0 if e["status"] == "passed" else 3
