"""OpenAPI generation details: operation ids, one tag per resource, alias routes, the SSE stream."""

from __future__ import annotations

import re
from typing import Any

from drf_spectacular.openapi import AutoSchema

# Path prefix -> the resource tag of its operations; the first match wins (longest prefixes first).
RESOURCE_TAGS: list[tuple[str, str]] = [
    ("/api/auth/", "Accounts"),
    ("/api/audit/", "Audit"),
    ("/api/ehr/me", "EHR (own record)"),
    ("/api/ehr/patients/", "EHR (patients)"),
    ("/api/admin/", "Staff"),
    ("/api/chat/messages/", "Chat messages"),  # votes, regenerate, edit, siblings, children, activate
    ("/api/chat/shared", "Care team sharing"),
    ("/api/chat/sessions", "Chat sessions"),
    ("/api/conversation", "Chat sessions"),
    ("/api/chat-history", "Chat history"),
    ("/api/chat/erasures", "Chat history"),
    ("/api/chat/search", "Chat search"),
    ("/api/chat/exports", "Chat import and export"),
    ("/api/chat/imports", "Chat import and export"),
    ("/api/chat/transfers", "Chat import and export"),
    ("/api/chat/export", "Chat export"),
    ("/api/chat/token-usage", "Chat usage and statistics"),
    ("/api/chat/statistics", "Chat usage and statistics"),
    ("/api/chat/send", "Chat messages"),
    ("/api/chat/health", "Operations"),
    ("/api/chat/cleanup", "Operations"),
    ("/api/chat/sync", "Operations"),
]
EXACT_TAGS = {"/api/chat": "Chat messages"}

# Routes kept for clients of the first Medibot API (reference 000): same view, same contract.
ALIASES = {
    "/api/chat": "/api/chat/send",
    "/api/conversations": "/api/chat/sessions",
    "/api/conversation/{session_id}": "/api/chat/sessions/{session_id}",
    "/api/conversation/{session_id}/messages": "/api/chat/sessions/{session_id}/messages",
}

STREAMED_SEND_PATHS = ("/api/chat/send", "/api/chat")
STREAM_DESCRIPTION = """\
With `?stream=true` or `Accept: text/event-stream` the reply is streamed as server-sent events
(`X-Session-Id` header carries the session id). Events, each `event: NAME` + `data: JSON`:

* `token` — `{"text": "..."}`: the next chunk of the reply (any number of them);
* `done` — the reply is stored: `{"session_id", "conversation_id", "user_message_id",
  "assistant_message_id", "total_tokens"}`;
* `error` — the provider failed; the user's message and a failed reply are stored:
  `{"detail", "session_id", "user_message_id", "assistant_message_id"}`.

The stream ends after `done` or `error`. A reply whose client disconnects is still stored whole.
"""

STREAM_EVENT_SCHEMAS: dict[str, dict[str, Any]] = {
    "ChatStreamTokenEvent": {
        "type": "object",
        "description": "`event: token` — a chunk of the reply",
        "properties": {"text": {"type": "string"}},
        "required": ["text"],
    },
    "ChatStreamDoneEvent": {
        "type": "object",
        "description": "`event: done` — the reply is stored",
        "properties": {
            "session_id": {"type": "string"},
            "conversation_id": {"type": "string"},
            "user_message_id": {"type": "string"},
            "assistant_message_id": {"type": "string"},
            "total_tokens": {"type": "integer"},
        },
        "required": [
            "session_id",
            "conversation_id",
            "user_message_id",
            "assistant_message_id",
            "total_tokens",
        ],
    },
    "ChatStreamErrorEvent": {
        "type": "object",
        "description": "`event: error` — the provider failed; the message and a failed reply are stored",
        "properties": {
            "detail": {"type": "string"},
            "session_id": {"type": "string"},
            "user_message_id": {"type": "string"},
            "assistant_message_id": {"type": "string"},
        },
        "required": ["detail"],
    },
}


def resource_tag(path: str) -> str | None:
    if path in EXACT_TAGS:
        return EXACT_TAGS[path]
    for prefix, tag in RESOURCE_TAGS:
        if path.startswith(prefix):
            return tag
    return None


class MedibotAutoSchema(AutoSchema):
    """Operation ids from the full path and method: unique even where one view serves two routes;
    one tag per resource (``RESOURCE_TAGS``)."""

    def get_operation_id(self) -> str:
        path = re.sub(r"[{}]", "", self.path).strip("/")
        return re.sub(r"[^A-Za-z0-9]+", "_", f"{path}_{self.method}").lower()

    def get_tags(self) -> list[str]:
        tag = resource_tag(self.path)
        return [tag] if tag else super().get_tags()


def document_aliases_and_streams(result: dict[str, Any], **kwargs: Any) -> dict[str, Any]:
    """Postprocessing hook: one resource tag per operation (over any view's own), alias operations
    say what they alias (``x-alias-of``), and the send operations document their event stream."""
    paths = result.get("paths", {})
    for path, operations in paths.items():
        tag = resource_tag(path)
        for operation in operations.values():
            if tag and isinstance(operation, dict):
                operation["tags"] = [tag]
    for alias, canonical in ALIASES.items():
        for method, operation in paths.get(alias, {}).items():
            operation["summary"] = f"Alias of {method.upper()} {canonical}"
            operation["description"] = (
                f"Same view and contract as `{method.upper()} {canonical}`; kept for clients of the "
                "first Medibot API. New clients should use the canonical route."
            )
            operation["x-alias-of"] = canonical
    components = result.setdefault("components", {}).setdefault("schemas", {})
    components.update(STREAM_EVENT_SCHEMAS)
    for path in STREAMED_SEND_PATHS:
        operation = paths.get(path, {}).get("post")
        if operation is None:
            continue
        described = [operation.get("description"), STREAM_DESCRIPTION]
        operation["description"] = "\n\n".join(part for part in described if part)
        operation.setdefault("summary", "Send a message and get the bot's reply")
        operation["responses"]["200"] = {
            "description": "the reply streamed as server-sent events (`?stream=true`)",
            "content": {
                "text/event-stream": {
                    "schema": {
                        "oneOf": [{"$ref": f"#/components/schemas/{name}"} for name in STREAM_EVENT_SCHEMAS]
                    }
                }
            },
        }
    return result
