"""edgekit.quant: PT2E int8 recipe, clamp fusion, float layers, the accuracy guard, and one
small int8 model run for real in ExecuTorch and LiteRT (default suite). Real-weights fidelity
tests live in tests/test_quantize_fidelity.py (slow)."""
from __future__ import annotations

import numpy as np
import pytest

torch = pytest.importorskip("torch")
nn = torch.nn
F = torch.nn.functional

from edgekit import preprocess as pp  # noqa: E402
from edgekit.errors import ExportError, UnknownNameError  # noqa: E402
from edgekit.quant import QuantRecipe, QuantResult, guarded_quantize, quantize  # noqa: E402
from edgekit.quant.graph import capture_graph as capture, quantizable_layers  # noqa: E402

SPEC = {"resize": 73, "crop": 64, "interpolation": "bilinear", "mean": [0.5] * 3, "std": [0.5] * 3}


class TinyNet(nn.Module):
    """The EfficientNet-Lite ingredients at toy size: TF-'same' pad before a stride-2 conv,
    conv+BN+ReLU6, depthwise, residual add, global pool, linear head."""

    def __init__(self, classes: int = 10):
        super().__init__()
        self.stem = nn.Conv2d(3, 16, 3, stride=2, bias=False)
        self.bn = nn.BatchNorm2d(16)
        self.dw = nn.Conv2d(16, 16, 3, padding=1, groups=16)
        self.pw = nn.Conv2d(16, 16, 1)
        self.head = nn.Linear(16, classes)

    def forward(self, x):
        x = F.pad(x, (0, 1, 0, 1))  # TF "same" for stride 2 on an even size
        x = F.relu6(self.bn(self.stem(x)))
        x = x + self.pw(F.relu6(self.dw(x)))
        return self.head(F.adaptive_avg_pool2d(x, 1).flatten(1))


def _tiny(seed=0):
    torch.manual_seed(seed)
    m = TinyNet()
    with torch.no_grad():  # realistic BN statistics: pre-activations well beyond the ReLU6 range
        m.bn.running_mean.uniform_(-1, 1)
        m.bn.running_var.uniform_(0.05, 0.2)
    return m.eval()


@pytest.fixture(scope="module")
def photos64(photos_dir):
    files = pp.list_images(photos_dir)
    calib = pp.batch(files[0:40:2], SPEC)  # 20 calibration photos
    held = pp.batch(files[1:40:2], SPEC)  # 20 other photos, never calibrated on
    return calib, held


def _run(module, x):
    with torch.no_grad():
        return np.concatenate([module(torch.from_numpy(x[i : i + 1])).numpy() for i in range(len(x))])


def test_recipe_fields_and_layers(photos64):
    calib, _ = photos64
    m = _tiny()
    ex = (torch.from_numpy(calib[:1]),)
    assert quantizable_layers(capture(m, ex)) == ["stem", "dw", "pw", "head"]
    qr = quantize(m, ex, calib, QuantRecipe(backend="xnnpack", float_layers=["head"]))
    assert isinstance(qr, QuantResult)
    assert qr.manifest()["recipe"] == "pt2e-xnnpack-per-channel-static"
    assert qr.manifest()["weights"] == "int8 symmetric per-channel, GPTQ-rounded, bias absorbs the remaining error"
    assert "int8" in qr.manifest()["activations"] and "clamp-fused" in qr.manifest()["activations"]
    assert list(qr.recipe.float_layers) == ["head"]
    assert qr.details["calibration_images"] == len(calib)
    # the head really stayed float: a float linear, no int8 weight feeding it
    lin = [n for n in qr.module.graph.nodes if n.target == torch.ops.aten.linear.default]
    assert len(lin) == 1 and lin[0].args[1].op == "get_attr"
    pt = quantize(m, ex, calib, QuantRecipe(backend="litert", per_channel=False))
    assert pt.manifest()["recipe"] == "pt2e-litert-per-tensor-static" and list(pt.recipe.float_layers) == []
    # the manifest schema accepts the block
    jsonschema = pytest.importorskip("jsonschema")
    import json
    from pathlib import Path

    import edgekit

    schema = json.loads((Path(edgekit.__file__).parent / "schema" / "manifest.schema.json").read_text())
    jsonschema.validate(qr.manifest(), schema["properties"]["quantization"])


