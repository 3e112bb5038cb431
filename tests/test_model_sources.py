"""Model sources end to end: torchvision:NAME, timm:NAME, a user's fine-tuned checkpoint with its
own classes and labels, and a saved torch.export program with a card. Each exports with parity,
writes a manifest that carries the card and labels, and runs through `edgekit predict`."""
from __future__ import annotations

import json

import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("torchvision")
pytest.importorskip("timm")

from edgekit import export  # noqa: E402
from edgekit.cli import main  # noqa: E402
from edgekit.errors import ExportError, OfflineError  # noqa: E402
from edgekit.zoo import create_model, get_card, list_models  # noqa: E402

SIZE = 96   # small inputs keep the exports quick; the cards' own sizes are checked separately


def _photo(photos_dir):
    return sorted(photos_dir.glob("*.JPEG"))[0]


def test_library_cards_come_from_the_libraries_metadata():
    tv = get_card("torchvision:mobilenet_v2", stats=False)       # IMAGENET1K_V2: evaluated at resize 232
    assert (tv.input_size, tv.resize, tv.interpolation, len(tv.labels)) == (224, 232, "bilinear", 1000)
    assert "IMAGENET1K_V2" in tv.notes and "imagenet" in tv.pretrained
    tm = get_card("timm:mobilenetv4_conv_small", stats=False)    # pretrained_cfg: crop_pct 0.875, bicubic
    assert (tm.input_size, tm.resize, tm.interpolation) == (224, 256, "bicubic")
    assert "pretrained_cfg" in tm.notes and tm.labels[0] == get_card("resnet18", stats=False).labels[0]
    assert "timm:mobilenetv4_conv_small" in list_models("mobilenetv4", "timm")


def test_torchvision_model_exports_with_parity_and_predicts(tmp_path, photos_dir, capsys):
    rc = main(["export", "torchvision:shufflenet_v2_x0_5", "--target", "onnx", "--input-size", str(SIZE),
               "--resize", str(SIZE + 16), "--verify-images", str(photos_dir), "--verify-count", "4",
               "--out", str(tmp_path)])
    assert rc == 0
    art = tmp_path / "torchvision_shufflenet_v2_x0_5_fp32.onnx"
    m = json.loads((tmp_path / (art.name + ".json")).read_text())
    assert m["model"]["name"] == "torchvision:shufflenet_v2_x0_5" and m["model"]["source"] == "torchvision"
    assert m["parity"]["status"] == "passed" and m["parity"]["top1_agreement"] == 1.0
    assert m["preprocessing"]["resize"] == SIZE + 16 and m["preprocessing"]["crop"] == SIZE
    assert m["model"]["embedding_dim"] == 1024
    capsys.readouterr()
    assert main(["predict", str(art), str(_photo(photos_dir))]) == 0
    assert any(label in capsys.readouterr().out for label in m["labels"][:1000])


def test_timm_model_exports_to_executorch_fully_delegated(tmp_path, photos_dir):
    a = export("timm:lcnet_050", target="executorch", input_size=SIZE, out=tmp_path, verify_images=photos_dir,
               verify_count=4)
    assert a.parity["status"] == "passed"
    assert a.manifest["model"]["name"] == "timm:lcnet_050"
    assert a.manifest["target"]["delegation"]["portable_nodes"] == 0   # hardsigmoid SE blocks rewritten
    assert a.manifest["preprocessing"]["interpolation"] == "bicubic"


@pytest.fixture
def tuned_checkpoint(tmp_path):
    """What a user's training script leaves: a 10-class MobileNetV3-Small state dict + labels."""
    import torchvision

    torch.manual_seed(1)
    model = torchvision.models.mobilenet_v3_small(num_classes=10)
    path = tmp_path / "my_finetuned.pth"
    torch.save(model.state_dict(), path)
    labels = tmp_path / "labels.txt"
    labels.write_text("\n".join(f"flower_{i}" for i in range(10)) + "\n")
    return path, labels, model


def test_user_checkpoint_with_ten_classes_exports_and_predicts_its_labels(tmp_path, tuned_checkpoint, photos_dir,
                                                                        capsys):
    path, labels, model = tuned_checkpoint
    out = tmp_path / "out"
    rc = main(["export", "torchvision:mobilenet_v3_small", "--weights", str(path), "--labels", str(labels),
               "--target", "tflite", "--input-size", str(SIZE), "--verify-images", str(photos_dir),
               "--verify-count", "4", "--out", str(out)])
    assert rc == 0
    art = out / "torchvision_mobilenet_v3_small_fp32.tflite"
    m = json.loads((out / (art.name + ".json")).read_text())
    assert m["model"]["num_classes"] == 10 and m["labels"] == [f"flower_{i}" for i in range(10)]
    assert m["model"]["weights"]["file"] == "my_finetuned.pth" and m["parity"]["status"] == "passed"
    capsys.readouterr()
    assert main(["predict", str(art), str(_photo(photos_dir))]) == 0
    printed = capsys.readouterr().out
    assert "flower_" in printed
    # the same numbers as the user's own model in eager mode
    built = create_model("torchvision:mobilenet_v3_small", weights=str(path))
    x = torch.randn(2, 3, SIZE, SIZE)
    with torch.no_grad():
        assert torch.allclose(built(x), model.eval()(x), atol=1e-5)


