"""The format registry (edgekit.formats) is the one place a format's facts live: a toy format
registered in a few lines shows up in `--target`, `edgekit info`, `edgekit.load` and the manifest,
with nothing else edited. Also: every built-in format's facts agree with its exporter and runtime."""
from __future__ import annotations

import json

import numpy as np
import pytest

from edgekit import formats
from edgekit.exporters.onnx import ONNXExporter
from edgekit.runtimes.onnxruntime import OnnxRuntimeModel


class ToyExporter(ONNXExporter):
    """The toy target: ONNX's lowering, fp32 only, under its own name and suffix."""

    precisions = {"fp32": None}


class ToyRuntime(OnnxRuntimeModel):
    runtime_name = "toy"


@pytest.fixture
def toy_format():
    pytest.importorskip("onnxruntime")
    fmt = formats.register_format(formats.Format(
        "toy", (".toy",), "Toy", runtime="test_formats:ToyRuntime", exporter="test_formats:ToyExporter",
        reader="edgekit.runtimes.readers.onnx", plausible=formats.get_format("onnx").plausible))
    yield fmt
    formats.unregister_format("toy")


def test_a_registered_format_works_everywhere(toy_format, tmp_path, capsys):
    pytest.importorskip("torch")
    import edgekit
    from edgekit.cli import main
    from edgekit.manifest import validate

    # --target: the CLI takes it and the export writes a .toy with a manifest naming it
    rc = main(["export", "mobilenet_v3_small", "--target", "toy", "--input-size", "64", "--out", str(tmp_path)])
    out = capsys.readouterr()
    assert rc == 0, out.err
    art = tmp_path / "mobilenet_v3_small_fp32.toy"
    manifest = json.loads((tmp_path / "mobilenet_v3_small_fp32.toy.json").read_text())
    assert manifest["artifact"]["format"] == "toy" and manifest["target"]["name"] == "toy"
    validate(manifest)
    assert manifest["parity"]["status"] == "passed" and manifest["parity"]["runtime"].startswith("toy ")

    # info: the format, and the manifest embedded in the file (the sidecar moved away)
    (tmp_path / "mobilenet_v3_small_fp32.toy.json").rename(tmp_path / "sidecar.json")
    assert main(["info", str(art), "--json"]) == 0
    info = json.loads(capsys.readouterr().out)
    assert info["format"] == "toy" and info["manifest_source"] == "embedded in the artifact"
    assert info["manifest"]["artifact"]["format"] == "toy" and info["inputs"][0]["shape"] == [1, 3, 64, 64]

    # load: the registered runtime runs it
    m = edgekit.load(art, probe=False)
    assert isinstance(m, ToyRuntime) and m.runtime_name == "toy"
    assert m.run(np.zeros((1, 3, 64, 64), np.float32))[0].shape == (1, 1000)

    # and the choices name it; a misspelling gets it suggested
    from edgekit.commands.export import _target_choices

    assert "toy" in _target_choices()
    assert main(["export", "mobilenet_v3_small", "--target", "tyo", "--out", str(tmp_path)]) == 2
    assert "did you mean toy" in capsys.readouterr().err


def test_built_in_formats_agree_with_their_code():
    from edgekit.exporters import get_target

    for f in formats.formats():
        if f.exporter:
            ex = get_target(f.name)
            assert ex.name == f.name and ex.suffix == f.suffixes[0] and ex.is_directory == f.is_directory
        if f.reader:
            r = f.reader_module()
            assert all(callable(getattr(r, fn, None)) for fn in ("validate", "io", "embedded_manifest")), f.name
    # the schema file (the apps' contract) lists exactly the built-in targets
    from edgekit.manifest import SCHEMA_PATH

    doc = json.loads(SCHEMA_PATH.read_text())
    assert doc["properties"]["artifact"]["properties"]["format"]["enum"] == list(formats.target_names())


def test_detection_by_suffix_and_content():
    tfl = formats.get_format("tflite")
    assert formats.detect("m.tflite", ".tflite", b"\x1c\x00\x00\x00TFL3" + b"\0" * 8) is tfl
    assert formats.detect("m.bin", ".bin", b"\x1c\x00\x00\x00TFL3" + b"\0" * 8) is tfl  # by content
    with pytest.raises(ValueError, match="looks like a executorch file"):
        formats.detect("m.tflite", ".tflite", b"\x1c\x00\x00\x00ET12" + b"\0" * 8)
    with pytest.raises(ValueError, match="looks like a tflite file"):
        formats.detect("m.onnx", ".onnx", b"\x1c\x00\x00\x00TFL3" + b"\0" * 8)
    with pytest.raises(ValueError, match="unknown model format"):
        formats.detect("m.bin", ".bin", b"\x00" * 16)
