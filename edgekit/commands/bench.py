"""`edgekit bench ARTIFACT...`: latency benchmark here, over SSH (--host) or over adb (--adb).
Several artifacts give one comparison table with the ratio to the fastest."""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from . import verbose_option


def _positive_int(s: str) -> int:
    try:
        v = int(s)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected an integer, got {s!r}") from None
    if v < 1:
        raise argparse.ArgumentTypeError(f"expected an integer >= 1, got {v}")
    return v


def _nonneg_int(s: str) -> int:
    try:
        v = int(s)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected an integer, got {s!r}") from None
    if v < 0:
        raise argparse.ArgumentTypeError(f"expected an integer >= 0, got {v}")
    return v


def _positive_float(s: str) -> float:
    try:
        v = float(s)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number, got {s!r}") from None
    if not v > 0:
        raise argparse.ArgumentTypeError(f"expected a number > 0, got {s}")
    return v


def register(subparsers) -> None:
    p = subparsers.add_parser(
        "bench", help="measure latency, load time and memory of artifacts (here, over ssh, or over adb)",
        description="Benchmark one or more artifacts: load time, first run, steady-state latency "
                    "(min/p50/p90/p99/mean/std, outliers counted), throughput, peak RSS increase. "
                    "Several artifacts give one comparison table with the ratio to the fastest.")
    p.add_argument("artifacts", nargs="+", metavar="ARTIFACT", help=".tflite, .pte, .onnx, .mlpackage or .pt2")
    p.add_argument("--threads", type=_positive_int, default=None, help="intra-op threads (default: the runtime's)")
    p.add_argument("--warmup", type=_nonneg_int, default=10, metavar="K", help="untimed runs after the first (default 10)")
    g = p.add_mutually_exclusive_group()
    g.add_argument("--iters", type=_positive_int, default=None, metavar="M", help="timed runs (default 100)")
    g.add_argument("--min-seconds", type=_positive_float, default=None, metavar="S", help="time runs for at least S seconds instead")
    p.add_argument("--json", metavar="FILE", nargs="?", const="-",
                   help="write the results as JSON (schema: edgekit/schema/bench.schema.json) to FILE; without "
                        "FILE (or '-'), print it on stdout and nothing else")
    p.add_argument("--csv", metavar="FILE", help="write one CSV row per artifact")
    p.add_argument("--plot", metavar="FILE", help="latency distributions: .png (matplotlib; without it an .html is written instead), .html or .svg")
    p.add_argument("--no-samples", action="store_true", help="leave the per-run times out of the JSON")
    p.add_argument("--no-progress", action="store_true", help="no progress bar on stderr")
    verbose_option(p)
    r = p.add_argument_group("remote devices")
    where = r.add_mutually_exclusive_group()
    where.add_argument("--host", metavar="USER@HOST[:PORT]", help="run on a Raspberry Pi / Jetson over ssh (your ssh config and keys)")
    where.add_argument("--adb", metavar="SERIAL", help="run on an Android device with its benchmark binary")
    r.add_argument("--remote-edgekit", default="edgekit", metavar="CMD",
                   help="--host: how to start edgekit there, e.g. ~/venv/bin/edgekit or 'python3 -m edgekit' (default: edgekit)")
    r.add_argument("--ssh-option", action="append", default=[], metavar="KEY=VALUE", help="--host: extra ssh -o option (repeatable)")
    r.add_argument("--ssh-config", metavar="FILE", help="--host: ssh config file (ssh -F); default: yours")
    r.add_argument("--connect-timeout", type=_positive_int, default=15, metavar="S", help="--host/--adb: seconds to wait for the connection (default 15)")
    r.add_argument("--timeout", type=_positive_float, default=1800.0, metavar="S", help="--host/--adb: seconds the remote benchmark may take (default 1800)")
    r.add_argument("--adb-benchmark-model", default="/data/local/tmp/benchmark_model", metavar="PATH",
                   help="--adb: LiteRT benchmark_model on the device, for .tflite (default: %(default)s)")
    r.add_argument("--adb-executor-runner", default="/data/local/tmp/executor_runner", metavar="PATH",
                   help="--adb: ExecuTorch executor_runner on the device, for .pte (default: %(default)s)")
    p.set_defaults(func=run)


def run(args) -> int:
    from ..bench import bench_artifact, report
    from ..errors import ArtifactError

    paths = [Path(a) for a in args.artifacts]
    for path in paths:
        if not path.exists():
            raise ArtifactError(f"artifact not found: {path}")
    config = {"threads": args.threads, "warmup": args.warmup, "iters": args.iters, "min_seconds": args.min_seconds}
    if config["iters"] is None and config["min_seconds"] is None:
        from ..bench import DEFAULT_ITERS

        config["iters"] = DEFAULT_ITERS
    progress = not args.no_progress

    if args.host:
        from ..remote.ssh import SSHRunner, bench_over_ssh

        runner = SSHRunner(args.host, options=args.ssh_option, config_file=args.ssh_config,
                           connect_timeout=args.connect_timeout)
        doc = bench_over_ssh(runner, paths, config, remote_edgekit=args.remote_edgekit, timeout=args.timeout,
                             keep_samples=not args.no_samples, progress=progress)
    elif args.adb:
        from ..remote.adb import AdbDevice, bench_over_adb

        device = AdbDevice(args.adb, timeout=args.connect_timeout)
        doc = bench_over_adb(device, paths, config, benchmark_model=args.adb_benchmark_model,
                             executor_runner=args.adb_executor_runner, timeout=args.timeout)
    else:
        from ..converter_log import quiet

        # the runtimes' own lines (XNNPACK's "Created delegate", cpuinfo) stay out of the table
        with quiet(getattr(args, "verbose", False), "edgekit-bench-"):
            results = [bench_artifact(p, threads=config["threads"], warmup=config["warmup"],
                                      iters=config["iters"] if args.min_seconds is None else None,
                                      min_seconds=config["min_seconds"], progress=progress, keep_samples=not args.no_samples)
                       for p in paths]
        doc = report(results, config)
    return write_outputs(doc, args)


def write_outputs(doc: dict, args) -> int:
    from ..bench.output import format_table, to_csv
    from ..files import write_text

    text = json.dumps(doc, indent=2) + "\n"
    if args.json == "-":
        sys.stdout.write(text)
        sys.stdout.flush()
    else:
        sys.stdout.write(format_table(doc))
        if args.json:
            write_text(Path(args.json), text)
    if args.csv:
        write_text(Path(args.csv), to_csv(doc))
    if args.plot:
        from ..bench.plot import write_plot

        out = write_plot(doc, args.plot)
        if str(out) != str(args.plot):
            print(f"edgekit: matplotlib is not installed: wrote {out} (HTML with an SVG plot) instead of {args.plot}", file=sys.stderr)
        elif args.json != "-":
            print(f"plot: {out}")
    return 0
