"""Run a local program (ssh, scp, adb) from an argv list, with a timeout that kills it and its
children, stdout captured, stderr captured and optionally shown live (a remote progress bar)."""
from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
from dataclasses import dataclass
from typing import Optional, Sequence

from . import RemoteError


@dataclass
class Result:
    argv: list
    returncode: int
    stdout: str
    stderr: str

    def tail(self, n: int = 6) -> str:
        """The last lines of stderr (else stdout), joined with ' | ', for a one-line error."""
        text = self.stderr.strip() or self.stdout.strip()
        lines = [ln.strip() for ln in text.replace("\r", "\n").splitlines() if ln.strip()]
        return " | ".join(lines[-n:])


def run(argv: Sequence[str], timeout: float, what: str, tee_stderr: bool = False, stdin=subprocess.DEVNULL) -> Result:
    """Run argv (never through a local shell). On timeout the process group is killed and
    RemoteError says what timed out. A missing program is a RemoteError too."""
    argv = [str(a) for a in argv]
    try:
        proc = subprocess.Popen(argv, stdin=stdin, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                start_new_session=True)
    except FileNotFoundError:
        raise RemoteError(f"{argv[0]} not found: install it (Debian: openssh-client for ssh/scp, adb for adb)") from None
    out_chunks: list = []
    err_chunks: list = []

    def pump(stream, sink, echo):
        fd = stream.fileno()
        while True:
            try:
                data = os.read(fd, 65536)
            except OSError:
                break
            if not data:
                break
            sink.append(data)
            if echo is not None:
                try:
                    echo.write(data.decode("utf-8", "replace"))
                    echo.flush()
                except (OSError, ValueError):
                    pass

    threads = [threading.Thread(target=pump, args=(proc.stdout, out_chunks, None), daemon=True),
               threading.Thread(target=pump, args=(proc.stderr, err_chunks, sys.stderr if tee_stderr else None), daemon=True)]
    for t in threads:
        t.start()
    try:
        rc = proc.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        _kill_group(proc)
        for t in threads:
            t.join(timeout=5)
        raise RemoteError(f"{what} timed out after {timeout:g} s") from None
    except BaseException:
        _kill_group(proc)
        raise
    for t in threads:
        t.join(timeout=10)
    for s in (proc.stdout, proc.stderr):
        s.close()
    return Result(argv, rc, b"".join(out_chunks).decode("utf-8", "replace"), b"".join(err_chunks).decode("utf-8", "replace"))


def _kill_group(proc: subprocess.Popen) -> None:
    """Kill the process we started and its children (it leads its own session)."""
    try:
        os.killpg(proc.pid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        try:
            proc.kill()
        except ProcessLookupError:
            pass
    try:
        proc.wait(timeout=10)
    except subprocess.TimeoutExpired:
        pass


def first_line(text: Optional[str]) -> str:
    for ln in (text or "").splitlines():
        if ln.strip():
            return ln.strip()
    return ""
