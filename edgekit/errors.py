"""User-facing errors. Everything a user can cause raises an EdgekitError subclass whose
message is one line saying what was expected. Internal bugs stay ordinary exceptions."""
from __future__ import annotations

import difflib
from typing import Iterable


class EdgekitError(Exception):
    """Base class of every error caused by user input (bad names, files, options)."""

    exit_code = 2


class UnknownNameError(EdgekitError, KeyError):
    """An unknown model / target / precision / runtime name."""

    def __init__(self, kind: str, name: str, choices: Iterable[str], more: str = ""):
        """`more`: for long lists (hundreds of library models), what to run to see them all;
        the message then lists only the closest names."""
        choices = sorted(set(choices))
        close = difflib.get_close_matches(str(name), choices, n=3, cutoff=0.4)
        hint = f"; did you mean {', '.join(close)}?" if close else ""
        valid = f"{len(choices)} names; {more}" if more else f"valid: {', '.join(choices)}"
        msg = f"unknown {kind} {name!r}{hint} ({valid})"
        super().__init__(msg)
        self.kind, self.name, self.choices, self.close = kind, name, choices, close

    def __str__(self) -> str:  # KeyError would quote the message otherwise
        return self.args[0]


class WeightsError(EdgekitError):
    """A weights file or tag that cannot be loaded into the model."""


class OfflineError(EdgekitError):
    """A download was needed but no network is available."""


class ExportError(EdgekitError):
    """An export that cannot be done (unsupported combination, bad calibration data...)."""


class ParityError(EdgekitError):
    """The exported artifact does not match PyTorch within the precision's thresholds."""

    exit_code = 3


class ArtifactError(EdgekitError):
    """An artifact that cannot be read: unknown format, corrupt, truncated."""


class InputError(EdgekitError):
    """An input array or image that does not match the model's input spec."""


class MissingDependencyError(EdgekitError):
    """A runtime or converter package is not installed; says which pip extra provides it."""

    def __init__(self, package: str, extra: str, what: str = ""):
        what = f" to {what}" if what else ""
        super().__init__(f"{package} is needed{what}: pip install 'edgekit[{extra}]'")
        self.package, self.extra = package, extra


class DataError(EdgekitError):
    """A data folder (calibration images, tuning classes) that cannot be used."""


def closest(name: str, choices: Iterable[str], n: int = 3) -> list[str]:
    return difflib.get_close_matches(str(name), list(choices), n=n, cutoff=0.4)


def first_line(e: BaseException, limit: int = 300) -> str:
    """The first line of an exception's message (at most `limit` characters), or its type's name
    when it has none: what a one-line error quotes from a library's exception."""
    text = str(e).strip()
    return text.splitlines()[0][:limit] if text else type(e).__name__
