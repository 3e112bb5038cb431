"""aarch64 under emulation (issue 16): the environment of scripts/aarch64-env.sh (an arm64 Python
under qemu-user with the torch-free edgekit[tflite,onnxruntime] from aarch64 wheels) runs
`edgekit predict` and `edgekit verify --isa aarch64` for real on a small .tflite; emulation is
detected from inside the emulated process; the bad cases are one line each.

Without the environment the emulated tests skip with one line (make it with
`bash scripts/aarch64-env.sh`); the error-path tests need no environment."""
from __future__ import annotations

import json
import os
import platform
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest

from edgekit.bench.system import elf_machine, emulation
from edgekit.errors import InputError
from edgekit.isa import find_env, verify
from edgekit.isa.env import default_env_dir
from edgekit.manifest import read_sidecar, validate, write_sidecar

from benchmarks.tiny import cached_build, manifest_for


def _sources(root: Path, mapping: dict) -> dict:
    out = {}
    for src, dst in mapping.items():
        for f in (root / src).rglob("*.py"):
            out[str(Path(dst) / f.relative_to(root / src))] = f.read_bytes()
    return out


@pytest.fixture(scope="module")
def arm_env():
    try:
        env = find_env("aarch64", "tflite")
    except InputError as e:
        pytest.skip(f"no aarch64 environment ({e})")
    # the environment holds an installed copy of edgekit: one from another checkout would test other
    # code, so it is refreshed from this one first (the script's second run: about 20 s)
    repo = Path(__file__).resolve().parents[1]
    if _stale(repo, env):
        r = subprocess.run(["bash", str(repo / "scripts" / "aarch64-env.sh")], capture_output=True, text=True,
                           timeout=900, env={**os.environ, "EDGEKIT_AARCH64_ENV": str(env.root)})
        assert r.returncode == 0, r.stderr[-2000:]
        left = _stale(repo, env)
        assert not left, f"the aarch64 environment's edgekit still differs from this checkout: {left[0]}"
    return env


def _stale(repo: Path, env) -> list:
    here = _sources(repo, {"edgekit": "edgekit", "runtimes": "edgekit/runtimes", "exporters": "edgekit/exporters"})
    there = _sources(env.root / env.site, {"edgekit": "edgekit"})
    return sorted(k for k in here if there.get(k) != here[k])


@pytest.fixture()
def tiny_tflite(tmp_path) -> Path:
    """The repo's tiny CNN as .tflite with an edgekit manifest beside it (32x32 input, 10 classes)."""
    art = tmp_path / "tiny.tflite"
    art.write_bytes((cached_build() / "tiny.tflite").read_bytes())
    write_sidecar(art, manifest_for(art, "tflite"))
    return art


def _arm(env, code: str, timeout: float = 300) -> subprocess.CompletedProcess:
    return subprocess.run([str(env.python), "-P", "-c", code], capture_output=True, text=True, timeout=timeout,
                          cwd=tempfile.gettempdir())


def test_this_host_is_not_emulated():
    e = emulation()
    assert e["emulated"] is False and e["executable_machine"] == elf_machine(sys.executable) == platform.machine()


def test_emulation_is_seen_from_inside_the_emulated_process(arm_env):
    r = _arm(arm_env, "import json, platform; from edgekit.bench.system import emulation, cpu_features, cpu_model; "
                      "print(json.dumps([platform.machine(), emulation(), cpu_features(), cpu_model()]))")
    assert r.returncode == 0, r.stderr[-2000:]
    machine, emu, feats, cpu = json.loads(r.stdout)
    assert machine == "aarch64"
    assert emu["emulated"] is True and emu["executable_machine"] == "x86_64" and emu["by"] == "qemu-user"
    assert emu["cpu_model"] == arm_env.info["qemu_cpu"]
    # the HWCAPs qemu hands the process: a Cortex-A76 has NEON, dot product and fp16, no SVE / i8mm
    assert feats["source"] == "auxv" and "asimd" in feats["key"]
    if emu["cpu_model"] == "cortex-a76":
        assert {"asimddp", "fphp", "asimdhp"} <= set(feats["key"]) and not {"sve", "i8mm"} & set(feats["all"])
        assert cpu == "ARM Cortex-A76"


