"""Latency of the WhatsApp webhook on loopback (``python -m bench.whatsapp_webhook [--requests N]``).

gunicorn serves Medibot with the channel on; signed Cloud API deliveries are posted one after the
other on a kept-alive connection: new text messages, Meta's retries of the same ``wamid``, and
status callbacks. The request records the delivery and enqueues the Celery tasks (the embedded
filesystem broker, a real enqueue); the worker's part (the chat turn, the Graph API call) is not in
the request. Target: p95 under 100 ms. Writes ``bench/results/whatsapp_webhook.json``.
"""

from __future__ import annotations

import argparse
import json
import platform
import sys
import time
from pathlib import Path
from typing import Any

import httpx

from bench.stack import RESULTS, TMP, Stack
from bench.timing import percentile
from whatsapp.signatures import sign

SECRET = "bench-app-secret"  # noqa: S105  # nosec B105 - a throwaway secret of this run only
PHONE_NUMBER_ID = "106540352242922"
TARGET_P95_MS = 100.0


def delivery(number: int, kind: str) -> dict[str, Any]:
    """A Cloud API delivery: a new message, a retried one (same ``wamid``) or a status callback."""
    value: dict[str, Any] = {
        "messaging_product": "whatsapp",
        "metadata": {"display_phone_number": "15550783881", "phone_number_id": PHONE_NUMBER_ID},
    }
    sender = f"49151{number % 500:08d}"
    wamid = f"wamid.BENCH{number:08d}"
    if kind == "status":
        value["statuses"] = [
            {
                "id": f"wamid.OUT{number:08d}",
                "status": "delivered",
                "timestamp": "1764370000",
                "recipient_id": sender,
            }
        ]
    else:
        value["contacts"] = [{"profile": {"name": "Bench"}, "wa_id": sender}]
        value["messages"] = [
            {
                "from": sender,
                "id": wamid if kind == "new" else f"wamid.BENCH{number - 1:08d}",
                "timestamp": str(int(time.time())),
                "type": "text",
                "text": {"body": f"benchmark question {number}"},
            }
        ]
    return {
        "object": "whatsapp_business_account",
        "entry": [{"id": "102290129340398", "changes": [{"value": value, "field": "messages"}]}],
    }


def kind_of(number: int) -> str:
    """Mostly new messages; one in five a retry of the previous one, one in ten a status."""
    if number % 10 == 9:
        return "status"
    if number % 5 == 4:
        return "retry"
    return "new"


def measure(base: str, requests: int, warmup: int) -> dict[str, Any]:
    samples: dict[str, list[float]] = {"new": [], "retry": [], "status": []}
    errors = 0
    with httpx.Client(base_url=base, timeout=10) as client:
        for number in range(warmup + requests):
            kind = kind_of(number)
            body = json.dumps(delivery(number, kind)).encode()
            headers = {"Content-Type": "application/json", "X-Hub-Signature-256": sign(body, secret=SECRET)}
            started = time.perf_counter()
            response = client.post("/webhooks/whatsapp", content=body, headers=headers)
            elapsed = (time.perf_counter() - started) * 1000
            if response.status_code != 200:
                errors += 1
                continue
            if number >= warmup:
                samples[kind].append(elapsed)
    every = [sample for values in samples.values() for sample in values]
    summary = {
        "n": len(every),
        "errors": errors,
        "p50_ms": round(percentile(every, 0.50), 2),
        "p95_ms": round(percentile(every, 0.95), 2),
        "p99_ms": round(percentile(every, 0.99), 2),
        "by_kind_p95_ms": {kind: round(percentile(values, 0.95), 2) for kind, values in samples.items()},
    }
    summary["meets_target"] = percentile(every, 0.95) < TARGET_P95_MS
    return summary


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--requests", type=int, default=1000)
    parser.add_argument("--warmup", type=int, default=50)
    args = parser.parse_args(argv)
    stack = Stack(workdir=TMP.parent / "tmp-whatsapp")
    try:
        stack.start_stores()
        stack.env.update(
            WHATSAPP_APP_SECRET=SECRET,
            WHATSAPP_VERIFY_TOKEN="bench-verify-token",  # noqa: S106  # nosec B106 - throwaway
            WHATSAPP_PHONE_NUMBER_ID=PHONE_NUMBER_ID,
            CELERY_BROKER_URL="filesystem://",
            CELERY_RESULT_BACKEND="",
        )
        stack.setup_django()
        base = stack.start_http(workers=2, threads=2)
        result = measure(base, args.requests, args.warmup)
    finally:
        stack.stop()
        stack.cleanup()
    result.update(
        relational=stack.relational,
        machine=f"{platform.machine()} {platform.python_implementation()} {platform.python_version()}",
        target_p95_ms=TARGET_P95_MS,
    )
    Path(RESULTS / "whatsapp_webhook.json").write_text(json.dumps(result, indent=2) + "\n")
    print(json.dumps(result, indent=2))
    return 0 if result["meets_target"] and not result["errors"] else 1


if __name__ == "__main__":
    sys.exit(main())
