"""``--source chatgpt --path conversations.json|export.zip --user USERNAME``: a ChatGPT data export.

Each conversation is a ``mapping`` tree of nodes; the conversation shown to the user is the branch
from the root to ``current_node``, and that branch is what is imported (edits and regenerations
on other branches are not). Model slugs are kept on assistant messages. The export is either one
``conversations.json`` or a zip holding it — newer exports split it into several
``conversations-NNN.json`` files. Arrays are streamed: memory holds one conversation at a time.
"""

from __future__ import annotations

import re
import zipfile
from collections.abc import Iterator
from contextlib import ExitStack
from datetime import datetime
from pathlib import Path
from typing import IO, Any

from django.contrib.auth import get_user_model

from chats.importers import values
from chats.importers.jsonstream import iter_array
from chats.importers.records import (
    Batch,
    MessageRecord,
    Quarantined,
    Reason,
    Record,
    SessionRecord,
    SessionSpec,
    batched,
    public_id_or_derived,
)
from chats.models import Channel, Role

CONVERSATION_FILE = re.compile(r"(^|/)conversations(-\d+)?\.json$")
ROLES = {"user": Role.USER, "assistant": Role.ASSISTANT, "system": Role.SYSTEM, "tool": Role.TOOL}


class UnknownAccount(ValueError):
    pass


def active_branch(conversation: dict[str, Any]) -> list[dict[str, Any]]:
    """The nodes from the root to ``current_node`` (the conversation as last shown), oldest first."""
    mapping = conversation.get("mapping") or {}
    node_id = conversation.get("current_node")
    if node_id not in mapping:
        # Old exports without current_node: follow the last child from the root.
        roots = [key for key, node in mapping.items() if not node.get("parent")]
        node_id = roots[0] if roots else None
        while node_id is not None and mapping[node_id].get("children"):
            node_id = mapping[node_id]["children"][-1]
    branch: list[dict[str, Any]] = []
    seen: set[str] = set()
    while node_id is not None and node_id in mapping and node_id not in seen:
        seen.add(node_id)
        branch.append(mapping[node_id])
        node_id = mapping[node_id].get("parent")
    branch.reverse()
    return branch


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