@pytest.mark.parametrize("backend", ["litert", "xnnpack"])
def test_bias_correction_removes_the_mean_output_shift(photos64, backend):
    """Weight rounding shifts every layer's output mean; the correction moves that shift into the
    float bias. On photos it never saw, the mean logit error must shrink (measured 2.3x here)."""
    calib, held = photos64
    m = _tiny()
    ex = (torch.from_numpy(calib[:1]),)
    ref = _run(m, held)
    before = {k: v.clone() for k, v in m.state_dict().items()}
    fixed = quantize(m, ex, calib, QuantRecipe(backend=backend, rounding="nearest"))
    # the caller's module is left as it was (the captured graph shares its parameters)
    assert all(torch.equal(before[k], v) for k, v in m.state_dict().items())
    assert fixed.manifest()["weights"] == "int8 symmetric per-channel, bias-corrected"
    plain = quantize(m, ex, calib, QuantRecipe(backend=backend, bias_correction=False, rounding="nearest"))
    assert plain.details["bias_correction"] is None and "bias" not in plain.manifest()["weights"]
    info = fixed.details["bias_correction"]
    assert info["layers"] == 4 and info["images"] == len(calib) and info["max_abs_delta"] > 0
    shift = lambda q: float(np.abs((_run(q.module, held) - ref).mean(0)).mean())  # noqa: E731
    assert shift(fixed) < 0.7 * shift(plain)
    # float layers keep their float weights: nothing to correct there
    part = quantize(m, ex, calib, QuantRecipe(backend=backend, float_layers=["head"], rounding="nearest"))
    assert part.details["bias_correction"]["layers"] == 3


def _int8_weights(qr):
    """{conv/linear node name: (float weight, per-channel scale)} of a fold_quantize=False module."""
    from edgekit.quant.params import value
    from edgekit.quant.params import fake_quant_weights

    return {n.name: (value(qr.module, q.args[0]).double(), value(qr.module, q.args[1]).double())
            for n, q in fake_quant_weights(qr.module).items()}


def test_gptq_rounding_lands_on_the_same_grid_and_lowers_the_layer_error(photos64):
    """GPTQ rounding picks other int8 values than nearest rounding, on the very same scales (the
    backends must see exactly the integers chosen), and the stem conv it gives is closer to the
    float stem on photos it never saw."""
    calib, held = photos64
    m = _tiny()
    ex = (torch.from_numpy(calib[:1]),)
    before = {k: v.clone() for k, v in m.state_dict().items()}
    g = quantize(m, ex, calib, QuantRecipe(backend="litert", bias_correction=False))  # litert: keeps weight q/dq pairs
    assert all(torch.equal(before[k], v) for k, v in m.state_dict().items())
    near = quantize(m, ex, calib, QuantRecipe(backend="litert", bias_correction=False, rounding="nearest"))
    info = g.details["weight_rounding"]
    assert info == {"method": "gptq", "layers": 4, "images": len(calib), "skipped": []}
    assert g.details["bias_correction"] is None and near.details["weight_rounding"] is None
    gw, nw = _int8_weights(g), _int8_weights(near)
    assert gw.keys() == nw.keys() and len(gw) == 4
    changed = 0
    for name, (w, s) in gw.items():
        w0, s0 = nw[name]
        assert torch.equal(s, s0)  # same scales
        shape = [-1] + [1] * (w.dim() - 1)
        steps = w / s.reshape(shape)
        assert torch.allclose(steps, steps.round(), atol=1e-3)  # already on the int8 grid
        assert steps.abs().max() <= 127 + 1e-3
        changed += int((steps.round() != torch.round(w0 / s0.reshape(shape))).sum())
    assert changed > 0
    # the stem on held-out photos: output error of each rounding against the float (BN-folded) weights
    stem = next(iter(gw))
    w_float, s = nw[stem]
    w_near = torch.round(w_float / s.reshape(-1, 1, 1, 1)) * s.reshape(-1, 1, 1, 1)
    x = F.pad(torch.from_numpy(held).double(), (0, 1, 0, 1))
    err = lambda w: float((F.conv2d(x, w - w_float, stride=2) ** 2).mean())  # noqa: E731
    assert err(gw[stem][0]) < 0.8 * err(w_near), (err(gw[stem][0]), err(w_near))
    # float layers keep their float weights: nothing to round there
    part = quantize(m, ex, calib, QuantRecipe(backend="litert", float_layers=["head"]))
    assert part.details["weight_rounding"]["layers"] == 3
    assert part.manifest()["weights"] == "int8 symmetric per-channel, GPTQ-rounded, bias absorbs the remaining error"


