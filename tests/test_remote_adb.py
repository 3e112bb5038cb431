"""`edgekit bench --adb`: no Android device here, so (1) the parsers are checked against real
recorded outputs of LiteRT's benchmark_model and ExecuTorch's executor_runner (tests/data/adb,
sources in its README), (2) the command lines are checked, and (3) the whole CLI path runs as a
real subprocess against a fake `adb` on PATH that records its argv, keeps a model of the device's
/data/local/tmp, and replays the recorded outputs."""
from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from edgekit.bench import validate
from edgekit.remote import RemoteError
from edgekit.remote.adb import (AdbDevice, benchmark_model_argv, executor_runner_argv, parse_benchmark_model,
                                parse_executor_runner, pte_result)

ADB_DATA = Path(__file__).parent / "data" / "adb"
BENCH_DATA = Path(__file__).parent / "data" / "bench"


def rec(name: str) -> str:
    return (ADB_DATA / name).read_text()


# ---- parsers on real recorded outputs -------------------------------------------------------
def test_parse_benchmark_model_android_classic():
    p = parse_benchmark_model(rec("benchmark_model_android_tf42507.txt"))
    assert p["load_ms"] == pytest.approx(0.855) and p["first_run_ms"] == pytest.approx(49.060)
    # the timed phase (count=50), not the warm-up line (count=15) before it
    assert p["count"] == 50 and p["mean"] == pytest.approx(33.2094)
    assert (p["min"], p["max"], p["std"]) == (pytest.approx(32.641), pytest.approx(34.005), pytest.approx(0.450))
    assert p["p50"] is None and p["p95"] is None
    assert p["peak_bytes"] == int(12.8672 * 2**20)


def test_parse_benchmark_model_info_prefix_without_memory():
    p = parse_benchmark_model(rec("benchmark_model_info_tf73862.txt"))
    assert p["count"] == 74 and p["mean"] == pytest.approx(13.5202) and p["min"] == pytest.approx(13.105)
    assert p["load_ms"] == pytest.approx(12.75) and p["first_run_ms"] == pytest.approx(14.744)
    assert p["peak_bytes"] is None


def test_parse_benchmark_model_percentiles_and_exponents():
    p = parse_benchmark_model(rec("benchmark_model_percentiles_ti_am62x.txt"))
    assert p["mean"] == pytest.approx(1240.27)  # "avg=1.24027e+06" us
    assert p["p50"] == pytest.approx(1239.807) and p["p5"] == pytest.approx(1238.753) and p["p95"] == pytest.approx(1247.415)
    assert p["count"] == 50 and p["peak_bytes"] == int(109.832 * 2**20)


def test_parse_benchmark_model_litert_next_format():
    p = parse_benchmark_model(rec("benchmark_model_litert_next_mlcommons1134.txt"))
    assert p["load_ms"] == pytest.approx(23744.73) and p["first_run_ms"] == pytest.approx(7441.04)
    assert p["mean"] == pytest.approx(7430.20) and p["count"] == 10
    assert (p["min"], p["max"], p["std"]) == (pytest.approx(7416.40), pytest.approx(7448.86), pytest.approx(9.92))
    assert p["peak_bytes"] == int(6391.74 * 2**20)


def test_parse_benchmark_model_without_timings_is_an_error():
    with pytest.raises(RemoteError) as e:
        parse_benchmark_model("STARTING!\nFailed to load model /data/local/tmp/x.tflite\n")
    assert "Failed to load model" in str(e.value)


def test_parse_executor_runner_total_only():
    p = parse_executor_runner(rec("executor_runner_threadpool_arm64.txt"))
    assert p == {"load_ms": None, "executions": 1, "total_ms": pytest.approx(2.904883), "iterations_ms": []}
    r = pte_result(BENCH_DATA / "tiny_conv.pte", p, threads=1, warmup=0)
    assert r["latency_ms"]["mean"] == pytest.approx(2.904883) and r["latency_ms"]["p50"] is None
    assert any("no per-run times" in n for n in r["notes"])


def test_parse_executor_runner_iterations():
    p = parse_executor_runner(rec("executor_runner_iterations_mv2.txt"))
    assert p["load_ms"] == pytest.approx(29.49) and p["iterations_ms"] == [pytest.approx(49252.0)]
    assert p["executions"] == 1 and p["total_ms"] == pytest.approx(49252.0)


