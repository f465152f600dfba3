"""``--source librechat --path export.json --user USERNAME``: LibreChat's conversation export.

The shape (danny-avila/LibreChat ``client/src/hooks/Conversations/useExportConversation.ts``,
``exportJSON``): ``{conversationId, endpoint, title, exportAt, branches, recursive, options?,
messages: [...]}`` with the flat list of messages, or ``messagesTree`` (each message with its
``children``) when exported recursively. A message is ``{messageId, conversationId,
parentMessageId, sender, text, isCreatedByUser, model, error, unfinished, createdAt, updatedAt,
content?: [parts], files?}``; the root's parent is ``00000000-0000-0000-0000-000000000000``.
The export names no active leaf: the latest leaf is the active one (LibreChat opens a
conversation on its latest message). A file may hold one conversation or an array of them.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from chats.importers.tree import ConversationTree, TreeMessage
from chats.importers.tree_export import ParsedConversation, TreeSource, moment, text_of
from chats.models import MessageStatus, Role

NO_PARENT = "00000000-0000-0000-0000-000000000000"


def _flatten(messages: list[Any]) -> Iterator[dict[str, Any]]:
    """The messages of a flat list or a ``messagesTree``, parents before children."""
    stack = list(reversed(messages))
    while stack:
        message = stack.pop()
        if not isinstance(message, dict):
            continue
        yield message
        stack.extend(reversed([kid for kid in message.get("children") or [] if isinstance(kid, dict)]))


def _part_text(part: dict[str, Any]) -> str:
    value = part.get("text")
    if isinstance(value, dict):
        return text_of(value.get("value"))
    return text_of(value)


def message_fields(message: dict[str, Any]) -> dict[str, Any]:
    parts = [part for part in message.get("content") or [] if isinstance(part, dict)]
    texts = [_part_text(part) for part in parts if part.get("type") == "text"]
    steps = [part for part in parts if part.get("type") != "text"]
    text = "\n".join(piece for piece in texts if piece) or text_of(message.get("text"))
    attachments = [
        {
            "type": "file",
            **{key: item[key] for key in ("file_id", "filename") if key in item},
            **({"mime_type": item["type"]} if "type" in item else {}),
            **({"bytes": item["bytes"]} if "bytes" in item else {}),
        }
        for item in message.get("files") or []
        if isinstance(item, dict)
    ]
    if not text.strip() and attachments:
        text = "[attachment]"
    if "isCreatedByUser" in message:
        role = Role.USER if message.get("isCreatedByUser") else Role.ASSISTANT
    else:
        role = None
    metadata = {
        key: message[key] for key in ("sender", "endpoint", "unfinished", "tokenCount") if key in message
    }
    return {
        "role": role,
        "content": text,
        "model": text_of(message.get("model")),
        "attachments": attachments,
        "agent_steps": steps,
        "metadata": metadata,
        "status": MessageStatus.FAILED if message.get("error") else MessageStatus.COMPLETED,
        "error_info": {"librechat": "error"} if message.get("error") else {},
        "raw": {key: message.get(key) for key in ("messageId", "parentMessageId", "sender", "createdAt")},
    }


class LibreChatExportSource(TreeSource):
    kind = "librechat"

    def parse(self, item: Any) -> ParsedConversation:
        if not isinstance(item, dict):
            raise ValueError("not an object")
        listed = (
            item.get("messagesTree") if isinstance(item.get("messagesTree"), list) else item.get("messages")
        )
        if not isinstance(listed, list):
            raise ValueError("no messages")
        messages = []
        for number, message in enumerate(_flatten(listed)):
            parent = message.get("parentMessageId")
            messages.append(
                TreeMessage(
                    id=str(message.get("messageId") or f"#{number}"),
                    parent_id=None if parent in (None, "", NO_PARENT) else str(parent),
                    created_at=moment(message.get("createdAt")),
                    data=message_fields(message),
                )
            )
        created = [m.created_at for m in messages if m.created_at]
        return ParsedConversation(
            conversation_id=str(item.get("conversationId") or ""),
            tree=ConversationTree(messages=messages, active_leaf=None),
            title=text_of(item.get("title")) or None,
            created_at=moment(item.get("createdAt")) or (min(created) if created else None),
            updated_at=moment(item.get("updatedAt")) or (max(created) if created else None),
            metadata={"endpoint": item["endpoint"]} if text_of(item.get("endpoint")) else {},
        )
