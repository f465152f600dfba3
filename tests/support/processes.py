"""Real processes for fault-injection tests: a dedicated SecantusDB, a web server, Celery workers."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from pathlib import Path
from typing import Any

from django.conf import settings
from django.db import connections

from medibot.embedded import free_port, start_secantus, stop, wait_for_port

ROOT = Path(__file__).resolve().parents[2]


def database_url() -> str:
    """The ``default`` test database as a URL a child process can use."""
    config = connections["default"].settings_dict
    if config["ENGINE"] == "django.db.backends.mysql":
        password = f":{config['PASSWORD']}" if config["PASSWORD"] else ""
        return f"mysql://{config['USER']}{password}@{config['HOST']}:{config['PORT']}/{config['NAME']}"
    return f"sqlite:///{config['NAME']}"


def child_env(**extra: str) -> dict[str, str]:
    env = {key: value for key, value in os.environ.items() if not key.startswith("PYTEST")}
    env.update(
        {
            "DJANGO_SETTINGS_MODULE": "medibot.settings.test",
            "DATABASE_URL": database_url(),
            "MONGODB_URI": settings.DATABASES["chats"]["HOST"],
            "MONGODB_DATABASE": settings.DATABASES["chats"]["NAME"],
            "CELERY_BROKER_URL": str(settings.CELERY_BROKER_URL),
            "CELERY_RESULT_BACKEND": str(settings.CELERY_RESULT_BACKEND),
        }
    )
    env.update(extra)
    return env


def manage(*args: str, env: dict[str, str], timeout: float = 120) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "manage.py", *args],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )


class MongoServer:
    """A SecantusDB of one test, on disk so it keeps its data across SIGKILL and restart."""

    def __init__(self, storage: Path) -> None:
        self.storage = storage
        self.port = free_port()
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def uri(self) -> str:
        return f"mongodb://127.0.0.1:{self.port}/?directConnection=true"

    def start(self) -> None:
        self.process = start_secantus(port=self.port, storage_path=str(self.storage))

    def signal(self, signum: int) -> None:
        assert self.process is not None
        os.killpg(self.process.pid, signum)
        if signum == signal.SIGKILL:
            self.process.wait(timeout=10)

    def stop(self) -> None:
        if self.process is not None:
            with_cont = self.process.poll() is None
            if with_cont:
                os.killpg(self.process.pid, signal.SIGCONT)
            stop(self.process)


class Background:
    """A child process in its own process group (so SIGKILL takes its children too)."""

    def __init__(self, argv: list[str], env: dict[str, str], log: Path) -> None:
        self.log = log
        self.process = subprocess.Popen(
            argv, cwd=ROOT, env=env, stdout=log.open("ab"), stderr=subprocess.STDOUT, start_new_session=True
        )

    def kill(self, signum: int = signal.SIGKILL) -> None:
        if self.process.poll() is None:
            os.killpg(self.process.pid, signum)
            self.process.wait(timeout=30)


def web_server(env: dict[str, str], log: Path) -> tuple[Background, str]:
    port = free_port()
    server = Background(
        [sys.executable, "manage.py", "runserver", f"127.0.0.1:{port}", "--noreload", "--nothreading"],
        env,
        log,
    )
    wait_for_port(port, timeout=60)
    return server, f"http://127.0.0.1:{port}"


def http_json(
    method: str, url: str, body: dict[str, Any] | None, token: str, timeout: float = 30
) -> tuple[int, Any]:
    request = urllib.request.Request(  # noqa: S310 - loopback test server
        url,
        data=json.dumps(body).encode() if body is not None else None,
        method=method,
        headers={"Authorization": f"Token {token}", "Content-Type": "application/json"},
    )
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:  # noqa: S310
            return response.status, json.loads(response.read() or b"null")
    except urllib.error.HTTPError as error:
        return error.code, json.loads(error.read() or b"null")


def poll(condition: Callable[[], bool], *, timeout: float, interval: float = 0.05) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(interval)
    return condition()
