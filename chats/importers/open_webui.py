"""``--source openwebui --path chat-export.json --user USERNAME``: Open WebUI's "Export chats".

The shape (open-webui/open-webui: ``GET /api/v1/chats/all``, the file Settings → Chats → Export
writes, read back by ``src/lib/utils`` ``getImportOrigin``/``convertOpenAIChats``): an array of
``{id, user_id, title, chat: {title, models, history: {messages: {<id>: {id, parentId,
childrenIds, role, content, timestamp, model, files, sources, usage}}, currentId}, messages,
tags, timestamp}, created_at, updated_at, archived, pinned, meta: {tags}}``. ``history.messages``
is the tree and ``currentId`` its active leaf; times are epoch seconds (``chat.timestamp`` in
milliseconds). An element that is the ``chat`` object alone is read too.
"""

from __future__ import annotations

from typing import Any

from chats.importers.tree import ConversationTree, TreeMessage
from chats.importers.tree_export import ParsedConversation, TreeSource, moment, text_of
from chats.models import MessageStatus, Role

ROLES = {"user": Role.USER, "assistant": Role.ASSISTANT, "system": Role.SYSTEM, "tool": Role.TOOL}


def _attachment(item: Any) -> dict[str, Any]:
    if not isinstance(item, dict):
        return {"type": "file", "name": str(item)}
    kept = {key: item[key] for key in ("type", "id", "name", "size", "url") if key in item}
    if str(kept.get("url", "")).startswith("data:"):
        kept["url"] = "data: URI (not kept)"
    return {"type": "file", **kept}


def _content(value: Any) -> str:
    if isinstance(value, str):
        return value
    if isinstance(value, list):  # OpenAI-style parts
        return "\n".join(text_of(part.get("text")) for part in value if isinstance(part, dict))
    return ""


def message_fields(message: dict[str, Any]) -> dict[str, Any]:
    attachments = [_attachment(item) for item in message.get("files") or []]
    text = _content(message.get("content"))
    if not text.strip() and attachments:
        text = "[attachment]"
    metadata = {key: message[key] for key in ("usage", "info", "annotation") if message.get(key)}
    error = message.get("error")
    return {
        "role": ROLES.get(str(message.get("role") or "")),
        "content": text,
        "model": text_of(message.get("model")),
        "attachments": attachments,
        "source_documents": list(message.get("sources") or message.get("citations") or []),
        "metadata": metadata,
        "status": MessageStatus.FAILED if error else MessageStatus.COMPLETED,
        "error_info": {"open_webui": error}
        if isinstance(error, dict)
        else ({"open_webui": True} if error else {}),
        "raw": {key: message.get(key) for key in ("id", "role", "timestamp", "parentId")},
    }


class OpenWebUIExportSource(TreeSource):
    kind = "openwebui"

    def parse(self, item: Any) -> ParsedConversation:
        if not isinstance(item, dict):
            raise ValueError("not an object")
        chat: dict[str, Any] = item["chat"] if isinstance(item.get("chat"), dict) else item
        history = chat.get("history")
        if not isinstance(history, dict) or not isinstance(history.get("messages"), dict):
            raise ValueError("no chat.history.messages")
        messages = [
            TreeMessage(
                id=str(message.get("id") or key),
                parent_id=str(message["parentId"]) if message.get("parentId") else None,
                created_at=moment(message.get("timestamp")),
                data=message_fields(message),
            )
            for key, message in history["messages"].items()
            if isinstance(message, dict)
        ]
        tags = (item.get("meta") or {}).get("tags") if isinstance(item.get("meta"), dict) else None
        return ParsedConversation(
            conversation_id=str(item.get("id") or chat.get("id") or ""),
            tree=ConversationTree(messages=messages, active_leaf=text_of(history.get("currentId")) or None),
            title=text_of(item.get("title")) or text_of(chat.get("title")) or None,
            created_at=moment(item.get("created_at")) or moment(chat.get("timestamp")),
            updated_at=moment(item.get("updated_at")),
            archived=bool(item.get("archived")),
            tags=[str(tag) for tag in (tags or chat.get("tags") or []) if isinstance(tag, str)],
            metadata={"models": chat["models"]} if isinstance(chat.get("models"), list) else {},
        )
