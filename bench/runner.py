"""``python -m bench [--quick]``: set up the stores and servers, generate data, measure, report."""

from __future__ import annotations

import argparse
import json
import sys
import time
from dataclasses import dataclass, replace
from typing import Any

from bench import report
from bench.stack import RESULTS, Stack

# The sizes the issue names for operations 2-5; a plan without one uses its largest smaller size.
HEADLINE = {"session_list": 1_000, "message_pages": 10_000, "search": 100_000, "migration": 100_000}


@dataclass(frozen=True)
class Plan:
    mode: str
    session_lengths: list[int]  # newest-50 curve: messages in the session
    session_counts: list[int]  # session-list curve: sessions of the user
    search_sizes: list[int]  # search curve: messages of the user (a subset of session_lengths)
    migration_rows: list[int]
    op_rounds: int
    op_per_round: int
    curve_rounds: int
    curve_per_round: int
    migration_rounds: int
    op_budget_seconds: float
    curve_budget_seconds: float
    concurrency: int = 4


FULL = Plan(
    mode="full",
    session_lengths=[100, 1_000, 10_000, 100_000],
    session_counts=[10, 100, 1_000, 10_000],
    search_sizes=[1_000, 10_000, 100_000],
    migration_rows=[10_000, 100_000, 1_000_000],
    op_rounds=8,
    op_per_round=10,
    curve_rounds=5,
    curve_per_round=6,
    migration_rounds=2,
    op_budget_seconds=40,
    curve_budget_seconds=90,
)
QUICK = Plan(
    mode="quick",
    session_lengths=[100, 1_000, 10_000],
    session_counts=[10, 100, 1_000],
    search_sizes=[1_000, 10_000],
    migration_rows=[300, 1_000],
    op_rounds=3,
    op_per_round=4,
    curve_rounds=3,
    curve_per_round=3,
    migration_rounds=1,
    op_budget_seconds=3,
    curve_budget_seconds=5,
)


def headline(name: str, sizes: list[int]) -> int:
    wanted = HEADLINE[name]
    return wanted if wanted in sizes else max(size for size in sizes if size <= wanted)


def log(line: str) -> None:
    print(line, flush=True)


def _summaries(measured: dict[str, Any], *, with_samples: bool) -> dict[str, Any]:
    return {layer: summary.as_json(with_samples=with_samples) for layer, summary in measured.items()}


def measure_operations(layers: Any, dataset: Any, plan: Plan) -> list[dict[str, Any]]:
    from bench.timing import interleaved

    list_size = headline("session_list", plan.session_counts)
    page_size = headline("message_pages", plan.session_lengths)
    search_size = headline("search", plan.search_sizes)
    owner, session = dataset.long_sessions[page_size]
    searcher, _ = dataset.long_sessions[search_size]
    forked = dataset.forked
    assert forked is not None, "build_dataset makes the forked conversation"
    operations = [
        (
            "append",
            "1a. Append a message (services.append_message)",
            1,
            lambda: layers.append(dataset.writer),
        ),
        (
            "exchange",
            "1b. Chat turn: user message + offline reply (POST /api/chat/send)",
            2,
            lambda: layers.exchange(dataset.writer),
        ),
        (
            "session_list",
            f"2. First 20 sessions of a user with {list_size:,}",
            list_size,
            lambda: layers.session_list(dataset.session_owners[list_size]),
        ),
        (
            "newest_page",
            f"3a. Newest 50 messages of a {page_size:,}-message session",
            page_size,
            lambda: layers.message_pages(owner, session, backwards=False),
        ),
        (
            "older_pages",
            f"3b. Paging backwards, 50 at a time, in a {page_size:,}-message session",
            page_size,
            lambda: layers.message_pages(owner, session, backwards=True),
        ),
        (
            "newest_page_forked",
            f"3c. Newest 50 messages of a forked {page_size:,}-message conversation (3 branches)",
            page_size,
            lambda: layers.forked_newest_page(*forked),
        ),
        (
            "search",
            f"4. Search one user's {search_size:,} messages for two words",
            search_size,
            lambda: layers.search(searcher),
        ),
    ]
    results: list[dict[str, Any]] = []
    for key, title, size, build in operations:
        entry: dict[str, Any] = {"key": key, "title": title, "size": size}
        for concurrency in (1, plan.concurrency):
            started = time.monotonic()
            measured = interleaved(
                build(),
                rounds=plan.op_rounds,
                per_round=plan.op_per_round if concurrency == 1 else plan.op_per_round * 2,
                concurrency=concurrency,
                budget_seconds=plan.op_budget_seconds,
            )
            entry[f"c{concurrency}"] = _summaries(measured, with_samples=True)
            log(
                f"  {key} c={concurrency}: "
                + ", ".join(f"{layer} p50 {s.p50_ms:.1f} ms" for layer, s in measured.items())
                + f" ({time.monotonic() - started:.0f}s)"
            )
        results.append(entry)
    return results