def test_predict_on_aarch64_without_torch(arm_env, tiny_tflite, photos_dir):
    photo = sorted(photos_dir.glob("*.JPEG"))[0]
    r = subprocess.run([str(arm_env.python), "-P", "-m", "edgekit", "predict", str(tiny_tflite), str(photo), "-k", "3",
                        "--json"], capture_output=True, text=True, timeout=300, cwd=tempfile.gettempdir())
    assert r.returncode == 0, r.stderr[-2000:]
    doc = json.loads(r.stdout)
    assert doc["runtime"] == "tflite" and len(doc["results"][0]["top_k"]) == 3
    assert doc["results"][0]["top_k"][0]["label"].startswith("label_")
    r = _arm(arm_env, "import sys, edgekit, edgekit.runtimes.litert; print('torch' in sys.modules)")
    assert r.returncode == 0 and r.stdout.strip() == "False", r.stderr[-1000:]


def test_verify_on_aarch64_records_parity(arm_env, tiny_tflite, photos_dir):
    """ARM LiteRT vs x86 LiteRT on 4 real photos; the tiny fixture cannot be rebuilt from the zoo,
    so eager is not run and the x86 run is the reference. The sidecar gains parity.aarch64."""
    before = read_sidecar(tiny_tflite)
    e = verify(tiny_tflite, isa="aarch64", images=photos_dir, n=4, env_dir=arm_env.root)
    assert e["machine"] == "aarch64" and e["emulated"] is True and e["emulator"] == "qemu-user"
    assert e["vs_eager"] is None and e["judged_against"] == "x86" and "state_dict_sha256" in e["eager_not_run"]
    assert e["status"] == "passed", e
    assert e["vs_x86"]["top1_agreement"] == 1.0 and e["vs_x86"]["max_abs_error"] < 1e-4 and e["vs_x86"]["cosine"] > 0.9999
    assert e["n"] == 4 and "4 photos" in e["inputs"]
    after = read_sidecar(tiny_tflite)
    assert after["parity"]["aarch64"]["vs_x86"] == e["vs_x86"]
    assert {k: v for k, v in after.items() if k != "parity"} == {k: v for k, v in before.items() if k != "parity"}
    validate(after)
    info = subprocess.run([sys.executable, "-m", "edgekit", "info", str(tiny_tflite)], capture_output=True, text=True,
                          timeout=120, cwd=tempfile.gettempdir())
    assert info.returncode == 0, info.stderr[-1000:]
    assert "parity aarch64" in info.stdout and "passed vs x86" in info.stdout and "emulated by qemu-user" in info.stdout


@pytest.mark.slow
def test_executorch_runs_on_aarch64(arm_env, tmp_path, photos_dir):  # arm_env: edgekit refreshed
    """The ExecuTorch site (`scripts/aarch64-env.sh et`: torch 2.10.0 + executorch 1.2.0 for aarch64)
    runs a .pte written by this machine's executorch on ARM, and verify records it (~2 min: importing
    torch and executorch under qemu takes about a minute)."""
    try:
        env = find_env("aarch64", "executorch")
    except InputError as e:
        pytest.skip(f"no aarch64 ExecuTorch environment ({e})")
    art = tmp_path / "tiny.pte"
    art.write_bytes((cached_build() / "tiny.pte").read_bytes())
    write_sidecar(art, manifest_for(art, "executorch"))
    e = verify(art, isa="aarch64", images=photos_dir, n=4, env_dir=env.root)
    assert e["status"] == "passed" and e["machine"] == "aarch64" and e["emulated"] is True, e
    assert e["runtime"].startswith("executorch ") and e["judged_against"] == "x86"
    assert e["vs_x86"]["top1_agreement"] == 1.0 and e["vs_x86"]["max_abs_error"] < 1e-4
    assert read_sidecar(art)["parity"]["aarch64"]["vs_x86"] == e["vs_x86"]


