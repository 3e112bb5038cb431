"""`edgekit zoo`: the table and --json carry the computed params / MACs of every model."""
from __future__ import annotations

import json

import pytest

pytest.importorskip("torch")

from edgekit.cli import main  # noqa: E402
from edgekit.zoo import list_models  # noqa: E402


def test_zoo_table(capsys):
    assert main(["zoo"]) == 0
    out = capsys.readouterr().out.splitlines()
    assert out[0].split("|")[1].strip() == "model" and "MACs" in out[0] and "params" in out[0]
    rows = {line.split("|")[1].strip(): [c.strip() for c in line.split("|")[1:-1]] for line in out[2:]}
    assert sorted(rows) == list_models()
    header = [c.strip() for c in out[0].split("|")[1:-1]]
    col = {h: i for i, h in enumerate(header)}
    expected = {"mobilenet_v3_small": ("2.54M", "0.057G"), "mobilenet_v3_large": ("5.48M", "0.217G"),
                "resnet18": ("11.69M", "1.814G"), "efficientnet_lite0": ("4.65M", "0.385G")}
    for name, (params, macs) in expected.items():
        assert rows[name][col["params"]] == params and rows[name][col["MACs"]] == macs, rows[name]
    assert rows["efficientnet_lite4"][col["input"]] == "300x300"
    assert "resize 256 bicubic, crop 224, mean/std 0.5" in rows["efficientnet_lite0"][col["preprocess"]]
    assert "imagenet" in rows["resnet18"][col["weights"]]
    assert rows["resnet18"][col["precision notes"]]


def test_zoo_json_and_pattern(capsys):
    assert main(["zoo", "efficientnet_lite*", "--json"]) == 0
    items = json.loads(capsys.readouterr().out)
    assert [d["name"] for d in items] == [f"efficientnet_lite{i}" for i in range(5)]
    for d in items:
        assert isinstance(d["params"], int) and isinstance(d["macs"], int) and d["num_classes"] == 1000
        assert d["mean"] == d["std"] == [0.5, 0.5, 0.5] and d["embedding_dim"] == 1280
        assert "labels" not in d
    assert [d["input_size"] for d in items] == [224, 240, 260, 280, 300]
    assert [d["resize"] for d in items] == [256, 272, 292, 312, 332]


def test_zoo_unknown_pattern_gives_closest_names(capsys):
    assert main(["zoo", "resnet19"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("edgekit: error: unknown model pattern 'resnet19'; did you mean resnet18")
    assert err.count("\n") == 1
