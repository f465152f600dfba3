"""Issue 19's search benchmark: the search curve, explain counts, concurrency 4 against raw pymongo,
and the append's p50, on a SecantusDB of its own.

    python -m bench.search_curve [--sizes 1000,10000,100000] [--samples 30] [--append-only]
                                 [--out bench/results/search_curve.json]

Per size, one user with that many messages (generated text; a common word, "insulin", in ~5 % of
them; a rare one, "arrhythmia", in 3) written in bulk through the product's builder and
``search_index.index_documents``, exactly as the fake-data generator writes. ``--append-only``
measures ``services.append_message`` alone and also runs on a tree from before issue 19, which is
how the before/after append p50 is taken (same script, a clean copy of the older commit).
"""

from __future__ import annotations

import argparse
import json
import os
import random
import statistics
import sys
import threading
import time
from datetime import timedelta
from pathlib import Path
from typing import Any

COMMON, RARE = "insulin", "arrhythmia"
COMMON_SHARE = 0.05
RARE_COUNT = 3
BATCH = 2000


def _p50(samples: list[float]) -> float:
    return round(statistics.median(samples) * 1000, 2) if samples else float("nan")


def measure_append(samples: int) -> dict[str, Any]:
    """The append's p50 and, where the tree defers the vocabulary counting to a job (issue 19),
    that job as a worker runs it: every ``COUNT_EVERY`` appends, timed apart from the appends."""
    from chats import services
    from chats.fake_data import patient_question
    from chats.models import Role

    count_job: Any = None
    every = 0
    try:
        from chats.search_index import COUNT_EVERY
        from chats.services.search_rebuild import count_deferred_terms
    except ImportError:  # a tree from before the deferred counting: every append counts its terms
        pass
    else:
        count_job, every = count_deferred_terms, COUNT_EVERY

    rng = random.Random(3)  # nosec B311 - synthetic text
    session = services.start_session(user_id=900_001)
    for _ in range(10):  # warm-up: connections, caches, the user's first vocabulary terms
        services.append_message(session=session, role=Role.USER, content=patient_question(rng))
    timings, jobs = [], []
    for number in range(1, samples + 1):
        content = patient_question(rng)
        started = time.perf_counter()
        services.append_message(session=session, role=Role.USER, content=content)
        timings.append(time.perf_counter() - started)
        if count_job is not None and number % every == 0:
            started = time.perf_counter()
            count_job(user_id=session.user_id)
            jobs.append(time.perf_counter() - started)
    result: dict[str, Any] = {
        "samples": samples,
        "p50_ms": _p50(timings),
        "p90_ms": round(sorted(timings)[int(0.9 * samples)] * 1000, 2),
    }
    if jobs:
        result["count_job"] = {
            "runs": len(jobs),
            "every_appends": every,
            "p50_ms": _p50(jobs),
            "per_message_ms": round(statistics.mean(jobs) * 1000 / every, 2),
        }
    return result


