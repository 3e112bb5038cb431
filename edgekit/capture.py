"""The one torch.export call of an export.

`capture()` traces the model once, at batch size 1 and the card's input size, in the layout the
artifact will take (NCHW, or NHWC through a permute wrapper so Android camera buffers feed it
directly). Every target lowers this ExportedProgram (or, for converters that only accept an
nn.Module, `program.module()`, the captured graph, so the user's Python never runs twice)."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from .errors import ExportError, UnknownNameError, first_line

LAYOUTS = ("nchw", "nhwc")


def check_layout(layout: str) -> str:
    lay = str(layout).lower()
    if lay not in LAYOUTS:
        raise UnknownNameError("layout", layout, LAYOUTS)
    return lay


def input_shape(input_size: int, layout: str, batch: int = 1) -> tuple:
    s = int(input_size)
    return (batch, 3, s, s) if check_layout(layout) == "nchw" else (batch, s, s, 3)


def _nhwc_wrapper():
    import torch

    class NHWCInput(torch.nn.Module):
        """Takes (N, H, W, C) images and feeds the wrapped NCHW model."""

        def __init__(self, model):
            super().__init__()
            self.model = model

        def forward(self, x):
            return self.model(x.permute(0, 3, 1, 2))

    return NHWCInput


@dataclass
class Capture:
    """What every exporter receives."""

    program: Any          # torch.export.ExportedProgram (ATen dialect, not decomposed)
    module: Any           # the eager nn.Module that was traced (the NHWC wrapper when layout=nhwc)
    example: Any          # the example input tensor, shape == input_shape
    layout: str           # "nchw" | "nhwc"
    input_size: int

    @property
    def input_shape(self) -> tuple:
        return tuple(self.example.shape)

    def graph_module(self):
        """The captured graph as an nn.Module (for converters that trace a module themselves).
        It was traced in eval mode; its `training` flags (which .eval() cannot reset on an
        unlifted graph) are cleared so converters do not warn about training mode."""
        gm = self.program.module()
        for m in gm.modules():
            m.training = False
        return gm


def wrap_layout(model, layout: str):
    """The eager module the artifact represents: `model` itself, or an NHWC-input wrapper."""
    return _nhwc_wrapper()(model).eval() if check_layout(layout) == "nhwc" else model


def capture(model, input_size: int, layout: str = "nchw", seed: int = 0) -> Capture:
    """torch.export the model at batch 1 (float32). Raises ExportError if it cannot be traced."""
    import torch

    layout = check_layout(layout)
    module = wrap_layout(model.eval(), layout)
    gen = torch.Generator().manual_seed(seed)
    example = torch.randn(*input_shape(input_size, layout), generator=gen)
    try:
        with torch.no_grad():
            program = torch.export.export(module, (example,), strict=False)
    except Exception as e:  # a user's module that torch.export cannot trace
        raise ExportError(f"torch.export could not trace the model: {type(e).__name__}: {first_line(e)}") from e
    return Capture(program=program, module=module, example=example, layout=layout, input_size=int(input_size))
