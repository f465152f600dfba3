"""What the exports of other chat products have in common: conversations whose messages form a tree.

A ``TreeSource`` reads one export (a JSON file, a zip holding JSON files, or a directory of
them), streams its conversations one at a time, lets the product module turn each into a
``ParsedConversation`` (a ``ConversationTree`` whose messages carry ready-made fields), and
writes every branch through the one writer like every other source: resumable per message,
quarantine with reasons, the same ids on every run.

Branches: each conversation's ``branch_plan`` (of the tree without its quarantined messages) is
written whole: branch 0 then every fork, each message at its ``plan.placements()`` (branch,
order), the session's fork table (``ChatSession.branches``) and ``active_branch`` (the branch of
the source's active leaf) from the plan, ``message_count`` counting every branch. The plan is also
summarised in the session's metadata (``metadata.<source>.branches``: how many, which is active).
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
from chats.importers.tree import ConversationTree, TreeMessage, active_thread, branch_plan, contract
from chats.models import Channel, MessageStatus

# Which branches of a tree become messages: every one, each at its (branch, order).
BRANCHES_WRITTEN = "all"
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
                    total += max(len(self.parse(item).tree.messages), 1)
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
        """Every record of one conversation: its quarantined messages, then every branch of the
        plan in branch order (each message at its (branch, order)). All of it follows from the
        conversation alone, so a checkpoint is the index of the next record ("next")."""
        where = f"{member or self.path.name}#{index}"
        finished = {"member": member, "conversation": index + 1, "next": 0}
        records = self._records(where, item)
        start = int(state.get("next", 0)) if state else 0
        for number in range(start, len(records)):
            position = {"member": member, "conversation": index, "next": number + 1}
            yield [records[number]], finished if number == len(records) - 1 else position

    def _records(self, where: str, item: Any) -> list[Record]:
        if isinstance(item, ValueError):
            return [Quarantined(where, Reason.BAD_JSON, {"error": str(item)[:200]})]
        try:
            parsed = self.parse(item)
        except (ValueError, TypeError, AttributeError) as exc:
            return [Quarantined(where, Reason.BAD_JSON, {"error": f"not a conversation: {exc}"[:200]})]
        thread = active_thread(parsed.tree)
        everything = parsed.tree.messages
        created_at = (
            parsed.created_at
            or next((m.created_at for m in thread if m.created_at), None)
            or next((m.created_at for m in everything if m.created_at), None)
        )
        conversation_id = parsed.conversation_id or where
        if created_at is None:
            undated: list[Record] = [
                Quarantined(f"{conversation_id}:{m.id}", Reason.BAD_TIMESTAMP, {}) for m in everything
            ]
            return undated or [Quarantined(where, Reason.BAD_TIMESTAMP, {})]
        rejected = {m.id: self._rejection(conversation_id, m) for m in everything}
        bad = {key: why for key, why in rejected.items() if why is not None}
        # A rejected message leaves the tree; its children hang from its nearest kept ancestor,
        # so orders stay gap-free along every branch.
        kept = contract(parsed.tree, lambda m: m.id not in bad)
        plan = branch_plan(kept)
        key = f"conversation:{conversation_id}"
        ids = {
            m.id: public_id_or_derived(m.id, source=self.kind, legacy_key=f"{conversation_id}:{m.id}")
            for m in kept.messages
        }
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
            metadata={
                self.kind: {
                    **parsed.metadata,
                    "branches": len(plan.branches),
                    "active_branch": plan.active_branch,
                }
            },
            active_branch=plan.active_branch,
            branches=[
                builders.fork(
                    id=branch.branch,
                    parent=branch.parent_branch or 0,
                    first=branch.first_order,
                    tip=branch.first_order + len(branch.message_ids) - 1,
                    fork_message_id=ids[branch.fork_after] if branch.fork_after else "",
                )
                for branch in plan.branches[1:]
            ],
        )
        records: list[Record] = [why for why in bad.values() if why is not None]
        if not plan.branches:
            return [*records, SessionRecord(unit=where, session=spec)]
        by_id = {m.id: m for m in kept.messages}
        count = 0
        for branch in plan.branches:
            for position, node_id in enumerate(branch.message_ids):
                count += 1
                node = by_id[node_id]
                parent = ids.get(node.parent_id or "", "")
                records.append(
                    self._message(
                        spec,
                        conversation_id,
                        node,
                        order=branch.first_order + position,
                        branch=branch.branch,
                        count_after=count,
                        parent=parent,
                        message_id=ids[node_id],
                        fallback_time=created_at,
                    )
                )
        return records

    def _rejection(self, conversation_id: str, node: TreeMessage) -> Quarantined | None:
        """Why a message cannot be stored (quarantined with its reason), or None."""
        unit = f"{conversation_id}:{node.id}"
        data = node.data
        raw: dict[str, Any] = data["raw"] if isinstance(data.get("raw"), dict) else {"id": node.id}
        if data.get("role") is None:
            return Quarantined(unit, Reason.UNKNOWN_ROLE, values.quarantine_row(raw))
        try:
            self._content(node)
        except values.BadValue as bad:
            return Quarantined(unit, bad.reason, values.quarantine_row(raw))
        return None

    @staticmethod
    def _content(node: TreeMessage) -> str:
        data = node.data
        status = str(data.get("status") or MessageStatus.COMPLETED)
        return values.content(
            builders.message_content(
                role=str(data.get("role")), status=status, content=text_of(data.get("content"))
            )
        )

    def _message(
        self,
        spec: SessionSpec,
        conversation_id: str,
        node: TreeMessage,
        *,
        order: int,
        branch: int,
        count_after: int,
        parent: str,
        message_id: str,
        fallback_time: datetime,
    ) -> MessageRecord:
        unit = f"{conversation_id}:{node.id}"
        data = node.data
        return MessageRecord(
            unit=unit,
            legacy_key=unit,
            session=spec,
            order=order,
            branch=branch,
            count_after=count_after,
            role=str(data.get("role")),
            content=self._content(node),
            created_at=node.created_at or fallback_time,
            message_id=message_id,
            status=str(data.get("status") or MessageStatus.COMPLETED),
            model=str(data.get("model") or ""),
            source_documents=list(data.get("source_documents") or []),
            agent_steps=list(data.get("agent_steps") or []),
            attachments=list(data.get("attachments") or []),
            error_info=dict(data.get("error_info") or {}),
            metadata=dict(data.get("metadata") or {}),
            parent_message_id=parent,
        )