def test_verify_bad_cases_are_one_line(tmp_path, tiny_tflite):
    with pytest.raises(InputError) as e:
        find_env("riscv64", "tflite")
    assert "expected one of aarch64" in str(e.value)
    with pytest.raises(InputError) as e:
        find_env("aarch64", "coreml", tmp_path)
    assert "Core ML runs only on Apple platforms" in str(e.value)
    with pytest.raises(InputError) as e:  # the ExecuTorch site is made on request
        find_env("aarch64", "executorch", tmp_path)
    assert "scripts/aarch64-env.sh et" in str(e.value) and "\n" not in str(e.value)
    with pytest.raises(InputError) as e:  # no environment there: say how to make it
        verify(tiny_tflite, isa="aarch64", env_dir=tmp_path / "none")
    assert "scripts/aarch64-env.sh" in str(e.value) and "\n" not in str(e.value)
    env = tmp_path / "env"  # an environment whose qemu has gone
    (env / "bin").mkdir(parents=True)
    (env / "lite").mkdir()
    (env / "bin" / "python-lite").write_text("#!/bin/sh\n")
    (env / "env.json").write_text(json.dumps({"qemu": str(tmp_path / "no-qemu-aarch64-static")}))
    with pytest.raises(InputError) as e:
        verify(tiny_tflite, isa="aarch64", env_dir=env)
    assert "qemu-user-static" in str(e.value) and "\n" not in str(e.value)


def test_manifest_schema_accepts_per_isa_parity(tiny_tflite):
    doc = read_sidecar(tiny_tflite)
    m = {"max_abs_error": 0.0, "cosine": 1.0, "top1_agreement": 1.0, "top5_overlap": 1.0}
    doc["parity"]["aarch64"] = {"status": "passed", "runtime": "tflite 2.3.0", "n": 4, "machine": "aarch64",
                                "emulated": True, "emulator": "qemu-user", "cpu_model": "cortex-a76",
                                "cpu_features": ["asimd", "asimddp"], "vs_x86": {**m, "runtime": "tflite 2.3.0"},
                                "vs_eager": None, "judged_against": "x86"}
    validate(doc)
    doc["parity"]["aarch64"]["emulated"] = "yes"
    with pytest.raises(Exception):
        validate(doc)


def test_default_env_dir_follows_the_variable(monkeypatch, tmp_path):
    monkeypatch.setenv("EDGEKIT_AARCH64_ENV", str(tmp_path / "a64"))
    assert default_env_dir() == tmp_path / "a64"
    monkeypatch.delenv("EDGEKIT_AARCH64_ENV")
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    assert default_env_dir() == tmp_path / "cache" / "edgekit" / "aarch64"



def _fake_elf(path: Path, e_machine: int) -> str:
    path.write_bytes(b"\x7fELF\x02\x01\x01" + bytes(11) + e_machine.to_bytes(2, "little") + bytes(44))
    return str(path)


@pytest.mark.parametrize("machine,exe_isa,emulated", [
    ("aarch64", 0x3E, True),    # arm64 userland, x86-64 executable: qemu-user on a PC
    ("aarch64", 0xB7, False),   # a Pi 5 / Jetson
    ("armv7l", 0x28, False),    # 32-bit Raspberry Pi OS on a 64-bit kernel: native
    ("x86_64", 0x03, False),    # a 32-bit x86 Python on a 64-bit kernel: native
    ("riscv64", 0x3E, True),
])
def test_emulation_compares_isa_families(monkeypatch, tmp_path, machine, exe_isa, emulated):
    exe = _fake_elf(tmp_path / "exe", exe_isa)
    monkeypatch.setattr(platform, "machine", lambda: machine)
    monkeypatch.setattr(os, "readlink", lambda p: exe)
    monkeypatch.setenv("QEMU_CPU", "cortex-a72")
    e = emulation()
    assert e["emulated"] is emulated and e["machine"] == machine
    assert (e.get("by"), e.get("cpu_model")) == (("exe", "cortex-a72") if emulated else (None, None))
