"""`edgekit zoo [PATTERN] [--json]`: the registered models with input size, preprocessing,
params and MACs (computed from the models), pretrained weights and precision notes."""
from __future__ import annotations

import json


def register(sub) -> None:
    p = sub.add_parser("zoo", help="list the model zoo (params, MACs, input size, weights)",
                       description="List the registered models. Params and MACs are computed from each model "
                                   "(multiply-accumulates of conv/linear layers at batch 1).")
    p.add_argument("pattern", nargs="?", default=None, help="shell-style name filter, e.g. 'efficientnet*'")
    p.add_argument("--json", action="store_true", help="print the cards as JSON (without the 1000 label names)")
    p.set_defaults(func=run)


def rows(pattern=None) -> list:
    """One dict per model: the card (with params/MACs) minus the label list."""
    from ..errors import UnknownNameError
    from ..zoo import get_card, list_models

    names = list_models(pattern)
    if pattern and not names:
        raise UnknownNameError("model pattern", pattern, list_models())
    out = []
    for name in names:
        d = get_card(name).to_dict()
        d.pop("labels")
        d["pretrained"] = list(d["pretrained"])
        d["mean"], d["std"] = list(d["mean"]), list(d["std"])
        out.append(d)
    return out


def format_table(items: list) -> str:
    from ..zoo.stats import format_count

    head = ("model", "input", "preprocess", "params", "MACs", "weights", "precision notes")
    body = [(d["name"], f"{d['input_size']}x{d['input_size']}",
             f"resize {d['resize']} {d['interpolation']}, crop {d['crop']}, mean/std {_ms(d)}",
             format_count(d["params"]), format_count(d["macs"], "G"), ", ".join(d["pretrained"]), d["notes"])
            for d in items]
    widths = [max(len(r[i]) for r in (head, *body)) for i in range(len(head))]
    line = lambda r: "| " + " | ".join(c.ljust(w) for c, w in zip(r, widths)) + " |"  # noqa: E731
    sep = "|" + "|".join("-" * (w + 2) for w in widths) + "|"
    return "\n".join([line(head), sep, *map(line, body)])


def _ms(d: dict) -> str:
    return "0.5" if set(d["mean"]) | set(d["std"]) == {0.5} else "imagenet"


def run(args) -> int:
    items = rows(args.pattern)
    if args.json:
        print(json.dumps(items, indent=2))
    else:
        print(format_table(items))
    return 0
