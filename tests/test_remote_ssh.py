"""`edgekit bench --host`: a real sshd on loopback (Debian's openssh-server, throwaway host and
user keys, a non-default port), the repo's own virtual environment as the "remote" edgekit, and a
real end-to-end remote benchmark of a small .tflite: JSON back, validated, temp dir removed.

Needs /usr/sbin/sshd (apt-get install openssh-server). Without it the test fails and says so;
set EDGEKIT_SKIP_SSH=1 to skip it explicitly."""
from __future__ import annotations

import getpass
import glob
import json
import os
import shlex
import shutil
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

from edgekit.bench import validate
from edgekit.remote import RemoteError
from edgekit.remote.ssh import SSHRunner, bench_over_ssh, parse_target

DATA = Path(__file__).parent / "data" / "bench"
SSHD = "/usr/sbin/sshd"
REMOTE_EDGEKIT = shlex.join([sys.executable, "-m", "edgekit"])


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _keygen(path: Path) -> None:
    subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", "edgekit-test", "-f", str(path)], check=True)


@pytest.fixture(scope="module")
def sshd(tmp_path_factory):
    """A throwaway sshd on 127.0.0.1:<free port> accepting only a throwaway key; yields the
    target string and an ssh config file that uses the key and pins the host key."""
    if os.environ.get("EDGEKIT_SKIP_SSH") == "1":
        pytest.skip("EDGEKIT_SKIP_SSH=1")
    if not os.path.exists(SSHD) or shutil.which("ssh") is None or shutil.which("ssh-keygen") is None:
        pytest.fail("the SSH test needs Debian's sshd and ssh client: apt-get install -y openssh-server openssh-client "
                    "(or set EDGEKIT_SKIP_SSH=1 to skip it)")
    d = tmp_path_factory.mktemp("sshd")
    _keygen(d / "host_key")
    _keygen(d / "id_user")
    (d / "authorized_keys").write_text((d / "id_user.pub").read_text())
    port = _free_port()
    user = getpass.getuser()
    (d / "sshd_config").write_text("\n".join([
        f"Port {port}", "ListenAddress 127.0.0.1", f"HostKey {d / 'host_key'}", f"PidFile {d / 'sshd.pid'}",
        f"AuthorizedKeysFile {d / 'authorized_keys'}", "StrictModes no", "PermitRootLogin prohibit-password",
        "PubkeyAuthentication yes", "PasswordAuthentication no", "KbdInteractiveAuthentication no",
        "UsePAM no", "Subsystem sftp internal-sftp", "X11Forwarding no", "AllowTcpForwarding no", "PrintMotd no", "LogLevel ERROR", "",
    ]))
    if os.geteuid() == 0:
        os.makedirs("/run/sshd", mode=0o755, exist_ok=True)  # privilege-separation dir sshd insists on
    proc = subprocess.Popen([SSHD, "-D", "-e", "-f", str(d / "sshd_config")], stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, start_new_session=True)
    deadline = time.time() + 20
    while True:
        if proc.poll() is not None:
            pytest.fail(f"sshd did not start: {proc.stdout.read().decode(errors='replace')[-500:]}")
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            break
        except OSError:
            if time.time() > deadline:
                proc.kill()
                pytest.fail("sshd did not listen within 20 s")
            time.sleep(0.1)
    host_pub = (d / "host_key.pub").read_text().split()
    (d / "known_hosts").write_text(f"[127.0.0.1]:{port} {host_pub[0]} {host_pub[1]}\n")
    (d / "ssh_config").write_text("\n".join([
        "Host *", f"  IdentityFile {d / 'id_user'}", "  IdentitiesOnly yes", f"  UserKnownHostsFile {d / 'known_hosts'}",
        "  StrictHostKeyChecking yes", "  LogLevel ERROR", "",
    ]))
    yield {"target": f"{user}@127.0.0.1:{port}", "config": str(d / "ssh_config"), "dir": d}
    proc.terminate()
    try:
        proc.wait(timeout=10)
    except subprocess.TimeoutExpired:
        proc.kill()


def _leftovers() -> set:
    return set(glob.glob("/tmp/edgekit-bench.*"))


