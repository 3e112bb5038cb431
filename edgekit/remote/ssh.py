"""`edgekit bench --host user@host[:port]`: the same benchmark on a Raspberry Pi or a Jetson.

Steps: `mktemp -d` there (ssh), copy the artifacts and their sidecar manifests into it (scp),
run the remote `edgekit bench --json -` on them (ssh; its progress bar is shown here), read the
JSON it prints, and remove the directory again, also when something failed. The plain `ssh` and
`scp` programs do the work, so the user's ~/.ssh/config, keys and agent apply; BatchMode=yes
makes a missing key an error instead of a password prompt. Commands are argv lists; the one
string a remote shell sees is built with shlex.join / shlex.quote, and remote paths are checked
to contain only [A-Za-z0-9._/+-] before use."""
from __future__ import annotations

import json
import re
import shlex
from dataclasses import dataclass
from pathlib import Path
from typing import Optional, Sequence

from ..errors import InputError
from . import RemoteError
from .process import Result, run

_SAFE_PATH = re.compile(r"^/[A-Za-z0-9._/+-]+$")
_SAFE_NAME = re.compile(r"^[A-Za-z0-9_+][A-Za-z0-9._+-]*$")
_HOST = re.compile(r"^[A-Za-z0-9_.:%-]+$")
REMOTE_PREFIX = "edgekit-bench."