def test_float_layer_after_an_int8_conv_still_lowers_to_xnnpack(photos64, tmp_path):
    """A float layer right after an int8 conv+ReLU6 (the guard kept EfficientNet-Lite0's first
    depthwise conv): XNNPACK cannot run an int8 conv with a float output, so the float layer must
    read the dequantized int8 tensor; otherwise the stem conv stays outside the delegate and
    to_executorch fails ("Missing out variants: dequantize_per_channel")."""
    from executorch.backends.xnnpack.partition.xnnpack_partitioner import XnnpackPartitioner
    from executorch.exir import to_edge_transform_and_lower

    class Chain(nn.Module):
        def __init__(self):
            super().__init__()
            self.a, self.bn = nn.Conv2d(3, 8, 3, stride=2), nn.BatchNorm2d(8)
            self.b = nn.Conv2d(8, 8, 3, padding=1, groups=8)  # kept in float; the only reader of a
            self.c, self.fc = nn.Conv2d(8, 16, 1), nn.Linear(16, 10)

        def forward(self, x):
            x = F.relu6(self.b(F.relu6(self.bn(self.a(x)))))
            return self.fc(F.adaptive_avg_pool2d(F.relu6(self.c(x)), 1).flatten(1))

    calib, held = photos64
    torch.manual_seed(0)
    m = Chain().eval()
    ex = (torch.from_numpy(calib[:1]),)
    qr = quantize(m, ex, calib, QuantRecipe(backend="xnnpack", float_layers=["b"]))
    lowered = to_edge_transform_and_lower(torch.export.export(qr.module, ex), partitioner=[XnnpackPartitioner()])
    left = [n.target for n in lowered.exported_program().graph_module.graph.nodes
            if n.op == "call_function" and "delegate" not in str(n.target) and "getitem" not in str(n.target)]
    assert left == []
    assert len(lowered.to_executorch().buffer) > 0


def test_user_errors(photos64):
    calib, _ = photos64
    m = _tiny()
    ex = (torch.from_numpy(calib[:1]),)
    with pytest.raises(UnknownNameError, match="xnnpack"):
        quantize(m, ex, calib, QuantRecipe(backend="xnnpak"))
    with pytest.raises(UnknownNameError, match="head"):
        quantize(m, ex, calib, QuantRecipe(float_layers=["haed"]))
    with pytest.raises(ExportError, match="calibration"):
        quantize(m, ex, None, QuantRecipe())
    with pytest.raises(ExportError):
        quantize(m, ex, np.zeros((0, 3, 64, 64), np.float32), QuantRecipe())


def test_clamp_fusion_moves_observer_after_relu6(photos64):
    calib, held = photos64
    m = _tiny()
    ex = (torch.from_numpy(calib[:1]),)
    ref = _run(m, held)

    def q_after_stem(qm):
        conv = [n for n in qm.graph.nodes if n.target == torch.ops.aten.conv2d.default][0]
        return "quantize" in str(next(iter(conv.users)).target)

    # the clamp's effect alone (bias correction off in both)
    fused = quantize(m, ex, calib, QuantRecipe(fuse_clamp=True, bias_correction=False))
    naive = quantize(m, ex, calib, QuantRecipe(fuse_clamp=False, bias_correction=False))
    assert not q_after_stem(fused.module)  # conv -> hardtanh -> quantize (one observer, clamped range)
    assert q_after_stem(naive.module)  # conv -> quantize -> dequantize -> hardtanh (stock)
    err_f = np.abs(_run(fused.module, held) - ref).mean()
    err_n = np.abs(_run(naive.module, held) - ref).mean()
    assert err_f < err_n, (err_f, err_n)


def test_int8_runs_in_executorch_and_litert(photos64, tmp_path):
    """A small int8 model end to end: quantize, lower, run in the real runtime, compare."""
    calib, held = photos64
    m = _tiny()
    ex = (torch.from_numpy(calib[:1]),)
    ref = _run(m, held)

    from executorch.backends.xnnpack.partition.xnnpack_partitioner import XnnpackPartitioner
    from executorch.exir import to_edge_transform_and_lower
    from executorch.runtime import Runtime

    qr = quantize(m, ex, calib, QuantRecipe(backend="xnnpack"))
    fq = _run(qr.module, held)
    lowered = to_edge_transform_and_lower(torch.export.export(qr.module, ex), partitioner=[XnnpackPartitioner()])
    left = [n.target for n in lowered.exported_program().graph_module.graph.nodes
            if n.op == "call_function" and "delegate" not in str(n.target) and "getitem" not in str(n.target)]
    assert left == []  # the pad, the int8 convs, the add and the (dynamically quantized) head: all in XNNPACK
    pte = tmp_path / "tiny_int8.pte"
    pte.write_bytes(lowered.to_executorch().buffer)
    meth = Runtime.get().load_program(str(pte)).load_method("forward")
    y_et = np.concatenate([meth.execute([torch.from_numpy(held[i : i + 1])])[0].numpy() for i in range(len(held))])

    from ai_edge_litert.interpreter import Interpreter

    from edgekit.exporters.tflite import static_int8_flatbuffer

    ql = quantize(m, ex, calib, QuantRecipe(backend="litert"))
    it = Interpreter(model_content=static_int8_flatbuffer(ql, ex[0], "float"))
    it.allocate_tensors()
    i0, o0 = it.get_input_details()[0], it.get_output_details()[0]
    assert i0["dtype"] == np.float32 and o0["dtype"] == np.float32  # float IO for apps
    # the float-output head: LiteRT's hybrid FULLY_CONNECTED, int8 weights and a float input
    td = {t["index"]: t for t in it.get_tensor_details()}
    fc = [op for op in it._get_ops_details() if op["op_name"] == "FULLY_CONNECTED"]
    assert len(fc) == 1 and td[fc[0]["inputs"][1]]["dtype"] == np.int8 and td[fc[0]["inputs"][0]]["dtype"] == np.float32
    y_tfl = []
    for i in range(len(held)):
        it.set_tensor(i0["index"], held[i : i + 1])
        it.invoke()
        y_tfl.append(it.get_tensor(o0["index"]).copy())
    y_tfl = np.concatenate(y_tfl)

    scale = np.abs(ref).max()
    for y in (y_et, y_tfl):
        assert np.abs(y - fq).max() < 0.1 * scale  # the runtime computes what fake-quant predicts
        cos = (y * ref).sum(1) / np.linalg.norm(y, axis=1) / np.linalg.norm(ref, axis=1)
        assert cos.min() > 0.99
        assert (y.argmax(1) == ref.argmax(1)).mean() >= 0.9


