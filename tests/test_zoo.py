"""The model zoo: every registered model builds, has the head API, and its computed params/MACs
match the published figures. Parametrized over the registry, so a new model is tested for free."""
from __future__ import annotations

import copy
import subprocess
import sys
import warnings

import pytest

torch = pytest.importorskip("torch")

from edgekit.errors import InputError, UnknownNameError  # noqa: E402
from edgekit.zoo.stats import count_macs, count_params  # noqa: E402
from edgekit.zoo import create_model, get_card, list_models  # noqa: E402

MODELS = list_models()

# published figures: params, MACs (torchvision's metadata; TF EfficientNet-Lite README)
PUBLISHED = {
    "mobilenet_v3_small": (2.54e6, 0.057e9),
    "mobilenet_v3_large": (5.48e6, 0.217e9),
    "resnet18": (11.69e6, 1.814e9),
    "efficientnet_lite0": (4.65e6, 0.40e9),
}
INPUT_SIZES = {"mobilenet_v3_small": 224, "mobilenet_v3_large": 224, "resnet18": 224,
               "efficientnet_lite0": 224, "efficientnet_lite1": 240, "efficientnet_lite2": 260,
               "efficientnet_lite3": 280, "efficientnet_lite4": 300}
EMBEDDING = {"mobilenet_v3_small": 1024, "mobilenet_v3_large": 1280, "resnet18": 512,
             **{f"efficientnet_lite{i}": 1280 for i in range(5)}}

_BUILT: dict = {}


def _model(name):
    """Each model built once per test session (random init)."""
    if name not in _BUILT:
        torch.manual_seed(0)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", UserWarning)
            _BUILT[name] = create_model(name)
    return _BUILT[name]


@pytest.fixture(autouse=True, scope="module")
def _threads():
    old = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(old)


def test_registry_lists_the_eight_models():
    assert MODELS == sorted(INPUT_SIZES)
    assert list_models("efficientnet_lite*") == [f"efficientnet_lite{i}" for i in range(5)]
    assert list_models("mobilenet_v3_?????") == ["mobilenet_v3_large", "mobilenet_v3_small"]
    assert list_models("nothing*") == []


