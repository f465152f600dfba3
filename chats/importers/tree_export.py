"""What the exports of other chat products have in common: conversations whose messages form a tree.

A ``TreeSource`` reads one export (a JSON file, a zip holding JSON files, or a directory of
them), streams its conversations one at a time, lets the product module turn each into a
``ParsedConversation`` (a ``ConversationTree`` whose messages carry ready-made fields), and
writes the active thread through the one writer like every other source: resumable per message,
quarantine with reasons, the same ids on every run.

Branches: each conversation's ``branch_plan`` is computed here and summarised in the session's
metadata (``metadata.<source>.branches``: how many, which is active). ``BRANCHES_WRITTEN`` is the
seam for the message model's branches: today only the active thread is written. To write them
all, ``_conversation`` walks ``plan.branches`` instead of ``active_thread`` and gives each record
its ``plan.placements()[message id]`` (branch, order), with the session's branch table and
``active_branch`` from the plan.
"""

from __future__ import annotations

import json
import re
import zipfile
from collections.abc import Iterator
from contextlib import ExitStack
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import IO, Any

from django.contrib.auth import get_user_model

from chats import builders
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
from chats.importers.tree import ConversationTree, TreeMessage, active_thread, branch_plan
from chats.models import Channel, MessageStatus

# Which branches of a tree become messages. "active": the source's active thread (root to active
# leaf), as before branches existed in the message model; the lead connects "all" at merge.
BRANCHES_WRITTEN = "active"
MILLISECONDS_AFTER = 10**11  # an epoch number above this is in milliseconds (year 5138 in seconds)


class UnknownAccount(ValueError):
    pass


@dataclass(slots=True)
class ParsedConversation:
    """One conversation of an export. Each tree message's ``data`` holds the fields of its record:
    ``role`` (a Medibot role, or None when unknown), ``content`` (text), and optionally ``model``,
    ``attachments``, ``source_documents``, ``agent_steps``, ``metadata``, ``status``, ``raw``."""

    conversation_id: str
    tree: ConversationTree
    title: str | None = None
    created_at: datetime | None = None
    updated_at: datetime | None = None
    archived: bool = False
    tags: list[str] = field(default_factory=list)
    metadata: dict[str, Any] = field(default_factory=dict)


def moment(value: Any) -> datetime | None:
    """ISO text or epoch seconds/milliseconds, as exports write them; None when unreadable."""
    if isinstance(value, int | float) and not isinstance(value, bool) and abs(value) > MILLISECONDS_AFTER:
        value = value / 1000
    if value in (None, ""):
        return None
    try:
        return values.parse_timestamp(value)
    except values.BadValue:
        return None


def text_of(value: Any) -> str:
    return value if isinstance(value, str) else ""