def test_parse_target():
    t = parse_target("pi@raspberrypi.local:2222")
    assert (t.user, t.host, t.port) == ("pi", "raspberrypi.local", 2222)
    assert parse_target("jetson").port is None and parse_target("jetson").user is None
    t6 = parse_target("root@[::1]:2200")
    assert (t6.host, t6.port) == ("::1", 2200) and t6.scp_prefix() == "root@[::1]:"
    for bad in ("pi@", "pi@host:port", "-oProxyCommand=x", "pi@host:70000", "a b@host"):
        with pytest.raises(Exception) as e:
            parse_target(bad)
        assert "--host" in str(e.value)


def test_ssh_argv_quotes_every_remote_path():
    r = SSHRunner("pi@pi.local:2222", options=["Compression=yes"])
    argv = r.ssh_argv(["rm", "-rf", "--", "/tmp/edgekit-bench.x y;reboot"])
    assert argv[0] == "ssh" and "BatchMode=yes" in argv and argv[argv.index("-p") + 1] == "2222"
    assert argv[-2:] == ["pi@pi.local", "rm -rf -- '/tmp/edgekit-bench.x y;reboot'"]
    # the shell on the other side splits it back into exactly the argv we meant
    assert shlex.split(argv[-1]) == ["rm", "-rf", "--", "/tmp/edgekit-bench.x y;reboot"]
    with pytest.raises(RemoteError):
        r.scp_argv(DATA / "tiny_conv.tflite", "/tmp/x y/model.tflite")  # unsafe remote paths are refused
    scp = r.scp_argv(DATA / "tiny_conv.tflite", "/tmp/edgekit-bench.AbC/tiny_conv.tflite")
    assert scp[scp.index("-P") + 1] == "2222" and scp[-1] == "pi@pi.local:/tmp/edgekit-bench.AbC/tiny_conv.tflite"


def test_remote_bench_end_to_end(sshd, tmp_path):
    """The real thing: edgekit bench --host over a real sshd, via the CLI, JSON validated."""
    art = tmp_path / "tiny conv.tflite"  # a space in the local name: copied under a clean name
    shutil.copy(DATA / "tiny_conv.tflite", art)
    before = _leftovers()
    out = tmp_path / "remote.json"
    cmd = [sys.executable, "-m", "edgekit", "bench", str(art), "--host", sshd["target"], "--ssh-config", sshd["config"],
           "--remote-edgekit", REMOTE_EDGEKIT, "--threads", "1", "--warmup", "2", "--iters", "20", "--json", str(out)]
    res = subprocess.run(cmd, capture_output=True, text=True, timeout=300)
    assert res.returncode == 0, res.stderr[-2000:]
    doc = json.loads(out.read_text())
    validate(doc)
    assert doc["remote"]["transport"] == "ssh" and doc["remote"]["target"] == sshd["target"]
    (r,) = doc["results"]
    assert r["artifact"] == "tiny conv.tflite" and r["path"] == str(art)
    assert r["source"] == "edgekit" and r["runtime"]["name"] == "tflite"
    assert r["latency_ms"]["count"] == 20 and len(r["samples_ms"]) == 20
    assert 0 < r["latency_ms"]["min"] <= r["latency_ms"]["p50"] <= r["latency_ms"]["max"]
    assert r["size_bytes"] == art.stat().st_size and r["threads"] == 1
    assert "ssh 127.0.0.1" not in res.stdout and "tiny conv.tflite" in res.stdout  # the table is printed here
    assert _leftovers() == before, "the remote temp dir was not removed"


def test_remote_failure_cleans_up(sshd, tmp_path):
    """A remote edgekit that is not there: a one-line RemoteError, and the temp dir is gone."""
    before = _leftovers()
    runner = SSHRunner(sshd["target"], config_file=sshd["config"])
    with pytest.raises(RemoteError) as e:
        bench_over_ssh(runner, [DATA / "tiny_conv.tflite"], {"threads": None, "warmup": 0, "iters": 1, "min_seconds": None},
                       remote_edgekit="/nonexistent/venv/bin/edgekit", timeout=60, progress=False)
    assert "not found" in str(e.value) and "--remote-edgekit" in str(e.value)
    assert _leftovers() == before


