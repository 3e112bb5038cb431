"""`edgekit` command line. Each subcommand lives in edgekit/commands/<name>.py with
`register(subparsers)` (adds its parser, sets `func`) and imports heavy libraries only
inside its run function, so `edgekit --help` starts fast."""
from __future__ import annotations

import argparse
import importlib
import sys

from ._version import __version__
from .errors import EdgekitError

COMMANDS = ("zoo", "export", "info", "predict", "run", "verify", "bench", "tune", "report")


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="edgekit", description="Export, run, benchmark and head-tune image classifiers on edge devices.")
    p.add_argument("--version", action="version", version=f"edgekit {__version__}")
    p.add_argument("-v", "--verbose", action="store_true",
                   help="show converters' own output live (export) and full tracebacks on errors")
    sub = p.add_subparsers(dest="command", metavar="COMMAND")
    for name in COMMANDS:
        try:
            mod = importlib.import_module(f"edgekit.commands.{name}")
        except ModuleNotFoundError as e:
            if e.name != f"edgekit.commands.{name}":
                raise
            continue  # command not built yet
        mod.register(sub)
    return p


def main(argv=None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if not getattr(args, "func", None):
        parser.print_help()
        return 0
    try:
        rc = args.func(args)
        return int(rc or 0)
    except EdgekitError as e:
        if args.verbose:
            _show_log_tail(e)
            raise
        print(f"edgekit: error: {e}", file=sys.stderr)
        _show_log_tail(e)
        return e.exit_code
    except KeyboardInterrupt as e:
        print("edgekit: interrupted", file=sys.stderr)
        _show_log_tail(e, lines=0)
        return 130
    except BrokenPipeError:  # `edgekit info x | head`: the reader went away, not an error of ours
        import os

        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        return 0
    except Exception as e:  # an internal error: the traceback follows, after the log's last lines
        _show_log_tail(e)
        raise


def _show_log_tail(e: BaseException, lines: int = 12) -> None:
    """Under the error of a command that captured converter output (export), the last lines of
    that log that say something, and where the whole log is."""
    clog = getattr(e, "edgekit_log", None)
    if clog is None or not clog.path.exists():
        return
    tail = clog.tail(lines) if lines else []
    if lines and not tail:  # nothing in it but edgekit's own lines: nothing to point at
        if not clog.kept:
            clog.discard()
        return
    if tail:
        print(f"edgekit: last lines of {clog.path}:", file=sys.stderr)
        for ln in tail:
            print(f"  {ln}", file=sys.stderr)
    else:
        print(f"edgekit: converter output: {clog.path}", file=sys.stderr)


if __name__ == "__main__":
    sys.exit(main())
