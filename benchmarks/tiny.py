"""Tiny real artifacts for the runtime tests, made directly with torch.export + each format's
converter (independent of edgekit's exporters): a 3x32x32 -> 10-class CNN as .pt2, .pte (XNNPACK),
.tflite (litert-torch), int8-IO .tflite (litert-torch PT2E), .onnx (dynamo) and .mlpackage,
plus the input `x.npy` and the PyTorch eager logits `y.npy`.

`build(out_dir)` runs in a child process (python -m benchmarks.tiny OUT) so the test process
does not import the converters. `cached_build()` keeps one build per source hash under the
system temp dir (a finished build is renamed into place, so a killed build is never reused)."""
from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

HERE = Path(__file__).resolve()
REPO = HERE.parents[1]
SIZE, CLASSES = 32, 10
FILES = ("tiny.pt2", "tiny.pte", "tiny.tflite", "tiny_int8io.tflite", "tiny.onnx", "tiny.mlpackage", "x.npy", "y.npy", "calib.npy")
LABELS = [f"label_{i}" for i in range(CLASSES)]


def tiny_module():
    import torch

    class Tiny(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.conv = torch.nn.Conv2d(3, 8, 3, stride=2, padding=1)
            self.bn = torch.nn.BatchNorm2d(8)
            self.conv2 = torch.nn.Conv2d(8, 16, 3, stride=2, padding=1)
            self.fc = torch.nn.Linear(16, CLASSES)

        def forward(self, x):
            x = torch.relu(self.bn(self.conv(x)))
            x = torch.relu(self.conv2(x))
            return self.fc(x.mean((2, 3)))

    torch.manual_seed(0)
    m = Tiny().eval()
    with torch.no_grad():  # non-trivial BN statistics
        m.bn.running_mean.uniform_(-0.5, 0.5)
        m.bn.running_var.uniform_(0.5, 2.0)
    return m


def build(out: Path) -> None:
    import numpy as np
    import torch

    torch.set_num_threads(1)
    out.mkdir(parents=True, exist_ok=True)
    m = tiny_module()
    g = torch.Generator().manual_seed(1)
    x = torch.randn(1, 3, SIZE, SIZE, generator=g)
    calib = torch.randn(16, 3, SIZE, SIZE, generator=g)
    np.save(out / "x.npy", x.numpy())
    np.save(out / "calib.npy", calib.numpy())
    with torch.no_grad():
        np.save(out / "y.npy", m(x).numpy())
    ep = torch.export.export(m, (x,))
    torch.export.save(ep, str(out / "tiny.pt2"))

    from executorch.backends.xnnpack.partition.xnnpack_partitioner import XnnpackPartitioner
    from executorch.exir import to_edge_transform_and_lower

    prog = to_edge_transform_and_lower(ep, partitioner=[XnnpackPartitioner()]).to_executorch()
    (out / "tiny.pte").write_bytes(prog.buffer)

    import litert_torch

    litert_torch.convert(m, (x,)).export(str(out / "tiny.tflite"))
    _int8io_tflite(m, x, calib, out / "tiny_int8io.tflite")

    torch.onnx.export(m, (x,), str(out / "tiny.onnx"), dynamo=True, input_names=["image"], output_names=["logits"],
                      external_data=False)

    import coremltools as ct

    ml = ct.convert(ep.run_decompositions({}), convert_to="mlprogram", minimum_deployment_target=ct.target.iOS16,
                    compute_precision=ct.precision.FLOAT32)
    ml.user_defined_metadata["note"] = "edgekit runtime test model"
    ml.save(str(out / "tiny.mlpackage"))


def _int8io_tflite(m, x, calib, path: Path) -> None:
    """Full-integer int8 TFLite through litert-torch's PT2E quantizer: int8 input and output."""
    import litert_torch
    import torch
    from litert_torch.quantize.pt2e_quantizer import PT2EQuantizer, get_symmetric_quantization_config
    from litert_torch.quantize.quant_config import QuantConfig
    from torchao.quantization.pt2e.quantize_pt2e import convert_pt2e, prepare_pt2e

    quantizer = PT2EQuantizer().set_global(get_symmetric_quantization_config(is_per_channel=True, is_dynamic=False))
    gm = torch.export.export(m, (x,)).module()
    prepared = prepare_pt2e(gm, quantizer)
    with torch.no_grad():
        for i in range(calib.shape[0]):
            prepared(calib[i:i + 1])
    q = convert_pt2e(prepared, fold_quantize=False)
    litert_torch.convert(q, (x,), quant_config=QuantConfig(pt2e_quantizer=quantizer)).export(str(path))


def manifest_for(artifact: Path, fmt: str, layout: str = "NCHW", inputs=None, outputs=None) -> dict:
    """A schema-valid manifest for a tiny artifact (what an edgekit export would write)."""
    from edgekit import __version__
    from edgekit.manifest import sha256_file

    shape = [1, 3, SIZE, SIZE] if layout == "NCHW" else [1, SIZE, SIZE, 3]
    return {
        "schema_version": 1, "edgekit_version": __version__, "created": "2026-11-22T00:00:00Z",
        "model": {"name": "tiny", "num_classes": CLASSES, "weights": {"source": "random", "sha256": None}},
        "artifact": {"file": artifact.name, "format": fmt, "sha256": sha256_file(artifact),
                     "size_bytes": artifact.stat().st_size if artifact.is_file() else None},
        "target": {"name": fmt}, "versions": {"edgekit": __version__, "torch": None}, "precision": "fp32",
        "inputs": inputs or [{"name": "image", "shape": shape, "dtype": "float32", "layout": layout, "kind": "image"}],
        "outputs": outputs or [{"name": "logits", "shape": [1, CLASSES], "dtype": "float32", "layout": "NC", "kind": "logits"}],
        "preprocessing": {"resize": 36, "crop": SIZE, "interpolation": "bilinear", "mean": [0.485, 0.456, 0.406],
                          "std": [0.229, 0.224, 0.225], "scale": 1 / 255, "channel_order": "RGB", "layout": layout},
        "labels": LABELS, "parity": {"status": "not_run", "reason": "test fixture"},
    }


def _source_key() -> str:
    h = hashlib.sha256(HERE.read_bytes())
    h.update(sys.version.encode())
    return h.hexdigest()[:16]


def cached_build() -> Path:
    """The artifacts directory, built once per source version (about a minute on 2 idle cores)."""
    root = Path(os.environ.get("EDGEKIT_TEST_ARTIFACTS") or Path(tempfile.gettempdir()) / f"edgekit-rt-artifacts-{_source_key()}")
    if all((root / f).exists() for f in FILES):
        return root
    tmp = Path(tempfile.mkdtemp(prefix=root.name + ".", dir=root.parent))
    env = dict(os.environ, PYTHONPATH=str(REPO), OMP_NUM_THREADS="1")
    r = subprocess.run([sys.executable, "-m", "benchmarks.tiny", str(tmp)], cwd=REPO, env=env,
                       capture_output=True, text=True, timeout=1200)
    if r.returncode != 0:
        shutil.rmtree(tmp, ignore_errors=True)
        raise RuntimeError(f"building test artifacts failed:\n{r.stdout[-3000:]}\n{r.stderr[-3000:]}")
    try:
        os.rename(tmp, root)
    except OSError:  # built concurrently by another session: keep theirs
        shutil.rmtree(tmp, ignore_errors=True)
    return root


if __name__ == "__main__":
    build(Path(sys.argv[1]))
    print(json.dumps(sorted(os.listdir(sys.argv[1]))))
