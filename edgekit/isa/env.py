"""Find the emulated environment for an ISA and run edgekit commands in it."""
from __future__ import annotations

import json
import os
import subprocess
from dataclasses import dataclass
from pathlib import Path
from typing import Optional, Sequence

from ..errors import InputError

ISAS = ("aarch64",)
# which site folder of the environment runs which format (scripts/aarch64-env.sh)
_SITE_FOR_FORMAT = {"tflite": "lite", "onnx": "lite", "executorch": "et"}
_WHY_NOT = {"coreml": "Core ML runs only on Apple platforms"}
SETUP_HINT = {"lite": "bash scripts/aarch64-env.sh   (from an edgekit checkout; about 1 min)",
              "et": "bash scripts/aarch64-env.sh et   (from an edgekit checkout; torch 2.10 + executorch 1.2, about 2 min)"}


def default_env_dir() -> Path:
    env = os.environ.get("EDGEKIT_AARCH64_ENV")
    if env:
        return Path(env).expanduser()
    cache = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return Path(cache) / "edgekit" / "aarch64"


@dataclass(frozen=True)
class IsaEnv:
    isa: str
    site: str           # the site folder: lite (tflite, onnx) or et (executorch)
    root: Path
    python: Path        # launcher: the emulated python with the site on its path
    info: dict          # env.json: qemu path, cpu model, features seen, ...

    def run_edgekit(self, args: Sequence[str], timeout: float, cwd: Optional[str] = None) -> subprocess.CompletedProcess:
        """`python -P -m edgekit ARGS` in the environment (-P: the working directory never
        shadows the installed edgekit)."""
        argv = [str(self.python), "-P", "-m", "edgekit", *[str(a) for a in args]]
        try:
            return subprocess.run(argv, capture_output=True, text=True, timeout=timeout, cwd=cwd)
        except subprocess.TimeoutExpired:
            raise InputError(f"the {self.isa} run timed out after {timeout:g} s (emulation is slow: use fewer "
                             f"images, -n)") from None


def find_env(isa: str, fmt: str, env_dir=None) -> IsaEnv:
    """The environment that runs format `fmt` on `isa`, or a one-line InputError saying how to make it."""
    if isa not in ISAS:
        raise InputError(f"--isa {isa}: expected one of {', '.join(ISAS)}")
    site = _SITE_FOR_FORMAT.get(fmt)
    if site is None:
        why = _WHY_NOT.get(fmt, f"no {isa} runtime for {fmt}")
        raise InputError(f"a {fmt} artifact cannot run on {isa} here ({why}); --isa {isa} checks .tflite, .onnx "
                         f"and .pte")
    root = Path(env_dir).expanduser() if env_dir else default_env_dir()
    python = root / "bin" / f"python-{site}"
    if not python.is_file() or not (root / site).is_dir():
        raise InputError(f"no {isa} environment for {fmt} in {root}: make it with "
                         f"`{SETUP_HINT[site]}`")
    try:
        info = json.loads((root / "env.json").read_text())
    except (OSError, ValueError):
        info = {}
    qemu = info.get("qemu") or "/usr/bin/qemu-aarch64-static"
    if not os.path.exists(qemu):
        raise InputError(f"{qemu} not found: the {isa} environment runs under qemu-user "
                         f"(apt-get install qemu-user-static, or rerun `{SETUP_HINT[site]}`)")
    return IsaEnv(isa, site, root, python, info)
