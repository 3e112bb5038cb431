"""Core ML head training step: converted and saved on Linux (it cannot run here). Checks its
interface from the saved spec, and that `edgekit tune` on a Core ML artifact says it trains with
the numpy step off macOS."""
from __future__ import annotations

import sys

import pytest


@pytest.mark.slow  # ~20 s of coremltools conversion (100 s on a loaded 2-core machine)
def test_coreml_train_step_converts_with_the_step_interface(tmp_path):
    pytest.importorskip("coremltools")
    torch = pytest.importorskip("torch")
    torch.set_num_threads(1)
    from edgekit.exporters.train_coreml import INPUTS, OUTPUTS, export_train_step, spec_io

    p = export_train_step(tmp_path / "head.train.mlpackage", 64, 7, 5)
    ins, outs = spec_io(p)
    assert list(ins) == list(INPUTS) and outs == list(OUTPUTS)
    assert ins["embeddings"] == (5, 64) and ins["onehot"] == (5, 7) and ins["W"] == (7, 64) and ins["hparams"] == (3,)
    assert not list(tmp_path.glob(".*tmp*")), "no staging leftovers"


@pytest.mark.skipif(sys.platform == "darwin", reason="on macOS Core ML runs")
def test_coreml_trainer_is_the_numpy_step_off_macos(tmp_path):
    from edgekit.tune.head_numpy import NumpyHeadTrainer
    from edgekit.tune.run import _make_trainer

    t, desc = _make_trainer("coreml", tmp_path / "unused.mlpackage", 0.1, 0.9, 0.0, None)
    assert isinstance(t, NumpyHeadTrainer) and "only on macOS" in desc