class PooledBackbone(nn.Module):
    """A backbone program's shape: convs, then global average pooling as the model's output."""

    def __init__(self):
        super().__init__()
        self.c1 = nn.Conv2d(3, 16, 3, stride=2, padding=1)
        self.c2 = nn.Conv2d(16, 32, 3, stride=2, padding=1)

    def forward(self, x):
        x = torch.relu(self.c2(torch.relu(self.c1(x))))
        return F.adaptive_avg_pool2d(x, 1).flatten(1)


def test_pooled_embedding_output_pools_in_float(photos64, tmp_path):
    """float_output on a backbone: the pooling that writes the output reads the dequantized int8
    tensor and pools in float (the embedding is not rounded to int8), and the program still
    lowers whole to XNNPACK and converts for LiteRT."""
    from executorch.backends.xnnpack.partition.xnnpack_partitioner import XnnpackPartitioner
    from executorch.exir import to_edge_transform_and_lower
    from executorch.runtime import Runtime
    from ai_edge_litert.interpreter import Interpreter

    from edgekit.exporters.tflite import static_int8_flatbuffer
    from edgekit.quant.graph import is_quantize

    calib, held = photos64
    torch.manual_seed(0)
    m = PooledBackbone().eval()
    ex = (torch.from_numpy(calib[:1]),)
    ref = _run(m, held)
    for backend in ("xnnpack", "litert"):
        rounded = quantize(m, ex, calib, QuantRecipe(backend=backend, float_output=False, max_float_layers=0))
        pooled = quantize(m, ex, calib, QuantRecipe(backend=backend, max_float_layers=0))
        assert rounded.float_output_pooling == () and pooled.float_output_pooling == ("adaptive_avg_pool2d",)
        assert pooled.float_output_layers == ()  # (a classifier's head: none here)
        assert "output pooling adaptive_avg_pool2d: float" in pooled.manifest()["activations"]
        out = [n for n in pooled.module.graph.nodes if n.op == "output"][0].args[0][0]
        assert not any(is_quantize(n) for n in pooled.module.graph.nodes if n in out.all_input_nodes)
        err = [np.abs(_run(q.module, held) - ref).max() for q in (rounded, pooled)]
        assert err[1] < err[0]  # no int8 step on the embedding
    qr = quantize(m, ex, calib, QuantRecipe(backend="xnnpack", max_float_layers=0))
    lowered = to_edge_transform_and_lower(torch.export.export(qr.module, ex), partitioner=[XnnpackPartitioner()])
    left = [n.target for n in lowered.exported_program().graph_module.graph.nodes
            if n.op == "call_function" and "delegate" not in str(n.target) and "getitem" not in str(n.target)]
    assert left == []
    pte = tmp_path / "pooled_int8.pte"  # (a program loaded from a temporary buffer outlives it)
    pte.write_bytes(lowered.to_executorch().buffer)
    meth = Runtime.get().load_program(str(pte)).load_method("forward")
    y_et = np.concatenate([meth.execute([torch.from_numpy(held[i : i + 1])])[0].numpy() for i in range(len(held))])
    ql = quantize(m, ex, calib, QuantRecipe(backend="litert", max_float_layers=0))
    it = Interpreter(model_content=static_int8_flatbuffer(ql, ex[0], "float"))
    it.allocate_tensors()
    i0, o0 = it.get_input_details()[0], it.get_output_details()[0]
    y_tfl = []
    for i in range(len(held)):
        it.set_tensor(i0["index"], held[i : i + 1])
        it.invoke()
        y_tfl.append(it.get_tensor(o0["index"]).copy())
    for y, q in ((y_et, qr), (np.concatenate(y_tfl), ql)):
        assert np.abs(y - _run(q.module, held)).max() < 0.05 * np.abs(ref).max()
        cos = (y * ref).sum(1) / np.linalg.norm(y, axis=1) / np.linalg.norm(ref, axis=1)
        assert cos.min() > 0.99


