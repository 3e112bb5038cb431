"""One oracle: the head training step in ExecuTorch (joint forward/backward program + its SGD
optimizer) and in TFLite (train signature) agrees with the numpy step after N steps, from the
same initial head and the same batches, with and without momentum and weight decay."""
from __future__ import annotations

import numpy as np
import pytest

D, CAP, B = 1280, 10, 8   # real EfficientNet-Lite0 embedding width; class capacity; program batch
C = 4                     # classes actually used (the rest of the capacity is masked)
STEPS = 30
TOL = 1e-4


@pytest.fixture(scope="session")
def train_programs(tmp_path_factory):
    torch = pytest.importorskip("torch")
    torch.set_num_threads(1)
    from edgekit.exporters import train_executorch, train_tflite

    d = tmp_path_factory.mktemp("train_programs")
    return {"executorch": train_executorch.export_train_step(d / "head.train.pte", D, CAP, B),
            "tflite": train_tflite.export_train_step(d / "head.train.tflite", D, CAP, B)}


def _batches(seed=0):
    """Embedding-like data (non-negative, a few units large, class-dependent), last batch short."""
    rng = np.random.default_rng(seed)
    centers = rng.gamma(1.0, 1.0, (C, D)).astype(np.float32)
    out = []
    for s in range(STEPS):
        n = B if s % 5 else B - 3
        y = rng.integers(0, C, n)
        f = np.maximum(centers[y] + rng.normal(0, 1.0, (n, D)), 0).astype(np.float32)
        out.append((f, y))
    return out


@pytest.mark.parametrize("runtime", ["executorch", "tflite"])
@pytest.mark.parametrize("momentum,weight_decay", [(0.0, 0.0), (0.9, 0.0), (0.9, 5e-3)])
def test_runtime_step_matches_numpy(train_programs, runtime, momentum, weight_decay):
    from edgekit.tune.head_numpy import NumpyHeadTrainer
    from edgekit.tune.trainers import make_trainer

    rng = np.random.default_rng(1)
    W0 = (rng.standard_normal((C, D)) * 0.01).astype(np.float32)
    b0 = (rng.standard_normal(C) * 0.01).astype(np.float32)
    lr = 0.01
    ref = NumpyHeadTrainer(lr, momentum, weight_decay)
    rt = make_trainer(runtime, train_programs[runtime], lr, momentum, weight_decay)
    assert rt.name == runtime
    ref.set_weights(W0, b0)
    rt.set_weights(W0, b0)
    losses = []
    for f, y in _batches():
        losses.append((ref.step(f, y), rt.step(f, y)))
    (Wr, br), (Wt, bt) = ref.weights(), rt.weights()
    err = max(np.abs(Wr - Wt).max(), np.abs(br - bt).max())
    print(f"{runtime} momentum={momentum} wd={weight_decay}: max abs error after {STEPS} steps {err:.3g}")
    assert err < TOL
    assert np.abs(Wr - W0).max() > 100 * TOL, "the head did not move: the comparison would be empty"
    l = np.array(losses)
    assert np.abs(l[:, 0] - l[:, 1]).max() < 1e-3
    assert l[-5:, 0].mean() < l[:5, 0].mean(), "training did not lower the loss"


def test_analytic_step_matches_autograd():
    """The written-out gradient of HeadTrainStep (TFLite, Core ML) equals autograd of HeadLoss
    (ExecuTorch's joint graph) on a masked, padded batch."""
    torch = pytest.importorskip("torch")
    from edgekit.head import HeadLoss, HeadTrainStep

    g = torch.Generator().manual_seed(0)
    f = torch.rand(B, 16, generator=g) * 3
    y = torch.zeros(B, 6)
    y[torch.arange(B - 2), torch.randint(0, 3, (B - 2,), generator=g)] = 1.0   # 2 padding rows
    mask = torch.tensor([1.0, 1, 1, 0, 0, 0])
    W = torch.randn(6, 16, generator=g) * 0.1 * mask[:, None]
    b = torch.randn(6, generator=g) * 0.1 * mask
    lr = 0.5
    W2, b2, mW, mb, loss = HeadTrainStep()(f, y, mask, W, b, torch.zeros_like(W), torch.zeros_like(b),
                                           torch.tensor([lr, 0.0, 0.0]))
    m = HeadLoss(16, 6)
    with torch.no_grad():
        m.weight.copy_(W)
        m.bias.copy_(b)
    l2, _ = m(f, y, mask)
    l2.backward()
    torch.testing.assert_close(loss[0], l2.detach(), atol=1e-6, rtol=1e-6)
    torch.testing.assert_close(mW, m.weight.grad, atol=1e-6, rtol=1e-5)
    torch.testing.assert_close(W2, W - lr * m.weight.grad, atol=1e-6, rtol=1e-5)
    assert torch.all(mW[3:] == 0) and torch.all(mb[3:] == 0), "masked classes must get no gradient"
