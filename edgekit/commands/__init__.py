"""One module per CLI subcommand: register(subparsers) adds the parser and sets func."""
from __future__ import annotations

import argparse


def verbose_option(p) -> None:
    """-v on a subcommand (as well as before it): converters' and runtimes' own output live."""
    p.add_argument("-v", "--verbose", action="store_true", default=argparse.SUPPRESS,
                   help="show the runtimes' and converters' own output live (kept out of edgekit's lines "
                        "otherwise) and full tracebacks")
