"""`edgekit bench --adb SERIAL`: benchmark on an Android device with the benchmark binary that
is already there: LiteRT's `benchmark_model` for .tflite, ExecuTorch's `executor_runner` for
.pte (paths configurable). The artifact is pushed to /data/local/tmp/edgekit-XXXXXXXX, the binary
runs over `adb shell`, its console output is parsed into the same document a local
`edgekit bench --json` writes, and the directory is removed again (also after a failure).

What each tool reports decides what the document holds: benchmark_model prints count, min, max,
mean and std of the timed runs (newer builds also p5/median/p95), Init time, first inference and
its memory footprint; executor_runner prints every run's time ("Iteration i of N: X ms") in
recent versions, only a total in older ones. Numbers a tool does not print stay null."""
from __future__ import annotations

import re
import secrets
import shlex
from pathlib import Path
from typing import Optional, Sequence

from ..errors import InputError
from . import RemoteError
from .process import Result, run

DEVICE_TMP = "/data/local/tmp"
_SAFE_PATH = re.compile(r"^/[A-Za-z0-9._/+-]+$")
_NUM = r"([-+]?\d+(?:\.\d+)?(?:[eE][-+]?\d+)?)"


class AdbDevice:
    """One device, reached with the `adb` program (argv lists; device shell strings shlex-quoted)."""

    def __init__(self, serial: str, adb: str = "adb", timeout: float = 15):
        if not serial or serial.startswith("-") or any(c.isspace() for c in serial):
            raise InputError(f"--adb expects a device serial as `adb devices` lists it, got {serial!r}")
        self.serial, self.adb, self.timeout = serial, adb, float(timeout)

    def argv(self, *args: str) -> list:
        return [self.adb, "-s", self.serial, *args]

    def shell_argv(self, *commands: Sequence[str]) -> list:
        """adb shell with one command string: the argv lists joined with ';', each shlex-joined."""
        return self.argv("shell", "; ".join(shlex.join([str(a) for a in c]) for c in commands))

    def shell(self, *commands: Sequence[str], timeout: Optional[float] = None, what: str = "adb shell") -> Result:
        return run(self.shell_argv(*commands), timeout or self.timeout, what)

    def check_online(self) -> None:
        res = run(self.argv("get-state"), self.timeout, f"adb get-state of {self.serial}")
        if res.returncode != 0 or res.stdout.strip() != "device":
            raise RemoteError(f"adb device {self.serial} is not available ({res.tail(1) or res.stdout.strip() or 'no state'}): see `adb devices`")

    def push(self, local: Path, remote: str, timeout: float) -> None:
        check_device_path(remote)
        res = run(self.argv("push", str(local), remote), timeout, f"adb push of {Path(local).name}")
        if res.returncode != 0:
            raise RemoteError(f"adb push of {Path(local).name} to {self.serial} failed: {res.tail(2)}")

    def describe(self) -> dict:
        """The device in the `host` block of the document (getprop; no root needed)."""
        props = ("ro.product.manufacturer", "ro.product.model", "ro.build.version.release", "ro.product.cpu.abi",
                 "ro.soc.model", "ro.board.platform")
        res = self.shell(*(["getprop", p] for p in props), ["cat", "/sys/devices/system/cpu/possible"], what="reading device properties")
        lines = [ln.strip() for ln in res.stdout.replace("\r", "").split("\n")]
        lines += [""] * (len(props) + 1 - len(lines))
        maker, model, release, abi, soc, board, cpus = lines[: len(props) + 1]
        return {
            "hostname": self.serial,
            "device": " ".join(x for x in (maker, model) if x) or self.serial,
            "cpu": soc or board or abi or "unknown",
            "cores": _count_cpus(cpus),
            "os": f"Android {release}" if release else "Android",
            "machine": abi or "unknown",
            "isa": self._isa(abi),
        }

    def _isa(self, abi: str) -> dict:
        """The device's int8-relevant CPU features from its /proc/cpuinfo (unknown if unreadable)."""
        from ..bench.system import isa_from_flags

        res = self.shell(["grep", "-m1", "-E", "^(Features|flags)", "/proc/cpuinfo"], what="reading CPU features")
        line = res.stdout.replace("\r", "").strip() if res.returncode == 0 else ""
        flags = set(line.partition(":")[2].split()) if ":" in line else None
        return isa_from_flags(abi, flags, "adb /proc/cpuinfo")


