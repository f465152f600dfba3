"""Fault injection on loopback: a dedicated Redis, a TCP proxy that can cut or freeze a store, a
gunicorn server, and an HTTP call that reports its status, body and duration instead of raising."""

from __future__ import annotations

import contextlib
import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from medibot.embedded import free_port, wait_for_port
from tests.support.processes import ROOT, Background

REDIS_SERVER = "/usr/bin/redis-server"


class RedisServer:
    """A redis-server of one test on a free port, nothing persisted; SIGKILL is a crash."""

    def __init__(self, workdir: Path) -> None:
        self.port = free_port()
        self.process = subprocess.Popen(
            [
                REDIS_SERVER,
                "--port",
                str(self.port),
                "--bind",
                "127.0.0.1",
                "--save",
                "",
                "--appendonly",
                "no",
            ],
            cwd=workdir,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            start_new_session=True,
        )
        wait_for_port(self.port, timeout=20)

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def kill(self) -> None:
        if self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait(timeout=10)


class StoreProxy:
    """Forwards 127.0.0.1:<port> to a store. ``cut()`` closes the listener and every connection (the
    store died); ``freeze()`` keeps connections open but forwards nothing (the store hangs)."""

    def __init__(self, target_port: int) -> None:
        self.target_port = target_port
        self.port = free_port()
        self.frozen = threading.Event()
        self.sockets: list[socket.socket] = []
        self.listener: socket.socket | None = None
        self.lock = threading.Lock()

    def start(self) -> None:
        listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        listener.bind(("127.0.0.1", self.port))
        listener.listen(64)
        self.listener = listener
        self.frozen.clear()
        threading.Thread(target=self._accept, args=(listener,), daemon=True).start()

    def _accept(self, listener: socket.socket) -> None:
        while True:
            try:
                client, _ = listener.accept()
            except OSError:
                return
            upstream = socket.create_connection(("127.0.0.1", self.target_port))
            with self.lock:
                self.sockets += [client, upstream]
            for source, sink in ((client, upstream), (upstream, client)):
                threading.Thread(target=self._pipe, args=(source, sink), daemon=True).start()

    def _pipe(self, source: socket.socket, sink: socket.socket) -> None:
        try:
            while chunk := source.recv(65536):
                while self.frozen.is_set():
                    time.sleep(0.05)
                sink.sendall(chunk)
        except OSError:
            pass
        finally:
            for each in (source, sink):
                with contextlib.suppress(OSError):
                    each.shutdown(socket.SHUT_RDWR)

    def freeze(self) -> None:
        self.frozen.set()

    def cut(self) -> None:
        self.frozen.clear()
        if self.listener is not None:
            # close() alone leaves a listener that another thread is blocked in accept() on still
            # listening (Linux); shutdown() wakes that accept() and stops new connections.
            with contextlib.suppress(OSError):
                self.listener.shutdown(socket.SHUT_RDWR)
            self.listener.close()
            self.listener = None
        with self.lock:
            for each in self.sockets:
                with contextlib.suppress(OSError):
                    each.shutdown(socket.SHUT_RDWR)
                each.close()
            self.sockets = []


def gunicorn(env: dict[str, str], log: Path, *, workers: int = 2, threads: int = 4) -> tuple[Background, str]:
    """gunicorn on a free loopback port (no --preload: PyMongo is not fork-safe)."""
    port = free_port()
    argv = [
        sys.executable,
        "-m",
        "gunicorn",
        "medibot.wsgi:application",
        "--bind",
        f"127.0.0.1:{port}",
        "--workers",
        str(workers),
        "--threads",
        str(threads),
        "--timeout",
        "60",
        "--graceful-timeout",
        "5",
        "--chdir",
        str(ROOT),
    ]
    server = Background(argv, env, log)
    wait_for_port(port, timeout=60)
    return server, f"http://127.0.0.1:{port}"


@dataclass(frozen=True)
class Answer:
    status: int  # 0: no HTTP answer (connection refused or reset, or the client timed out)
    body: Any
    seconds: float
    content_type: str = ""


def call(
    method: str,
    url: str,
    *,
    token: str | None = None,
    body: dict[str, Any] | None = None,
    timeout: float = 30.0,
) -> Answer:
    headers = {"Content-Type": "application/json", "Accept": "application/json"}
    if token:
        headers["Authorization"] = f"Token {token}"
    request = urllib.request.Request(  # noqa: S310 - loopback test server
        url, data=json.dumps(body).encode() if body is not None else None, method=method, headers=headers
    )
    started = time.monotonic()
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:  # noqa: S310
            raw, status, kind = response.read(), response.status, response.headers.get("Content-Type", "")
    except urllib.error.HTTPError as error:
        raw, status, kind = error.read(), error.code, error.headers.get("Content-Type", "")
    except (OSError, urllib.error.URLError):
        return Answer(0, None, time.monotonic() - started)
    seconds = time.monotonic() - started
    try:
        parsed: Any = json.loads(raw or b"null")
    except ValueError:
        parsed = raw[:500].decode(errors="replace")
    return Answer(status, parsed, seconds, kind)