def generate(user_id: int, messages: int, seed: int) -> Any:
    """One session of ``messages`` messages, written in bulk (search data included)."""
    import pymongo
    from bson import Int64

    from chats import builders, search_index, store
    from chats.fake_data import patient_question
    from chats.models import ChatMessage, ChatSession, Role

    rng = random.Random(seed)  # nosec B311 - synthetic text
    start = store.now() - timedelta(seconds=47 * messages)
    session = builders.session(user_id=user_id, title="bench", created_at=start)
    store.collection(ChatSession).insert_one(store.to_document(session))
    session = store.mark_saved(session)
    rare_at = {messages * (i + 1) // (RARE_COUNT + 1) for i in range(RARE_COUNT)}
    for low in range(1, messages + 1, BATCH):
        documents = []
        for order in range(low, min(messages, low + BATCH - 1) + 1):
            text = patient_question(rng)
            if rng.random() < COMMON_SHARE:
                text += f" I also take {COMMON}."
            if order in rare_at:
                text += f" The doctor mentioned an {RARE}."
            message = builders.message(
                session=session,
                role=Role.USER if order % 2 else Role.ASSISTANT,
                content=text,
                order=order,
                created_at=start + timedelta(seconds=47 * order),
            )
            documents.append(store.to_document(message))
        with pymongo.timeout(600):
            search_index.index_documents(documents)
            store.collection(ChatMessage).insert_many(documents, ordered=False)
    store.collection(ChatSession).update_one(
        {"_id": session.pk, "user_id": Int64(user_id)}, {"$set": {"message_count": messages}}
    )
    return session


def raw_search(db: Any, user_id: int, word: str, size: int = 20) -> list[dict[str, Any]]:
    from bench import raw

    return raw.search_chats(db, user_id=user_id, query=word, size=size)


def explain_counts(action: Any) -> list[dict[str, Any]]:
    from bench.explain import plans

    return [
        {k: plan.get(k) for k in ("collection", "stages", "keys_examined", "docs_examined", "returned")}
        for plan in plans(action)
    ]


def timed(action: Any, samples: int) -> list[float]:
    timings = []
    for _ in range(samples):
        started = time.perf_counter()
        action()
        timings.append(time.perf_counter() - started)
    return timings


def concurrent(action: Any, *, threads: int, per_thread: int) -> dict[str, Any]:
    timings: list[float] = []
    errors: list[str] = []
    lock = threading.Lock()

    def worker() -> None:
        for _ in range(per_thread):
            started = time.perf_counter()
            try:
                action()
            except Exception as exc:  # a timeout is a result here
                with lock:
                    errors.append(type(exc).__name__)
                continue
            with lock:
                timings.append(time.perf_counter() - started)

    pool = [threading.Thread(target=worker) for _ in range(threads)]
    for thread in pool:
        thread.start()
    for thread in pool:
        thread.join()
    return {"p50_ms": _p50(timings), "operations": len(timings), "errors": len(errors)}


def measure_curve(sizes: list[int], samples: int) -> dict[str, Any]:
    from chats import selectors, store

    db = store.database()
    curve: dict[str, Any] = {}
    users: dict[int, int] = {}
    for number, size in enumerate(sizes):
        started = time.monotonic()
        users[size] = 800_000 + number
        generate(users[size], size, seed=number)
        row: dict[str, Any] = {"generated_seconds": round(time.monotonic() - started, 1)}
        for word in (COMMON, RARE):

            def service(word: str = word, user_id: int = users[size]) -> Any:
                return selectors.search_chats(query=word, user_id=user_id, limit=20)

            def raw(word: str = word, user_id: int = users[size]) -> Any:
                return raw_search(db, user_id, word)

            service()
            row[word] = {
                "hits": len(service().messages),
                "service_p50_ms": _p50(timed(service, samples)),
                "raw_p50_ms": _p50(timed(raw, samples)),
                "explain": explain_counts(service),
            }
        curve[str(size)] = row
        print(f"[search] {size}: {json.dumps(row)[:400]}", file=sys.stderr)
    largest = users[max(sizes)]
    rows = {}
    for word in (COMMON, RARE):
        rows[word] = {
            "service": concurrent(
                lambda word=word: selectors.search_chats(query=word, user_id=largest, limit=20),
                threads=4,
                per_thread=samples,
            ),
            "raw": concurrent(lambda word=word: raw_search(db, largest, word), threads=4, per_thread=samples),
        }
    return {"curve": curve, "concurrency_4": rows}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--sizes", default="1000,10000,100000")
    parser.add_argument("--samples", type=int, default=30)
    parser.add_argument("--append-samples", type=int, default=200)
    parser.add_argument("--append-only", action="store_true")
    parser.add_argument("--out", type=Path, default=None)
    args = parser.parse_args(argv)
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
    from bench.stack import TMP, Stack

    stack = Stack(workdir=TMP / "search_curve")
    result: dict[str, Any] = {"load_average_before": os.getloadavg()}
    try:
        stack.start_stores()
        stack.setup_django()
        result["append"] = measure_append(args.append_samples)
        if not args.append_only:
            result.update(measure_curve([int(s) for s in args.sizes.split(",")], args.samples))
        result["load_average_after"] = os.getloadavg()
    finally:
        stack.stop()
        stack.cleanup()
    text = json.dumps(result, indent=2, default=str)
    print(text)
    if args.out:
        args.out.write_text(text + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