def _count_cpus(spec: str) -> Optional[int]:
    """'0-7' or '0-3,6' (sysfs cpu list) -> number of CPUs."""
    n = 0
    try:
        for part in spec.split(","):
            if not part.strip():
                continue
            a, _, b = part.partition("-")
            n += (int(b) - int(a) + 1) if b else 1
    except ValueError:
        return None
    return n or None


def check_device_path(path: str) -> str:
    if not _SAFE_PATH.match(path) or "/../" in path + "/":
        raise RemoteError(f"unsafe device path {path!r}")
    return path


# ---------------------------------------------------------------------------------------------
# commands
# ---------------------------------------------------------------------------------------------
def benchmark_model_argv(binary: str, graph: str, threads: Optional[int], warmup: int,
                         iters: Optional[int], min_seconds: Optional[float]) -> list:
    """LiteRT benchmark_model: exactly `warmup` warm-up runs, then `iters` runs (or runs for at
    least `min_seconds`)."""
    argv = [binary, f"--graph={graph}"]
    if threads:
        argv.append(f"--num_threads={threads}")
    argv += [f"--warmup_runs={warmup}", "--warmup_min_secs=0"]
    if min_seconds is not None:
        argv += ["--num_runs=1", f"--min_secs={min_seconds:g}"]
    else:
        argv += [f"--num_runs={iters}", "--min_secs=0"]
    return argv


def executor_runner_argv(binary: str, model: str, threads: Optional[int], warmup: int, iters: int) -> list:
    """ExecuTorch executor_runner: 1 + warmup + iters executions (it has no warm-up flag; the
    first and the warm-up runs are separated from the timed ones when parsing)."""
    argv = [binary, f"--model_path={model}", f"--num_executions={1 + warmup + iters}"]
    if threads:
        argv.append(f"--cpu_threads={threads}")
    return argv


# ---------------------------------------------------------------------------------------------
# parsers of the tools' console output
# ---------------------------------------------------------------------------------------------
def _f(s) -> Optional[float]:
    return None if s is None else float(s)


def parse_benchmark_model(text: str) -> dict:
    """Numbers from LiteRT benchmark_model's output (classic 'Inference timings in us' format,
    with or without 'INFO:' / logcat prefixes, and the newer ms-based 'BENCHMARK RESULTS' block).
    Returns ms / bytes; missing numbers are None. Raises RemoteError when no timing is found."""
    out = {"load_ms": None, "first_run_ms": None, "count": None, "min": None, "max": None, "mean": None,
           "std": None, "p5": None, "p50": None, "p95": None, "peak_bytes": None, "memory_line": None}
    summary = re.search(r"Inference timings in us: Init: " + _NUM + r", First inference: " + _NUM +
                        r", Warmup \(avg\): " + _NUM + r", Inference \(avg\): " + _NUM, text)
    if summary:
        init, first, _warm, avg = (float(g) for g in summary.groups())
        out.update(load_ms=init / 1e3, first_run_ms=first / 1e3, mean=avg / 1e3)
        stats = None
        for line in text[: summary.start()].splitlines():
            if "count=" in line:
                stats = dict(re.findall(r"(\w+)=" + _NUM, line))
        if stats:  # the last stats line before the summary is the timed phase (the first is warm-up)
            out["count"] = int(float(stats["count"]))
            for key, name in (("min", "min"), ("max", "max"), ("std", "std"), ("p5", "p5"), ("median", "p50"), ("p95", "p95")):
                if key in stats:
                    out[name] = float(stats[key]) / 1e3
            if "avg" in stats:
                out["mean"] = float(stats["avg"]) / 1e3
    else:
        init = re.search(r"Model initialization:\s*" + _NUM + r"\s*ms", text)
        avg = re.search(r"Inference \(avg\):\s*" + _NUM + r"\s*ms(?:\s*\((\d+) runs\))?", text)
        if not avg:
            raise RemoteError("benchmark_model printed no inference timings: " + _tail(text))
        out["load_ms"] = _f(init.group(1)) if init else None
        first = re.search(r"Warmup \(first\):\s*" + _NUM + r"\s*ms", text)
        out["first_run_ms"] = _f(first.group(1)) if first else None
        out["mean"] = float(avg.group(1))
        out["count"] = int(avg.group(2)) if avg.group(2) else None
        for key in ("min", "max", "std"):
            m = re.search(r"Inference \(" + key + r"\):\s*" + _NUM, text)
            out[key] = _f(m.group(1)) if m else None
    mem = re.search(r"(?:Peak memory footprint|Memory footprint delta from the start of the tool) \(MB\): init=" + _NUM + r" overall=" + _NUM, text)
    if mem:
        out["peak_bytes"] = int(float(mem.group(2)) * 2**20)
        out["memory_line"] = "benchmark_model overall memory footprint (MB) since the tool started"
    else:
        mem = re.search(r"Overall footprint:\s*" + _NUM + r"\s*MB", text)
        if mem:
            out["peak_bytes"] = int(float(mem.group(1)) * 2**20)
            out["memory_line"] = "benchmark_model overall memory footprint"
    return out