def test_executor_runner_first_and_warmup_are_split_off():
    # lines in executor_runner.cpp's own format ("Iteration %u of %u: %f ms"): 1 first + 2 warm-up + 8 timed
    times = [9.0, 5.0, 4.5, 4.0, 4.2, 4.1, 4.0, 4.3, 4.1, 4.2, 40.0]
    text = "I executorch:executor_runner.cpp:718] Model loaded in 3.25 ms.\n" + "".join(
        f"I executorch:executor_runner.cpp:880] Iteration {i + 1} of {len(times)}: {t:f} ms\n" for i, t in enumerate(times)
    ) + f"I executorch:executor_runner.cpp:889] Model executed successfully {len(times)} time(s) in {sum(times):f} ms.\n"
    r = pte_result(BENCH_DATA / "tiny_conv.pte", parse_executor_runner(text), threads=2, warmup=2)
    assert r["first_run_ms"] == 9.0 and r["samples_ms"] == times[3:]
    assert r["latency_ms"]["count"] == 8 and r["latency_ms"]["p50"] == pytest.approx(4.15)
    assert r["outliers"]["count"] == 1 and r["outliers"]["max_ms"] == 40.0  # counted, not dropped
    assert r["latency_ms"]["max"] == 40.0


def test_parse_executor_runner_failure():
    text = "I executorch:executor_runner.cpp:565] Model file m.pte is loaded.\nE executorch:executor_runner.cpp:870] Execution of method forward failed with status 0x12\n"
    with pytest.raises(RemoteError) as e:
        parse_executor_runner(text)
    assert "Execution of method forward failed with status 0x12" in str(e.value)


# ---- command construction ------------------------------------------------------------------
def test_benchmark_model_command():
    argv = benchmark_model_argv("/data/local/tmp/benchmark_model", "/data/local/tmp/edgekit-1a2b3c4d/m0.tflite", 4, 5, 50, None)
    assert argv == ["/data/local/tmp/benchmark_model", "--graph=/data/local/tmp/edgekit-1a2b3c4d/m0.tflite", "--num_threads=4",
                    "--warmup_runs=5", "--warmup_min_secs=0", "--num_runs=50", "--min_secs=0"]
    timed = benchmark_model_argv("/b", "/g.tflite", None, 0, None, 2.5)
    assert "--min_secs=2.5" in timed and "--num_runs=1" in timed and not any(a.startswith("--num_threads") for a in timed)


def test_executor_runner_command():
    assert executor_runner_argv("/data/local/tmp/executor_runner", "/data/local/tmp/e/m1.pte", 2, 3, 20) == [
        "/data/local/tmp/executor_runner", "--model_path=/data/local/tmp/e/m1.pte", "--num_executions=24", "--cpu_threads=2"]


def test_device_shell_string_is_quoted():
    d = AdbDevice("emulator-5554")
    argv = d.shell_argv(["rm", "-rf", "--", "/data/local/tmp/edgekit-00 ;reboot"], ["getprop", "ro.product.model"])
    assert argv[:4] == ["adb", "-s", "emulator-5554", "shell"]
    assert argv[4] == "rm -rf -- '/data/local/tmp/edgekit-00 ;reboot'; getprop ro.product.model"
    with pytest.raises(Exception):
        AdbDevice("-H evil")


