"""``chats.importers.tree``: any source tree becomes linear branches, with the active one marked.

Pure functions, no database: the plan the writer will hand to the branch model (issue 21).
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from chats.importers.tree import Branch, ConversationTree, TreeMessage, active_thread, branch_plan, contract

T0 = datetime(2025, 1, 1, tzinfo=UTC)


def tree(edges: list[tuple[str, str | None]], active: str | None = None) -> ConversationTree:
    """Messages in the given order, each one minute after the previous."""
    return ConversationTree(
        messages=[
            TreeMessage(id=key, parent_id=parent, created_at=T0 + timedelta(minutes=n))
            for n, (key, parent) in enumerate(edges)
        ],
        active_leaf=active,
    )


# q1 → a1 → q2 → a2          (original line)
#          ↘ q2' → a2'      (question edited: branch 1, forks after a1)
#                 ↘ a2''    (answer regenerated: branch 2, forks after q2')
EDITED = [
    ("q1", None),
    ("a1", "q1"),
    ("q2", "a1"),
    ("a2", "q2"),
    ("q2'", "a1"),
    ("a2'", "q2'"),
    ("a2''", "q2'"),
]


def test_a_linear_conversation_is_one_active_branch() -> None:
    plan = branch_plan(tree([("a", None), ("b", "a"), ("c", "b")], active="c"))

    assert plan.branches == (Branch(0, None, None, 1, ("a", "b", "c"), active=True),)
    assert plan.active_branch == 0


def test_every_edit_and_regeneration_is_a_branch_forking_where_it_left_the_line() -> None:
    plan = branch_plan(tree(EDITED, active="a2''"))

    assert plan.branches == (
        Branch(0, None, None, 1, ("q1", "a1", "q2", "a2")),
        Branch(1, 0, "a1", 3, ("q2'", "a2'")),
        Branch(2, 1, "q2'", 4, ("a2''",), active=True),
    )
    assert plan.active_branch == 2
    assert plan.thread(2) == ["q1", "a1", "q2'", "a2''"]
    assert [m.id for m in active_thread(tree(EDITED, active="a2''"))] == ["q1", "a1", "q2'", "a2''"]


def test_placements_give_every_message_its_branch_and_order() -> None:
    plan = branch_plan(tree(EDITED, active="a2''"))

    assert plan.placements() == {
        "q1": (0, 1),
        "a1": (0, 2),
        "q2": (0, 3),
        "a2": (0, 4),
        "q2'": (1, 3),
        "a2'": (1, 4),
        "a2''": (2, 4),
    }


def test_orders_are_gap_free_along_every_branch() -> None:
    plan = branch_plan(tree(EDITED, active="a2"))

    for branch in plan.branches:
        thread = plan.thread(branch.branch)
        assert thread.index(branch.message_ids[0]) + 1 == branch.first_order


def test_without_an_active_leaf_the_latest_leaf_is_active() -> None:
    plan = branch_plan(tree(EDITED, active=None))

    assert (plan.active_leaf, plan.active_branch) == ("a2''", 2)


def test_an_unknown_active_leaf_falls_back_to_the_latest_leaf() -> None:
    assert branch_plan(tree(EDITED, active="gone")).active_leaf == "a2''"


def test_siblings_are_ordered_by_time_not_by_source_order() -> None:
    messages = [
        TreeMessage("root", None, T0),
        TreeMessage("late", "root", T0 + timedelta(hours=2)),
        TreeMessage("early", "root", T0 + timedelta(hours=1)),
    ]
    plan = branch_plan(ConversationTree(messages, active_leaf="late"))

    assert [b.message_ids for b in plan.branches] == [("root", "early"), ("late",)]
    assert plan.active_branch == 1


def test_a_missing_parent_makes_a_second_root_and_loses_nothing() -> None:
    plan = branch_plan(tree([("a", None), ("b", "a"), ("x", "not-exported"), ("y", "x")], active="b"))

    assert plan.branches == (
        Branch(0, None, None, 1, ("a", "b"), active=True),
        Branch(1, 0, None, 1, ("x", "y")),
    )
    assert plan.thread(1) == ["x", "y"]


def test_a_cycle_is_cut_and_every_message_kept() -> None:
    plan = branch_plan(tree([("a", "c"), ("b", "a"), ("c", "b")], active="c"))

    assert sorted(key for b in plan.branches for key in b.message_ids) == ["a", "b", "c"]


def test_a_repeated_id_keeps_its_first_message() -> None:
    plan = branch_plan(tree([("a", None), ("b", "a"), ("b", None)], active="b"))

    assert plan.branches == (Branch(0, None, None, 1, ("a", "b"), active=True),)


def test_an_empty_tree_has_no_branch() -> None:
    plan = branch_plan(ConversationTree([], None))

    assert (plan.branches, plan.active_leaf, active_thread(ConversationTree([], None))) == ((), None, [])


def test_contracting_hidden_messages_reattaches_their_children() -> None:
    source = tree([("root", None), ("system", "root"), ("q", "system"), ("a", "q")], active="a")

    shown = contract(source, keep=lambda m: m.id not in ("root", "system"))

    assert [(m.id, m.parent_id) for m in shown.messages] == [("q", None), ("a", "q")]


@st.composite
def random_trees(draw: st.DrawFn) -> ConversationTree:
    size = draw(st.integers(min_value=1, max_value=40))
    parents = [None] + [draw(st.one_of(st.none(), st.integers(0, n - 1))) for n in range(1, size)]
    edges = [(f"m{n}", None if parent is None else f"m{parent}") for n, parent in enumerate(parents)]
    active = draw(st.one_of(st.none(), st.sampled_from([key for key, _ in edges])))
    return tree(edges, active=active)


# The machine is shared: generation speed and per-example time are not what is tested here.
@settings(deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(random_trees())
def test_every_message_is_in_exactly_one_branch_and_each_leaf_ends_one(source: ConversationTree) -> None:
    plan = branch_plan(source)

    owned = [key for branch in plan.branches for key in branch.message_ids]
    assert sorted(owned) == sorted(m.id for m in source.messages)
    parents = {m.parent_id for m in source.messages}
    leaves = {m.id for m in source.messages if m.id not in parents}
    assert {branch.message_ids[-1] for branch in plan.branches} == leaves
    assert sum(branch.active for branch in plan.branches) == 1
    assert plan.active_leaf in plan.thread(plan.active_branch)
    placements = plan.placements()
    for branch in plan.branches:
        thread = plan.thread(branch.branch)
        assert [m.id for m in active_thread(ConversationTree(source.messages, thread[-1]))] == thread
        assert [placements[key][1] for key in thread] == list(range(1, len(thread) + 1))
