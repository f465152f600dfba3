"""``--source claude --path data-export.zip|conversations.json --user USERNAME``: a Claude.ai data export.

The shape (Settings → Privacy → Export data; described in public parsers of the export, e.g.
moorcheh-ai/memanto#1718, elizaOS/eliza#12006, get-engram/engram#205): ``conversations.json`` is
an array of ``{uuid, name, summary, created_at, updated_at, account, chat_messages: [...]}``;
each message is ``{uuid, sender: "human"|"assistant", text, content: [blocks], created_at,
updated_at, attachments: [{file_name, file_size, file_type, extracted_content}], files:
[{file_name}]}`` and, in newer exports, ``parent_message_uuid`` (a tree; the conversation's
``current_leaf_message_uuid`` is its active leaf). Without parent ids the list is one line.

Content blocks: ``text`` blocks are the message (their ``citations`` become source documents);
``thinking``, ``tool_use``, ``tool_result`` and other blocks are kept as agent steps. A message
whose text is empty but has attachments reads ``[attachment]``.
"""

from __future__ import annotations

import re
from typing import Any

from chats.importers.tree import ConversationTree, TreeMessage
from chats.importers.tree_export import ParsedConversation, TreeSource, moment, text_of
from chats.models import Role

SENDERS = {"human": Role.USER, "user": Role.USER, "assistant": Role.ASSISTANT}
ROOT_SENTINEL = "00000000-0000-4000-8000-000000000000"


def message_fields(message: dict[str, Any]) -> dict[str, Any]:
    blocks: list[Any] = message["content"] if isinstance(message.get("content"), list) else []
    texts: list[str] = []
    citations: list[Any] = []
    steps: list[Any] = []
    for block in blocks:
        if not isinstance(block, dict):
            continue
        if block.get("type") == "text" and isinstance(block.get("text"), str):
            texts.append(block["text"])
            citations.extend(block.get("citations") or [])
        else:
            steps.append(
                {
                    key: value
                    for key, value in block.items()
                    if key not in ("start_timestamp", "stop_timestamp")
                }
            )
    text = "\n".join(piece for piece in texts if piece) or text_of(message.get("text"))
    attachments = [
        {
            "type": "file",
            "name": str(item.get("file_name") or ""),
            "file_type": str(item.get("file_type") or ""),
            "bytes": item.get("file_size"),
            **({"extracted_content": item["extracted_content"]} if item.get("extracted_content") else {}),
        }
        for item in message.get("attachments") or []
        if isinstance(item, dict)
    ] + [
        {
            "type": "file",
            "name": str(item.get("file_name") or ""),
            "file_uuid": str(item.get("file_uuid") or ""),
        }
        for item in message.get("files") or []
        if isinstance(item, dict)
    ]
    if not text.strip() and attachments:
        text = "[attachment]"
    return {
        "role": SENDERS.get(str(message.get("sender") or "")),
        "content": text,
        "attachments": attachments,
        "source_documents": citations,
        "agent_steps": steps,
        "raw": {key: message.get(key) for key in ("uuid", "sender", "created_at", "text")},
    }


class ClaudeExportSource(TreeSource):
    kind = "claude"
    members = re.compile(r"(^|/)conversations\.json$")

    def parse(self, item: Any) -> ParsedConversation:
        if not isinstance(item, dict) or not isinstance(item.get("chat_messages"), list):
            raise ValueError("no chat_messages")
        messages: list[TreeMessage] = []
        previous: str | None = None
        linear = not any(isinstance(m, dict) and "parent_message_uuid" in m for m in item["chat_messages"])
        for number, message in enumerate(item["chat_messages"]):
            if not isinstance(message, dict):
                message = {"uuid": f"#{number}", "sender": None, "text": str(message)}
            key = str(message.get("uuid") or f"#{number}")
            parent = previous if linear else message.get("parent_message_uuid")
            messages.append(
                TreeMessage(
                    id=key,
                    parent_id=None if parent in (None, "", ROOT_SENTINEL) else str(parent),
                    created_at=moment(message.get("created_at")),
                    data=message_fields(message),
                )
            )
            previous = key
        leaf = item.get("current_leaf_message_uuid") or (None if not linear else previous)
        return ParsedConversation(
            conversation_id=str(item.get("uuid") or ""),
            tree=ConversationTree(messages=messages, active_leaf=leaf),
            title=text_of(item.get("name")) or None,
            created_at=moment(item.get("created_at")),
            updated_at=moment(item.get("updated_at")),
            metadata={"summary": item["summary"]} if text_of(item.get("summary")) else {},
        )