def test_explicit_num_classes_keeps_the_backbone_and_makes_a_new_head(tuned_checkpoint):
    path, _, model = tuned_checkpoint
    m = create_model("torchvision:mobilenet_v3_small", weights=str(path), num_classes=3)
    assert m.num_classes == 3 and m.card.labels == ("class_0", "class_1", "class_2")
    sd = model.state_dict()
    assert torch.equal(m.model.features[0][0].weight, sd["features.0.0.weight"])


def test_saved_program_with_a_card_exports_and_predicts(tmp_path, photos_dir, capsys):
    class Tiny(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.conv = torch.nn.Conv2d(3, 8, 3, stride=2)
            self.fc = torch.nn.Linear(8, 4)

        def forward(self, x):
            return self.fc(torch.relu(self.conv(x)).mean((2, 3)))

    torch.manual_seed(0)
    ep = torch.export.export(Tiny().eval(), (torch.randn(1, 3, 64, 64),))
    pt2 = tmp_path / "tiny.pt2"
    torch.export.save(ep, str(pt2))
    card = tmp_path / "card.json"
    card.write_text(json.dumps({"input_size": 64, "resize": 72, "interpolation": "bilinear",
                                "mean": [0.5, 0.5, 0.5], "std": [0.5, 0.5, 0.5],
                                "labels": ["cat", "dog", "bird", "fish"]}))
    out = tmp_path / "out"
    rc = main(["export", str(pt2), "--card", str(card), "--target", "onnx", "--verify-images", str(photos_dir),
               "--verify-count", "4", "--out", str(out)])
    assert rc == 0
    m = json.loads((out / "tiny_fp32.onnx.json").read_text())
    assert m["labels"] == ["cat", "dog", "bird", "fish"] and m["preprocessing"]["resize"] == 72
    assert m["parity"]["status"] == "passed" and m["model"]["weights"]["sha256"]
    capsys.readouterr()
    assert main(["predict", str(out / "tiny_fp32.onnx"), str(_photo(photos_dir))]) == 0
    assert any(w in capsys.readouterr().out for w in ("cat", "dog", "bird", "fish"))


def _one_line(capsys, argv) -> str:
    capsys.readouterr()
    rc = main(argv)
    err = capsys.readouterr().err
    assert rc == 2, err
    errors = [line for line in err.splitlines() if line.startswith("edgekit: error:")]
    assert len(errors) == 1 and "Traceback" not in err, err       # (warnings may precede it)
    return errors[0]


def test_bad_input_gets_one_line(tmp_path, tuned_checkpoint, capsys):
    path, labels, _ = tuned_checkpoint
    out = str(tmp_path / "out")
    err = _one_line(capsys, ["export", "timm:mobilenetv4_conv_smal", "--out", out])
    assert "did you mean timm:mobilenetv4_conv_small" in err or "did you mean mobilenetv4_conv_small" in err
    err = _one_line(capsys, ["export", "torchvision:resnet18", "--weights", str(path), "--out", out])
    assert "does not fit torchvision:resnet18" in err            # a checkpoint of another architecture
    seven = tmp_path / "seven.txt"
    seven.write_text("\n".join("abcdefg"))
    err = _one_line(capsys, ["export", "torchvision:mobilenet_v3_small", "--weights", str(path),
                             "--labels", str(seven), "--out", out])
    assert "7 labels" in err and "10 classes" in err
    err = _one_line(capsys, ["export", "torchvision:squeezenet1_0", "--num-classes", "5", "--out", out])
    assert "no swappable head" in err
    assert not (tmp_path / "out").exists() or not any((tmp_path / "out").iterdir())


def test_non_classifier_output_is_refused():
    from edgekit.card import user_card

    class Features(torch.nn.Module):
        def forward(self, x):
            return x[:, :, ::4, ::4]

    with pytest.raises(ExportError, match=r"expected \(1, num_classes\) logits"):
        export(Features(), target="onnx", card=user_card("f", 32, ["a"]), verify=False, out="/tmp/never")


def test_hub_weights_offline_fail_in_one_line_naming_the_local_file_path(monkeypatch):
    monkeypatch.setenv("EDGEKIT_OFFLINE", "1")
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setenv("TORCH_HOME", "/nonexistent-torch-home")
    for spec in ("torchvision:regnet_y_400mf", "timm:mobilenetv4_conv_small"):
        with pytest.raises(OfflineError) as e:
            create_model(spec, weights="imagenet")
        msg = str(e.value)
        assert "\n" not in msg and "--weights" in msg and spec in msg


def test_zoo_lists_library_models(capsys):
    assert main(["zoo", "--source", "timm", "--filter", "mobilenetv4_conv_s", "--json"]) == 0
    items = json.loads(capsys.readouterr().out)
    names = [d["name"] for d in items]
    assert "timm:mobilenetv4_conv_small" in names and all("mobilenetv4_conv_s" in n for n in names)
    assert main(["zoo", "--source", "torchvision", "--filter", "regnet_y_4"]) == 0
    assert "torchvision:regnet_y_400mf" in capsys.readouterr().out
