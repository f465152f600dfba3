"""One normalised conversation tree for every source with branches, and its plan as linear branches.

ChatGPT (``mapping``), Claude (``parent_message_uuid``), Open WebUI (``history.messages``) and
LibreChat (``parentMessageId``) all store a conversation as a tree: editing a question or
regenerating an answer starts a sibling. Each source parses its export into a
``ConversationTree`` (messages with parent ids + the source's active leaf); ``branch_plan`` turns
any tree into linear branches the way Medibot's message model numbers them:

* branch 0 is the original line: from the first root, always the first (oldest) child;
* every other child starts a branch that forks after its parent (``fork_after``), numbered in
  depth-first order, and follows its own first children down to a leaf;
* ``first_order`` is the thread position of a branch's first own message, so orders are gap-free
  from the root along every branch;
* the branch holding the source's active leaf is the active one.

The writer stores every ``Branch`` of the plan (``chats.importers.tree_export``): each message
at its ``placements()`` (branch, order), the forks as the session's branch table, the active
branch as ``active_branch``.

Malformed trees never lose a message: a parent id that is missing (or the message itself) makes
the message a root; a cycle is cut where it is found; a repeated id keeps its first message.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any


@dataclass(slots=True)
class TreeMessage:
    """One message of a source tree; ``data`` is what the source needs to build the record."""

    id: str
    parent_id: str | None
    created_at: datetime | None = None
    data: dict[str, Any] = field(default_factory=dict)


@dataclass(slots=True)
class ConversationTree:
    """Messages in source order; ``active_leaf`` is the message the source shows last (or None)."""

    messages: list[TreeMessage]
    active_leaf: str | None = None


@dataclass(frozen=True, slots=True)
class Branch:
    branch: int
    parent_branch: int | None
    fork_after: str | None  # the last message shared with the parent branch; None: a second root
    first_order: int
    message_ids: tuple[str, ...]
    active: bool = False


@dataclass(frozen=True, slots=True)
class BranchPlan:
    branches: tuple[Branch, ...]
    active_branch: int
    active_leaf: str | None

    def placements(self) -> dict[str, tuple[int, int]]:
        """Every message's (branch, order): what the writer stores once messages have branches."""
        return {
            key: (branch.branch, branch.first_order + position)
            for branch in self.branches
            for position, key in enumerate(branch.message_ids)
        }

    def thread(self, branch: int) -> list[str]:
        """Every message id of ``branch`` from the root, in order (ancestors first)."""
        own = next(b for b in self.branches if b.branch == branch)
        if own.parent_branch is None or own.fork_after is None:
            return list(own.message_ids)
        shared = self.thread(own.parent_branch)
        return shared[: shared.index(own.fork_after) + 1] + list(own.message_ids)


class _Index:
    """Parent and ordered children of every message, with the malformed cases settled."""

    def __init__(self, tree: ConversationTree) -> None:
        self.by_id: dict[str, TreeMessage] = {}
        self.position: dict[str, int] = {}
        for message in tree.messages:
            if message.id not in self.by_id:
                self.by_id[message.id] = message
                self.position[message.id] = len(self.position)
        self.parent: dict[str, str | None] = {
            key: (m.parent_id if m.parent_id in self.by_id and m.parent_id != key else None)
            for key, m in self.by_id.items()
        }
        self._cut_cycles()
        self.children: dict[str | None, list[str]] = {}
        for key in self.by_id:
            self.children.setdefault(self.parent[key], []).append(key)
        for kids in self.children.values():
            kids.sort(key=self._sort_key)

    def _sort_key(self, key: str) -> tuple[int, float, int]:
        """Children by time, those without one after them; source order breaks ties."""
        moment = self.by_id[key].created_at
        if moment is None:
            return (1, 0.0, self.position[key])
        return (0, moment.timestamp(), self.position[key])

    def _cut_cycles(self) -> None:
        settled: set[str] = set()
        for start in self.by_id:
            path: list[str] = []
            on_path: set[str] = set()
            node: str | None = start
            while node is not None and node not in settled:
                if node in on_path:
                    self.parent[node] = None  # the edge that closes the cycle
                    break
                path.append(node)
                on_path.add(node)
                node = self.parent[node]
            settled.update(path)

    def first_line(self, start: str) -> list[str]:
        line = [start]
        while self.children.get(line[-1]):
            line.append(self.children[line[-1]][0])
        return line

    def path_to(self, key: str) -> list[str]:
        path: list[str] = []
        node: str | None = key
        while node is not None:
            path.append(node)
            node = self.parent[node]
        path.reverse()
        return path

    def default_leaf(self) -> str | None:
        """No active leaf in the source: the leaf written last (by time, then source order)."""
        leaves = [key for key in self.by_id if not self.children.get(key)]
        if not leaves:
            return None
        return max(leaves, key=lambda key: (1 - self._sort_key(key)[0], self._sort_key(key)[1:]))


def _active_leaf(index: _Index, tree: ConversationTree) -> str | None:
    if tree.active_leaf in index.by_id:
        return tree.active_leaf
    return index.default_leaf()


def branch_plan(tree: ConversationTree) -> BranchPlan:
    """The tree as linear branches (see the module docstring); pure, deterministic."""
    index = _Index(tree)
    active_leaf = _active_leaf(index, tree)
    roots = index.children.get(None, [])
    if not roots:
        return BranchPlan(branches=(), active_branch=0, active_leaf=None)
    branches: list[Branch] = []
    # (first message, parent branch, fork after, first order), popped depth first.
    stack: list[tuple[str, int | None, str | None, int]] = [(roots[0], None, None, 1)]
    later_roots = [(root, 0, None, 1) for root in roots[1:]]
    while stack:
        start, parent_branch, fork_after, first_order = stack.pop()
        number = len(branches)
        line = index.first_line(start)
        branches.append(
            Branch(
                branch=number,
                parent_branch=parent_branch,
                fork_after=fork_after,
                first_order=first_order,
                message_ids=tuple(line),
                active=active_leaf in line,
            )
        )
        forks: list[tuple[str, int | None, str | None, int]] = []
        for position, key in enumerate(line):
            for kid in index.children.get(key, [])[1:]:
                forks.append((kid, number, key, first_order + position + 1))
        if number == 0:
            forks.extend(later_roots)
        stack.extend(reversed(forks))
    active = next((b.branch for b in branches if b.active), 0)
    return BranchPlan(branches=tuple(branches), active_branch=active, active_leaf=active_leaf)


def active_thread(tree: ConversationTree) -> list[TreeMessage]:
    """The messages from the root to the active leaf: the conversation as the source shows it."""
    index = _Index(tree)
    leaf = _active_leaf(index, tree)
    return [index.by_id[key] for key in index.path_to(leaf)] if leaf is not None else []


def contract(tree: ConversationTree, keep: Callable[[TreeMessage], bool]) -> ConversationTree:
    """The tree without the messages ``keep`` rejects (hidden system nodes, empty tool state):
    their children hang from their nearest kept ancestor, an active leaf from its nearest kept one."""
    index = _Index(tree)
    kept = {key for key, message in index.by_id.items() if keep(message)}

    def nearest(key: str | None) -> str | None:
        while key is not None and key not in kept:
            key = index.parent[key]
        return key

    messages = [
        TreeMessage(id=m.id, parent_id=nearest(index.parent[m.id]), created_at=m.created_at, data=m.data)
        for key, m in index.by_id.items()
        if key in kept
    ]
    leaf = tree.active_leaf
    if leaf in index.by_id and leaf not in kept:
        leaf = nearest(leaf)
    return ConversationTree(messages=messages, active_leaf=leaf)
