"""`edgekit info` and `edgekit predict` (issue 4 section 1/6, issue 3 section 6): the IO spec read
from any artifact, manifests, JSON output, one-line errors with exit code 2."""
from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from edgekit.cli import main
from edgekit.manifest import write_sidecar

from benchmarks.tiny import LABELS, cached_build, manifest_for


@pytest.fixture(autouse=True)
def _private_probe_cache(tmp_path_factory, monkeypatch):
    """Probe results go to a test folder, not ~/.cache/edgekit."""
    monkeypatch.setenv("EDGEKIT_CACHE", str(tmp_path_factory.getbasetemp() / "edgekit-cache"))


@pytest.fixture(scope="session")
def tiny() -> Path:
    return cached_build()


@pytest.mark.parametrize("name,fmt,in_name", [("tiny.tflite", "tflite", "serving_default_args_0"),
                                              ("tiny_int8io.tflite", "tflite", "serving_default_args_0"),
                                              ("tiny.pte", "executorch", "input_0"), ("tiny.onnx", "onnx", "image"),
                                              ("tiny.mlpackage", "coreml", "x")])
def test_info_json_reads_the_io_spec_from_the_file(tiny, capsys, name, fmt, in_name):
    assert main(["info", str(tiny / name), "--json"]) == 0
    info = json.loads(capsys.readouterr().out)
    assert info["format"] == fmt and info["manifest"] is None and info["manifest_source"] is None
    (inp,), (out,) = info["inputs"], info["outputs"]
    assert inp["name"] == in_name and inp["shape"] == [1, 3, 32, 32] and inp["layout"] == "NCHW"
    assert out["shape"] == [1, 10]
    if "int8" in name:
        assert inp["dtype"] == "int8" and set(inp["quantization"]) == {"scale", "zero_point"}
    else:
        assert inp["dtype"] == "float32" and inp["quantization"] is None
    assert len(info["sha256"]) == 64 and info["size_bytes"] > 0


def test_info_text_with_a_sidecar_manifest(tiny, tmp_path, capsys):
    art = tmp_path / "tiny.tflite"
    shutil.copyfile(tiny / "tiny.tflite", art)
    write_sidecar(art, manifest_for(art, "tflite"))
    assert main(["info", str(art)]) == 0
    out = capsys.readouterr().out
    assert "matches the manifest" in out and "sidecar tiny.tflite.json" in out and "schema valid" in out
    assert "10: label_0, label_1" in out and "resize 36 -> crop 32 bilinear" in out
    art.write_bytes(art.read_bytes() + b"\0")  # the file changed after export
    assert main(["info", str(art)]) == 0
    assert "DOES NOT match the manifest" in capsys.readouterr().out


def test_predict_json_and_text(tiny, tmp_path, photos_dir, capsys):
    art = tmp_path / "tiny.onnx"
    shutil.copyfile(tiny / "tiny.onnx", art)
    write_sidecar(art, manifest_for(art, "onnx"))
    photos = sorted(photos_dir.glob("*.JPEG"))[:2]
    assert main(["predict", str(art), *map(str, photos), "-k", "3", "--threads", "1", "--json"]) == 0
    doc = json.loads(capsys.readouterr().out)
    assert doc["runtime"] == "onnxruntime" and doc["threads"] == 1 and len(doc["results"]) == 2
    for r in doc["results"]:
        assert len(r["top_k"]) == 3 and all(t["label"] == LABELS[t["index"]] for t in r["top_k"])
    folder = tmp_path / "imgs"
    folder.mkdir()
    for p in photos:
        shutil.copyfile(p, folder / p.name)
    assert main(["predict", str(art), str(folder), "-k", "1"]) == 0
    out = capsys.readouterr().out
    assert out.count("  1. ") == 2 and photos[0].name in out


@pytest.mark.parametrize("argv,words", [
    (["info", "{tmp}/missing.tflite"], ["artifact not found"]),
    (["predict", "{tmp}/bad.tflite", "{photo}"], ["bad.tflite", "corrupt or truncated"]),
    (["predict", "{tiny}/tiny.tflite", "{tmp}/nope.jpg"], ["image not found"]),
    (["predict", "{tiny}/tiny.tflite", "{tiny}/x.npy"], ["not a readable image"]),
    (["predict", "{tiny}/tiny.mlpackage", "{photo}"], ["macOS", "edgekit info"]),
    (["info", "{tmp}/weights.bin"], ["unknown model format", ".pte", ".tflite", ".onnx", ".mlpackage"]),
])
def test_cli_errors_are_one_line_with_exit_2(tiny, tmp_path, photos_dir, argv, words):
    if sys.platform == "darwin" and "tiny.mlpackage" in argv[1]:
        pytest.skip("Core ML runs on macOS")
    (tmp_path / "bad.tflite").write_bytes((tiny / "tiny.tflite").read_bytes()[:3000])
    (tmp_path / "weights.bin").write_bytes(b"\x01\x02" * 100)
    photo = sorted(photos_dir.glob("*.JPEG"))[0]
    args = [a.format(tmp=tmp_path, tiny=tiny, photo=photo) for a in argv]
    r = subprocess.run([sys.executable, "-m", "edgekit", *args], capture_output=True, text=True, timeout=300)
    assert r.returncode == 2, r.stderr
    lines = [ln for ln in r.stderr.splitlines() if ln.startswith("edgekit: error:")]
    assert len(lines) == 1 and "Traceback" not in r.stderr, r.stderr
    for w in words:
        assert w in lines[0], lines[0]