def test_remote_timeout_kills_and_cleans_up(sshd):
    before = _leftovers()
    runner = SSHRunner(sshd["target"], config_file=sshd["config"], connect_timeout=3)
    sleeper = shlex.join([sys.executable, "-c", "import time; time.sleep(20)"])
    t = time.time()
    with pytest.raises(RemoteError) as e:
        bench_over_ssh(runner, [DATA / "tiny_conv.tflite"], {"threads": None, "warmup": 0, "iters": 1, "min_seconds": None},
                       remote_edgekit=sleeper, timeout=2, progress=False)
    assert "timed out" in str(e.value)
    assert time.time() - t < 18
    assert _leftovers() == before


def test_unreachable_host_is_a_clear_error(tmp_path):
    runner = SSHRunner(f"nobody@127.0.0.1:{_free_port()}", options=[f"UserKnownHostsFile={tmp_path / 'kh'}"], connect_timeout=5)
    with pytest.raises(RemoteError) as e:
        runner.make_temp_dir()
    assert "ssh to nobody@127.0.0.1" in str(e.value)


def _aarch64_edgekit() -> Path:
    """The emulated aarch64 edgekit of scripts/aarch64-env.sh, or skip (one line)."""
    from edgekit.errors import InputError
    from edgekit.isa import find_env

    try:
        env = find_env("aarch64", "tflite")
    except InputError as e:
        pytest.skip(f"no aarch64 environment ({e})")
    return env.root / "bin" / "edgekit"


def test_remote_bench_on_an_emulated_aarch64_edgekit(sshd, tmp_path):
    """The "Raspberry Pi latency run" end to end against an aarch64 edgekit process (qemu-user):
    the remote reports its machine and that it is emulated, and the numbers say so."""
    remote = _aarch64_edgekit()
    before = _leftovers()
    out = tmp_path / "remote.json"
    cmd = [sys.executable, "-m", "edgekit", "bench", str(DATA / "tiny_conv.tflite"), "--host", sshd["target"],
           "--ssh-config", sshd["config"], "--remote-edgekit", str(remote), "--threads", "1", "--warmup", "1",
           "--iters", "5", "--json", str(out), "--no-progress"]
    res = subprocess.run(cmd, capture_output=True, text=True, timeout=600)
    assert res.returncode == 0, res.stderr[-2000:]
    doc = json.loads(out.read_text())
    validate(doc)
    host = doc["host"]
    assert host["machine"] == "aarch64" and host["emulation"]["emulated"] is True
    assert host["emulation"]["by"] == "qemu-user" and host["emulation"]["executable_machine"] == "x86_64"
    assert doc["remote"]["emulated"] is True and "asimd" in host["cpu_features"]
    (r,) = doc["results"]
    assert r["runtime"]["name"] == "tflite" and r["latency_ms"]["count"] == 5
    assert "EMULATED" in res.stdout and "NOT device latency" in res.stdout
    assert _leftovers() == before, "the remote temp dir was not removed"


def test_dropped_connection_mid_run_is_one_error_and_cleans_up(sshd, tmp_path):
    """The connection dies while the aarch64 edgekit is running (its sshd session process is
    killed): one RemoteError line, and the remote temp folder is removed afterwards."""
    remote = _aarch64_edgekit()
    dropper = tmp_path / "drop-after-3s"
    dropper.write_text("\n".join([
        "#!/bin/sh",
        f'"{remote}" "$@" &',
        "child=$!",
        "sleep 3",
        "p=$$",  # walk up to this connection's sshd session process and kill it
        "while [ \"$p\" -gt 1 ]; do",
        "  p=$(awk '/^PPid:/{print $2}' /proc/$p/status)",
        "  case \"$(cat /proc/$p/comm)\" in sshd*) kill -9 \"$p\"; break;; esac",
        "done",
        "kill $child 2>/dev/null",
        "",
    ]))
    dropper.chmod(0o755)
    before = _leftovers()
    runner = SSHRunner(sshd["target"], config_file=sshd["config"], connect_timeout=5)
    with pytest.raises(RemoteError) as e:
        bench_over_ssh(runner, [DATA / "tiny_conv.tflite"], {"threads": 1, "warmup": 1, "iters": 500, "min_seconds": None},
                       remote_edgekit=str(dropper), timeout=120, progress=False)
    msg = str(e.value)
    assert "\n" not in msg and "during the remote benchmark" in msg, msg
    assert _leftovers() == before, "the remote temp dir was left behind"
