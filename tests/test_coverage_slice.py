"""The coverage benchmark, end to end on a 3-model slice (one torchvision model, one timm model,
one user checkpoint) at a small input size, so the matrix code cannot rot between full runs."""
from __future__ import annotations

import json

import pytest

pytest.importorskip("torch")
pytest.importorskip("timm")
pytest.importorskip("executorch")

from benchmarks import coverage  # noqa: E402

SLICE = ["torchvision:shufflenet_v2_x0_5", "timm:lcnet_050", coverage.CHECKPOINT]


def test_coverage_slice_measures_every_cell_and_resumes(tmp_path, capsys):
    args = ["--only", ",".join(SLICE), "--targets", "executorch:fp32,onnx:fp32,coreml,tflite:int8", "--input-size", "64",
            "--calib-count", "16", "--verify-count", "8",
            "--results", str(tmp_path)]
    assert coverage.main(args) == 0
    doc = json.loads((tmp_path / "coverage.json").read_text())
    rows = {(r["model"], r["target"], r["precision"]): r for r in doc["rows"]}
    assert len(rows) == 3 * 4
    for spec in SLICE:
        et = rows[(spec, "executorch", "fp32")]
        assert et["exported"] and et["passed"], et
        assert et["portable_nodes"] == 0 and et["latency_p50_ms"] > 0
        onnx = rows[(spec, "onnx", "fp32")]
        assert onnx["exported"] and onnx["parity_status"] == "passed" and onnx["top1_agreement"] >= 0.9
        assert rows[(spec, "coreml", "fp32")]["exported"] in (True, False)
        q = rows[(spec, "tflite", "int8")]
        assert q["exported"] and q["cosine"] is not None, q
    assert doc["host"]["cpu"] and len(doc["summary"]) == len(coverage.CELLS)
    md = (tmp_path / "coverage.md").read_text()
    assert "fp32 executorch: 3/3 export with parity" in md
    capsys.readouterr()
    assert coverage.main(args) == 0            # everything measured: nothing is exported again
    printed = capsys.readouterr().out
    assert '"model"' not in printed and "fp32 onnx" in printed
