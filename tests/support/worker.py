"""A real Celery worker in a thread of the test process, consuming the configured broker.

With the in-memory broker (local runs) the worker must share the process with whoever queues the
task (the test client, or pytest-django's live server thread); with ``CI=true`` it consumes the
real Redis broker the same way a worker process would.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from celery.contrib.testing.worker import start_worker


@contextmanager
def worker_thread(*queues: str) -> Iterator[None]:
    from medibot.celery import app

    with start_worker(app, pool="solo", perform_ping_check=False, queues=list(queues), shutdown_timeout=30):
        yield
