"""Torch-free on devices (issue 4 section 2), tested for real in separate virtual environments:
(a) `pip install edgekit ai-edge-litert` (default run), (b) `numpy<2` + `tflite-runtime==2.14.0`,
the Raspberry Pi situation (slow). Neither has torch; `import edgekit`, `edgekit predict`,
`edgekit info` and `edgekit bench` must work there. Plus: `edgekit --help` imports nothing heavy."""
from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import venv
from pathlib import Path

import numpy as np
import pytest

from edgekit.manifest import write_sidecar

from benchmarks.tiny import LABELS, REPO, cached_build, manifest_for

HEAVY = ("torch", "torchvision", "executorch", "litert_torch", "coremltools", "onnx", "onnxruntime",
         "ai_edge_litert", "tflite_runtime", "tensorflow", "timm", "jsonschema")
PIP_TIMEOUT = 900


def _run(cmd, timeout=300, cwd=None, **kw):
    """Run outside the repo by default: `python -c` puts the cwd first on sys.path, and the
    repo's own edgekit/ folder would shadow the installed package."""
    import tempfile

    return subprocess.run([str(c) for c in cmd], capture_output=True, text=True, timeout=timeout,
                          cwd=cwd or tempfile.gettempdir(), **kw)


@pytest.fixture(scope="session")
def wheel(tmp_path_factory) -> Path:
    """An edgekit wheel built from a copy of the source (so no build/ or egg-info lands in the
    working tree), with this environment's setuptools."""
    src = tmp_path_factory.mktemp("edgekit-src")
    for name in ("pyproject.toml", "README.md"):
        if (REPO / name).exists():
            shutil.copy(REPO / name, src / name)
    for d in ("edgekit", "exporters", "runtimes"):
        shutil.copytree(REPO / d, src / d, ignore=shutil.ignore_patterns("__pycache__"))
    out = tmp_path_factory.mktemp("wheel")
    r = _run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-q", "-w", out, src], timeout=PIP_TIMEOUT)
    assert r.returncode == 0, r.stderr[-2000:]
    (whl,) = out.glob("edgekit-*.whl")
    return whl


def _make_venv(root: Path, packages: list) -> Path:
    venv.EnvBuilder(with_pip=True, clear=True).create(root)
    py = root / "bin" / "python"
    r = _run([py, "-m", "pip", "install", "-q", *packages], timeout=PIP_TIMEOUT)
    assert r.returncode == 0, f"pip install {packages} failed: {r.stderr[-3000:]}"
    return root / "bin"


@pytest.fixture(scope="session")
def litert_venv(tmp_path_factory, wheel) -> Path:
    return _make_venv(tmp_path_factory.mktemp("venv-litert"), [wheel, "ai-edge-litert"])


@pytest.fixture(scope="session")
def tflite_runtime_venv(tmp_path_factory, wheel) -> Path:
    return _make_venv(tmp_path_factory.mktemp("venv-tflite-runtime"), [wheel, "numpy<2", "tflite-runtime==2.14.0"])


@pytest.fixture(scope="session")
def device_files(tmp_path_factory) -> dict:
    """Artifacts as a device would get them: the float and int8-IO .tflite with sidecar
    manifests, a .pte/.onnx/.mlpackage, the test input and the PyTorch logits."""
    tiny = cached_build()
    d = tmp_path_factory.mktemp("device")
    files = {}
    for name in ("tiny.tflite", "tiny_int8io.tflite", "tiny.pte", "tiny.onnx", "x.npy", "y.npy"):
        shutil.copyfile(tiny / name, d / name)
        files[name] = d / name
    shutil.copytree(tiny / "tiny.mlpackage", d / "tiny.mlpackage")
    files["tiny.mlpackage"] = d / "tiny.mlpackage"
    write_sidecar(d / "tiny.tflite", manifest_for(d / "tiny.tflite", "tflite"))
    return files


def _photo() -> Path:
    shared = Path(os.environ.get("EDGEKIT_SHARED") or REPO.parent / "shared")
    return sorted((shared / "data" / "imagenet-sample-200").glob("*.JPEG"))[0]


_PARITY = """
import sys, numpy as np, edgekit
from edgekit.runtimes import load
m = load(sys.argv[1], threads=1)
x, y = np.load(sys.argv[2]), np.load(sys.argv[3])
out = m.run(x)[0]
print(m.runtime_name, m.package, m.runtime_version, float(np.abs(out - y).max()), int(out.argmax()) == int(y.argmax()))
heavy = [k for k in %r if k in sys.modules]
print("heavy:", ",".join(k for k in heavy if k not in ("ai_edge_litert", "tflite_runtime")) or "none")
""" % (HEAVY,)