class OutlierNet(nn.Module):
    """c2 has one output channel ~300x larger than the rest: per-tensor int8 of c3's input
    wipes the other channels, so c3 is THE sensitive layer."""

    def __init__(self):
        super().__init__()
        self.c1 = nn.Conv2d(3, 16, 3, padding=1)
        self.c2 = nn.Conv2d(16, 16, 3, padding=1)
        self.c3 = nn.Conv2d(16, 32, 3, stride=2, padding=1)
        self.fc = nn.Linear(32, 10)
        with torch.no_grad():
            self.c2.weight[0] *= 300.0
            self.c2.bias[0] = 500.0
            self.c3.weight[:, 0] /= 300.0

    def forward(self, x):
        x = torch.relu(self.c1(x))
        x = torch.relu(self.c2(x))
        x = torch.relu(self.c3(x))
        return self.fc(F.adaptive_avg_pool2d(x, 1).flatten(1))


def _guard_case(cls):
    """(model, calibration images, held-out images, example inputs) of the guard tests: seeded."""
    torch.manual_seed(0)
    m = cls().eval()
    rs = np.random.RandomState(0)
    calib = rs.randn(16, 3, 16, 16).astype(np.float32)
    held = rs.randn(16, 3, 16, 16).astype(np.float32)
    return m, calib, held, (torch.from_numpy(calib[:1]),)


@pytest.mark.parametrize("backend", ["xnnpack", "litert"])
def test_guard_keeps_the_sensitive_layer_in_float(backend):
    m, calib, held, ex = _guard_case(OutlierNet)
    # an agreement above 1 cannot be met: the guard must keep layers, most sensitive first
    qr = guarded_quantize(m, ex, calib, QuantRecipe(backend=backend, observer="minmax", min_agreement=1.01, max_float_layers=1), eval_inputs=held)
    assert list(qr.recipe.float_layers) == ["c3"]
    ranked = [u for u, _ in qr.details["sensitivity"]]
    if backend == "litert":
        assert ranked[0] == "c3"
    else:  # XNNPACK: only c2 and c3 both in float keep the outlier tensor out of int8; one layer allowed
        assert ranked[:2] == ["c2 + c3", "c3"]
    before, after = qr.details["guard_history"]
    if backend == "litert":  # c3 reads c2's outlier channel unquantized: the error goes away
        assert after["float_layers"] == ["c3"] and after["kl"] < before["kl"] / 100
    else:  # XNNPACK: a float layer still reads its producer's int8 output (see float_inputs_allowed)
        assert after["float_layers"] == ["c3"] and after["kl"] < 0.9 * before["kl"]  # 0.81x measured
    # a reachable threshold keeps nothing in float
    ok = guarded_quantize(m, ex, calib, QuantRecipe(backend=backend, min_agreement=0.5), eval_inputs=held)
    assert list(ok.recipe.float_layers) == [] and ok.agreement >= 0.5


class TinyChannelStem(nn.Module):
    """MobileNetV3's stem in small: conv -> hard-swish -> depthwise conv, where four of the
    stem's channels stay ~100x smaller than the rest and the depthwise conv scales them back
    up. Per-tensor int8 of the tensor between erases them; no single layer in float helps."""

    def __init__(self):
        super().__init__()
        self.stem = nn.Conv2d(3, 16, 3, padding=1)
        self.dw = nn.Conv2d(16, 16, 3, padding=1, groups=16)
        self.pw = nn.Conv2d(16, 16, 1)
        self.fc = nn.Linear(16, 10)
        with torch.no_grad():
            self.stem.weight[:4] /= 100.0
            self.stem.bias[:4] /= 100.0
            self.stem.weight[4:] *= 5.0
            self.dw.weight[:4] *= 100.0
            self.dw.weight[4:] /= 5.0
            self.pw.weight[:, 4:] /= 10.0  # what follows reads mostly the small channels

    def forward(self, x):
        x = self.pw(self.dw(F.hardswish(self.stem(x))))
        return self.fc(F.adaptive_avg_pool2d(F.relu(x), 1).flatten(1))


