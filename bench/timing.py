"""Interleaved timing of several layers doing the same operation, and their percentiles.

Machines here are noisy, so layers never run one after the other in long blocks: each round runs a
short batch of every layer, in an order rotated every round (ABC, BCA, CAB, ...), and the
layers are compared by ratios taken in the same run.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass, field
from typing import Any

# One operation of a layer; the argument is a running number (to vary pages, texts, ...).
Operation = Callable[[int], object]


def percentile(values: list[float], fraction: float) -> float:
    """Linear-interpolated percentile of ``values`` (``fraction`` in 0..1)."""
    if not values:
        return float("nan")
    ordered = sorted(values)
    position = (len(ordered) - 1) * fraction
    low = int(position)
    high = min(low + 1, len(ordered) - 1)
    return ordered[low] + (ordered[high] - ordered[low]) * (position - low)


@dataclass
class Summary:
    """Latencies (ms) of one layer, and its throughput over the time its batches took."""

    n: int = 0
    errors: int = 0
    p50_ms: float = float("nan")
    p95_ms: float = float("nan")
    p99_ms: float = float("nan")
    mean_ms: float = float("nan")
    throughput_per_s: float = 0.0
    first_error: str = ""
    samples_ms: list[float] = field(default_factory=list)

    @classmethod
    def of(cls, samples: list[float], *, busy_seconds: float, errors: int, first_error: str) -> Summary:
        return cls(
            n=len(samples),
            errors=errors,
            p50_ms=percentile(samples, 0.50),
            p95_ms=percentile(samples, 0.95),
            p99_ms=percentile(samples, 0.99),
            mean_ms=sum(samples) / len(samples) if samples else float("nan"),
            throughput_per_s=len(samples) / busy_seconds if busy_seconds else 0.0,
            first_error=first_error,
            samples_ms=[round(sample, 3) for sample in samples],
        )

    def as_json(self, *, with_samples: bool = True) -> dict[str, Any]:
        data = asdict(self)
        if not with_samples:
            data.pop("samples_ms")
        return data


@dataclass
class _Tally:
    samples: list[float] = field(default_factory=list)
    busy: float = 0.0
    errors: int = 0
    first_error: str = ""
    counter: int = 0


def _timed(operation: Operation, number: int, tally: _Tally) -> None:
    started = time.perf_counter()
    try:
        operation(number)
    except Exception as exc:
        tally.errors += 1
        tally.first_error = tally.first_error or f"{exc.__class__.__name__}: {str(exc)[:300]}"
        return
    tally.samples.append((time.perf_counter() - started) * 1000)


def interleaved(
    layers: dict[str, Operation],
    *,
    rounds: int,
    per_round: int,
    concurrency: int = 1,
    warmup: int = 2,
    budget_seconds: float | None = None,
    min_rounds: int = 3,
) -> dict[str, Summary]:
    """Run every layer ``rounds`` times ``per_round`` operations, interleaved, at ``concurrency``.

    With ``budget_seconds``, stop after the round that exceeds it (but not before ``min_rounds``).
    """
    names = list(layers)
    tallies = {name: _Tally() for name in names}
    with ThreadPoolExecutor(max_workers=concurrency) as pool:

        def batch(name: str, count: int, *, timed: bool) -> None:
            tally = tallies[name] if timed else _Tally()
            numbers = range(tallies[name].counter, tallies[name].counter + count)
            tallies[name].counter += count
            started = time.perf_counter()
            if concurrency == 1:
                for number in numbers:
                    _timed(layers[name], number, tally)
            else:
                list(pool.map(lambda number: _timed(layers[name], number, tally), numbers))
            tally.busy += time.perf_counter() - started

        for name in names:
            batch(name, warmup * concurrency, timed=False)
        started = time.monotonic()
        for round_number in range(rounds):
            shift = round_number % len(names)
            for name in names[shift:] + names[:shift]:
                batch(name, per_round, timed=True)
            spent = time.monotonic() - started
            if budget_seconds is not None and round_number + 1 >= min_rounds and spent > budget_seconds:
                break
    return {
        name: Summary.of(
            tally.samples, busy_seconds=tally.busy, errors=tally.errors, first_error=tally.first_error
        )
        for name, tally in tallies.items()
    }
