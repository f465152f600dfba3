"""How a long import shows it is alive: a tqdm bar on a terminal, periodic lines in logs, or nothing."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any, Protocol

from tqdm import tqdm

from chats.importers.writer import Counts
from medibot import metrics


class Stream(Protocol):
    def write(self, text: str) -> Any: ...

    def flush(self) -> Any: ...

    def isatty(self) -> bool: ...


class Progress(Protocol):
    def start(self, *, total: int | None, done: int) -> None: ...

    def update(self, counts: Counts) -> None: ...

    def close(self) -> None: ...


def _summary(counts: Counts) -> dict[str, int]:
    return {
        "inserted": counts.inserted,
        "present": counts.already_present,
        "quarantined": counts.quarantined,
    }


class Silent:
    def start(self, *, total: int | None, done: int) -> None:
        return None

    def update(self, counts: Counts) -> None:
        return None

    def close(self) -> None:
        return None


class Bar:
    """tqdm's bar: rows done of the estimate, rows/s and ETA, with the outcome counts."""

    def __init__(self, stream: Stream, *, label: str) -> None:
        self.stream = stream
        self.label = label
        self.bar: tqdm[Any] | None = None

    def start(self, *, total: int | None, done: int) -> None:
        self.bar = tqdm(
            total=total, initial=done, unit="rows", desc=self.label, file=self.stream, dynamic_ncols=True
        )

    def update(self, counts: Counts) -> None:
        if self.bar is None:
            raise RuntimeError("update() before start()")
        self.bar.update(counts.read - self.bar.n)
        self.bar.set_postfix(_summary(counts), refresh=False)

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()


class Lines:
    """One plain line every ``interval`` seconds (logs, CI, ``| tee``) and one at the end."""

    def __init__(self, stream: Stream, *, label: str, interval: float = 10.0) -> None:
        self.stream = stream
        self.label = label
        self.interval = interval
        self.total: int | None = None
        self.first = 0
        self.started = self.last = time.monotonic()
        self.counts: Counts | None = None

    def start(self, *, total: int | None, done: int) -> None:
        self.total, self.first = total, done
        self.started = self.last = time.monotonic()

    def update(self, counts: Counts) -> None:
        self.counts = counts
        now = time.monotonic()
        if now - self.last >= self.interval:
            self.last = now
            self._line(now)

    def close(self) -> None:
        if self.counts is not None:
            self._line(time.monotonic())

    def _line(self, now: float) -> None:
        if self.counts is None:
            raise RuntimeError("no counts reported yet")
        done = self.counts.read
        rate = (done - self.first) / max(now - self.started, 1e-9)
        of = f"/{self.total} ({100 * done / self.total:.0f}%)" if self.total else ""
        eta = ""
        if self.total and rate > 0 and self.total > done:
            eta = f", eta {time.strftime('%H:%M:%S', time.gmtime((self.total - done) / rate))}"
        parts = ", ".join(f"{name} {value}" for name, value in _summary(self.counts).items())
        self.stream.write(f"{self.label}: {done}{of} rows ({parts}), {rate:.0f} rows/s{eta}\n")
        self.stream.flush()


class Metered:
    """Feeds ``medibot_migrate_chats_rows`` / ``_seconds`` (rows per second) around another progress."""

    def __init__(self, inner: Progress, *, source: str) -> None:
        self.inner = inner
        self.source = source
        self.read = 0
        self.last = time.monotonic()

    def start(self, *, total: int | None, done: int) -> None:
        self.read, self.last = done, time.monotonic()
        self.inner.start(total=total, done=done)

    def update(self, counts: Counts) -> None:
        now = time.monotonic()
        metrics.record_migration_progress(
            source=self.source, rows=counts.read - self.read, seconds=now - self.last
        )
        self.read, self.last = counts.read, now
        self.inner.update(counts)

    def close(self) -> None:
        self.inner.close()


class Callback:
    """Reports counts to a function (the Celery task stores them as its progress)."""

    def __init__(self, report: Callable[[dict[str, Any]], None]) -> None:
        self.report = report
        self.total: int | None = None

    def start(self, *, total: int | None, done: int) -> None:
        self.total = total

    def update(self, counts: Counts) -> None:
        self.report({"total": self.total, **counts.as_dict()})

    def close(self) -> None:
        return None


def for_terminal(stream: Stream, *, verbosity: int, label: str, interval: float = 10.0) -> Progress:
    if verbosity <= 0:
        return Silent()
    isatty = getattr(stream, "isatty", None)
    if callable(isatty) and isatty():
        return Bar(stream, label=label)
    return Lines(stream, label=label, interval=interval)