# ---- the real subprocess path against a fake adb ------------------------------------------------
FAKE_ADB = textwrap.dedent('''\
    #!{python}
    """A fake `adb` for tests: logs argv, keeps a model of the device's files, replays recordings."""
    import json, os, posixpath, shlex, sys

    argv = sys.argv[1:]
    with open(os.environ["FAKE_ADB_LOG"], "a") as f:
        f.write(json.dumps(argv) + "\\n")
    state_path = os.environ["FAKE_ADB_STATE"]
    state = json.load(open(state_path)) if os.path.exists(state_path) else {{"dirs": [], "files": []}}
    binaries = {{"/data/local/tmp/benchmark_model": os.environ["FAKE_ADB_TFLITE"],
                "/data/local/tmp/executor_runner": os.environ["FAKE_ADB_PTE"]}}
    props = {{"ro.product.manufacturer": "Google", "ro.product.model": "Pixel 7", "ro.build.version.release": "14",
             "ro.product.cpu.abi": "arm64-v8a", "ro.soc.model": "Tensor G2", "ro.board.platform": "gs201"}}

    def save():
        json.dump(state, open(state_path, "w"))

    if argv[:2] != ["-s", os.environ["FAKE_ADB_SERIAL"]]:
        print("adb: device '%s' not found" % (argv[1] if len(argv) > 1 else ""), file=sys.stderr)
        sys.exit(1)
    cmd = argv[2:]
    if cmd == ["get-state"]:
        print("device"); sys.exit(0)
    if cmd[0] == "push":
        local, remote = cmd[1], cmd[2]
        if posixpath.dirname(remote) not in state["dirs"] or not os.path.isfile(local):
            print("adb: error: failed to copy '%s' to '%s': remote No such file or directory" % (local, remote), file=sys.stderr)
            sys.exit(1)
        state["files"].append(remote); save()
        print("%s: 1 file pushed, 0 skipped. 9.9 MB/s (%d bytes in 0.001s)" % (local, os.path.getsize(local)))
        sys.exit(0)
    assert cmd[0] == "shell" and len(cmd) == 2, cmd
    lex = shlex.shlex(cmd[1], posix=True, punctuation_chars=";")
    lex.whitespace_split = True
    commands, cur = [], []
    for tok in lex:
        if tok == ";":
            commands.append(cur); cur = []
        else:
            cur.append(tok)
    commands.append(cur)
    rc = 0
    for c in commands:
        if c[0] == "getprop":
            print(props.get(c[1], ""))
        elif c == ["cat", "/sys/devices/system/cpu/possible"]:
            print("0-7")
        elif c[0] == "grep" and c[-1] == "/proc/cpuinfo":
            print("Features\t: fp asimd evtstrm aes pmull sha1 sha2 crc32 atomics asimdrdm lrcpc dcpop asimddp i8mm")
        elif c[0] == "mkdir":
            if c[1] in state["dirs"]:
                print("mkdir: '%s': File exists" % c[1], file=sys.stderr); rc = 1
            else:
                state["dirs"].append(c[1]); save()
        elif c[:3] == ["rm", "-rf", "--"]:
            state["dirs"] = [d for d in state["dirs"] if d != c[3]]
            state["files"] = [f for f in state["files"] if not f.startswith(c[3] + "/")]
            save()
        elif c[0] in binaries and os.path.exists(binaries[c[0]]):
            model = [a.split("=", 1)[1] for a in c[1:] if a.startswith(("--graph=", "--model_path="))]
            if not model or model[0] not in state["files"]:
                print("Failed to load model %s" % (model[0] if model else "?")); sys.exit(1)
            sys.stdout.write(open(binaries[c[0]]).read())
        else:
            print("/system/bin/sh: %s: not found" % c[0], file=sys.stderr); sys.exit(127)
    sys.exit(rc)
''')


@pytest.fixture
def fake_adb(tmp_path):
    bindir = tmp_path / "bin"
    bindir.mkdir()
    adb = bindir / "adb"
    adb.write_text(FAKE_ADB.format(python=sys.executable))
    adb.chmod(0o755)
    env = dict(os.environ)
    env.update(PATH=f"{bindir}{os.pathsep}{env.get('PATH', '')}", FAKE_ADB_LOG=str(tmp_path / "adb.log"),
               FAKE_ADB_STATE=str(tmp_path / "device.json"), FAKE_ADB_SERIAL="R5CT1234ABC",
               FAKE_ADB_TFLITE=str(ADB_DATA / "benchmark_model_android_tf42507.txt"),
               FAKE_ADB_PTE=str(ADB_DATA / "executor_runner_iterations_mv2.txt"))
    return env, tmp_path


def _calls(tmp_path):
    return [json.loads(line) for line in (tmp_path / "adb.log").read_text().splitlines()]


def _device_state(tmp_path):
    return json.loads((tmp_path / "device.json").read_text())


