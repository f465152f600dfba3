"""The servers one benchmark run needs: SecantusDB, the relational database, Django, gunicorn.

Everything lives under ``bench/results/tmp/`` (gitignored) unless the environment names real
servers: ``MONGODB_URI`` (a MongoDB; the run uses its own databases, ``medibot_bench`` or
``MEDIBOT_BENCH_DATABASE``, and drops them first) and ``DATABASE_URL`` or ``MYSQL_*`` (use a scratch database:
the run adds accounts and a ``chat_history`` table).
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import httpx

from medibot import embedded

REPO = Path(__file__).resolve().parent.parent
RESULTS = REPO / "bench" / "results"
TMP = RESULTS / "tmp"
DEFAULT_DATABASE = "medibot_bench"


@dataclass
class Stack:
    """Starts and stops the servers; ``env`` is what every Django process of the run gets."""

    workdir: Path = TMP
    env: dict[str, str] = field(default_factory=dict)
    mongodb_uri: str = ""
    relational: str = ""
    http_base: str = ""
    _processes: list[subprocess.Popen[bytes]] = field(default_factory=list)

    def start_stores(self) -> None:
        """Start SecantusDB (unless MONGODB_URI is set) and point Django at the stores."""
        if self.workdir.exists():
            shutil.rmtree(self.workdir)
        self.workdir.mkdir(parents=True)
        env = dict(os.environ)
        if not env.get("MONGODB_URI"):
            port = embedded.free_port()
            self._processes.append(
                embedded.start_secantus(
                    port=port,
                    storage_path=str(self.workdir / "secantus"),
                    log_path=self.workdir / "secantus.log",
                )
            )
            env["MONGODB_URI"] = f"mongodb://127.0.0.1:{port}/?directConnection=true"
            self.mongodb_uri = f"SecantusDB on 127.0.0.1:{port} (storage under bench/results/tmp)"
        else:
            self.mongodb_uri = "MONGODB_URI"
        env["MONGODB_DATABASE"] = env.get("MEDIBOT_BENCH_DATABASE") or DEFAULT_DATABASE
        if not env.get("DATABASE_URL") and not env.get("MYSQL_HOST"):
            env["DATABASE_URL"] = f"sqlite:///{self.workdir / 'bench.sqlite3'}"
            self.relational = "SQLite under bench/results/tmp"
        else:
            self.relational = "DATABASE_URL" if env.get("DATABASE_URL") else "MYSQL_HOST"
        env.update(
            DJANGO_SETTINGS_MODULE="medibot.settings.local",
            DJANGO_DEBUG="false",
            DJANGO_SECRET_KEY=env.get("DJANGO_SECRET_KEY") or "medibot-benchmark-key-not-for-production",
            MEDIBOT_VAR_DIR=str(self.workdir / "var"),
            CHAT_RESPONDER="offline",
            # The send throttle guards a real deployment; the benchmark measures the request path.
            CHAT_SEND_RATE="1000000/min",
            CELERY_BROKER_URL=env.get("CELERY_BROKER_URL") or "memory://",
            CELERY_RESULT_BACKEND=env.get("CELERY_RESULT_BACKEND") or "cache+memory://",
            MONGODB_SHARD_KEY_GUARD="off",
            LOG_LEVEL="WARNING",
            PYTHONPATH=str(REPO),
        )
        self.env = env
        os.environ.update(env)

    def setup_django(self) -> None:
        """Configure Django in this process, start from an empty chat database, apply migrations."""
        import django
        import pymongo
        from django.core.management import call_command

        django.setup()
        from chats import store

        with pymongo.timeout(600):
            store.client().drop_database(os.environ["MONGODB_DATABASE"])
        call_command("migrate", verbosity=0, interactive=False)
        call_command("migrate", database="chats", verbosity=0, interactive=False)

    def start_http(self, *, workers: int = 2, threads: int = 2) -> str:
        """gunicorn + the WSGI app on a free port (no --preload: pymongo is not fork-safe)."""
        port = embedded.free_port()
        log = open(self.workdir / "gunicorn.log", "ab")  # noqa: SIM115 - owned by the child
        process = subprocess.Popen(
            [
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
                "--worker-class",
                "gthread",
                "--log-level",
                "warning",
            ],
            cwd=REPO,
            env=self.env,
            stdout=log,
            stderr=log,
            start_new_session=True,
        )
        self._processes.append(process)
        self.http_base = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + 60
        errors = 0
        while time.monotonic() < deadline and errors < 10:
            if process.poll() is not None:
                raise RuntimeError(f"gunicorn exited with {process.returncode}: {self._tail(log.name)}")
            try:
                status = httpx.get(f"{self.http_base}/api/chat/health", timeout=5).status_code
            except httpx.HTTPError:
                status = 0
            if status == 200:
                return self.http_base
            errors += status >= 500
            time.sleep(0.2)
        raise RuntimeError(f"/api/chat/health did not answer 200: {self._tail(log.name)}")

    @staticmethod
    def _tail(path: str) -> str:
        lines = [line for line in Path(path).read_text(errors="replace").splitlines() if line.strip()]
        return lines[-1] if lines else "no output"

    def stop(self) -> None:
        for process in reversed(self._processes):
            embedded.stop(process)
        self._processes.clear()

    def cleanup(self) -> None:
        shutil.rmtree(self.workdir, ignore_errors=True)
