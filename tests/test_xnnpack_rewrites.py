"""The XNNPACK op rewrites: same function, and nothing left on portable kernels."""
import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("executorch")

from torch import nn  # noqa: E402
from torch.nn import functional as F  # noqa: E402

from edgekit.exporters.xnnpack_rewrites import rewrite_for_xnnpack  # noqa: E402


class Awkward(nn.Module):
    """One of each op the rewrites handle: SE-style hardsigmoid gate, channel split + chunk,
    a whole-dim slice (GhostNet), and global pooling by mean without keepdim."""

    def __init__(self):
        super().__init__()
        self.conv = nn.Conv2d(3, 16, 3, padding=1)
        self.branch = nn.Conv2d(8, 8, 1)
        self.fc = nn.Linear(16, 5)

    def forward(self, x):
        x = self.conv(x)
        gate = F.hardsigmoid(x.mean((2, 3), keepdim=True))
        x = x * gate
        a, b = x.split(8, dim=1)
        c, d = torch.chunk(b, 2, dim=1)
        x = torch.cat([a, self.branch(torch.cat([d, c], 1))], 1)[:, :16]
        return self.fc(x.mean((2, 3)))


def _program():
    torch.manual_seed(0)
    m = Awkward().eval()
    x = torch.randn(1, 3, 32, 32)
    return m, x, torch.export.export(m, (x,), strict=False)


def test_rewrites_keep_the_function_and_count_each_kind():
    m, x, ep = _program()
    gm = ep.module()
    done = rewrite_for_xnnpack(gm)
    assert done["hardsigmoid"] == 1 and done["mean"] == 1
    assert done["split_with_sizes"] + done["split"] + done["chunk"] == 2
    assert done["identity view"] >= 1
    names = {str(n.target) for n in gm.graph.nodes if n.op == "call_function"}
    assert not any("hardsigmoid" in n or "split" in n or "chunk" in n for n in names)
    with torch.no_grad():
        assert torch.allclose(gm(x), m(x), atol=1e-6)


@pytest.mark.parametrize("precision", ["fp32", "int8"])
def test_lowered_program_has_no_portable_ops(precision):
    from executorch.exir import to_edge_transform_and_lower

    from edgekit.exporters.executorch import delegation_report
    from edgekit.exporters.xnnpack_lowering import partitioners, prepare_program, quantizable_graph

    m, x, ep = _program()
    if precision == "fp32":
        program = prepare_program(ep, "fp32", x)
    else:
        from edgekit.quant import guarded_quantize
        from edgekit.quant.recipe import QuantRecipe

        calib = torch.randn(16, 3, 32, 32).numpy()
        qr = guarded_quantize(m, (x,), calib, QuantRecipe(backend="xnnpack", max_float_layers=0),
                              captured=quantizable_graph(ep))
        program = torch.export.export(qr.module, (x,), strict=False)
    edge = to_edge_transform_and_lower(program, partitioner=partitioners(precision))
    report = delegation_report(edge.exported_program())
    assert report["portable_nodes"] == 0, report["portable_ops"]
    assert report["delegate_calls"] == 1


class SamePadded(nn.Module):
    """TF-style "same" padding: a zero F.pad before each strided conv (EfficientNet-Lite, timm tf_*)."""

    def __init__(self):
        super().__init__()
        self.c1 = nn.Conv2d(3, 16, 3, stride=2)
        self.dw = nn.Conv2d(16, 16, 5, stride=2, groups=16)
        self.fc = nn.Linear(16, 5)

    def forward(self, x):
        x = F.relu6(self.c1(F.pad(x, (0, 1, 0, 1))))
        x = F.relu6(self.dw(F.pad(x, (1, 2, 1, 2))))
        return self.fc(x.mean((2, 3)))


def _xnnpack_op_names(pte_bytes) -> list:
    """The XNNPACK operators the runtime ran, from its own profiler (ETDump)."""
    from executorch.extension.pybindings.portable_lib import _load_for_executorch_from_buffer

    from edgekit.bench.op_profile import etdump_inspector

    module = _load_for_executorch_from_buffer(pte_bytes, enable_etdump=True)
    module.forward((torch.randn(1, 3, 32, 32),))
    return [e.name for block in etdump_inspector(module).event_blocks for e in block.events]


def test_int8_zero_pads_fold_into_the_quantized_convs():
    from executorch.exir import ExecutorchBackendConfig, to_edge_transform_and_lower

    from edgekit.exporters.xnnpack_lowering import partitioners, quantizable_graph
    from edgekit.exporters.xnnpack_rewrites import drop_requantize_after_zero_pads
    from edgekit.quant import quantize
    from edgekit.quant.recipe import QuantRecipe

    torch.manual_seed(0)
    m = SamePadded().eval()
    x = torch.randn(1, 3, 32, 32)
    calib = torch.randn(16, 3, 32, 32).numpy()
    qr = quantize(m, (x,), calib, QuantRecipe(backend="xnnpack"),
                  captured=quantizable_graph(torch.export.export(m, (x,), strict=False)))
    program = torch.export.export(qr.module, (x,), strict=False)
    gm = program.graph_module
    pads = [n for n in gm.graph.nodes if n.target == torch.ops.aten.pad.default]
    assert len(pads) == 2
    for p in pads:  # quantized on the input's own scale: the pair after the pad is the identity
        (q,) = p.users
        assert p.args[0].target == torch.ops.quantized_decomposed.dequantize_per_tensor.default
        assert tuple(q.args[1:]) == tuple(p.args[0].args[1:])
    with torch.no_grad():
        before = program.module()(x)
    assert drop_requantize_after_zero_pads(gm) == 2
    assert all(u.target == torch.ops.aten.conv2d.default for p in pads for u in p.users)
    with torch.no_grad():
        assert torch.equal(program.module()(x), before)
    et = to_edge_transform_and_lower(program, partitioner=partitioners("int8")).to_executorch(ExecutorchBackendConfig())
    ops = _xnnpack_op_names(et.buffer)
    assert any("QC8" in o for o in ops), ops
    # no float pad and no converts around one (before the fix: a float pad between two converts
    # per pad); the two converts left are the model input's quantize and the float-output head's
    assert not any(o.startswith("Constant Pad (ND, X32)") for o in ops), ops
    assert sum(o.startswith("Convert") for o in ops) <= 2, ops