def test_adb_bench_end_to_end_with_fake_adb(fake_adb):
    env, tmp = fake_adb
    out = tmp / "adb.json"
    cmd = [sys.executable, "-m", "edgekit", "bench", str(BENCH_DATA / "tiny_conv.tflite"), str(BENCH_DATA / "tiny_conv.pte"),
           "--adb", "R5CT1234ABC", "--threads", "2", "--warmup", "5", "--iters", "50", "--json", str(out), "--csv", str(tmp / "adb.csv")]
    res = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=120)
    assert res.returncode == 0, res.stderr
    doc = json.loads(out.read_text())
    validate(doc)
    assert doc["remote"]["transport"] == "adb" and doc["remote"]["target"] == "R5CT1234ABC"
    assert doc["host"]["device"] == "Google Pixel 7" and doc["host"]["cpu"] == "Tensor G2" and doc["host"]["cores"] == 8
    assert doc["host"]["isa"] == {"arch": "arm", "features": ["asimd", "asimddp", "i8mm"], "int8_dot": True,
                                  "source": "adb /proc/cpuinfo"}
    tfl, pte = doc["results"]
    # numbers are the recording's, converted to ms
    assert tfl["source"] == "benchmark_model" and tfl["latency_ms"]["mean"] == pytest.approx(33.2094)
    assert tfl["load_ms"] == pytest.approx(0.855) and tfl["peak_rss_increase_bytes"] == int(12.8672 * 2**20)
    assert tfl["size_bytes"] == (BENCH_DATA / "tiny_conv.tflite").stat().st_size
    assert pte["source"] == "executor_runner" and pte["load_ms"] == pytest.approx(29.49)
    assert doc["fastest"] == "tiny_conv.tflite" and pte["ratio_to_fastest"] == pytest.approx(49252.0 / 33.2094)

    calls = _calls(tmp)
    pushes = [c for c in calls if c[2] == "push"]
    assert [Path(c[3]).name for c in pushes] == ["tiny_conv.tflite", "tiny_conv.pte"]
    workdir = posix_dir = str(Path(pushes[0][4]).parent)
    assert re.fullmatch(r"/data/local/tmp/edgekit-[0-9a-f]{8}", workdir)
    shells = [c[3] for c in calls if c[2] == "shell"]
    assert f"/data/local/tmp/benchmark_model --graph={posix_dir}/m0.tflite --num_threads=2 --warmup_runs=5 " \
           f"--warmup_min_secs=0 --num_runs=50 --min_secs=0" in shells
    assert f"/data/local/tmp/executor_runner --model_path={posix_dir}/m1.pte --num_executions=56 --cpu_threads=2" in shells
    assert shells[-1] == f"rm -rf -- {workdir}"
    assert _device_state(tmp) == {"dirs": [], "files": []}, "the device directory was not removed"
    assert "Pixel 7" in res.stdout and "benchmark_model" in res.stdout  # the table
    assert (tmp / "adb.csv").read_text().count("\n") == 3


def test_adb_missing_binary_fails_clearly_and_cleans_up(fake_adb):
    env, tmp = fake_adb
    cmd = [sys.executable, "-m", "edgekit", "bench", str(BENCH_DATA / "tiny_conv.tflite"), "--adb", "R5CT1234ABC",
           "--adb-benchmark-model", "/data/local/tmp/bin/benchmark_model_v2"]
    res = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=120)
    assert res.returncode == 2
    assert "benchmark_model_v2 not found on R5CT1234ABC" in res.stderr and "--adb-benchmark-model" in res.stderr
    assert _device_state(tmp) == {"dirs": [], "files": []}


def test_adb_unknown_device(fake_adb):
    env, _ = fake_adb
    res = subprocess.run([sys.executable, "-m", "edgekit", "bench", str(BENCH_DATA / "tiny_conv.tflite"), "--adb", "OTHER"],
                         capture_output=True, text=True, env=env, timeout=120)
    assert res.returncode == 2 and "adb device OTHER is not available" in res.stderr


def test_adb_rejects_formats_it_cannot_run(tmp_path):
    from edgekit.remote.adb import bench_over_adb

    onnx = tmp_path / "m.onnx"
    onnx.write_bytes(b"\x08\x07")
    with pytest.raises(Exception) as e:
        bench_over_adb(AdbDevice("X"), [onnx], {"threads": None, "warmup": 1, "iters": 5, "min_seconds": None})
    assert ".tflite (benchmark_model) or .pte (executor_runner)" in str(e.value)
