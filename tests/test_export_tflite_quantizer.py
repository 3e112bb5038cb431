"""TFLite variants made by ai-edge-quantizer (fp16 weights, dynamic-range and weight-only int8):
above 256 KB of weights it stores buffers after the flatbuffer, addressed by offset. Embedding
the manifest once dropped them (a 134 KB "Lite0 fp16" file that would not load) while parity,
run on a copy without the manifest, passed. These tests run the files as written."""
from __future__ import annotations

import numpy as np
import pytest

from edgekit.manifest import sha256_file, validate
from test_export_helpers import LABELS, embedded_manifest, tiny_card, tiny_cnn


def wide_cnn():
    """A small CNN with a 512x1024 fully connected layer: 0.5 M weights, past the quantizer's
    256 KB inline limit at fp16 and at int8."""
    import torch
    from torch import nn

    torch.manual_seed(0)
    return nn.Sequential(
        nn.Conv2d(3, 16, 3, stride=2, padding=1), nn.ReLU6(),
        nn.Conv2d(16, 32, 3, stride=2, padding=1), nn.ReLU6(),
        nn.AdaptiveAvgPool2d(4), nn.Flatten(),
        nn.Linear(512, 1024), nn.ReLU(), nn.Linear(1024, len(LABELS)),
    ).eval()


@pytest.mark.parametrize("precision, quant", [("fp16", None), ("int8", "dynamic"), ("int8", "weight")])
def test_quantizer_variants_run_as_written(precision, quant, tmp_path, photos_dir):
    import torch

    import edgekit
    from edgekit import preprocess as pp
    from edgekit.calib import find_images

    net = wide_cnn()
    card = tiny_card(32)
    art = edgekit.export(net, target="tflite", precision=precision, quant=quant, card=card, out=tmp_path,
                         verify_images=photos_dir, verify_count=4)
    assert art.parity["status"] == "passed", art.parity
    weights = sum(p.numel() for p in net.parameters())
    bytes_per_weight = 2 if precision == "fp16" else 1
    assert art.path.stat().st_size > weights * bytes_per_weight  # the weights are in the file
    assert sha256_file(art.path) == art.manifest["artifact"]["sha256"]
    assert embedded_manifest(art.path)["artifact"]["file"] == art.path.name
    validate(art.manifest)

    x = pp.batch(find_images(photos_dir)[:3], art.manifest["preprocessing"])
    model = edgekit.load(art.path)
    y = np.concatenate([model.run(x[i:i + 1])[0] for i in range(len(x))])
    with torch.no_grad():
        ref = net(torch.from_numpy(x)).numpy()
    assert np.abs(y - ref).max() < 0.05 * np.abs(ref).max()


def test_parity_runs_on_the_file_with_its_manifest(tmp_path, photos_dir, monkeypatch):
    """A fault in the manifest-embedding step fails the export: parity reads a file written as the
    artifact is, not a copy without the manifest. Nothing is left in the output folder."""
    import edgekit
    from edgekit.errors import EdgekitError
    from edgekit.exporters import tflite

    real = tflite.add_metadata
    monkeypatch.setattr(tflite, "add_metadata", lambda data, name, text: real(data, name, text)[:-4096])
    with pytest.raises(EdgekitError):
        edgekit.export(tiny_cnn(), target="tflite", card=tiny_card(32), out=tmp_path, verify_images=photos_dir,
                       verify_count=4)
    assert list(tmp_path.iterdir()) == []