def measure_append_costs(layers: Any, dataset: Any, plan: Plan) -> dict[str, Any]:
    """Raw appends taken apart (concurrency 1): where the time of one append goes on this server."""
    from bench.timing import interleaved

    measured = interleaved(
        layers.append_costs(dataset.writer),
        rounds=plan.op_rounds,
        per_round=plan.op_per_round,
        budget_seconds=plan.op_budget_seconds,
    )
    log("  append costs: " + ", ".join(f"{step} {s.p50_ms:.1f} ms" for step, s in measured.items()))
    return {
        "sessions_in_store": layers.db.chat_sessions.estimated_document_count(),
        "messages_in_store": layers.db.chat_messages.estimated_document_count(),
        "steps": _summaries(measured, with_samples=False),
    }


def session_write_plans(dataset: Any) -> dict[str, Any]:
    """How the server plans the session selection of every append: the product's filter and raw's."""
    from bson import Int64

    from bench.explain import plan_of_filter
    from chats import services, store
    from chats.models import ChatSession

    session = services.start_session(user_id=dataset.writer.user_id)
    owner = Int64(session.user_id)
    return {
        "sessions_in_store": store.collection(ChatSession).estimated_document_count(),
        "product": plan_of_filter("chat_sessions", {"_id": session.pk, "user_id": owner, "deleted_at": None}),
        "raw": plan_of_filter("chat_sessions", {"user_id": owner, "session_id": session.session_id}),
    }


def measure_curves(layers: Any, dataset: Any, plan: Plan) -> dict[str, Any]:
    from bench.explain import plans
    from bench.timing import interleaved
    from chats import selectors
    from chats.fake_data import SEARCH_PHRASE

    def curve(name: str, builders: dict[int, Any], explain: dict[int, Any]) -> dict[str, Any]:
        started = time.monotonic()
        combined = {
            f"{layer}@{size}": op for size, build in builders.items() for layer, op in build().items()
        }
        measured = interleaved(
            combined,
            rounds=plan.curve_rounds,
            per_round=plan.curve_per_round,
            budget_seconds=plan.curve_budget_seconds,
        )
        by_layer: dict[str, dict[str, Any]] = {}
        for key, summary in measured.items():
            layer, size = key.split("@")
            by_layer.setdefault(layer, {})[size] = summary.as_json(with_samples=False)
        log(
            f"  {name}: "
            + ", ".join(f"{size} {by_layer['service'][str(size)]['p50_ms']:.1f} ms" for size in builders)
            + f" ({time.monotonic() - started:.0f}s)"
        )
        return {
            "sizes": list(builders),
            "layers": by_layer,
            "plans": {str(size): plans(action) for size, action in explain.items()},
        }

    sessions = dataset.long_sessions
    return {
        "newest_page": curve(
            "newest-50 by messages in the session",
            {
                size: (lambda size=size: layers.message_pages(*sessions[size], backwards=False))
                for size in plan.session_lengths
            },
            {
                size: (lambda size=size: selectors.message_page(session=sessions[size][1], limit=50))
                for size in plan.session_lengths
            },
        ),
        "session_list": curve(
            "session list by sessions per user",
            {
                count: (lambda count=count: layers.session_list(dataset.session_owners[count]))
                for count in plan.session_counts
            },
            {
                count: (
                    lambda count=count: selectors.list_sessions(
                        user_id=dataset.session_owners[count].user_id, limit=20
                    )
                )
                for count in plan.session_counts
            },
        ),
        "search": curve(
            "search by messages of the user",
            {size: (lambda size=size: layers.search(sessions[size][0])) for size in plan.search_sizes},
            {
                size: (
                    lambda size=size: selectors.search_chats(
                        query=SEARCH_PHRASE, user_id=sessions[size][0].user_id
                    )
                )
                for size in plan.search_sizes
            },
        ),
    }


