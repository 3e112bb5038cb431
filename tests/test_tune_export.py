"""`edgekit export --trainable-head`: the CLI flag writes backbone, training program and head
weights beside the artifact and records them (with hashes) in its manifest."""
from __future__ import annotations

import json

import numpy as np
import pytest


def test_export_trainable_head_cli(tmp_path, capsys):
    pytest.importorskip("litert_torch")
    torch = pytest.importorskip("torch")
    torch.set_num_threads(2)
    from edgekit.cli import main
    from edgekit.tune.trainers import TFLiteHeadTrainer
    from edgekit.manifest import sha256_file, validate

    rc = main(["export", "mobilenet_v3_small", "--target", "tflite", "--input-size", "64", "--trainable-head",
               "--max-classes", "8", "--train-batch", "4", "--out", str(tmp_path)])
    err = capsys.readouterr().err
    assert rc == 0, err
    art = tmp_path / "mobilenet_v3_small_fp32.tflite"
    m = json.loads((tmp_path / (art.name + ".json")).read_text())
    validate(m)
    block = m["trainable_head"]
    assert block["embedding_dim"] == 1024 and block["num_classes"] == 1000
    assert block["optimizer"]["max_classes"] == 8 and block["optimizer"]["batch"] == 4
    assert block["backbone_parity"]["status"] == "passed" and block["backbone_parity"]["max_abs_error"] < 1e-3
    for key in ("backbone", "train_step", "head_weights"):
        assert sha256_file(tmp_path / block[key]) == block["sha256"][block[key]]
    t = TFLiteHeadTrainer(tmp_path / block["train_step"], 0.1)
    assert (t.batch, t.capacity, t.dim) == (4, 8, 1024)
    with np.load(tmp_path / block["head_weights"]) as z:
        assert z["weight"].shape == (1000, 1024) and z["bias"].shape == (1000,)


def test_export_trainable_head_rejects_onnx(tmp_path, capsys):
    from edgekit.cli import main

    rc = main(["export", "mobilenet_v3_small", "--target", "onnx", "--trainable-head", "--out", str(tmp_path)])
    assert rc == 2 and "--trainable-head supports" in capsys.readouterr().err
    assert not any(tmp_path.iterdir())