def _check_device_env(bindir: Path, files: dict, package: str, version_prefix: str) -> None:
    py, edgekit = bindir / "python", bindir / "edgekit"
    # no torch here at all
    r = _run([py, "-c", "import importlib.util as u; print([m for m in ('torch', 'executorch', 'onnxruntime') if u.find_spec(m)])"])
    assert r.returncode == 0 and r.stdout.strip() == "[]", r.stdout + r.stderr
    # run: same numbers as PyTorch eager (float model), int8-IO model quantized by the wrapper
    r = _run([py, "-c", _PARITY, files["tiny.tflite"], files["x.npy"], files["y.npy"]])
    assert r.returncode == 0, r.stderr[-2000:]
    name, pkg, ver, err, same = r.stdout.split("\n")[0].split()
    assert (name, pkg) == ("tflite", package) and ver.startswith(version_prefix)
    assert float(err) < 1e-4 and same == "True"
    assert r.stdout.split("\n")[1] == "heavy: none", r.stdout
    r = _run([py, "-c", _PARITY, files["tiny_int8io.tflite"], files["x.npy"], files["y.npy"]])
    assert r.returncode == 0, r.stderr[-2000:]
    assert float(r.stdout.split()[3]) < 0.05 and r.stdout.split()[4] == "True", r.stdout
    # edgekit predict with the manifest's preprocessing and labels
    r = _run([edgekit, "predict", files["tiny.tflite"], _photo(), "-k", "3", "--json"])
    assert r.returncode == 0, r.stderr[-2000:]
    res = json.loads(r.stdout)["results"][0]["top_k"]
    assert len(res) == 3 and all(t["label"] == LABELS[t["index"]] for t in res)
    from edgekit.runtimes import load  # the same answer as in the full environment

    ref = load(files["tiny.tflite"]).predict(_photo(), k=3)
    assert [t["index"] for t in res] == [i for i, _, _ in ref]
    np.testing.assert_allclose([t["score"] for t in res], [s for _, _, s in ref], rtol=1e-5)
    # edgekit info reads every format from the file itself, torch-free
    for name, want in (("tiny.tflite", "float32[1,3,32,32]"), ("tiny.pte", "input_0 float32[1,3,32,32]"),
                       ("tiny.onnx", "image float32[1,3,32,32]"), ("tiny.mlpackage", "x float32[1,3,32,32]")):
        r = _run([edgekit, "info", files[name]])
        assert r.returncode == 0 and want in r.stdout, (name, r.stdout, r.stderr[-1000:])
    # a runtime that is not installed: one line naming the extra, exit 2, no traceback
    for name, extra in (("tiny.pte", "executorch"), ("tiny.onnx", "onnxruntime")):
        r = _run([edgekit, "predict", files[name], _photo()])
        assert r.returncode == 2 and f"edgekit[{extra}]" in r.stderr and "Traceback" not in r.stderr, r.stderr
    # edgekit bench (the bench command, built on this runtime API)
    out = files["tiny.tflite"].parent / f"bench-{package}.json"
    r = _run([edgekit, "bench", files["tiny.tflite"], "--iters", "20", "--warmup", "2", "--no-progress", "--json", out])
    assert r.returncode == 0, r.stderr[-2000:]
    text = json.dumps(json.loads(out.read_text()))
    assert "tflite" in text and version_prefix in text
    r = _run([edgekit, "--help"])
    assert r.returncode == 0 and "predict" in r.stdout


def test_litert_venv_without_torch(litert_venv, device_files):
    _check_device_env(litert_venv, device_files, "ai-edge-litert", "2.")


@pytest.mark.slow
def test_tflite_runtime_214_numpy1_venv(tflite_runtime_venv, device_files):
    """The Raspberry Pi case: tflite-runtime 2.14 (built for NumPy 1.x) runs a litert-torch .tflite."""
    r = _run([tflite_runtime_venv / "python", "-c", "import numpy; print(numpy.__version__)"])
    assert r.stdout.startswith("1."), r.stdout
    _check_device_env(tflite_runtime_venv, device_files, "tflite-runtime", "2.14.0")


@pytest.fixture(scope="session")
def onnxruntime_venv(tmp_path_factory, wheel) -> Path:
    return _make_venv(tmp_path_factory.mktemp("venv-onnxruntime"), [wheel, "onnxruntime"])


@pytest.mark.slow
def test_onnxruntime_venv_without_torch(onnxruntime_venv, device_files):
    """The other device setup of section 2: numpy + onnxruntime only."""
    py, edgekit = onnxruntime_venv / "python", onnxruntime_venv / "edgekit"
    r = _run([py, "-c", "import importlib.util as u; print([m for m in ('torch', 'ai_edge_litert') if u.find_spec(m)])"])
    assert r.stdout.strip() == "[]", r.stdout + r.stderr
    r = _run([py, "-c", _PARITY, device_files["tiny.onnx"], device_files["x.npy"], device_files["y.npy"]])
    assert r.returncode == 0, r.stderr[-2000:]
    name, pkg, _ver, err, same = r.stdout.split("\n")[0].split()
    assert (name, pkg) == ("onnxruntime", "onnxruntime") and float(err) < 1e-4 and same == "True"
    r = _run([edgekit, "predict", device_files["tiny.onnx"], _photo(), "-k", "2", "--json"])
    assert r.returncode == 0 and len(json.loads(r.stdout)["results"][0]["top_k"]) == 2, r.stderr[-2000:]
    r = _run([edgekit, "predict", device_files["tiny.tflite"], _photo()])
    assert r.returncode == 2 and "edgekit[tflite]" in r.stderr, r.stderr


def test_cli_startup_imports_nothing_heavy():
    """`edgekit --help` builds every subcommand's parser; none may import a heavy library."""
    code = ("import sys, edgekit, edgekit.cli, edgekit.runtimes, edgekit.runtimes.base, edgekit.runtimes.litert, "
            "edgekit.runtimes.onnxruntime, edgekit.runtimes.executorch, edgekit.runtimes.coreml, edgekit.runtimes.torch; "
            "edgekit.cli.build_parser(); print(','.join(m for m in %r if m in sys.modules) or 'none')" % (HEAVY,))
    r = _run([sys.executable, "-c", code], cwd=REPO)
    assert r.returncode == 0, r.stderr
    assert r.stdout.strip() == "none", f"imported at start-up: {r.stdout.strip()}"
    r = _run([sys.executable, "-m", "edgekit", "--help"], cwd=REPO)
    assert r.returncode == 0 and "predict" in r.stdout and "info" in r.stdout