@pytest.mark.parametrize("backend", ["xnnpack", "litert", "onnx"])
def test_guard_keeps_a_tensor_between_two_layers_in_float(backend):
    """The two-layer unit: stem and depthwise conv in float together, the tensor through the
    hard-swish between them never quantized (edgekit.quant.sensitivity.layer_pairs)."""
    from edgekit.quant.measure import cosine_mean, run_batches
    from edgekit.quant.sensitivity import layer_pairs

    m, calib, held, ex = _guard_case(TinyChannelStem)
    ref = run_batches(m, held)
    base = quantize(m, ex, calib, QuantRecipe(backend=backend, max_float_layers=0))
    assert layer_pairs(base.module, ["stem", "dw", "pw", "fc"])[0] == ("stem", "dw")
    qr = guarded_quantize(m, ex, calib, QuantRecipe(backend=backend, guard_metric="cosine", min_agreement=0.9999,
                                                    max_float_layers=2), eval_inputs=held)
    assert qr.details["sensitivity"][0][0] == "stem + dw"
    assert sorted(qr.recipe.float_layers) == ["dw", "stem"]
    before, after = qr.details["guard_history"]
    assert after["kl"] < before["kl"] / 50  # 1 - cosine re-calibrated for real: 0.0013 -> 3e-6 measured
    assert cosine_mean(ref, run_batches(qr.module, held)) > cosine_mean(ref, run_batches(base.module, held))


def test_guard_keeps_float_layers_only_for_a_measured_gain():
    from edgekit.quant.guard import improves

    assert improves(0.96, 0.0030, 0.92, 0.0010)      # more agreement wins, whatever the KL
    assert improves(0.96, 0.0010, 0.96, 0.0020)      # a tie is broken by KL
    assert not improves(0.96, 0.0020, 0.96, 0.0020)  # no gain: the float layers would only cost latency
    assert not improves(0.96, 0.0010, 0.96, 0.0005)
    assert not improves(0.92, 0.0001, 0.96, 0.0020)


def test_gptq_rounds_each_layer_on_the_inputs_the_int8_model_gives_it(photos64):
    """Layers are rounded in graph order, each from its inputs as the int8 model computes them
    with the EARLIER layers already rounded. Redo the pointwise conv's rounding by hand from the
    final fake-quant model's inputs: the same integers and the same compensated bias come out
    (they would not if the walk had used the earlier layers' nearest-rounded weights)."""
    from edgekit.quant.params import value
    from edgekit.quant.params import fake_quant_weights
    from edgekit.quant.rounding import _grid, _patches, gptq

    calib, _ = photos64
    m = _tiny()
    ex = (torch.from_numpy(calib[:1]),)
    g = quantize(m, ex, calib, QuantRecipe(backend="litert"))
    near = quantize(m, ex, calib, QuantRecipe(backend="litert", bias_correction=False, rounding="nearest"))
    pw = lambda gm: [n for n in fake_quant_weights(gm) if n.args[1].meta and node_layer_is(n, "pw")][0]  # noqa: E731
    node_g, node_n = pw(g.module), pw(near.module)
    w0 = value(near.module, node_n.args[1].args[0].args[0]).double()  # the float (BN-folded) weights
    b0 = value(near.module, node_n.args[2]).double()
    inputs = []

    class Grab(torch.fx.Interpreter):
        def run_node(self, n):
            if n is node_g:
                inputs.append(self.env[n.args[0]])
            return super().run_node(n)

    with torch.no_grad():
        for i in range(len(calib)):
            Grab(g.module).run(torch.from_numpy(calib[i : i + 1]))
    H = 0
    for x in inputs:
        p = _patches(node_g, x, w0).double()
        p = torch.cat([p, torch.ones(1, 1, p.shape[2], dtype=p.dtype)], 1)
        H = H + p @ p.transpose(-1, -2)
    scale, zp, qmin, qmax = _grid(g.module, node_g.args[1].args[0], w0.shape[0])
    V = gptq(torch.cat([w0.reshape(1, w0.shape[0], -1), b0.reshape(1, -1, 1)], -1), H,
             scale.reshape(1, -1, 1), zp.reshape(1, -1, 1), qmin, qmax, True)
    w_g = value(g.module, node_g.args[1].args[0].args[0]).double()
    b_g = value(g.module, node_g.args[2]).double()
    assert torch.equal(torch.round(V[0, :, :-1] / scale[:, None]), torch.round(w_g.reshape(w0.shape[0], -1) / scale[:, None]))
    assert torch.allclose(V[0, :, -1], b_g, rtol=0, atol=1e-5 * float(b0.abs().max()))
    assert not torch.allclose(b_g, b0, rtol=0, atol=1e-3 * float(b0.abs().max()))  # the bias did move


