"""A fake WhatsApp Cloud API (Graph API) in a process of its own on loopback, for channel tests.

It answers ``POST /<version>/<phone-number-id>/messages`` like Meta does (a ``wamid`` per accepted
message, Meta's error body otherwise) and records every request. Tests script the next answers
(``answer_next(429, 500, "timeout")``) and read what was sent, through ``/_control`` routes.
Run as a script (stdlib only): ``python fake_graph_server.py`` prints its port on the first line.
"""

from __future__ import annotations

import json
import subprocess
import sys
import threading
import time
import urllib.request
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from types import TracebackType
from typing import Any

ERROR_CODES = {400: 100, 401: 190, 404: 100, 429: 130429, 500: 131000, 503: 131016}


@dataclass(frozen=True)
class SentMessage:
    path: str
    authorization: str
    body: dict[str, Any]

    @property
    def to(self) -> str:
        return str(self.body.get("to", ""))

    @property
    def text(self) -> str:
        return str(self.body.get("text", {}).get("body", ""))


class FakeGraphApi:
    """The client side: starts the server process, scripts it and reads what it received."""

    def __init__(self) -> None:
        self.process: subprocess.Popen[str] | None = None
        self.port = 0

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/v23.0"

    def start(self) -> FakeGraphApi:
        self.process = subprocess.Popen(  # nosec B603 - our own script, no shell
            [sys.executable, str(Path(__file__).resolve())],
            stdout=subprocess.PIPE,
            text=True,
        )
        assert self.process.stdout is not None
        self.port = int(self.process.stdout.readline().strip())
        return self

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            self.process.wait(timeout=10)

    def __enter__(self) -> FakeGraphApi:
        return self.start()

    def __exit__(
        self, kind: type[BaseException] | None, error: BaseException | None, trace: TracebackType | None
    ) -> None:
        self.stop()

    def _control(self, route: str, body: Any = None) -> Any:
        data = json.dumps(body).encode() if body is not None else None
        request = urllib.request.Request(
            f"http://127.0.0.1:{self.port}/_control/{route}", data=data, method="POST" if data else "GET"
        )
        with urllib.request.urlopen(request, timeout=10) as response:  # noqa: S310  # nosec B310
            return json.loads(response.read())

    def answer_next(self, *answers: int | str) -> None:
        """The next requests get these answers (an HTTP status, or ``"timeout"``), then 200s."""
        self._control("script", list(answers))

    def reset(self) -> None:
        self._control("reset", {})

    def sent(self) -> list[SentMessage]:
        """Every request received, answered or not, in order."""
        return [SentMessage(**item) for item in self._control("requests")]

    def accepted(self) -> list[SentMessage]:
        """The requests answered 200 (the messages a patient would get)."""
        return [SentMessage(**item) for item in self._control("accepted")]


class _State:
    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.script: list[int | str] = []
        self.requests: list[dict[str, Any]] = []
        self.accepted: list[dict[str, Any]] = []


def _handler(state: _State) -> type[BaseHTTPRequestHandler]:
    class GraphHandler(BaseHTTPRequestHandler):
        def log_message(self, format: str, *args: Any) -> None:
            return

        def _answer(self, status: int, body: Any) -> None:
            raw = json.dumps(body).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(raw)))
            self.end_headers()
            self.wfile.write(raw)

        def do_GET(self) -> None:
            lists = {"/_control/requests": state.requests, "/_control/accepted": state.accepted}
            with state.lock:
                found = list(lists[self.path]) if self.path in lists else None
            if found is None:
                self._answer(404, {"error": {"message": "unknown route"}})
            else:
                self._answer(200, found)

        def do_POST(self) -> None:
            raw = self.rfile.read(int(self.headers.get("Content-Length", 0)))
            body = json.loads(raw or b"{}")
            if self.path == "/_control/script":
                with state.lock:
                    state.script = list(body)
                self._answer(200, {})
                return
            if self.path == "/_control/reset":
                with state.lock:
                    state.script, state.requests, state.accepted = [], [], []
                self._answer(200, {})
                return
            parts = self.path.strip("/").split("/")
            if len(parts) != 3 or parts[2] != "messages":
                self._answer(404, {"error": {"message": "Unknown path", "code": 100}})
                return
            item = {"path": self.path, "authorization": self.headers.get("Authorization", ""), "body": body}
            with state.lock:
                state.requests.append(item)
                answer = state.script.pop(0) if state.script else 200
            if answer == "timeout":  # longer than the client waits; then a gateway error
                time.sleep(3)
                answer = 503
            if answer != 200:
                code = ERROR_CODES.get(int(answer), 100)
                error = {
                    "message": "scripted failure",
                    "type": "OAuthException",
                    "code": code,
                    "fbtrace_id": "Fk",
                }
                self._answer(int(answer), {"error": error})
                return
            with state.lock:
                state.accepted.append(item)
                number = len(state.accepted)
            to = body.get("to", "")
            self._answer(
                200,
                {
                    "messaging_product": "whatsapp",
                    "contacts": [{"input": to, "wa_id": to}],
                    "messages": [{"id": f"wamid.HBgMOUTBOUND{number:06d}FQIAERgS"}],
                },
            )

    return GraphHandler


def main() -> None:
    server = ThreadingHTTPServer(("127.0.0.1", 0), _handler(_State()))
    print(server.server_address[1], flush=True)
    server.serve_forever(poll_interval=0.05)


if __name__ == "__main__":
    main()