def parse_executor_runner(text: str) -> dict:
    """Numbers from ExecuTorch executor_runner's log: 'Model loaded in X ms.', 'Iteration i of N:
    X ms' lines (recent versions) and 'Model executed successfully N time(s) in X ms.'"""
    done = re.search(r"Model executed successfully(?: (\d+) time\(s\) in " + _NUM + r" ms)?", text)
    if not done:
        failed = re.search(r"(Execution of method \S+ failed[^\n]*|Loading of method \S+ failed[^\n]*|Failed to parse model file[^\n]*)", text)
        raise RemoteError("executor_runner did not run the model: " + (failed.group(1) if failed else _tail(text)))
    loaded = re.search(r"Model loaded in " + _NUM + r" ms", text)
    iters = [float(m.group(3)) for m in re.finditer(r"Iteration (\d+) of (\d+): " + _NUM + r" ms", text)]
    return {
        "load_ms": _f(loaded.group(1)) if loaded else None,
        "executions": int(done.group(1)) if done.group(1) else None,
        "total_ms": _f(done.group(2)),
        "iterations_ms": iters,
    }


def _tail(text: str, n: int = 3) -> str:
    lines = [ln.strip() for ln in text.strip().splitlines() if ln.strip()]
    return " | ".join(lines[-n:]) or "(no output)"


# ---------------------------------------------------------------------------------------------
# results in the bench document format
# ---------------------------------------------------------------------------------------------
def tflite_result(artifact: Path, parsed: dict, threads: Optional[int], warmup: int) -> dict:
    from ..files import size_bytes

    notes = []
    if parsed["p50"] is None:
        notes.append("benchmark_model reports no percentiles here: p50/p90/p99 are null, ratios use the mean")
    if parsed["count"] is None:
        notes.append("benchmark_model did not print the run count")
    mean = parsed["mean"]
    return {
        "artifact": artifact.name, "path": str(artifact), "size_bytes": size_bytes(artifact),
        "format": "tflite", "runtime": {"name": "tflite", "version": "benchmark_model"},
        "threads": threads, "source": "benchmark_model", "import_ms": None,
        "load_ms": parsed["load_ms"], "first_run_ms": parsed["first_run_ms"], "warmup": warmup,
        "latency_ms": {"count": parsed["count"] or 1, "min": parsed["min"], "p50": parsed["p50"], "p90": None,
                       "p95": parsed["p95"], "p99": None, "mean": mean, "std": parsed["std"], "max": parsed["max"]},
        "outliers": None,
        "throughput_per_s": 1e3 / mean if mean else None, "batch": 1,
        "peak_rss_increase_bytes": parsed["peak_bytes"], "rss_method": parsed["memory_line"],
        "samples_ms": None, "ratio_to_fastest": None, "notes": notes,
    }


