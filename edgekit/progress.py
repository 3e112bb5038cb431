"""Progress on stderr, the one reporter every long edgekit operation uses (bench phases, tuning
epochs, export stages: `Reporter.board()`, one line per target with its stage and seconds). On a terminal it is a live rich display that redraws in place; anywhere
else (a pipe, CI, a remote run over ssh) it writes plain lines without control characters, at
most one per tenth of a task, so a log stays readable. A task that finishes within `after`
seconds shows nothing at all.

rich (a maintained library, already what most Python CLIs use) draws the live bars; the plain
mode is a few lines here, since rich renders nothing live off a terminal."""
from __future__ import annotations

import sys
import time
from contextlib import contextmanager
from contextvars import ContextVar
from typing import Callable, Iterator, Optional

StageSink = Callable[[str, Optional[int], Optional[int]], None]
_SINK: ContextVar[Optional[StageSink]] = ContextVar("edgekit_stage_sink", default=None)
_STREAM: ContextVar = ContextVar("edgekit_progress_stream", default=None)


@contextmanager
def output_to(stream) -> Iterator[None]:
    """Reporters made inside the block draw on `stream` instead of sys.stderr (the terminal,
    while edgekit.converter_log has the process's stderr in a log file)."""
    token = _STREAM.set(stream)
    try:
        yield
    finally:
        _STREAM.reset(token)


def stage(name: str, done: Optional[int] = None, total: Optional[int] = None) -> None:
    """Say which stage the running operation is in (`calibrate`, 40, 100). Deep code (calibration,
    the int8 guard, parity) calls this without knowing who shows it; it costs nothing when no one
    listens (the Python API without a progress callback)."""
    sink = _SINK.get()
    if sink is not None:
        sink(name, done, total)


@contextmanager
def stages(sink: Optional[StageSink]) -> Iterator[None]:
    """Route `stage()` calls made inside the block to `sink(name, done, total)`."""
    token = _SINK.set(sink)
    try:
        yield
    finally:
        _SINK.reset(token)


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
    """Makes Tasks and Boards. enabled=False: silent. `stream` defaults to stderr. plain=True:
    plain lines even on a terminal."""

    def __init__(self, enabled: bool = True, stream=None, after: float = 1.0, plain: bool = False):
        self.enabled, self.after = enabled, after
        self.stream = stream if stream is not None else (_STREAM.get() or sys.stderr)
        self.tty = _is_tty(self.stream) and not plain
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
                                  console=Console(file=self.stream), transient=False,
                                  redirect_stdout=False, redirect_stderr=False)
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

    def board(self) -> "Board":
        """Per-item stage lines (one per export target), see Board."""
        return Board(self)


def _stage_text(name: str, done: Optional[int], total: Optional[int]) -> str:
    return f"{name} {done}/{total}" if total else name


class StageLine:
    """One item of a Board: its stage (`parity 3/8`) and the seconds it has been active. Time only
    counts while the line is active, so an item that waits for another shows its own seconds;
    the seconds of each stage are kept for the closing summary."""

    def __init__(self, label: str):
        self.label, self.text, self.name = label, "waiting", "waiting"
        self.seconds_before, self.since = 0.0, None
        self.stage_seconds: dict = {}
        self.stage_since = None
        self.finished, self.rich_id, self.plain_at = False, None, 0.0

    def seconds(self) -> float:
        return self.seconds_before + (time.perf_counter() - self.since if self.since is not None else 0.0)

    def enter(self, name: str) -> None:
        """Switch the clock to stage `name` (`waiting` and `done` stop it)."""
        now = time.perf_counter()
        if self.stage_since is not None:
            self.stage_seconds[self.name] = self.stage_seconds.get(self.name, 0.0) + now - self.stage_since
        if self.since is not None and name in ("waiting", "done"):
            self.seconds_before += now - self.since
            self.since = None
        elif self.since is None and name not in ("waiting", "done"):
            self.since = now
        self.stage_since = now if name not in ("waiting", "done") else None
        self.name = name

    def summary(self, with_total: bool = True) -> str:
        parts = ", ".join(f"{k} {v:.1f}" for k, v in self.stage_seconds.items() if round(v, 1) > 0)
        return (f"done in {self.seconds():.1f} s" if with_total else "done") + (f" ({parts})" if parts else "")


class Board:
    """Lines `label  stage  12.3 s`, one per item (export: one per target). `update(label, stage,
    done, total)` moves an item to a stage (`waiting` pauses its clock, `done` finishes it with the
    seconds per stage). On a terminal the lines redraw in place (rich). Elsewhere (a pipe, CI) it
    writes plain lines: the board's first stage, a stage change only after `reporter.after`
    seconds of the item's own time without a line, and each item's closing line."""

    def __init__(self, reporter: Reporter):
        self.r = reporter
        self.lines: dict = {}
        self._rich = None
        self._printed = False

    def update(self, label: str, name: str, done: Optional[int] = None, total: Optional[int] = None) -> None:
        line = self.lines.get(label)
        if line is None:
            line = self.lines[label] = StageLine(label)
        if line.finished or not self.r.enabled:
            return
        new_stage = name != line.name
        if new_stage:
            line.enter(name)
        line.text = line.summary(with_total=not self.r.tty) if name == "done" else _stage_text(name, done, total)
        line.finished = name == "done"
        if self.r.tty:
            self._draw(line)
            return
        if not new_stage or name == "waiting":
            return
        secs = line.seconds()
        if line.finished or not self._printed or secs - line.plain_at >= self.r.after:
            self._printed, line.plain_at = True, secs
            text = line.text if line.finished else f"{line.text} ({secs:.1f} s)"
            self.r.stream.write(f"{line.label}: {text}\n")
            self.r.stream.flush()

    def _draw(self, line: StageLine) -> None:
        if self._rich is None:
            from rich.console import Console
            from rich.progress import Progress, ProgressColumn, TextColumn
            from rich.table import Column
            from rich.text import Text

            class Seconds(ProgressColumn):
                def render(self, task):
                    return Text(f"{task.fields['line'].seconds():6.1f} s")

            # rich lays the tasks out as one table: the columns line up by themselves
            self._label_column = Column(no_wrap=True)
            self._rich = Progress(TextColumn("{task.description}", table_column=self._label_column),
                                  Seconds(table_column=Column(no_wrap=True, min_width=8, justify="right")),
                                  TextColumn("{task.fields[stage]}", table_column=Column(no_wrap=True, overflow="ellipsis")),
                                  console=Console(file=self.r.stream), transient=False,
                                  redirect_stdout=False, redirect_stderr=False)
            self._rich.start()
        for item in self.lines.values():
            if item.rich_id is None:
                item.rich_id = self._rich.add_task(item.label, total=None, stage=item.text, line=item)
                self._label_column.min_width = max(self._label_column.min_width or 0, len(item.label))
        self._rich.update(line.rich_id, stage=line.text)

    def close(self) -> None:
        if self._rich is not None:
            self._rich.refresh()
            self._rich.stop()
            self._rich = None
