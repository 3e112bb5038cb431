"""Benchmarks on other machines: over SSH (a Raspberry Pi, a Jetson: edgekit runs there) and over
adb (an Android device: its own benchmark binary runs there). Both return the document that a
local `edgekit bench --json` writes. Only the `ssh`/`scp`/`adb` programs are used, with argv
lists; every path that reaches a remote shell is quoted with shlex.quote."""
from __future__ import annotations

from ..errors import EdgekitError


class RemoteError(EdgekitError):
    """A remote benchmark that could not be done: unreachable device, remote failure, timeout."""