def run(plan: Plan, *, keep: bool) -> dict[str, Any]:
    started = time.monotonic()
    stack = Stack()
    results: dict[str, Any] = {"mode": plan.mode, "plan": vars(plan), "concurrency": plan.concurrency}
    try:
        log(f"[bench] {plan.mode} mode: starting the stores under {stack.workdir}")
        stack.start_stores()
        stack.setup_django()
        from bench import machine, migration, workloads

        results["machine"] = machine.details()
        results["stores"] = {"mongodb": stack.mongodb_uri, "relational": stack.relational}
        log("[bench] generating data")
        dataset = workloads.build_dataset(
            session_lengths=plan.session_lengths, session_counts=plan.session_counts
        )
        results["dataset"] = dataset.generated
        log(f"  {dataset.generated}")
        log("[bench] starting gunicorn")
        try:
            http_base: str | None = stack.start_http()
        except RuntimeError as exc:
            http_base = None
            results["http_unavailable"] = str(exc)
            log(f"  HTTP layer not available: {exc}")
        layers = workloads.Layers(http_base=http_base, concurrency=plan.concurrency)
        try:
            log("[bench] operations 1-4 (raw / service / http, interleaved)")
            results["operations"] = measure_operations(layers, dataset, plan)
            results["session_write_plans"] = session_write_plans(dataset)
            results["append_costs"] = measure_append_costs(layers, dataset, plan)
            log("[bench] scaling curves")
            results["curves"] = measure_curves(layers, dataset, plan)
        finally:
            layers.close()
        log("[bench] operation 5: migrate_chats vs raw insert_many")
        reason = migration.unavailable_reason()
        if reason:
            results["migration"] = {"available": False, "reason": reason, "sizes": []}
            log(f"  not available: {reason}")
        else:
            results["migration"] = {
                "available": True,
                "legacy": migration.MySQLSource.from_url(migration.legacy_url()).ref,
                "sizes": migration.measure(
                    stack, sizes=plan.migration_rows, rounds=plan.migration_rounds, log=log
                ),
            }
    finally:
        stack.stop()
        if not keep:
            stack.cleanup()
    results["duration_s"] = round(time.monotonic() - started, 1)
    return results


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__)
    parser.add_argument(
        "--quick", action="store_true", help="smaller sizes and fewer samples (under 3 minutes)"
    )
    parser.add_argument("--concurrency", type=int, default=4, help="client threads of the concurrent runs")
    parser.add_argument(
        "--migration-rows",
        type=lambda text: [int(part) for part in text.split(",")],
        default=None,
        help="comma-separated legacy row counts for the migration curve (default: the mode's)",
    )
    parser.add_argument("--keep", action="store_true", help="keep bench/results/tmp (data, logs) afterwards")
    parser.add_argument(
        "--report-only", action="store_true", help="rewrite BENCHMARKS.md and the plots from latest.json"
    )
    args = parser.parse_args(argv)
    if args.report_only:
        report.write(json.loads((RESULTS / "latest.json").read_text()))
        return 0
    plan = replace(QUICK if args.quick else FULL, concurrency=args.concurrency)
    if args.migration_rows:
        plan = replace(plan, migration_rows=args.migration_rows, migration_rounds=1)
    results = run(plan, keep=args.keep)
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / "latest.json").write_text(json.dumps(results, indent=1, default=str) + "\n")
    report.write(results)
    log(
        f"[bench] done in {results['duration_s']:.0f}s: "
        "BENCHMARKS.md, bench/results/latest.json, bench/results/*.png"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
