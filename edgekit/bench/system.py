"""Host and memory side of `edgekit bench`: the description of the machine the numbers were
measured on (CPU model, cores, OS, Python and numpy versions) and the peak resident-set increase
over a block of code (PeakRSS). numpy and the standard library only."""
from __future__ import annotations

import gc
import os
import platform
import sys
from typing import Optional

import numpy as np


def cpu_model() -> str:
    """CPU model name (from /proc/cpuinfo on Linux, sysctl on macOS), else platform.processor()."""
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                key, _, value = line.partition(":")
                # x86: "model name"; many ARM kernels: "Model" / "Hardware" / "CPU part"
                if key.strip() in ("model name", "Model", "Hardware", "cpu model") and value.strip():
                    return value.strip()
    except OSError:
        pass
    if sys.platform == "darwin":
        import subprocess

        try:
            out = subprocess.run(["sysctl", "-n", "machdep.cpu.brand_string"], capture_output=True, text=True, timeout=5)
            if out.returncode == 0 and out.stdout.strip():
                return out.stdout.strip()
        except (OSError, subprocess.SubprocessError):
            pass
    return platform.processor() or platform.machine() or "unknown"


def host_info() -> dict:
    """Where the numbers were measured: CPU model, logical cores (and those this process may
    use), OS, machine, Python and numpy versions."""
    try:
        usable = len(os.sched_getaffinity(0))
    except (AttributeError, OSError):
        usable = os.cpu_count() or 1
    return {
        "hostname": platform.node(),
        "cpu": cpu_model(),
        "cores": os.cpu_count() or 1,
        "usable_cores": usable,
        "os": f"{platform.system()} {platform.release()}",
        "machine": platform.machine(),
        "python": platform.python_version(),
        "numpy": np.__version__,
    }


def _proc_status_kb(field: str) -> Optional[int]:
    try:
        with open("/proc/self/status") as f:
            for line in f:
                if line.startswith(field + ":"):
                    return int(line.split()[1])
    except (OSError, ValueError, IndexError):
        pass
    return None


class PeakRSS:
    """Peak resident-set increase over a block of code.

    Linux: resets the kernel's high-water mark (write 5 to /proc/self/clear_refs), then reads
    VmHWM - VmRSS(before): exact even when the process peaked higher earlier. Elsewhere (or when
    the reset is refused): ru_maxrss delta, which reads 0 when an earlier peak was higher (the
    method is recorded with the number)."""

    def __enter__(self):
        gc.collect()
        self.method = "ru_maxrss"
        self.reset = False
        if _proc_status_kb("VmHWM") is not None:
            try:
                with open("/proc/self/clear_refs", "w") as f:
                    f.write("5")
                self.reset = True
                self.method = "VmHWM"
            except OSError:
                self.method = "VmHWM-no-reset"
        self.rss0 = _proc_status_kb("VmRSS")
        self.hwm0 = _proc_status_kb("VmHWM")
        self.maxrss0 = _maxrss_bytes()
        self.bytes = None
        return self

    def __exit__(self, *exc):
        if self.method.startswith("VmHWM"):
            hwm = _proc_status_kb("VmHWM")
            base = self.rss0 if self.reset else self.hwm0
            if hwm is not None and base is not None:
                self.bytes = max(0, hwm - base) * 1024
        if self.bytes is None:
            self.method = "ru_maxrss"
            self.bytes = max(0, _maxrss_bytes() - self.maxrss0)
        return False


def _maxrss_bytes() -> int:
    try:
        import resource
    except ImportError:  # Windows
        return 0
    r = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return int(r) if sys.platform == "darwin" else int(r) * 1024