def node_layer_is(node, name: str) -> bool:
    from edgekit.quant.graph import node_layer

    return node_layer(node) == name


def test_gptq_falls_back_to_nearest_where_the_hessian_cannot_be_factored(photos64, monkeypatch):
    """A layer whose H cannot be factored keeps nearest rounding and is listed as skipped; the
    quantization itself goes on."""
    import edgekit.quant.rounding as wr

    def fail(*a, **k):
        raise torch.linalg.LinAlgError("not positive-definite")

    monkeypatch.setattr(wr, "gptq", fail)
    calib, held = photos64
    m = _tiny()
    ex = (torch.from_numpy(calib[:1]),)
    qr = quantize(m, ex, calib, QuantRecipe(backend="xnnpack"))
    info = qr.details["weight_rounding"]
    assert info["layers"] == 0 and len(info["skipped"]) == 4
    assert np.isfinite(_run(qr.module, held)).all()


@pytest.mark.parametrize("backend", ["litert", "xnnpack", "onnx"])
def test_the_head_writes_float_logits(photos64, backend):
    """The layer that writes the output keeps int8 weights but no int8 rounding of the logits
    (edgekit.quant.annotate.float_output_annotation); float_output=False is the old all-int8 recipe."""
    calib, held = photos64
    m = _tiny()
    ex = (torch.from_numpy(calib[:1]),)
    fo = quantize(m, ex, calib, QuantRecipe(backend=backend))
    i8 = quantize(m, ex, calib, QuantRecipe(backend=backend, float_output=False))
    assert list(fo.float_output_layers) == ["head"] and list(i8.float_output_layers) == []
    assert "output layer head" in fo.manifest()["activations"] and "output layer" not in i8.manifest()["activations"]

    def producer(qr):  # what writes the graph output
        out = next(n for n in qr.module.graph.nodes if n.op == "output")
        return out.args[0][0] if isinstance(out.args[0], (tuple, list)) else out.args[0]

    assert producer(fo).target == torch.ops.aten.linear.default
    assert "dequantize_per_tensor" in str(producer(i8).target)
    lin = next(n for n in fo.module.graph.nodes if n.target == torch.ops.aten.linear.default)
    assert "dequantize_per_channel" in str(lin.args[1].target) or lin.args[1].op == "get_attr"  # int8 weights
    srcs = [str(a.target) for a in lin.args[0].all_input_nodes] + [str(lin.args[0].target)]
    assert any("quantize_per_tensor.tensor" in t for t in srcs) == (backend == "xnnpack")  # dynamic input
    if backend == "litert":
        # everything else is the same program: rounding the float logits with the int8 recipe's
        # output step gives the int8 recipe's logits
        q = producer(i8).args[0]
        s_, z = float(q.args[1]), int(q.args[2])
        y8, yf = _run(i8.module, held), _run(fo.module, held)
        requant = (np.clip(np.round(yf / s_) + z, -128, 127) - z) * s_
        assert np.abs(requant - y8).max() <= 1e-5 + 1e-3 * s_
        assert np.abs(yf - y8).max() > 0.05 * s_  # and the float ones really are off that grid
    # an int8 model output (TFLite --io int8) keeps the head int8: the guard turns it off
    g = guarded_quantize(m, ex, calib, QuantRecipe(backend=backend, io="int8", max_float_layers=0))
    assert list(g.float_output_layers) == []


