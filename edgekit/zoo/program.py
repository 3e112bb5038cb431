"""A saved torch.export program (`torch.export.save(ep, "model.pt2")`) as an exportable model.

For users whose model class cannot be imported where they export: the .pt2 holds the graph and
the weights. Its card (input size, preprocessing, labels) comes from a JSON file (--card) or the
CLI's flags; the input size defaults to the program's own input shape."""
from __future__ import annotations

import json
from dataclasses import fields
from pathlib import Path
from typing import Optional

import torch

from ..card import ModelCard
from ..errors import ExportError, InputError, first_line

PROGRAM_SUFFIX = ".pt2"
_CARD_FIELDS = {f.name for f in fields(ModelCard)}


def is_program_path(model) -> bool:
    return isinstance(model, (str, Path)) and str(model).lower().endswith(PROGRAM_SUFFIX)


def load_program_module(path):
    """(module, input shape) of a saved ExportedProgram; one-line errors for a missing or
    unreadable file and for a program that does not take one image tensor."""
    path = Path(path)
    if not path.is_file():
        raise ExportError(f"program file not found: {path} (expected a torch.export.save() .pt2 file)")
    try:
        ep = torch.export.load(str(path))
    except Exception as e:
        raise ExportError(f"{path.name} is not a torch.export program ({type(e).__name__}: {first_line(e, 200)}); "
                          f"save one with torch.export.save(torch.export.export(model, (x,)), 'model.pt2')") from None
    args, kwargs = ep.example_inputs or ((), {})
    if len(args) != 1 or kwargs or getattr(args[0], "dim", lambda: 0)() != 4:
        raise ExportError(f"{path.name} must take one image tensor (N, 3, H, W); its example inputs are "
                          f"{[tuple(getattr(a, 'shape', ())) for a in args]}")
    shape = tuple(int(s) for s in args[0].shape)
    if shape[1] != 3 or shape[2] != shape[3]:
        raise ExportError(f"{path.name} takes input {shape}; edgekit exports square RGB images (N, 3, S, S)")
    return ProgramModule(ep.module(), shape[0]), shape


class ProgramModule(torch.nn.Module):
    """The program's graph; inputs of another batch size than the one it was saved with are run
    in chunks of that batch, so parity can feed any batch."""

    def __init__(self, gm, batch: int):
        super().__init__()
        self.gm = gm
        self.batch = batch

    def train(self, mode: bool = True):
        """A loaded program is an inference graph: its module refuses train(); eval() is a no-op."""
        if mode:
            raise InputError("a torch.export program cannot be put in training mode")
        self.training = False
        return self

    def forward(self, x):
        if x.shape[0] == self.batch:
            return self.gm(x)
        if x.shape[0] % self.batch:
            raise InputError(f"this program was saved for batch {self.batch}; got {x.shape[0]} inputs")
        return torch.cat([self.gm(c) for c in torch.split(x, self.batch)], 0)


def card_from_json(path, name: str) -> ModelCard:
    """A ModelCard from a JSON file of card fields (input_size, resize, crop, mean, std,
    interpolation, labels...); unknown fields and bad values get one line."""
    path = Path(path)
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise InputError(f"card file not found: {path}") from None
    except (OSError, ValueError) as e:
        raise InputError(f"{path.name} is not a JSON card ({first_line(e, 200)})") from None
    if not isinstance(data, dict):
        raise InputError(f"{path.name} must hold a JSON object of card fields, e.g. "
                         '{"input_size": 224, "resize": 256, "mean": [...], "std": [...], "labels": [...]}')
    unknown = sorted(set(data) - _CARD_FIELDS - {"num_classes"})
    if unknown:
        raise InputError(f"{path.name}: unknown card fields {', '.join(unknown)} "
                         f"(expected some of {', '.join(sorted(_CARD_FIELDS))})")
    data.pop("num_classes", None)
    size = data.get("input_size")
    if not isinstance(size, int) or size < 8:
        raise InputError(f"{path.name}: input_size must be an integer >= 8, got {size!r}")
    data.setdefault("crop", size)
    data.setdefault("resize", size)
    data.setdefault("name", name)
    data.setdefault("source", "user program")
    for key in ("mean", "std", "labels", "pretrained"):
        if key in data:
            data[key] = tuple(data[key])
    return ModelCard(**data)


def program_card(path, input_size: int, card_file: Optional[str] = None) -> ModelCard:
    name = Path(path).stem
    if card_file:
        card = card_from_json(card_file, name)
        if card.input_size != input_size:
            raise InputError(f"the card says input_size {card.input_size} but {Path(path).name} takes {input_size} px")
        return card
    return ModelCard(name=name, input_size=input_size, resize=input_size, crop=input_size, source="user program",
                     notes="no card given: no resize, ImageNet mean/std (pass --card or --resize/--mean/--std)")