class TreeSource:
    """Base of the sources whose export is a list of conversation trees (see the module docstring)."""

    kind = ""
    # Files read inside a zip or a directory.
    members = re.compile(r"\.json$")

    def __init__(self, *, path: Path, username: str) -> None:
        if not path.exists():
            raise ValueError(f"{path} does not exist")
        self.path = path.resolve()
        self.username = username
        user_id = get_user_model().objects.filter(username=username).values_list("pk", flat=True).first()
        if user_id is None:
            raise UnknownAccount(f"no account with the username {username!r}")
        self.user_id = int(user_id)

    # --- what a product module provides --------------------------------------------------------

    def parse(self, item: Any) -> ParsedConversation:
        """One element of the export as a conversation; ValueError(why) when it is not one."""
        raise NotImplementedError

    # --- the Source protocol ------------------------------------------------------------------

    @property
    def ref(self) -> str:
        return f"{self.kind}://{self.path}#{self.username}"

    @property
    def options(self) -> dict[str, Any]:
        return {"user": self.username}

    def warnings(self) -> list[str]:
        return []

    def close(self) -> None:
        return None

    def estimate(self) -> int | None:
        """Counted first: one streaming pass over the export (the import reads it once more)."""
        total = 0
        for member in self._members():
            for item in self._items(member):
                try:
                    total += max(len(active_thread(self.parse(item).tree)), 1)
                except (ValueError, TypeError, AttributeError):
                    total += 1
        return total

    def batches(self, checkpoint: dict[str, Any] | None, *, batch_size: int) -> Iterator[Batch]:
        return batched(self._units(checkpoint), batch_size=batch_size)

    # --- reading ------------------------------------------------------------------------------

    def _members(self) -> list[str]:
        if self.path.is_dir():
            return sorted(
                str(p.relative_to(self.path))
                for p in self.path.rglob("*")
                if p.is_file() and self.members.search(p.name)
            )
        if zipfile.is_zipfile(self.path):
            with zipfile.ZipFile(self.path) as archive:
                return sorted(name for name in archive.namelist() if self.members.search(name))
        return [""]

    def _open(self, stack: ExitStack, member: str) -> IO[bytes]:
        if not member:
            return stack.enter_context(self.path.open("rb"))
        if self.path.is_dir():
            return stack.enter_context((self.path / member).open("rb"))
        archive = stack.enter_context(zipfile.ZipFile(self.path))
        return stack.enter_context(archive.open(member))

    def _items(self, member: str) -> Iterator[Any]:
        """The conversations of one file: the elements of a top-level array, or the one object.
        A file that is not JSON yields one ValueError in its place."""
        with ExitStack() as stack:
            head = self._open(stack, member).read(64).lstrip(b"\xef\xbb\xbf \t\r\n")
        with ExitStack() as stack:
            stream = self._open(stack, member)
            try:
                if head.startswith(b"{"):
                    yield json.loads(values.text(stream.read()))
                else:
                    yield from iter_array(stream)
            except values.BadValue as bad:
                yield ValueError(bad.reason.value)
            except ValueError as exc:
                yield exc

    def _units(self, checkpoint: dict[str, Any] | None) -> Iterator[tuple[list[Record], dict[str, Any]]]:
        members = self._members()
        start = members.index(checkpoint["member"]) if checkpoint and checkpoint["member"] in members else 0
        for member in members[start:]:
            resume = checkpoint if checkpoint and checkpoint["member"] == member else None
            for index, item in enumerate(self._items(member)):
                if resume is not None and index < int(resume["conversation"]):
                    continue
                state = resume if resume is not None and index == int(resume["conversation"]) else None
                yield from self._conversation(member, index, item, state)

    def _conversation(
        self, member: str, index: int, item: Any, state: dict[str, Any] | None
    ) -> Iterator[tuple[list[Record], dict[str, Any]]]:
        where = f"{member or self.path.name}#{index}"
        finished = {"member": member, "conversation": index + 1, "next": 0}
        if isinstance(item, ValueError):
            yield [Quarantined(where, Reason.BAD_JSON, {"error": str(item)[:200]})], finished
            return
        try:
            parsed = self.parse(item)
        except (ValueError, TypeError, AttributeError) as exc:
            yield (
                [Quarantined(where, Reason.BAD_JSON, {"error": f"not a conversation: {exc}"[:200]})],
                finished,
            )
            return
        plan = branch_plan(parsed.tree)
        thread = active_thread(parsed.tree)
        created_at = parsed.created_at or next((m.created_at for m in thread if m.created_at), None)
        conversation_id = parsed.conversation_id or where
        # A checkpoint at a conversation's start ("next": 0) carries no order yet.
        start = int(state.get("next", 0)) if state else 0
        if created_at is None:
            for number in range(start, len(thread)):
                undated = {"member": member, "conversation": index, "next": number + 1}
                unit = f"{conversation_id}:{thread[number].id}"
                yield (
                    [Quarantined(unit, Reason.BAD_TIMESTAMP, {})],
                    finished if number == len(thread) - 1 else undated,
                )
            if not thread:
                yield [Quarantined(where, Reason.BAD_TIMESTAMP, {})], finished
            return
        key = f"conversation:{conversation_id}"
        summary = {"branches": len(plan.branches), "active_branch": plan.active_branch}
        spec = SessionSpec(
            source=self.kind,
            legacy_key=key,
            user_id=self.user_id,
            session_id=public_id_or_derived(conversation_id, source=self.kind, legacy_key=key),
            created_at=created_at,
            title=parsed.title or None,
            channel=Channel.IMPORT,
            updated_at=parsed.updated_at,
            is_active=not parsed.archived,
            tags=[tag[:50] for tag in parsed.tags if isinstance(tag, str) and tag][:20],
            metadata={self.kind: {**parsed.metadata, **summary}},
        )
        if not thread:
            yield [SessionRecord(unit=where, session=spec)], finished
            return
        order = int(state.get("last_order", 0)) if state else 0
        parent = str(state.get("parent", "")) if state else ""
        for number in range(start, len(thread)):
            record = self._message(spec, conversation_id, thread[number], order + 1, parent, created_at)
            if isinstance(record, MessageRecord):
                order, parent = record.order, record.message_id
            position: dict[str, Any] = {
                "member": member,
                "conversation": index,
                "next": number + 1,
                "last_order": order,
                "parent": parent,
            }
            yield [record], finished if number == len(thread) - 1 else position

    def _message(
        self,
        spec: SessionSpec,
        conversation_id: str,
        node: TreeMessage,
        order: int,
        parent: str,
        fallback_time: datetime,
    ) -> Record:
        unit = f"{conversation_id}:{node.id}"
        data = node.data
        raw: dict[str, Any] = data["raw"] if isinstance(data.get("raw"), dict) else {"id": node.id}
        role = data.get("role")
        if role is None:
            return Quarantined(unit, Reason.UNKNOWN_ROLE, values.quarantine_row(raw))
        status = str(data.get("status") or MessageStatus.COMPLETED)
        try:
            content = values.content(
                builders.message_content(role=str(role), status=status, content=text_of(data.get("content")))
            )
        except values.BadValue as bad:
            return Quarantined(unit, bad.reason, values.quarantine_row(raw))
        return MessageRecord(
            unit=unit,
            legacy_key=unit,
            session=spec,
            order=order,
            role=str(role),
            content=content,
            created_at=node.created_at or fallback_time,
            message_id=public_id_or_derived(node.id, source=self.kind, legacy_key=unit),
            status=status,
            model=str(data.get("model") or ""),
            source_documents=list(data.get("source_documents") or []),
            agent_steps=list(data.get("agent_steps") or []),
            attachments=list(data.get("attachments") or []),
            error_info=dict(data.get("error_info") or {}),
            metadata=dict(data.get("metadata") or {}),
            parent_message_id=parent,
        )
