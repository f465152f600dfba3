"""The branches of a conversation: which (branch, order) positions make up the active path, and
which messages are siblings at a fork. Pure arithmetic on the session's branch table, no I/O.

A branch is a linear chain of messages ``first..tip`` (orders). Branch 0 is the original line,
``1..tip``; it is not stored: its length is what the forks leave of ``message_count`` (every
stored message of the session), so every writer that only counts messages keeps it right. A fork
(``ChatSession.branches``, one entry per branch >= 1, ids 1, 2, 3… in creation order) is::

    {"id": 2, "parent": 0, "first": 5, "fork_message_id": "<id of the message at order 4>", "tip": 7}

Its first message is a sibling of the message at order ``first`` on ``parent`` (which holds the
fork's parent message at ``first - 1``; ``first == 1`` forks under no message, parent 0). The
path to a branch's tip is the branch ``first..tip`` plus its parent's ``first..(fork - 1)``, and so
on up to branch 0: a few segments, each one exact range on ``(user_id, session, branch, order)``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class Branch:
    id: int
    parent: int
    first: int
    tip: int
    fork_message_id: str = ""


@dataclass(frozen=True)
class Segment:
    """Orders ``low..high`` of one branch, part of a path."""

    branch: int
    low: int
    high: int


def forks(stored: list[dict[str, Any]] | None) -> list[Branch]:
    return [
        Branch(
            id=int(entry["id"]),
            parent=int(entry["parent"]),
            first=int(entry["first"]),
            tip=int(entry["tip"]),
            fork_message_id=str(entry.get("fork_message_id") or ""),
        )
        for entry in stored or []
    ]


def table(*, message_count: int, stored: list[dict[str, Any]] | None) -> dict[int, Branch]:
    """Every branch by id, branch 0 worked out from ``message_count``."""
    found = forks(stored)
    main_tip = message_count - sum(branch.tip - branch.first + 1 for branch in found)
    return {0: Branch(id=0, parent=0, first=1, tip=max(main_tip, 0))} | {
        branch.id: branch for branch in found
    }


def of_session(session: Any) -> dict[int, Branch]:
    return table(message_count=session.message_count or 0, stored=getattr(session, "branches", None))


def active_of(session: Any) -> int:
    branches = of_session(session)
    active = int(getattr(session, "active_branch", 0) or 0)
    return active if active in branches else 0


def path(branches: dict[int, Branch], leaf: int) -> list[Segment]:
    """The segments from order 1 to ``leaf``'s tip, oldest first (empty ones left out)."""
    segments: list[Segment] = []
    branch = branches[leaf]
    high = branch.tip
    while True:
        if high >= branch.first:
            segments.append(Segment(branch.id, branch.first, high))
        if branch.id == 0:
            break
        high = branch.first - 1
        branch = branches[branch.parent]
    return segments[::-1]


def path_length(session: Any) -> int:
    """The number of messages on the active path: the active branch's tip order."""
    return of_session(session)[active_of(session)].tip


def active_path(session: Any) -> list[Segment]:
    return path(of_session(session), active_of(session))


def window(segments: list[Segment], low: int, high: int) -> list[Segment]:
    """The parts of a path's segments within orders ``low..high``."""
    return [
        Segment(segment.branch, max(low, segment.low), min(high, segment.high))
        for segment in segments
        if max(low, segment.low) <= min(high, segment.high)
    ]


def on_path(segments: list[Segment], branch: int, order: int) -> bool:
    return any(s.branch == branch and s.low <= order <= s.high for s in segments)


def parent_position(branches: dict[int, Branch], branch: int, order: int) -> tuple[int, int]:
    """Where the parent of the message at (branch, order) is; order 0 means "no parent"."""
    here = branches[branch]
    if branch != 0 and order == here.first:
        return here.parent, order - 1
    return branch, order - 1


def children(branches: dict[int, Branch], branch: int, order: int) -> list[int]:
    """The branches holding the children of the message at (branch, order) — order 0: the first
    messages — the continuation on ``branch`` first, then the forks in creation order."""
    found = [branch] if branches[branch].first <= order + 1 <= branches[branch].tip else []
    found += [
        fork.id
        for fork in branches.values()
        if fork.id != 0 and fork.parent == branch and fork.first == order + 1 and fork.tip >= fork.first
    ]
    return found


def siblings(branches: dict[int, Branch], branch: int, order: int) -> list[int]:
    """The branches holding the message at (branch, order) and its siblings, in display order."""
    return children(branches, *parent_position(branches, branch, order))


def sibling_place(branches: dict[int, Branch], branch: int, order: int) -> tuple[int, int]:
    """(1-based index, count) of the message among its siblings: the "< 2/3 >" of the page."""
    found = siblings(branches, branch, order)
    return (found.index(branch) + 1 if branch in found else 1), max(len(found), 1)


def new_fork(branches: dict[int, Branch], *, sibling_branch: int, order: int, fork_message_id: str) -> Branch:
    """The branch that will hold a new sibling of the message at (sibling_branch, order)."""
    parent, _ = parent_position(branches, sibling_branch, order)
    return Branch(
        id=max(branches) + 1, parent=parent, first=order, tip=order - 1, fork_message_id=fork_message_id
    )
