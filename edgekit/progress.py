"""Progress on stderr, the one reporter every long edgekit operation uses (bench phases, tuning
epochs, export stages). On a terminal it is a live rich display that redraws in place; anywhere
else (a pipe, CI, a remote run over ssh) it writes plain lines without control characters, at
most one per tenth of a task, so a log stays readable. A task that finishes within `after`
seconds shows nothing at all.

rich (a maintained library, already what most Python CLIs use) draws the live bars; the plain
mode is a few lines here, since rich renders nothing live off a terminal."""
from __future__ import annotations

import sys
import time
from typing import Optional


def _is_tty(stream) -> bool:
    try:
        return bool(stream.isatty())
    except (AttributeError, ValueError):
        return False


class Task:
    """One line of progress: `label [bar] 42.0% 42/100 (3.1 s)`."""

    def __init__(self, reporter: "Reporter", label: str, total: float, unit: str):
        self.r, self.label, self.total, self.unit = reporter, label, float(total), unit
        self.t0 = time.perf_counter()
        self.done = 0.0
        self.last_tenth = -1
        self.rich_id = None

    def update(self, done: float, label: Optional[str] = None) -> None:
        """Set how much is done (in the task's unit); `label` renames the line."""
        if label is not None:
            self.label = label
        self.done = float(done)
        r = self.r
        if not r.enabled or time.perf_counter() - self.t0 < r.after:
            return
        if r.tty:
            r._rich_update(self)
            return
        frac = self.fraction
        tenth = int(frac * 10)
        if tenth != self.last_tenth:
            self.last_tenth = tenth
            r.stream.write(self.line() + "\n")
            r.stream.flush()

    @property
    def fraction(self) -> float:
        return min(1.0, self.done / self.total) if self.total > 0 else 1.0

    def line(self) -> str:
        width = 24
        fill = int(round(self.fraction * width))
        count = (f"{min(self.done, self.total):.1f}/{self.total:g} s" if self.unit == "s"
                 else f"{int(self.done)}/{int(self.total)}")
        return (f"{self.label} [{'#' * fill}{'-' * (width - fill)}] {self.fraction * 100:5.1f}% {count} "
                f"({time.perf_counter() - self.t0:.1f} s)")

    def close(self) -> None:
        self.r._rich_close(self)


class Reporter:
    """Makes Tasks. enabled=False: silent. `stream` defaults to stderr."""

    def __init__(self, enabled: bool = True, stream=None, after: float = 1.0):
        self.enabled, self.after = enabled, after
        self.stream = stream if stream is not None else sys.stderr
        self.tty = _is_tty(self.stream)
        self._rich = None

    def task(self, label: str, total: float, unit: str = "it") -> Task:
        return Task(self, label, total, unit)

    # --- the live display (terminal only) ---------------------------------------------------------
    def _rich_update(self, task: Task) -> None:
        if self._rich is None:
            from rich.console import Console
            from rich.progress import BarColumn, Progress, TaskProgressColumn, TextColumn, TimeElapsedColumn

            self._rich = Progress(TextColumn("{task.description}"), BarColumn(), TaskProgressColumn(),
                                  TextColumn("{task.fields[count]}"), TimeElapsedColumn(),
                                  console=Console(file=self.stream), transient=False)
            self._rich.start()
        count = (f"{min(task.done, task.total):.1f}/{task.total:g} s" if task.unit == "s"
                 else f"{int(task.done)}/{int(task.total)}")
        if task.rich_id is None:
            task.rich_id = self._rich.add_task(task.label, total=task.total, count=count)
        self._rich.update(task.rich_id, completed=min(task.done, task.total), description=task.label, count=count)

    def _rich_close(self, task: Task) -> None:
        if self._rich is None or task.rich_id is None:
            return
        self._rich.update(task.rich_id, completed=min(task.done, task.total))
        if all(t.finished for t in self._rich.tasks):
            self._rich.stop()
            self._rich = None

    def close(self) -> None:
        if self._rich is not None:
            self._rich.stop()
            self._rich = None