@pytest.mark.parametrize("name", MODELS)
def test_builds_forward_and_head_api(name):
    m = _model(name)
    card = m.card
    size = INPUT_SIZES[name]
    assert not m.training
    assert card.name == name and card.input_size == size == card.crop and card.resize > size
    assert card.num_classes == 1000 and card.labels[0] == "tench"
    assert m.get_submodule(card.head) is m.head and isinstance(m.head, torch.nn.Linear)
    assert m.embedding_dim == card.embedding_dim == EMBEDDING[name]
    x = torch.randn(2, 3, size, size)
    with torch.no_grad():
        logits = m(x)
        feats = m.forward_features(x[:1])
        wrapped = m.model(x[1:])         # the torchvision / timm module itself
    assert logits.shape == (2, 1000)
    assert feats.shape == (1, EMBEDDING[name])
    torch.testing.assert_close(m.forward_head(feats), logits[:1], rtol=1e-5, atol=1e-5)
    torch.testing.assert_close(wrapped, logits[1:], rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("name", MODELS)
def test_params_and_macs(name):
    card = get_card(name)
    m = _model(name)
    assert card.params == count_params(m) == m.card.params
    assert card.macs == m.card.macs
    if name in PUBLISHED:
        params, macs = PUBLISHED[name]
        assert abs(card.params - params) / params < 0.01, card.params
        assert abs(card.macs - macs) / macs < 0.05, card.macs
    else:   # no table here: larger variants must be larger
        i = int(name[-1])
        prev = get_card(f"efficientnet_lite{i - 1}")
        assert card.params > prev.params and card.macs > prev.macs
        assert 4e6 < card.params < 20e6 and 0.3e9 < card.macs < 4e9


def test_macs_counted_on_the_real_model_match_the_meta_count():
    m = _model("mobilenet_v3_small")
    assert count_macs(m, 224) == get_card("mobilenet_v3_small").macs
    # the conv MACs scale with the input area (about 1/4 at half size); the Linear layers do not
    assert m.card.macs / 5 < count_macs(m, 112) < m.card.macs / 3


@pytest.mark.parametrize("name", MODELS)
def test_head_swap_keeps_backbone(name):
    m = copy.deepcopy(_model(name))
    before = {k: v.clone() for k, v in m.state_dict().items() if not k.startswith(m.head_path + ".")}
    macs0 = m.card.macs
    m.reset_head(7, labels=[f"thing{i}" for i in range(7)])
    after = m.state_dict()
    assert all(torch.equal(before[k], after[k]) for k in before)
    assert m.head.out_features == 7 and m.head.in_features == EMBEDDING[name]
    assert m.card.labels == tuple(f"thing{i}" for i in range(7)) and m.card.num_classes == 7
    assert m.card.params == count_params(m)
    assert m.card.macs == macs0 + EMBEDDING[name] * (7 - 1000)
    with torch.no_grad():   # a small image is enough to see the new head in the forward path
        assert m(torch.randn(1, 3, 64, 64)).shape == (1, 7)


def test_num_classes_builds_new_head_with_generic_labels():
    with pytest.warns(UserWarning, match="random initialization"):
        m = create_model("mobilenet_v3_small", num_classes=3)
    assert m.num_classes == 3 and m.card.labels == ("class_0", "class_1", "class_2")
    assert m.card.macs == count_macs(m, 224)


def test_reset_head_rejects_bad_input():
    m = copy.deepcopy(_model("mobilenet_v3_small"))
    with pytest.raises(InputError, match="positive integer"):
        m.reset_head(0)
    with pytest.raises(InputError, match="one label per class"):
        m.reset_head(3, labels=["a", "b"])
    assert m.num_classes == 1000


def test_unknown_model_name_gives_closest_names():
    with pytest.raises(UnknownNameError) as e:
        create_model("mobilenet_v3_smal")
    assert e.value.close[0] == "mobilenet_v3_small"
    assert "did you mean mobilenet_v3_small" in str(e.value) and "\n" not in str(e.value)
    with pytest.raises(UnknownNameError, match="efficientnet_lite0"):
        get_card("efficientnet-lite0")


def test_torch_export_captures_the_wrapper():
    m = create_model("mobilenet_v3_small", weights=_model("mobilenet_v3_small").state_dict(), num_classes=5)
    x = torch.randn(1, 3, 224, 224)
    ep = torch.export.export(m, (x,), strict=False)
    with torch.no_grad():
        torch.testing.assert_close(ep.module()(x), m(x), rtol=1e-5, atol=1e-5)


@pytest.mark.slow
@pytest.mark.parametrize("name", MODELS)
def test_torch_export_every_model(name):
    m = _model(name)
    x = torch.randn(1, 3, INPUT_SIZES[name], INPUT_SIZES[name])
    ep = torch.export.export(m, (x,), strict=False)
    with torch.no_grad():
        torch.testing.assert_close(ep.module()(x), m(x), rtol=1e-5, atol=1e-5)


def test_imagenet_labels_match_torchvision_and_the_photos(photo_labels, photos_dir):
    import csv

    from edgekit.labels import imagenet_labels, torchvision_imagenet_labels

    labels = imagenet_labels()
    assert list(labels) == torchvision_imagenet_labels() and len(set(labels)) == 1000
    with open(photos_dir / "labels.csv", newline="") as f:
        for row in csv.DictReader(f):
            assert labels[int(row["class_index"])] == row["name"]


def test_listing_and_cards_need_no_torch(repo_root):
    code = ("import sys, edgekit; names = edgekit.list_models(); c = edgekit.get_card('resnet18', stats=False); "
            "assert len(names) == 8 and c.num_classes == 1000 and c.params is None; "
            "assert 'torch' not in sys.modules, 'torch imported'; print('ok')")
    out = subprocess.run([sys.executable, "-c", code], cwd=repo_root, capture_output=True, text=True)
    assert out.returncode == 0 and out.stdout.strip() == "ok", out.stderr