def pte_result(artifact: Path, parsed: dict, threads: Optional[int], warmup: int, keep_samples: bool = True) -> dict:
    from ..bench import outliers, summarize
    from ..files import size_bytes

    notes = ["executor_runner reports no memory use"]
    its = parsed["iterations_ms"]
    if len(its) > 1 + warmup:
        timed = its[1 + warmup:]
        latency, out, first, samples = summarize(timed), outliers(timed), its[0], timed
        mean = latency["mean"]
    else:
        n = parsed["executions"] or 1
        mean = parsed["total_ms"] / n
        latency = {"count": n, "min": None, "p50": None, "p90": None, "p99": None, "mean": mean, "std": None, "max": None}
        out, first, samples = None, None, None
        notes.append(f"this executor_runner prints no per-run times: mean over all {n} runs, first and warm-up included")
    return {
        "artifact": artifact.name, "path": str(artifact), "size_bytes": size_bytes(artifact),
        "format": "executorch", "runtime": {"name": "executorch", "version": "executor_runner"},
        "threads": threads, "source": "executor_runner", "import_ms": None,
        "load_ms": parsed["load_ms"], "first_run_ms": first, "warmup": warmup,
        "latency_ms": latency, "outliers": out,
        "throughput_per_s": 1e3 / mean if mean else None, "batch": 1,
        "peak_rss_increase_bytes": None, "rss_method": None,
        "samples_ms": samples if keep_samples else None, "ratio_to_fastest": None, "notes": notes,
    }


def bench_over_adb(device: AdbDevice, artifacts: Sequence[Path], config: dict,
                   benchmark_model: str = f"{DEVICE_TMP}/benchmark_model",
                   executor_runner: str = f"{DEVICE_TMP}/executor_runner",
                   timeout: float = 1800.0, push_timeout: float = 900.0, keep_samples: bool = True) -> dict:
    """Benchmark .tflite / .pte artifacts on an Android device; returns the bench document."""
    from ..bench import report
    from ..formats import by_suffix

    artifacts = [Path(a) for a in artifacts]
    kinds = []
    for a in artifacts:
        fmt = by_suffix(a.suffix)
        if fmt is not None and fmt.name == "tflite":
            kinds.append("tflite")
        elif fmt is not None and fmt.name == "executorch":
            kinds.append("pte")
        else:
            raise InputError(f"--adb runs .tflite (benchmark_model) or .pte (executor_runner) artifacts, not {a.name}")
    if "pte" in kinds and config.get("min_seconds") is not None:
        raise InputError("executor_runner has no time-based mode: use --iters with .pte artifacts over --adb")
    for b in (benchmark_model, executor_runner):
        check_device_path(b)
    threads, warmup = config.get("threads"), int(config["warmup"])
    iters = config.get("iters") or (None if config.get("min_seconds") is not None else 100)

    device.check_online()
    host = device.describe()
    workdir = f"{DEVICE_TMP}/edgekit-{secrets.token_hex(4)}"
    res = device.shell(["mkdir", workdir], what="mkdir on the device")
    if res.returncode != 0:
        raise RemoteError(f"cannot create {workdir} on {device.serial}: {res.tail(1)}")
    results, commands = [], []
    try:
        for i, (a, kind) in enumerate(zip(artifacts, kinds)):
            remote = f"{workdir}/m{i}{a.suffix.lower()}"
            device.push(a, remote, push_timeout)
            if kind == "tflite":
                argv = benchmark_model_argv(benchmark_model, remote, threads, warmup, iters, config.get("min_seconds"))
            else:
                argv = executor_runner_argv(executor_runner, remote, threads, warmup, iters)
            commands.append(argv)
            res = run(device.shell_argv(argv), timeout, f"{Path(argv[0]).name} on {device.serial}")
            text = res.stdout + "\n" + res.stderr
            if res.returncode == 127:
                opt = "--adb-benchmark-model" if kind == "tflite" else "--adb-executor-runner"
                raise RemoteError(f"{argv[0]} not found on {device.serial}: push the binary there or point {opt} at it")
            if res.returncode != 0:
                raise RemoteError(f"{Path(argv[0]).name} failed on {device.serial} (exit {res.returncode}): {_tail(text)}")
            if kind == "tflite":
                results.append(tflite_result(a, parse_benchmark_model(text), threads, warmup))
            else:
                results.append(pte_result(a, parse_executor_runner(text), threads, warmup, keep_samples))
    finally:
        try:
            res = device.shell(["rm", "-rf", "--", workdir], what="cleanup on the device")
            if res.returncode != 0:
                raise RemoteError(res.tail(1))
        except RemoteError as e:
            import sys

            print(f"edgekit: warning: could not remove {workdir} on {device.serial}: {e}", file=sys.stderr)
    doc = report(results, {"threads": threads, "warmup": warmup, "iters": iters, "min_seconds": config.get("min_seconds")}, host=host)
    doc["remote"] = {"transport": "adb", "target": device.serial, "command": [device.shell_argv(c)[-1] for c in commands]}
    return doc
