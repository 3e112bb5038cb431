"""Host and memory side of `edgekit bench`: the description of the machine the numbers were
measured on (CPU model, cores, the ISA features int8 speed depends on, OS, Python and numpy versions) and the peak resident-set increase
over a block of code (PeakRSS). numpy and the standard library only."""
from __future__ import annotations

import gc
import os
import platform
import sys
import threading
from typing import Optional

import numpy as np


# Arm Ltd (implementer 0x41) core part numbers, for ARM /proc/cpuinfo without a model name
_ARM_PARTS = {"0xd03": "Cortex-A53", "0xd04": "Cortex-A35", "0xd05": "Cortex-A55", "0xd07": "Cortex-A57",
              "0xd08": "Cortex-A72", "0xd09": "Cortex-A73", "0xd0a": "Cortex-A75", "0xd0b": "Cortex-A76",
              "0xd0c": "Neoverse-N1", "0xd0d": "Cortex-A77", "0xd41": "Cortex-A78", "0xd44": "Cortex-X1",
              "0xd46": "Cortex-A510", "0xd47": "Cortex-A710", "0xd48": "Cortex-X2", "0xd4b": "Cortex-A78C"}


def cpu_model() -> str:
    """CPU model name (from /proc/cpuinfo on Linux, sysctl on macOS), else platform.processor()."""
    part = None
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                key, _, value = line.partition(":")
                # x86: "model name"; many ARM kernels: "Model" / "Hardware"; else the Arm core part
                if key.strip() in ("model name", "Model", "Hardware", "cpu model") and value.strip():
                    return value.strip()
                if key.strip() == "CPU part" and part is None:
                    part = value.strip().lower()
    except OSError:
        pass
    if part in _ARM_PARTS:
        return f"ARM {_ARM_PARTS[part]}"
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


_ELF_MACHINES = {0x03: "x86", 0x3E: "x86_64", 0x28: "arm", 0xB7: "aarch64", 0xF3: "riscv64", 0x15: "ppc64", 0x16: "s390x"}
# aarch64 HWCAP / HWCAP2 bit names (Linux arch/arm64/include/uapi/asm/hwcap.h), as /proc/cpuinfo spells them
_HWCAP = ("fp asimd evtstrm aes pmull sha1 sha2 crc32 atomics fphp asimdhp cpuid asimdrdm jscvt fcma lrcpc dcpop "
          "sha3 sm3 sm4 asimddp sha512 sve asimdfhm dit uscat ilrcpc flagm ssbs sb paca pacg").split()
_HWCAP2 = ("dcpodp sve2 sveaes svepmull svebitperm svesha3 svesm4 flagm2 frint svei8mm svef32mm svef64mm svebf16 "
           "i8mm bf16 dgh rng bti mte").split()
# the features that decide which int8 / fp16 kernels XNNPACK and friends pick
KEY_FEATURES = {"aarch64": ("asimd", "asimddp", "i8mm", "fphp", "asimdhp", "bf16", "sve", "sve2"),
                "x86_64": ("avx2", "fma", "f16c", "avx512f", "avx512_vnni", "avx_vnni", "avx512_bf16", "amx_int8")}


def elf_machine(path: str) -> Optional[str]:
    """The ISA an ELF executable is built for (its e_machine), e.g. "x86_64", "aarch64"."""
    try:
        with open(path, "rb") as f:
            head = f.read(20)
    except OSError:
        return None
    if len(head) < 20 or head[:4] != b"\x7fELF":
        return None
    code = int.from_bytes(head[18:20], "little" if head[5] == 1 else "big")
    return _ELF_MACHINES.get(code, hex(code))


def _family(machine: str) -> str:
    m = machine.lower()
    if m in ("x86_64", "amd64", "x86", "i386", "i486", "i586", "i686"):
        return "x86"
    if m in ("aarch64", "arm64", "arm") or m.startswith("armv"):
        return "arm"
    return m


def emulation() -> dict:
    """Whether this process runs under user-mode emulation (qemu-user), seen from inside it.

    qemu-user reports the guest's machine in uname and fakes /proc/self/exe, /proc/<pid>/exe and
    /proc/self/auxv, but not /proc/thread-self/exe: that link names the real executable, qemu
    itself. Its ELF machine differing from platform.machine() means the process is emulated."""
    guest = platform.machine()
    exe = None
    for link in ("/proc/thread-self/exe", f"/proc/self/task/{threading_id()}/exe"):
        try:
            exe = os.readlink(link)
            break
        except OSError:
            continue
    host = elf_machine(exe) if exe else None
    # compare ISA families: a 32-bit userland on a 64-bit kernel (armv7l Python on an aarch64 Pi
    # kernel, i686 on x86_64) runs natively
    emulated = host is not None and _family(guest) != _family(host)
    doc = {"emulated": emulated, "machine": guest, "executable_machine": host}
    if emulated:
        doc["by"] = "qemu-user" if "qemu" in os.path.basename(exe) else os.path.basename(exe)
        doc["emulator"] = exe
        if os.environ.get("QEMU_CPU"):
            doc["cpu_model"] = os.environ["QEMU_CPU"]
    return doc


def threading_id() -> int:
    """The kernel thread id of the calling thread (for /proc/self/task/<tid>)."""
    try:
        return threading.get_native_id()
    except AttributeError:  # pragma: no cover - Python < 3.8
        return os.getpid()


def cpu_features() -> dict:
    """CPU features this process may use: the /proc/cpuinfo flags, and on aarch64 the HWCAP bits
    the kernel (or qemu-user) hands the process, which are what runtimes like XNNPACK check.
    Returns {"source", "all", "key"} where key is the subset that decides kernel choice."""
    flags: list = []
    source = None
    if platform.machine().lower() in ("aarch64", "arm64"):
        try:
            import struct

            with open("/proc/self/auxv", "rb") as f:
                aux = dict(struct.iter_unpack("<QQ", f.read()))
            h1, h2 = aux.get(16, 0), aux.get(26, 0)  # AT_HWCAP, AT_HWCAP2
            flags = [n for i, n in enumerate(_HWCAP) if h1 >> i & 1] + [n for i, n in enumerate(_HWCAP2) if h2 >> i & 1]
            source = "auxv"
        except (OSError, ValueError, struct.error):
            flags = []
    if not flags:
        try:
            with open("/proc/cpuinfo") as f:
                for line in f:
                    key, _, value = line.partition(":")
                    if key.strip() in ("flags", "Features"):
                        flags = value.split()
                        source = "/proc/cpuinfo"
                        break
        except OSError:
            pass
    isa = {"arm64": "aarch64", "amd64": "x86_64"}.get(platform.machine().lower(), platform.machine().lower())
    key = [f for f in KEY_FEATURES.get(isa, ()) if f in flags]
    return {"source": source, "key": key, "all": flags}


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
        "cpu_features": cpu_features()["key"],
        "emulation": emulation(),
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
