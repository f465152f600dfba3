"""``--source chatgpt --path conversations.json|export.zip --user USERNAME``: a ChatGPT data export.

Each conversation is a ``mapping`` tree of nodes, parsed into the normalised tree of
``chats.importers.tree`` (hidden system nodes and empty tool state contracted away): the branch
plan keeps every edit and regeneration, ``current_node`` is the active leaf and the active thread
is what is written today (see ``tree_export.BRANCHES_WRITTEN``). Model slugs are kept on
assistant messages. The export is either one
``conversations.json`` or a zip holding it — newer exports split it into several
``conversations-NNN.json`` files. Arrays are streamed: memory holds one conversation at a time.
"""

from __future__ import annotations

import re
from typing import Any

from chats.importers.tree import ConversationTree, TreeMessage, contract
from chats.importers.tree_export import ParsedConversation, TreeSource, UnknownAccount, moment
from chats.models import Role

CONVERSATION_FILE = re.compile(r"(^|/)conversations(-\d+)?\.json$")
ROLES = {"user": Role.USER, "assistant": Role.ASSISTANT, "system": Role.SYSTEM, "tool": Role.TOOL}


def message_text(message: dict[str, Any]) -> tuple[str, list[dict[str, Any]]]:
    """The text of a message and its non-text parts (images, files) as attachments."""
    content = message.get("content") or {}
    attachments: list[dict[str, Any]] = []
    texts: list[str] = []
    for part in content.get("parts") or []:
        if isinstance(part, str):
            texts.append(part)
        elif isinstance(part, dict):
            if isinstance(part.get("text"), str):
                texts.append(part["text"])
            else:
                attachments.append({key: value for key, value in part.items() if key != "fovea"})
    for field in ("text", "result"):
        if not texts and isinstance(content.get(field), str):
            texts.append(content[field])
    text = "\n".join(piece for piece in texts if piece)
    if not text.strip() and attachments:
        text = "[attachment]"
    return text, attachments


TEXT_CONTENT = ("text", "multimodal_text")


def _is_shown(node: dict[str, Any]) -> bool:
    """Messages the user saw. Hidden ones, and non-text parts of a turn (reasoning, tool state)
    that carry no text, are structure rather than conversation; an empty *text* message is not
    skipped (it is quarantined)."""
    message = node.get("message")
    if not isinstance(message, dict):
        return False
    if (message.get("metadata") or {}).get("is_visually_hidden_from_conversation"):
        return False
    if message_text(message)[0].strip():
        return True
    role = (message.get("author") or {}).get("role")
    content_type = (message.get("content") or {}).get("content_type")
    return role in ("user", "assistant") and content_type in TEXT_CONTENT


def _data(node: dict[str, Any]) -> dict[str, Any]:
    """The record fields of a node (``shown`` False for the structure that is contracted away)."""
    message: dict[str, Any] = node["message"] if isinstance(node.get("message"), dict) else {}
    text, attachments = message_text(message) if message else ("", [])
    metadata = message.get("metadata") or {}
    return {
        "shown": _is_shown(node),
        "role": ROLES.get((message.get("author") or {}).get("role", "")),
        "content": text,
        "attachments": attachments,
        "model": str(metadata.get("model_slug") or ""),
        "metadata": {"content_type": (message.get("content") or {}).get("content_type", "")},
        "raw": {"message": message},
    }


def _last_child_leaf(mapping: dict[str, Any]) -> str | None:
    """Old exports without ``current_node``: the leaf reached by always taking the last child."""
    roots = [key for key, node in mapping.items() if not node.get("parent")]
    node_id = roots[0] if roots else None
    seen: set[str] = set()
    while (
        node_id is not None
        and node_id in mapping
        and mapping[node_id].get("children")
        and node_id not in seen
    ):
        seen.add(node_id)
        node_id = mapping[node_id]["children"][-1]
    return node_id


class ChatGPTExportSource(TreeSource):
    kind = "chatgpt"
    members = CONVERSATION_FILE

    def parse(self, item: Any) -> ParsedConversation:
        if not isinstance(item, dict) or not isinstance(item.get("mapping"), dict):
            raise ValueError("no mapping")
        mapping: dict[str, Any] = item["mapping"]
        nodes = [
            TreeMessage(
                id=str(node.get("id") or key),
                parent_id=str(node["parent"]) if node.get("parent") else None,
                created_at=moment((node.get("message") or {}).get("create_time"))
                if isinstance(node.get("message"), dict)
                else None,
                data=_data(node),
            )
            for key, node in mapping.items()
            if isinstance(node, dict)
        ]
        leaf = item.get("current_node") if item.get("current_node") in mapping else _last_child_leaf(mapping)
        tree = contract(
            ConversationTree(messages=nodes, active_leaf=leaf), keep=lambda m: bool(m.data["shown"])
        )
        metadata = {
            name: item[name]
            for name in ("default_model_slug", "gizmo_id", "conversation_template_id")
            if item.get(name)
        }
        return ParsedConversation(
            conversation_id=str(item.get("conversation_id") or item.get("id") or ""),
            tree=tree,
            title=str(item.get("title") or "") or None,
            created_at=moment(item.get("create_time")),
            updated_at=moment(item.get("update_time")),
            archived=bool(item.get("is_archived", False)),
            metadata=metadata,
        )


__all__ = ["ChatGPTExportSource", "UnknownAccount", "message_text"]
