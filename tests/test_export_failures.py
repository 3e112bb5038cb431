"""Converter failures become one line naming target, converter and operator, and leave nothing
in --out; ops left outside XNNPACK are shown with their share of the latency."""
from __future__ import annotations

import pytest

torch = pytest.importorskip("torch")

from edgekit import export  # noqa: E402
from edgekit.card import user_card  # noqa: E402
from edgekit.errors import ExportError  # noqa: E402
from edgekit.exporters.failures import explain, operator_in  # noqa: E402


class CumsumNet(torch.nn.Module):
    """cumsum has no XNNPACK kernel: it stays on ExecuTorch's portable kernels."""

    def __init__(self):
        super().__init__()
        self.conv = torch.nn.Conv2d(3, 8, 3)
        self.fc = torch.nn.Linear(8, 3)

    def forward(self, x):
        return self.fc(torch.cumsum(self.conv(x), dim=3).mean((2, 3)))


def test_operator_names_are_read_from_converter_messages():
    assert operator_in("Lowering failed for aten.upsample_bicubic2d.vec: no rule\n  File ...") == \
        "aten.upsample_bicubic2d.vec"
    assert operator_in("PyTorch convert function for op 'grid_sampler' not implemented.") == "grid_sampler"
    assert operator_in("something unrelated") is None
    e = explain(RuntimeError("Lowering failed for aten.roll.default\nTraceback...\nmore"), "tflite", "int8")
    text = str(e)
    assert "\n" not in text and text.startswith("tflite int8: litert-torch cannot convert operator aten.roll")
    assert "--precision fp32" in text and "--target executorch or onnx" in text


def test_a_converter_crash_is_one_line_and_leaves_nothing(tmp_path, monkeypatch, capsys):
    from edgekit.cli import main
    from edgekit.exporters.onnx import ONNXExporter

    def broken(self, *a, **k):
        raise RuntimeError("Unsupported: aten.grid_sampler_2d.default is not in the dispatch table\n" + "x\n" * 50)

    monkeypatch.setattr(ONNXExporter, "lower", broken)
    with pytest.raises(ExportError, match=r"^onnx fp32: torch.onnx cannot convert operator aten.grid_sampler_2d"):
        export(CumsumNet().eval(), target="onnx", card=user_card("c", 32, list("abc")), out=tmp_path / "o1")
    assert not any((tmp_path / "o1").iterdir())
    capsys.readouterr()
    assert main(["export", "torchvision:squeezenet1_1", "--target", "onnx", "--input-size", "64", "--no-verify",
                 "--out", str(tmp_path / "o2")]) == 2
    err = capsys.readouterr().err
    errors = [l for l in err.splitlines() if l.startswith("edgekit: error:")]
    assert len(errors) == 1 and "aten.grid_sampler_2d" in errors[0] and "Traceback" not in err
    after = err.splitlines()[err.splitlines().index(errors[0]) + 1:]  # then the log's last lines, if any
    assert not after or (after[0].startswith("edgekit: last lines of ") and all(l.startswith("  ") for l in after[1:]))
    assert not any((tmp_path / "o2").iterdir())


def test_portable_ops_are_printed_with_their_share_of_latency(tmp_path, capsys):
    pytest.importorskip("executorch")
    from edgekit.commands.export import _print_one

    a = export(CumsumNet().eval(), target="executorch", card=user_card("cumsum", 48, list("abc")), out=tmp_path)
    d = a.manifest["target"]["delegation"]
    assert d["portable_ops"] == {"aten.cumsum.default": 1}
    _print_one(a)
    out = capsys.readouterr().out
    line = next(l for l in out.splitlines() if "portable kernels take" in l)
    share = float(line.split("(")[1].split("%")[0])
    assert 0 < share < 100 and "cumsum" in line
