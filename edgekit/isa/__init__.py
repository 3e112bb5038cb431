"""Run edgekit on another instruction set under user-mode emulation: the aarch64 environment made
by scripts/aarch64-env.sh (an arm64 Python under qemu-user with edgekit installed from aarch64
wheels, as on a Raspberry Pi) and `edgekit verify --isa aarch64`, which runs an artifact there
and compares it with the x86 run and PyTorch eager. Emulated results are real ARM kernel results;
emulated timings mean nothing and are never reported as device latency."""
from __future__ import annotations

from .env import ISAS, IsaEnv, find_env  # noqa: F401
from .verify import eager_module, isa_logits, verify  # noqa: F401
