"""`edgekit zoo [PATTERN] [--json]`: the registered models with input size, preprocessing,
params and MACs (computed from the models), pretrained weights and precision notes."""
from __future__ import annotations

import json


def register(sub) -> None:
    p = sub.add_parser("zoo", help="list the model zoo (params, MACs, input size, weights)",
                       description="List the registered models. Params and MACs are computed from each model "
                                   "(multiply-accumulates of conv/linear layers at batch 1).")
    p.add_argument("pattern", nargs="?", default=None, help="shell-style name filter, e.g. 'efficientnet*'")
    from ..zoo import source_names

    p.add_argument("--source", default="zoo", choices=source_names(),
                   help="where the models come from (default: zoo; torchvision / timm list every classifier "
                        "of the installed library, export them as SOURCE:NAME)")
    p.add_argument("--filter", default=None, metavar="TEXT", help="names containing TEXT (or a shell pattern)")
    p.add_argument("--json", action="store_true", help="print the cards as JSON (without the 1000 label names)")
    p.set_defaults(func=run)


def rows(pattern=None, source: str = "zoo") -> list:
    """One dict per model: the card minus the label list (params/MACs computed for the zoo;
    library listings can hold a thousand models, so theirs are left to `edgekit export`)."""
    from ..errors import UnknownNameError
    from ..zoo import get_card, list_models

    names = list_models(pattern, source)
    if pattern and not names:
        raise UnknownNameError("model pattern" if source == "zoo" else f"{source} model pattern", pattern,
                               list_models(None, source),
                               more="" if source == "zoo" else "try a shorter --filter")
    out = []
    for name in names:
        d = get_card(name, stats=source == "zoo").to_dict()
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
    if args.pattern and args.filter:
        from ..errors import InputError

        raise InputError("give either a PATTERN or --filter, not both")
    items = rows(args.pattern or args.filter, args.source)
    if args.json:
        print(json.dumps(items, indent=2))
    else:
        print(format_table(items))
    return 0
