"""Helpers shared by tests/test_export*.py: a small real CNN with a card, and readers of the
manifest embedded in each artifact format (written independently of the exporters' code)."""
from __future__ import annotations

import json
from pathlib import Path

LABELS = tuple(f"class_{i}" for i in range(10))


def tiny_cnn(seed: int = 0):
    """A small conv net (conv/bn/relu6/hardswish/pool/linear) with non-trivial seeded weights."""
    import torch
    from torch import nn

    torch.manual_seed(seed)
    m = nn.Sequential(
        nn.Conv2d(3, 16, 3, stride=2, padding=1), nn.BatchNorm2d(16), nn.ReLU6(),
        nn.Conv2d(16, 32, 3, stride=2, padding=1, groups=16), nn.BatchNorm2d(32), nn.Hardswish(),
        nn.Conv2d(32, 32, 1), nn.ReLU(),
        nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(32, len(LABELS)),
    )
    with torch.no_grad():  # BN statistics that are not the identity
        for mod in m.modules():
            if isinstance(mod, nn.BatchNorm2d):
                mod.running_mean.uniform_(-0.2, 0.2)
                mod.running_var.uniform_(0.5, 2.0)
    return m.eval()


def tiny_card(input_size: int = 32):
    from edgekit.card import user_card

    return user_card("tiny_cnn", input_size=input_size, labels=LABELS, family="test")


def embedded_manifest(path: Path) -> dict:
    """The manifest stored inside the artifact, read with each format's own library."""
    path = Path(path)
    if path.suffix == ".tflite":
        from ai_edge_litert import schema_py_generated as schema

        data = path.read_bytes()
        model = schema.Model.GetRootAsModel(data, 0)
        for i in range(model.MetadataLength()):
            entry = model.Metadata(i)
            if entry.Name().decode() == "edgekit_manifest":
                return json.loads(bytes(model.Buffers(entry.Buffer()).DataAsNumpy()).decode())
        raise AssertionError("no edgekit_manifest metadata in the .tflite")
    if path.suffix == ".pte":
        from executorch.runtime import Runtime

        prog = Runtime.get().load_program(str(path))
        assert "edgekit_manifest" in prog.method_names
        return json.loads(prog.load_method("edgekit_manifest").execute([])[0])
    if path.suffix == ".onnx":
        import onnx

        model = onnx.load(str(path), load_external_data=False)
        props = {p.key: p.value for p in model.metadata_props}
        return json.loads(props["edgekit_manifest"])
    if path.suffix == ".mlpackage":
        import coremltools as ct

        return json.loads(ct.models.MLModel(str(path), skip_model_load=True).user_defined_metadata["edgekit_manifest"])
    raise AssertionError(f"unknown artifact {path}")


def run_artifact(path: Path, x):
    """Run one float input through an artifact with its native runtime (for independent checks)."""
    import numpy as np

    path = Path(path)
    if path.suffix == ".tflite":
        from ai_edge_litert.interpreter import Interpreter

        it = Interpreter(model_path=str(path))
        it.allocate_tensors()
        i, o = it.get_input_details()[0], it.get_output_details()[0]
        if i["dtype"] != np.float32:
            s, z = i["quantization"]
            x = np.clip(np.round(x / s) + z, -128, 127).astype(i["dtype"])
        it.set_tensor(i["index"], x)
        it.invoke()
        y = it.get_tensor(o["index"])
        if o["dtype"] != np.float32:
            s, z = o["quantization"]
            y = (y.astype(np.float32) - z) * s
        return y
    if path.suffix == ".pte":
        import torch
        from executorch.runtime import Runtime

        return Runtime.get().load_program(str(path)).load_method("forward").execute([torch.from_numpy(x)])[0].numpy()
    if path.suffix == ".onnx":
        import onnxruntime as ort

        sess = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
        return sess.run(None, {sess.get_inputs()[0].name: x})[0]
    raise AssertionError(f"cannot run {path} here")