@dataclass(frozen=True)
class Target:
    user: Optional[str]
    host: str
    port: Optional[int]

    def destination(self) -> str:
        """user@host for ssh (the port goes to -p)."""
        return f"{self.user}@{self.host}" if self.user else self.host

    def scp_prefix(self) -> str:
        """user@host: (IPv6 addresses in brackets) for scp's remote-path syntax."""
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"{self.user}@{host}:" if self.user else f"{host}:"

    def __str__(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        s = f"{self.user}@{host}" if self.user else host
        return f"{s}:{self.port}" if self.port else s


def parse_target(spec: str) -> Target:
    """'user@host', 'user@host:port', 'host', '[::1]:2222', 'user@[fe80::1]:22', or an ssh-config alias."""
    s = spec.strip()
    user = None
    if "@" in s:
        user, s = s.rsplit("@", 1)
        if not user or not re.fullmatch(r"[A-Za-z0-9._-]+", user) or user.startswith("-"):
            raise InputError(f"--host: bad user name in {spec!r} (expected user@host[:port])")
    port = None
    if s.startswith("["):
        m = re.fullmatch(r"\[([0-9A-Fa-f:.%A-Za-z]+)\](?::(\d+))?", s)
        if not m:
            raise InputError(f"--host: cannot read {spec!r} (expected user@host[:port], IPv6 as [addr]:port)")
        s, port = m.group(1), m.group(2)
    elif s.count(":") == 1:
        s, port = s.split(":")
        if not port.isdigit():
            raise InputError(f"--host: port must be a number in {spec!r} (expected user@host[:port])")
    if not s or s.startswith("-") or not _HOST.match(s):
        raise InputError(f"--host: bad host name in {spec!r} (expected user@host[:port])")
    if port is not None:
        port = int(port)
        if not 0 < port < 65536:
            raise InputError(f"--host: port {port} out of range 1..65535")
    return Target(user, s, port)


class SSHRunner:
    """ssh/scp to one target with the user's configuration plus BatchMode and timeouts."""

    def __init__(self, target, options: Sequence[str] = (), config_file: Optional[str] = None,
                 connect_timeout: int = 15, ssh: str = "ssh", scp: str = "scp"):
        self.target = target if isinstance(target, Target) else parse_target(target)
        self.connect_timeout = int(connect_timeout)
        self.ssh, self.scp = ssh, scp
        opts = ["BatchMode=yes", f"ConnectTimeout={self.connect_timeout}", "ServerAliveInterval=15", "ServerAliveCountMax=4"]
        for o in options:
            if "=" not in o or o.startswith("-"):
                raise InputError(f"--ssh-option expects KEY=VALUE (an ssh -o option), got {o!r}")
            opts.append(o)
        self._common = []
        if config_file:
            self._common += ["-F", str(config_file)]
        for o in opts:
            self._common += ["-o", o]

    def ssh_argv(self, remote_argv: Sequence[str]) -> list:
        """ssh argv running `remote_argv` there: the remote shell gets shlex.join(remote_argv)."""
        argv = [self.ssh, *self._common]
        if self.target.port:
            argv += ["-p", str(self.target.port)]
        return argv + ["--", self.target.destination(), shlex.join([str(a) for a in remote_argv])]

    def scp_argv(self, local: Path, remote_path: str, legacy: bool = False) -> list:
        """scp argv; legacy=True uses the old scp protocol (-O) for servers without SFTP."""
        check_remote_path(remote_path)
        argv = [self.scp, "-q", *(["-O"] if legacy else []), *self._common]
        if self.target.port:
            argv += ["-P", str(self.target.port)]
        if Path(local).is_dir():
            argv.append("-r")
        return argv + ["--", str(local), self.target.scp_prefix() + shlex.quote(remote_path)]

    def run(self, remote_argv: Sequence[str], timeout: float, what: str, tee_stderr: bool = False) -> Result:
        res = run(self.ssh_argv(remote_argv), timeout + self.connect_timeout, what, tee_stderr=tee_stderr)
        if res.returncode == 255:
            raise RemoteError(f"ssh to {self.target} failed during {what}: {res.tail(2) or 'connection error'}")
        return res

    def copy(self, local: Path, remote_path: str, timeout: float) -> None:
        what = f"copying {Path(local).name} to {self.target}"
        res = run(self.scp_argv(local, remote_path), timeout + self.connect_timeout, what)
        if res.returncode != 0:
            # OpenSSH >= 9 scp speaks SFTP; a server without the sftp subsystem closes the
            # connection: try the original scp protocol once before giving up
            legacy = run(self.scp_argv(local, remote_path, legacy=True), timeout + self.connect_timeout, what)
            if legacy.returncode == 0:
                return
        if res.returncode != 0:
            raise RemoteError(f"scp of {Path(local).name} to {self.target} failed: {res.tail(2)}")

    def make_temp_dir(self, timeout: float = 60) -> str:
        res = self.run(["mktemp", "-d", "-t", REMOTE_PREFIX + "XXXXXXXX"], timeout, f"mktemp on {self.target}")
        path = res.stdout.strip()
        if res.returncode != 0 or not path:
            raise RemoteError(f"mktemp -d failed on {self.target}: {res.tail(2)}")
        check_remote_path(path)
        if not Path(path).name.startswith(REMOTE_PREFIX):
            raise RemoteError(f"mktemp on {self.target} returned an unexpected path {path!r}")
        return path

    def remove_dir(self, path: str, timeout: float = 60) -> Optional[str]:
        """rm -rf the temp dir made by make_temp_dir; returns an error line instead of raising
        (cleanup must not hide the error that led to it)."""
        check_remote_path(path)
        if not Path(path).name.startswith(REMOTE_PREFIX):
            return f"refusing to remove {path!r}: not an edgekit temp dir"
        try:
            res = self.run(["rm", "-rf", "--", path], timeout, f"cleanup on {self.target}")
        except RemoteError as e:
            return str(e)
        return None if res.returncode == 0 else res.tail(2)


def check_remote_path(path: str) -> str:
    if not _SAFE_PATH.match(path) or "/../" in path + "/" or "\n" in path:
        raise RemoteError(f"unsafe remote path {path!r}: only absolute paths of [A-Za-z0-9._/+-] are used")
    return path


def remote_name(path: Path) -> str:
    """The file name used on the remote side: the local name when it is plain, else a cleaned one
    (artifacts with external data keep their name, which the model file refers to)."""
    name = path.name
    if _SAFE_NAME.match(name):
        return name
    if path.with_name(name + ".data").exists():
        raise InputError(f"{name}: rename the artifact to letters, digits and ._+- to copy it with its external data")
    clean = re.sub(r"[^A-Za-z0-9._+-]", "_", name).lstrip(".-") or "model"
    return clean


def remote_edgekit_argv(remote_edgekit: str) -> list:
    argv = shlex.split(remote_edgekit)
    if not argv:
        raise InputError("--remote-edgekit is empty (expected e.g. ~/venv/bin/edgekit or 'python3 -m edgekit')")
    return argv


def bench_over_ssh(runner: SSHRunner, artifacts: Sequence[Path], config: dict, remote_edgekit: str = "edgekit",
                   timeout: float = 1800.0, copy_timeout: float = 900.0, keep_samples: bool = True,
                   progress: bool = True) -> dict:
    """Benchmark `artifacts` on the runner's host; the returned document is what the remote
    `edgekit bench --json -` printed, with `remote` filled in and local paths restored."""
    from ..bench import SCHEMA_ID, validate
    from ..files import companion_files

    artifacts = [Path(a) for a in artifacts]
    names = [remote_name(a) for a in artifacts]
    if len(set(names)) != len(names):
        raise InputError("two artifacts have the same file name: give each a distinct name to benchmark them remotely")
    edgekit_argv = remote_edgekit_argv(remote_edgekit)
    workdir = runner.make_temp_dir()
    cleanup_error = None
    try:
        remote_paths = []
        for a, name in zip(artifacts, names):
            dest = f"{workdir}/{name}"
            runner.copy(a, dest, copy_timeout)
            for extra in companion_files(a):
                runner.copy(extra, dest + extra.name[len(a.name):], copy_timeout)
            remote_paths.append(dest)
        argv = [*edgekit_argv, "bench", "--json", "-", "--warmup", str(config["warmup"])]
        if config.get("threads"):
            argv += ["--threads", str(config["threads"])]
        if config.get("min_seconds") is not None:
            argv += ["--min-seconds", repr(float(config["min_seconds"]))]
        elif config.get("iters"):
            argv += ["--iters", str(config["iters"])]
        if not keep_samples:
            argv.append("--no-samples")
        if not progress:
            argv.append("--no-progress")
        argv += remote_paths
        res = runner.run(argv, timeout, f"the remote benchmark on {runner.target}", tee_stderr=progress)
        if res.returncode == 127:
            raise RemoteError(f"{edgekit_argv[0]} not found on {runner.target}: install edgekit there or point "
                              f"--remote-edgekit at it (e.g. ~/venv/bin/edgekit)")
        if res.returncode != 0:
            raise RemoteError(f"remote edgekit bench failed on {runner.target} (exit {res.returncode}): {res.tail(3)}")
        try:
            doc = json.loads(res.stdout)
        except ValueError:
            raise RemoteError(f"remote edgekit on {runner.target} did not print bench JSON: {res.stdout.strip()[:200]!r}") from None
        try:
            validate(doc)
        except ImportError:  # no jsonschema here (a minimal install): check the format id at least
            if not isinstance(doc, dict) or doc.get("schema") != SCHEMA_ID or not isinstance(doc.get("results"), list):
                raise RemoteError(f"remote edgekit on {runner.target} printed JSON of another format "
                                  f"(expected schema {SCHEMA_ID}); is its version compatible?") from None
        except ValueError as e:
            raise RemoteError(f"remote edgekit on {runner.target} printed JSON of another format ({e}); "
                              f"is its version compatible?") from None
    finally:
        cleanup_error = runner.remove_dir(workdir)
        if cleanup_error:
            import sys

            print(f"edgekit: warning: could not remove {workdir} on {runner.target}: {cleanup_error}", file=sys.stderr)
    by_remote = dict(zip(remote_paths, artifacts))
    for r in doc["results"]:
        local = by_remote.get(r.get("path", ""))
        if local is not None:
            r["path"] = str(local)
            r["artifact"] = local.name
    if doc.get("fastest"):
        for rp, local in by_remote.items():
            if Path(rp).name == doc["fastest"]:
                doc["fastest"] = local.name
    doc["remote"] = {"transport": "ssh", "target": str(runner.target), "command": argv,
                     "emulated": bool((doc["host"].get("emulation") or {}).get("emulated"))}
    return doc