def test_hybrid_head_weights_are_the_int8_values_of_the_quantized_module(photos64):
    """LiteRT's static converter folds the float-output head's weights to float32; the exporter
    puts back exactly the int8 values and scales the PT2E module holds (4x fewer bytes)."""
    from ai_edge_litert import schema_py_generated as schema

    import litert_torch
    from edgekit.exporters.tflite import head_weights, hybrid_weights

    calib, _ = photos64
    m = _tiny()
    ex = (torch.from_numpy(calib[:1]),)
    ql = quantize(m, ex, calib, QuantRecipe(backend="litert"))
    (ints, scales), = head_weights(ql.module, ["head"])
    assert ints.dtype == np.int8 and ints.shape == (10, 16) and scales.shape == (10,)
    raw = bytes(litert_torch.convert(ql.module, ex, quant_config=ql.converter_config()).model_content())
    out, n = hybrid_weights(raw, [(ints, scales)])
    assert n == 1 and len(out) < len(raw)  # 640 float32 weight bytes became 160 int8 ones (+ the scales)
    model = schema.ModelT.InitFromPackedBuf(bytearray(out), 0)
    sg = model.subgraphs[0]
    fc_code = [i for i, oc in enumerate(model.operatorCodes)
               if max(oc.builtinCode, oc.deprecatedBuiltinCode) == schema.BuiltinOperator.FULLY_CONNECTED]
    op = next(o for o in sg.operators if o.opcodeIndex in fc_code)
    t = sg.tensors[op.inputs[1]]
    assert t.type == schema.TensorType.INT8 and op.builtinOptions.asymmetricQuantizeInputs
    stored = np.frombuffer(bytes(np.asarray(model.buffers[t.buffer].data, np.uint8)), np.int8).reshape(10, 16)
    np.testing.assert_array_equal(stored, ints)
    np.testing.assert_allclose(t.quantization.scale, scales, rtol=1e-7)
    # weights that are not in the model are not forced in
    assert hybrid_weights(raw, [(ints[:, :8].copy(), scales)])[1] == 0
    assert hybrid_weights(raw, [(ints, scales / 4)])[1] == 0
    # nearest rounding: the converter keeps the unrounded float weights (it drops the fake-quant of
    # a float-output layer); the stored int8 ones are still the module's
    qn = quantize(m, ex, calib, QuantRecipe(backend="litert", rounding="nearest"))
    (ints_n, scales_n), = head_weights(qn.module, ["head"])
    raw_n = bytes(litert_torch.convert(qn.module, ex, quant_config=qn.converter_config()).model_content())
    out_n, n_n = hybrid_weights(raw_n, [(ints_n, scales_n)])
    t_n = schema.ModelT.InitFromPackedBuf(bytearray(out_n), 0)
    sg_n = t_n.subgraphs[0]
    op_n = next(o for o in sg_n.operators if max(t_n.operatorCodes[o.opcodeIndex].builtinCode,
                t_n.operatorCodes[o.opcodeIndex].deprecatedBuiltinCode) == schema.BuiltinOperator.FULLY_CONNECTED)
    w_n = sg_n.tensors[op_n.inputs[1]]
    assert n_n == 1 and w_n.type == schema.TensorType.INT8
    np.testing.assert_array_equal(
        np.frombuffer(bytes(np.asarray(t_n.buffers[w_n.buffer].data, np.uint8)), np.int8).reshape(10, 16), ints_n)


class OutlierBackbone(OutlierNet):
    """OutlierNet without its classifier: outputs a 32-d embedding, whose argmax means nothing."""

    def forward(self, x):
        x = torch.relu(self.c1(x))
        x = torch.relu(self.c2(x))
        x = torch.relu(self.c3(x))
        return F.adaptive_avg_pool2d(x, 1).flatten(1)


def test_guard_metric_scores():
    from edgekit.quant.measure import guard_divergence, guard_score

    a = np.array([[1.0, 0.0, 0.0], [0.0, 2.0, 1.0]], np.float32)
    b = np.array([[2.0, 0.1, 0.0], [0.0, 1.0, 2.0]], np.float32)
    assert guard_score(a, b, "top1") == 0.5                       # the second row's argmax moved
    cos = ((2.0 / np.hypot(2.0, 0.1)) + (4.0 / 5.0)) / 2
    assert guard_score(a, b, "cosine") == pytest.approx(cos)
    assert guard_divergence(a, b, "cosine") == pytest.approx(1 - cos)
    assert guard_divergence(a, a, "cosine") == pytest.approx(0.0, abs=1e-12)
    with pytest.raises(UnknownNameError, match="accuracy guard metric"):
        QuantRecipe(guard_metric="argmax")


@pytest.mark.parametrize("backend", ["xnnpack", "litert"])
def test_guard_judges_a_backbone_by_the_cosine_of_its_embeddings(backend):
    m, calib, held, ex = _guard_case(OutlierBackbone)
    r = QuantRecipe(backend=backend, observer="minmax", guard_metric="cosine", min_agreement=1.01, max_float_layers=1)
    qr = guarded_quantize(m, ex, calib, r, eval_inputs=held)
    before, after = qr.details["guard_history"]
    assert qr.details["metric"] == "cosine" and 0.0 < before["agreement"] < 1.0
    assert before["kl"] == pytest.approx(1.0 - before["agreement"])   # the divergence is 1 - cosine
    assert qr.recipe.float_layers == ("c3",) and after["agreement"] > before["agreement"]
    block = qr.manifest(calibration=None)
    assert block["guard"]["metric"] == "cosine" and block["guard"]["agreement"] == qr.agreement
    ok = guarded_quantize(m, ex, calib, QuantRecipe(backend=backend, guard_metric="cosine", min_agreement=0.5),
                          eval_inputs=held)
    assert ok.recipe.float_layers == () and ok.agreement >= 0.5
