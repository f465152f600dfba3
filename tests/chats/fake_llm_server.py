"""A real local HTTP server speaking the OpenAI chat-completions protocol, for responder tests.

Set its attributes before the request to choose how it answers; it records every request.
"""

from __future__ import annotations

import json
import threading
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import TracebackType
from typing import Any


@dataclass(frozen=True)
class RecordedRequest:
    path: str
    headers: dict[str, str]
    body: dict[str, Any]

    @property
    def messages(self) -> list[dict[str, str]]:
        return list(self.body.get("messages", []))


@dataclass
class FakeLlmServer:
    """One chat-completions endpoint at ``{url}/chat/completions`` on 127.0.0.1."""

    reply_text: str = "Rest and drink fluids. I am not a clinician."
    model: str = "fake-model-1"
    usage: dict[str, int] | None = field(
        default_factory=lambda: {"prompt_tokens": 1200, "completion_tokens": 300, "total_tokens": 1500}
    )
    fail_times: int = 0  # the first N requests get ``fail_status``
    fail_status: int = 500
    status: int = 200  # every request (after the failures) gets this status
    delay_seconds: float = 0.0  # wait before answering (to exceed the client's timeout)
    malformed: bool = False  # answer with invalid JSON (in the SSE data lines too)
    omit_done: bool = False  # end the SSE stream without ``data: [DONE]``
    chunk_delay_seconds: float = 0.0  # wait between two SSE chunks (a slow stream, to stop)
    requests: list[RecordedRequest] = field(default_factory=list)

    def __post_init__(self) -> None:
        self._lock = threading.Lock()
        self._stopping = threading.Event()
        self._broken = threading.Event()
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), _handler_for(self))
        self._thread = threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": 0.02}, name="fake-llm", daemon=True
        )

    @property
    def url(self) -> str:
        host, port = self._server.server_address[:2]
        return f"http://{host!s}:{port}/v1"

    def start(self) -> FakeLlmServer:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stopping.set()
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=5)

    def __enter__(self) -> FakeLlmServer:
        return self.start()

    def __exit__(
        self, kind: type[BaseException] | None, error: BaseException | None, trace: TracebackType | None
    ) -> None:
        self.stop()

    def record(self, request: RecordedRequest) -> int:
        """Store the request; its 1-based number decides whether it is one of the failures."""
        with self._lock:
            self.requests.append(request)
            return len(self.requests)

    def wait(self) -> None:
        if self.delay_seconds:
            self._stopping.wait(self.delay_seconds)

    def pause_between_chunks(self) -> None:
        if self.chunk_delay_seconds:
            self._stopping.wait(self.chunk_delay_seconds)

    def stream_broken(self) -> None:
        self._broken.set()

    def wait_for_broken_stream(self, timeout: float) -> bool:
        """Whether a client closed a stream before its end (within ``timeout`` seconds)."""
        return self._broken.wait(timeout)

    def completion(self) -> bytes:
        if self.malformed:
            return b'{"choices": [{"message": '
        body: dict[str, Any] = {
            "id": "chatcmpl-fake",
            "object": "chat.completion",
            "model": self.model,
            "choices": [
                {
                    "index": 0,
                    "message": {"role": "assistant", "content": self.reply_text},
                    "finish_reason": "stop",
                }
            ],
        }
        if self.usage is not None:
            body["usage"] = self.usage
        return json.dumps(body).encode()

    def events(self, *, include_usage: bool) -> list[bytes]:
        """The SSE lines: a role chunk, one chunk per word, a finish chunk, usage, ``[DONE]``."""
        if self.malformed:
            return [b'data: {"choices": [{"delta": \n\n']
        words = [word + " " for word in self.reply_text.split(" ")]
        words[-1] = words[-1].rstrip(" ")
        deltas: list[dict[str, Any]] = [{"role": "assistant"}, *({"content": word} for word in words)]
        chunks: list[dict[str, Any]] = [
            {"model": self.model, "choices": [{"index": 0, "delta": delta, "finish_reason": None}]}
            for delta in deltas
        ]
        chunks.append({"model": self.model, "choices": [{"index": 0, "delta": {}, "finish_reason": "stop"}]})
        if include_usage and self.usage is not None:
            chunks.append({"model": self.model, "choices": [], "usage": self.usage})
        lines = [b"data: " + json.dumps(chunk).encode() + b"\n\n" for chunk in chunks]
        if not self.omit_done:
            lines.append(b"data: [DONE]\n\n")
        return lines


def _handler_for(fake: FakeLlmServer) -> type[BaseHTTPRequestHandler]:
    class ChatCompletionsHandler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            raw = self.rfile.read(int(self.headers.get("Content-Length", 0)))
            body = json.loads(raw or b"{}")
            number = fake.record(
                RecordedRequest(
                    path=self.path, headers={k.lower(): v for k, v in self.headers.items()}, body=body
                )
            )
            fake.wait()
            if self.path != "/v1/chat/completions":
                self._answer(404, b'{"error": {"message": "not found"}}')
            elif number <= fake.fail_times:
                self._answer(fake.fail_status, b'{"error": {"message": "upstream trouble"}}')
            elif fake.status != 200:
                self._answer(fake.status, b'{"error": {"message": "bad request"}}')
            elif body.get("stream"):
                self._stream(
                    fake.events(include_usage=bool(body.get("stream_options", {}).get("include_usage")))
                )
            else:
                self._answer(200, fake.completion())

        def _answer(self, status: int, payload: bytes) -> None:
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(payload)))
            self.end_headers()
            self.wfile.write(payload)

        def _stream(self, lines: list[bytes]) -> None:
            self.send_response(200)
            self.send_header("Content-Type", "text/event-stream")
            self.send_header("Cache-Control", "no-cache")
            self.end_headers()
            try:
                for line in lines:
                    self.wfile.write(line)
                    self.wfile.flush()
                    fake.pause_between_chunks()
            except (BrokenPipeError, ConnectionResetError):
                fake.stream_broken()  # the client closed its request mid-stream
                raise

        def log_message(self, format: str, *args: Any) -> None:
            """Quiet: tests assert on ``fake.requests`` instead."""

        def handle_one_request(self) -> None:
            try:
                super().handle_one_request()
            except (BrokenPipeError, ConnectionResetError):
                self.close_connection = True  # the client gave up (its timeout): nothing to answer

    return ChatCompletionsHandler
