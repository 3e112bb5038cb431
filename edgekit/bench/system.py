"""Host and memory side of `edgekit bench`: the description of the machine the numbers were
measured on (CPU model, cores, the ISA features int8 speed depends on, OS, Python and numpy versions) and the peak resident-set increase
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


# The CPU features int8 speed depends on. x86: AVX2 (int8 via 16-bit multiplies, vpmaddubsw),
# AVX-512, the int8 dot products AVX-512 VNNI / AVX-VNNI, AMX tiles. ARM: the SDOT/UDOT dot
# products (asimddp) and the int8 matrix multiply (i8mm).
ISA_FEATURES = {
    "x86": ("avx2", "fma", "avx512f", "avx512bw", "avx512_vnni", "avx_vnni", "avx512_bf16", "amx_tile", "amx_int8",
            "amx_bf16"),
    "arm": ("asimd", "asimddp", "i8mm", "sve", "sve2", "bf16"),
}
INT8_DOT = {"avx512_vnni", "avx_vnni", "amx_int8", "asimddp", "i8mm"}
_MAC_SYSCTL = {"asimddp": "hw.optional.arm.FEAT_DotProd", "i8mm": "hw.optional.arm.FEAT_I8MM",
               "bf16": "hw.optional.arm.FEAT_BF16", "asimd": "hw.optional.neon"}


def _cpu_flags() -> Optional[set]:
    """The kernel's CPU flags (x86 "flags", ARM "Features"), or None where /proc/cpuinfo is absent."""
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                key, _, value = line.partition(":")
                if key.strip() in ("flags", "Features"):
                    return set(value.split())
    except OSError:
        pass
    return None


def cpu_isa() -> dict:
    """{"arch", "features": [the int8-relevant ones this CPU has], "int8_dot": bool, "source"}.
    Linux reads /proc/cpuinfo; macOS asks sysctl; elsewhere features are unknown (None)."""
    machine = platform.machine()
    flags, source = _cpu_flags(), "/proc/cpuinfo"
    if flags is None and sys.platform == "darwin" and machine.lower().startswith("arm"):
        flags, source = _mac_arm_flags(), "sysctl"
    return isa_from_flags(machine, flags, source)


def isa_from_flags(machine: str, flags: Optional[set], source: str) -> dict:
    """The isa block from a machine name (x86_64, aarch64, arm64-v8a ...) and its CPU flags (None: unknown)."""
    machine = (machine or "").lower()
    arch = "arm" if machine.startswith(("arm", "aarch64")) else "x86" if machine in ("x86_64", "amd64", "i686", "x86") else machine
    if flags is None:
        return {"arch": arch, "features": None, "int8_dot": None, "source": "unknown"}
    have = [f for f in ISA_FEATURES.get(arch, ()) if f in flags]
    return {"arch": arch, "features": have, "int8_dot": bool(INT8_DOT & set(have)), "source": source}


def _mac_arm_flags() -> Optional[set]:
    import subprocess

    found = set()
    for feature, key in _MAC_SYSCTL.items():
        try:
            out = subprocess.run(["sysctl", "-n", key], capture_output=True, text=True, timeout=5)
        except (OSError, subprocess.SubprocessError):
            return None
        if out.returncode == 0 and out.stdout.strip() == "1":
            found.add(feature)
    return found


def isa_line(host: Optional[dict] = None) -> str:
    """One line for a results table header: CPU model, cores and the int8-relevant ISA."""
    host = host or host_info()
    isa = host.get("isa") or {}
    feats = isa.get("features")
    have = "unknown" if feats is None else (" ".join(feats) or "none of the int8-relevant ones")
    dot = {True: "yes", False: "no", None: "unknown"}[isa.get("int8_dot")]
    return (f"CPU: {host.get('cpu', '?')} ({host.get('usable_cores', '?')} usable cores, {host.get('machine', '?')}); "
            f"ISA: {have}; int8 dot products: {dot}")


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
        "isa": cpu_isa(),
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