class ChatGPTExportSource:
    kind = "chatgpt"

    def __init__(self, *, path: Path, username: str) -> None:
        if not path.is_file():
            raise ValueError(f"{path} is not a file")
        self.path = path.resolve()
        self.username = username
        user_id = get_user_model().objects.filter(username=username).values_list("pk", flat=True).first()
        if user_id is None:
            raise UnknownAccount(f"no account with the username {username!r}")
        self.user_id = int(user_id)

    @property
    def ref(self) -> str:
        return f"chatgpt://{self.path}#{self.username}"

    @property
    def options(self) -> dict[str, Any]:
        return {"user": self.username}

    def warnings(self) -> list[str]:
        return []

    def estimate(self) -> int | None:
        """Counted first: one streaming pass over the export (the import reads it once more)."""
        total = 0
        for member in self._members():
            with ExitStack() as stack:
                try:
                    for conversation in iter_array(self._open(stack, member)):
                        if isinstance(conversation, dict) and isinstance(conversation.get("mapping"), dict):
                            total += sum(1 for node in active_branch(conversation) if _is_shown(node))
                        else:
                            total += 1
                except ValueError:
                    total += 1
        return total

    def close(self) -> None:
        return None

    def _members(self) -> list[str]:
        if not zipfile.is_zipfile(self.path):
            return [""]
        with zipfile.ZipFile(self.path) as archive:
            return sorted(name for name in archive.namelist() if CONVERSATION_FILE.search(name))

    def _open(self, stack: ExitStack, member: str) -> IO[bytes]:
        if not member:
            return stack.enter_context(self.path.open("rb"))
        archive = stack.enter_context(zipfile.ZipFile(self.path))
        return stack.enter_context(archive.open(member))

    def batches(self, checkpoint: dict[str, Any] | None, *, batch_size: int) -> Iterator[Batch]:
        return batched(self._units(checkpoint), batch_size=batch_size)

    def _units(self, checkpoint: dict[str, Any] | None) -> Iterator[tuple[list[Record], dict[str, Any]]]:
        members = self._members()
        start = members.index(checkpoint["member"]) if checkpoint and checkpoint["member"] in members else 0
        for member in members[start:]:
            resume = checkpoint if checkpoint and checkpoint["member"] == member else None
            with ExitStack() as stack:
                conversations = iter_array(self._open(stack, member))
                index = -1
                try:
                    for index, conversation in enumerate(conversations):
                        if resume is not None and index < int(resume["conversation"]):
                            continue
                        state = (
                            resume if resume is not None and index == int(resume["conversation"]) else None
                        )
                        yield from self._conversation(member, index, conversation, state)
                except ValueError as exc:
                    unit = f"{member or self.path.name}#{index + 1}"
                    position = {"member": member, "conversation": 1 << 62, "next": 0}
                    yield [Quarantined(unit, Reason.BAD_JSON, {"error": str(exc)[:200]})], position

    def _conversation(
        self, member: str, index: int, conversation: Any, state: dict[str, Any] | None
    ) -> Iterator[tuple[list[Record], dict[str, Any]]]:
        unit_prefix = f"{member or self.path.name}#{index}"
        if not isinstance(conversation, dict) or not isinstance(conversation.get("mapping"), dict):
            position = {"member": member, "conversation": index + 1, "next": 0}
            yield [Quarantined(unit_prefix, Reason.BAD_JSON, {"error": "not a conversation"})], position
            return
        conversation_id = str(conversation.get("conversation_id") or conversation.get("id") or unit_prefix)
        created_at = self._moment(conversation.get("create_time"))
        nodes = [node for node in active_branch(conversation) if _is_shown(node)]
        if created_at is None:
            created_at = next(
                (m for m in (self._moment(n["message"].get("create_time")) for n in nodes) if m), None
            )
        if created_at is None:
            for number, node in enumerate(nodes):
                position = {"member": member, "conversation": index, "next": number + 1}
                yield [Quarantined(f"{conversation_id}:{node.get('id')}", Reason.BAD_TIMESTAMP, {})], position
            return
        key = f"conversation:{conversation_id}"
        metadata = {
            name: conversation[name]
            for name in ("default_model_slug", "gizmo_id", "conversation_template_id")
            if conversation.get(name)
        }
        spec = SessionSpec(
            source=self.kind,
            legacy_key=key,
            user_id=self.user_id,
            session_id=public_id_or_derived(conversation_id, source=self.kind, legacy_key=key),
            created_at=created_at,
            title=str(conversation.get("title") or "") or None,
            channel=Channel.IMPORT,
            updated_at=self._moment(conversation.get("update_time")),
            is_active=not conversation.get("is_archived", False),
            metadata={"chatgpt": metadata} if metadata else {},
        )
        start = int(state["next"]) if state else 0
        order = int(state["last_order"]) if state else 0
        parent = str(state["parent"]) if state else ""
        if not nodes and state is None:
            position = {"member": member, "conversation": index + 1, "next": 0}
            yield [SessionRecord(unit=unit_prefix, session=spec)], position
            return
        for number in range(start, len(nodes)):
            record = self._message(spec, conversation_id, nodes[number], order + 1, parent, created_at)
            if isinstance(record, MessageRecord):
                order, parent = record.order, record.message_id
            position = {
                "member": member,
                "conversation": index,
                "next": number + 1,
                "last_order": order,
                "parent": parent,
            }
            if number == len(nodes) - 1:
                position = {"member": member, "conversation": index + 1, "next": 0}
            yield [record], position

    def _moment(self, value: Any) -> datetime | None:
        if value in (None, ""):
            return None
        try:
            return values.parse_timestamp(value)
        except values.BadValue:
            return None

    def _message(
        self,
        spec: SessionSpec,
        conversation_id: str,
        node: dict[str, Any],
        order: int,
        parent: str,
        fallback_time: datetime,
    ) -> Record:
        message = node["message"]
        node_id = str(node.get("id") or message.get("id"))
        unit = f"{conversation_id}:{node_id}"
        role = ROLES.get((message.get("author") or {}).get("role", ""))
        if role is None:
            return Quarantined(unit, Reason.UNKNOWN_ROLE, values.quarantine_row({"message": message}))
        text, attachments = message_text(message)
        try:
            content = values.content(text)
        except values.BadValue as bad:
            return Quarantined(unit, bad.reason, values.quarantine_row({"message": message}))
        metadata = message.get("metadata") or {}
        moment = self._moment(message.get("create_time")) or fallback_time
        return MessageRecord(
            unit=unit,
            legacy_key=unit,
            session=spec,
            order=order,
            role=role,
            content=content,
            created_at=moment,
            message_id=public_id_or_derived(node_id, source=self.kind, legacy_key=unit),
            model=str(metadata.get("model_slug") or ""),
            attachments=attachments,
            metadata={"content_type": (message.get("content") or {}).get("content_type", "")},
            parent_message_id=parent,
        )
