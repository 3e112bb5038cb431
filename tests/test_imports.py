"""The import graph's contracts (pyproject.toml [tool.importlinter]) hold, and break on a new cycle;
runtimes import no converter at import time; benchmarks use edgekit's public names only."""
from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
SCRIPT = REPO / "scripts" / "import_graph.py"


def _lint_tree(tree: Path) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, str(SCRIPT), "--lint", "--repo", str(tree)], capture_output=True,
                          text=True, timeout=300)


def test_import_contracts_hold():
    pytest.importorskip("importlinter")
    r = _lint_tree(REPO)
    assert r.returncode == 0, r.stdout[-3000:] + r.stderr[-2000:]
    assert "0 broken" in r.stdout


def test_a_new_cycle_breaks_the_contracts(tmp_path):
    """A copy of the tree where the format registry imports the manifest module, which imports it:
    the linter must fail, naming the cycle."""
    pytest.importorskip("importlinter")
    tree = tmp_path / "tree"
    (tree / "edgekit").mkdir(parents=True)
    for entry in (REPO / "edgekit").iterdir():
        (tree / "edgekit" / entry.name).symlink_to(entry)
    for name in ("exporters", "runtimes", "benchmarks"):
        (tree / name).symlink_to(REPO / name)
    (tree / "pyproject.toml").symlink_to(REPO / "pyproject.toml")
    formats = tree / "edgekit" / "formats.py"
    text = formats.read_text()
    formats.unlink()
    formats.write_text(text.replace("from .errors import UnknownNameError\n",
                                    "from .errors import UnknownNameError\nfrom . import manifest  # noqa: F401\n", 1))
    r = _lint_tree(tree)
    assert r.returncode != 0, r.stdout[-3000:]
    assert "BROKEN" in r.stdout and "edgekit.formats" in r.stdout


def _module_level_imports(path: Path) -> list[str]:
    """Modules imported when `path` is imported (not inside functions or classes' methods)."""
    out = []
    for node in ast.parse(path.read_text()).body:
        if isinstance(node, ast.Import):
            out += [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            out.append(node.module)
    return out


def test_runtimes_import_no_heavy_package_at_import_time():
    heavy = ("torch", "torchvision", "timm", "executorch", "litert_torch", "coremltools", "onnx", "onnxruntime",
             "ai_edge_litert", "tflite_runtime", "tensorflow")
    for path in sorted((REPO / "runtimes").rglob("*.py")):
        bad = [m for m in _module_level_imports(path) if m.split(".")[0] in heavy]
        assert not bad, f"{path.relative_to(REPO)} imports {bad} at import time"


def test_benchmarks_use_public_names_only():
    for path in sorted((REPO / "benchmarks").glob("*.py")):
        tree = ast.parse(path.read_text())
        for node in ast.walk(tree):
            if isinstance(node, ast.ImportFrom) and node.module and node.module.split(".")[0] == "edgekit":
                private = [a.name for a in node.names if a.name.startswith("_") and not a.name.startswith("__")]
                hidden = [p for p in node.module.split(".") if p.startswith("_")]
                assert not private and not hidden, f"{path.name} imports private {node.module}: {private or hidden}"
            if isinstance(node, (ast.Import, ast.ImportFrom)):
                names = [a.name for a in node.names] if isinstance(node, ast.Import) else [node.module or ""]
                assert not any(n.split(".")[0] == "tests" for n in names), f"{path.name} imports from tests/"
        assert "sys.path" not in path.read_text(), f"{path.name} edits sys.path; run it as python -m benchmarks.{path.stem}"
