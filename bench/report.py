"""BENCHMARKS.md and the PNG plots from one run's results (bench/results/latest.json)."""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt

from bench.stack import REPO, RESULTS

LAYERS = ["raw", "service", "http"]
COLOURS = {"raw": "#4c72b0", "service": "#55a868", "http": "#c44e52"}
SERVICE_LIMIT = 1.5
HTTP_LIMIT = 3.0
FLAT_LIMIT = 1.5
MIGRATION_SPEED = 0.5
MIGRATION_MEMORY = 1.2
MIGRATION_HEADLINE = 100_000


@dataclass(frozen=True)
class Target:
    name: str
    measured: str
    met: bool | None  # None: could not be measured in this run

    @property
    def status(self) -> str:
        return "not measured" if self.met is None else ("**met**" if self.met else "**not met**")


def _ms(value: float | None) -> str:
    if value is None or math.isnan(value):
        return "-"
    return f"{value:.1f}" if value < 100 else f"{value:.0f}"


def _ratio(layer: dict[str, Any], raw: dict[str, Any]) -> float:
    return float(layer["p50_ms"]) / float(raw["p50_ms"]) if raw["p50_ms"] else float("nan")


def _size(value: int | str) -> str:
    return f"{int(value):,}"


def _migration_sizes(results: dict[str, Any]) -> list[dict[str, Any]]:
    migration = results.get("migration", {})
    return [size for size in migration.get("sizes", []) if size["migrate"] and size["raw"]]


def _migration_pair(sizes: list[dict[str, Any]]) -> tuple[dict[str, Any], dict[str, Any], dict[str, Any]]:
    """(headline, largest, the size the largest's memory is compared with)."""
    headline = next((size for size in sizes if size["rows"] == MIGRATION_HEADLINE), sizes[-1])
    largest = sizes[-1]
    reference = headline if headline is not largest else (sizes[-2] if len(sizes) > 1 else largest)
    return headline, largest, reference


# --- targets ---------------------------------------------------------------------------------------


def targets(results: dict[str, Any]) -> list[Target]:
    found: list[Target] = []
    for operation in results["operations"]:
        layers = operation["c1"]
        raw = layers["raw"]
        service = _ratio(layers["service"], raw)
        found.append(
            Target(
                f"{operation['title']}: service <= {SERVICE_LIMIT}x raw (p50)",
                f"{service:.2f}x ({_ms(layers['service']['p50_ms'])} vs {_ms(raw['p50_ms'])} ms)",
                service <= SERVICE_LIMIT,
            )
        )
        if operation["key"] == "append":
            continue  # its HTTP counterpart is the chat turn (1b)
        if "http" not in layers:
            found.append(
                Target(f"{operation['title']}: HTTP <= {HTTP_LIMIT}x raw (p50)", "no HTTP layer", None)
            )
            continue
        http = _ratio(layers["http"], raw)
        found.append(
            Target(
                f"{operation['title']}: HTTP <= {HTTP_LIMIT}x raw (p50)",
                f"{http:.2f}x ({_ms(layers['http']['p50_ms'])} vs {_ms(raw['p50_ms'])} ms)",
                http <= HTTP_LIMIT,
            )
        )
    curves = results["curves"]
    for key, label in (("newest_page", "Newest-50 latency"), ("session_list", "Session-list latency")):
        curve = curves[key]
        smallest, largest = str(curve["sizes"][0]), str(curve["sizes"][-1])
        service = curve["layers"]["service"]
        growth = service[largest]["p50_ms"] / service[smallest]["p50_ms"]
        found.append(
            Target(
                f"{label} flat: at {_size(largest)} <= {FLAT_LIMIT}x at {_size(smallest)} (service p50)",
                f"{growth:.2f}x ({_ms(service[largest]['p50_ms'])} vs {_ms(service[smallest]['p50_ms'])} ms)",
                growth <= FLAT_LIMIT,
            )
        )
    search_plans = curves["search"]["plans"]
    found.append(
        Target(
            "Search uses an index at every size (explain of every query the product's search sends)",
            "; ".join(
                f"{_size(size)}: "
                + ", ".join(f"{plan['collection']} {'/'.join(plan['stages'])}" for plan in plans)
                for size, plans in search_plans.items()
            ),
            all(plan["uses_index"] for plans in search_plans.values() for plan in plans),
        )
    )
    return found + _migration_targets(results)


def _migration_targets(results: dict[str, Any]) -> list[Target]:
    migration = results.get("migration", {})
    speed = f"Migration >= {MIGRATION_SPEED}x raw throughput"
    memory = f"Migration memory flat (peak RSS, largest size <= {MIGRATION_MEMORY}x)"
    if not migration.get("available"):
        reason = migration.get("reason", "not run")
        return [Target(speed, reason, None), Target(memory, reason, None)]
    sizes = _migration_sizes(results)
    if not sizes:
        return [Target(speed, "every run failed (see latest.json)", False)]
    headline, largest, reference = _migration_pair(sizes)
    growth = largest["migrate"]["peak_rss_mib"] / reference["migrate"]["peak_rss_mib"]
    flat = (
        Target(memory, "one size only", None)
        if largest is reference
        else Target(
            f"Migration memory flat: peak RSS at {_size(largest['rows'])} rows <= {MIGRATION_MEMORY}x "
            f"at {_size(reference['rows'])}",
            f"{growth:.2f}x ({largest['migrate']['peak_rss_mib']:.0f} vs "
            f"{reference['migrate']['peak_rss_mib']:.0f} MiB)",
            growth <= MIGRATION_MEMORY,
        )
    )
    return [
        Target(
            f"Migration of {_size(headline['rows'])} rows >= {MIGRATION_SPEED}x raw throughput",
            f"{headline['throughput_ratio']:.2f}x ({headline['migrate']['rows_per_s']:,.0f} vs "
            f"{headline['raw']['rows_per_s']:,.0f} rows/s)",
            headline["throughput_ratio"] >= MIGRATION_SPEED,
        ),
        flat,
    ]


# --- findings: what the numbers say about targets that are not met ------------------------------------


def findings(results: dict[str, Any]) -> list[str]:
    notes: list[str] = []
    if results.get("http_unavailable"):
        notes.append(
            f"- **No HTTP layer in this run**: gunicorn did not start ({results['http_unavailable']})."
        )
    slow_counter = bool(_append_cost_findings(results))
    for operation in results["operations"]:
        layers = operation["c1"]
        raw, service = layers["raw"], layers["service"]
        service_slow = _ratio(service, raw) > SERVICE_LIMIT
        if service_slow:
            added = f"{service['p50_ms'] - raw['p50_ms']:.1f} ms to the raw {raw['p50_ms']:.1f} ms (p50)"
            cause = (
                "almost all of it is the `find_one_and_update` that takes the order number of every stored "
                "message (see below), not Python."
                if slow_counter and operation["key"] in ("append", "exchange")
                else "model instances, validation and serialisation in Python cost more than the storage "
                "work."
            )
            notes.append(f"- **{operation['title']}**: the service layer adds {added}: {cause}")
        if operation["key"] != "append" and "http" in layers and _ratio(layers["http"], raw) > HTTP_LIMIT:
            http = layers["http"]
            above = http["p50_ms"] - service["p50_ms"]
            cause = (
                "the excess is the service layer's (above), not HTTP's."
                if service_slow
                else "a fixed per-request cost (gunicorn, DRF, the token look-up on the relational database, "
                "JSON rendering) that dominates an operation whose storage work takes a few milliseconds."
            )
            notes.append(
                f"- **{operation['title']}**: HTTP p50 {http['p50_ms']:.1f} ms is "
                f"{_ratio(http, raw):.1f}x raw ({raw['p50_ms']:.1f} ms) but only {above:.1f} ms above the "
                f"service layer: {cause}"
            )
    notes += _error_findings(results)
    notes += _append_cost_findings(results)
    notes += _write_plan_findings(results)
    notes += _curve_findings(results["curves"])
    notes += _migration_findings(results)
    return notes


def _error_findings(results: dict[str, Any]) -> list[str]:
    notes = []
    for operation in results["operations"]:
        for concurrency in (1, results["concurrency"]):
            for layer, summary in operation[f"c{concurrency}"].items():
                if summary["errors"]:
                    total = summary["errors"] + summary["n"]
                    first = summary["first_error"].replace("`", "'")[:160]
                    notes.append(
                        f"- **{operation['title']}**, {layer} at concurrency {concurrency}: "
                        f"{summary['errors']} of {total} operations failed and are left out of the latencies "
                        f"(first: {first})."
                    )
    return notes


def _append_cost_findings(results: dict[str, Any]) -> list[str]:
    costs = results.get("append_costs")
    if not costs or len(costs["steps"]) != 5:
        return []
    insert, find_and_modify, update_find, product_way, floor = (
        step["p50_ms"] for step in costs["steps"].values()
    )
    if find_and_modify <= 2 * update_find:
        return []
    queued = any(
        summary["errors"]
        for operation in results["operations"]
        if operation["key"] == "exchange"
        for concurrency in (1, results["concurrency"])
        for summary in operation[f"c{concurrency}"].values()
    )
    overload = (
        " Under load the slow appends exceed `MONGODB_TIMEOUT_MS` and chat turns go to the outbox (the "
        "failed operations above)."
        if queued
        else ""
    )
    return [
        "- **Why appends take their order number with `update_one` + `find_one`**: with "
        f"{costs['sessions_in_store']:,} sessions and {costs['messages_in_store']:,} messages in the store, "
        f"the session's `find_one_and_update` (`$inc`) takes {find_and_modify:.1f} ms (p50) against "
        f"{update_find:.1f} ms for `update_one` + `find_one` of the same session by the same index, and the "
        f"message's `insert_one` {insert:.1f} ms; a whole append in a transaction {product_way:.1f} ms with "
        f"the former and {floor:.1f} ms with the latter. SecantusDB's `findAndModify` costs time in "
        "proportion to the collection whatever the filter, so `services._insert_messages` uses `update_one` "
        "then `find_one` inside the same transaction: the same atomic number at a flat cost (1a above)."
        f"{overload}"
    ]


def _write_plan_findings(results: dict[str, Any]) -> list[str]:
    plans = results.get("session_write_plans")
    if not plans or plans["product"]["uses_index"]:
        return []
    product, raw = plans["product"], plans["raw"]
    return [
        "- **The explain of the append's session filter shows a scan; the append's time does not**: "
        "`services._insert_messages` increments the session's counter with "
        "`update_one({_id, user_id, deleted_at: null})`. SecantusDB's planner uses an index only when it "
        "holds every field of a filter, and explain of a `find` with that filter gives "
        f"{'/'.join(product['stages'])}, {product['docs_examined']:,} documents examined for "
        f"{product['returned']} ({plans['sessions_in_store']:,} sessions in the store); the update itself "
        "is served by `_id` (1a: the service's append stays within the raw floor's ratio, which selects by "
        f"`(user_id, session_id)`: {'/'.join(raw['stages'])} on `{','.join(raw['indexes'])}`, "
        f"{raw['docs_examined']} examined). Every `find` the product sends with `{{user_id, _id}}` (the "
        "session read after the increment, `selectors.get_message`, search's session look-up) is an index "
        "range on `session_owner_pk_idx` since migration 0004."
    ]


def _docs_examined(curve: dict[str, Any], size: int, *, collection: str | None = None) -> int:
    plans = curve["plans"].get(str(size), [])
    chosen = [plan for plan in plans if collection is None or plan["collection"] == collection]
    return int(chosen[0]["docs_examined"]) if chosen else 0


def _curve_findings(curves: dict[str, Any]) -> list[str]:
    notes: list[str] = []
    for key, what in (("newest_page", "newest-50 page"), ("session_list", "session list")):
        curve = curves[key]
        smallest, largest = curve["sizes"][0], curve["sizes"][-1]
        service, raw = curve["layers"]["service"], curve["layers"]["raw"]
        if service[str(largest)]["p50_ms"] / service[str(smallest)]["p50_ms"] <= FLAT_LIMIT:
            continue
        examined = ", ".join(f"{_size(size)}: {_docs_examined(curve, size):,}" for size in curve["sizes"])
        raw_growth = raw[str(largest)]["p50_ms"] / raw[str(smallest)]["p50_ms"]
        note = (
            f"- **The {what} is not flat** (service p50 {service[str(smallest)]['p50_ms']:.1f} ms at "
            f"{_size(smallest)} → {service[str(largest)]['p50_ms']:.1f} ms at {_size(largest)}); "
            f"documents the product's query examines (explain): {examined}. "
        )
        note += (
            f"The raw floor grows too ({raw_growth:.1f}x): the cost is the query shape on this server, not "
            "the product's layers."
            if raw_growth > FLAT_LIMIT
            else f"The raw floor stays flat ({raw_growth:.1f}x): the product's layers add the growth."
        )
        if key == "session_list":
            note += (
                " SecantusDB never uses an index to satisfy a sort; `selectors.list_sessions` therefore "
                "reads pinned sessions by `(user_id, is_pinned)` and the rest in bounded `updated_at` "
                "slices of `session_list_idx`: check which layer grows."
            )
        notes.append(note)
    search = curves["search"]
    sizes = search["sizes"]
    service = search["layers"]["service"]
    examined = ", ".join(
        f"{_size(size)}: {_docs_examined(search, size, collection='chat_messages'):,}" for size in sizes
    )
    largest = [p for p in search["plans"].get(str(sizes[-1]), []) if p["collection"] == "chat_messages"]
    if largest and largest[0]["uses_index"]:
        notes.append(
            f"- **Search grows with the matches, not with a scan** (service p50 "
            f"{service[str(sizes[0])]['p50_ms']:.1f} → {service[str(sizes[-1])]['p50_ms']:.1f} ms from "
            f"{_size(sizes[0])} to {_size(sizes[-1])} messages): the message query is an index range on "
            f"`{','.join(largest[0]['indexes'])}`, but every message holding the query's longest term is "
            "read to sort them by `created_at` (no index-backed sort on SecantusDB): messages examined "
            f"{examined}, "
            f"{largest[0]['returned']} returned. There is no flatness target for search; the raw floor does "
            "the same work."
        )
    scans = [p for p in search["plans"].get(str(sizes[-1]), []) if not p["uses_index"]]
    if scans:
        notes.append(
            f"- **Search's session look-up scans every session in the store**: after the hits, "
            "`selectors.search_chats` fetches their sessions with `{user_id, _id: {$in: [...]}}`, which no "
            f"index holds entirely: explain gives {'/'.join(scans[0]['stages'])}, "
            f"{scans[0]['docs_examined']:,} documents examined for {scans[0]['returned']} (all users' "
            "sessions). That is why the search target is not met although the term look-ups use their "
            "indexes; the raw floor fetches the same sessions by `_id` alone and checks the owner after."
        )
    return notes


def _migration_findings(results: dict[str, Any]) -> list[str]:
    sizes = _migration_sizes(results)
    if not sizes:
        return []
    headline, largest, reference = _migration_pair(sizes)
    notes: list[str] = []
    if headline["throughput_ratio"] < MIGRATION_SPEED:
        migrate = headline["migrate"]
        plan = headline.get("statistics_plan") or {}
        text = (
            f"- **Migration is {headline['throughput_ratio']:.2f}x raw** at {_size(headline['rows'])} rows "
            f"({migrate['rows_per_s']:,.0f} vs {headline['raw']['rows_per_s']:,.0f} rows/s, end to end)."
        )
        if "import_rows_per_s" in migrate:
            imported = migrate["import_rows_per_s"]
            text += f" The command's own progress line reports {imported:,.0f} rows/s for its import phase"
            text += (
                f", so most of the time goes after it: recomputing the daily statistics of "
                f"{migrate.get('statistics_days', 0):.0f} days."
                if imported > 1.5 * migrate["rows_per_s"]
                else f" ({imported / headline['raw']['rows_per_s']:.2f}x raw): the import itself is slow."
            )
        if plan and not plan["uses_index"]:
            text += (
                f" Each day's totals start with a `created_at` window on every message (`totals_for_day`); "
                f"explain of one such window: {'/'.join(plan['stages'])}, {plan['docs_examined']:,} "
                f"documents examined for {plan['returned']:,} returned: there is no index on `created_at` "
                "alone (only `(user_id, created_at)`), so the statistics cost days x messages and grow "
                "with the store."
            )
        notes.append(text)
    growth = largest["migrate"]["peak_rss_mib"] / reference["migrate"]["peak_rss_mib"]
    if growth > MIGRATION_MEMORY:
        notes.append(
            f"- **Migration memory grows**: peak RSS {reference['migrate']['peak_rss_mib']:.0f} MiB at "
            f"{_size(reference['rows'])} rows, {largest['migrate']['peak_rss_mib']:.0f} MiB at "
            f"{_size(largest['rows'])}."
        )
    return notes


# --- plots ---------------------------------------------------------------------------------------------


def _save(figure: Any, name: str) -> str:
    figure.tight_layout()
    figure.savefig(RESULTS / name, dpi=110)
    plt.close(figure)
    return name


def _plot_operations(results: dict[str, Any]) -> str:
    operations = results["operations"]
    figure, axis = plt.subplots(figsize=(9, 0.9 + 0.75 * len(operations)))
    height = 0.26
    for offset, layer in enumerate(LAYERS):
        rows = [(index, op["c1"][layer]) for index, op in enumerate(operations) if layer in op["c1"]]
        if not rows:
            continue
        positions = [index + (offset - 1) * height for index, _ in rows]
        p50 = [summary["p50_ms"] for _, summary in rows]
        whiskers = [[0.0] * len(rows), [summary["p95_ms"] - summary["p50_ms"] for _, summary in rows]]
        axis.barh(positions, p50, height, xerr=whiskers, color=COLOURS[layer], label=layer, capsize=2)
    axis.set_yticks(range(len(operations)))
    axis.set_yticklabels([op["title"].split(" (")[0][:50] for op in operations], fontsize=8)
    axis.invert_yaxis()
    axis.set_xscale("log")
    axis.set_xlabel("latency at concurrency 1, ms (bar p50, whisker p95; log scale)")
    axis.legend(loc="upper right")
    axis.set_title("Operations 1-4: raw pymongo vs service vs HTTP")
    return _save(figure, "operations.png")


def _plot_curve(curve: dict[str, Any], *, name: str, title: str, xlabel: str) -> str:
    figure, axis = plt.subplots(figsize=(7, 4.2))
    sizes = curve["sizes"]
    for layer in LAYERS:
        points = curve["layers"].get(layer)
        if points is None:
            continue
        for percentile, style in (("p50", "o-"), ("p95", ":")):
            axis.plot(
                sizes,
                [points[str(size)][f"{percentile}_ms"] for size in sizes],
                style,
                color=COLOURS[layer],
                alpha=1.0 if percentile == "p50" else 0.7,
                label=f"{layer} {percentile}",
            )
    axis.set_xscale("log")
    axis.set_yscale("log")
    axis.set_xlabel(xlabel)
    axis.set_ylabel("latency, ms (log)")
    axis.set_title(title)
    axis.grid(True, which="both", alpha=0.3)
    axis.legend(fontsize=8, ncol=3)
    return _save(figure, name)


def _plot_migration(sizes: list[dict[str, Any]]) -> str:
    rows = [size["rows"] for size in sizes]
    figure, (speed, memory) = plt.subplots(1, 2, figsize=(10, 4))
    for side, colour, label in (
        ("migrate", COLOURS["service"], "manage.py migrate_chats"),
        ("raw", COLOURS["raw"], "raw insert_many"),
    ):
        speed.plot(rows, [size[side]["rows_per_s"] for size in sizes], "o-", color=colour, label=label)
        memory.plot(rows, [size[side]["peak_rss_mib"] for size in sizes], "o-", color=colour, label=label)
    speed.set_title("Throughput (legacy rows/s, end to end)")
    memory.set_title("Peak RSS of the process (MiB)")
    for axis in (speed, memory):
        axis.set_xscale("log")
        axis.set_xlabel("legacy chat_history rows")
        axis.set_ylim(bottom=0)
        axis.grid(True, which="both", alpha=0.3)
        axis.legend(fontsize=8)
    return _save(figure, "migration.png")


# --- markdown --------------------------------------------------------------------------------------------


def _machine(results: dict[str, Any]) -> list[str]:
    machine = results["machine"]
    versions = machine["versions"]
    dataset = results["dataset"]
    return [
        "## Machine",
        "",
        "| CPU | cores | RAM | OS | Python | " + " | ".join(versions) + " |",
        "|---|---|---|---|---|" + "---|" * len(versions),
        f"| {machine['cpu']} | {machine['cores']} | {machine['ram_gib']} GiB | {machine['os']} "
        f"| {machine['python']} | " + " | ".join(versions.values()) + " |",
        "",
        f"Stores: chats on {results['stores']['mongodb']}; users on {results['stores']['relational']}. "
        f"Generated for the run by `chats.fake_data`: {dataset['sessions']:,} sessions, "
        f"{dataset['messages']:,} messages, {dataset['token_usage']:,} token-usage rows "
        f"in {dataset['seconds']:.0f} s.",
        "",
    ]


def _operations(results: dict[str, Any], plot: str) -> list[str]:
    concurrency = results["concurrency"]
    many = f"c={concurrency}"
    lines = [
        "## Operations",
        "",
        f"Latency in ms at concurrency 1 (one request at a time) and at concurrency {concurrency} (client "
        "threads; `ops/s` is the throughput over the time the batches took). `x raw` is the layer's p50 "
        "over raw's p50 measured in the same rounds.",
        "",
        f"| operation | layer | p50 | p95 | p99 | ops/s | x raw | p50 {many} | p99 {many} | ops/s {many} "
        f"| x raw {many} | samples (c=1 / {many}) |",
        "|---|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for operation in results["operations"]:
        single, loaded = operation["c1"], operation[f"c{concurrency}"]
        for layer in LAYERS:
            if layer not in single:
                continue
            one, busy = single[layer], loaded[layer]
            errors = one["errors"] + busy["errors"]
            lines.append(
                f"| {operation['title']} | {layer} | {_ms(one['p50_ms'])} | {_ms(one['p95_ms'])} "
                f"| {_ms(one['p99_ms'])} | {one['throughput_per_s']:.0f} | {_ratio(one, single['raw']):.2f} "
                f"| {_ms(busy['p50_ms'])} | {_ms(busy['p99_ms'])} | {busy['throughput_per_s']:.0f} "
                f"| {_ratio(busy, loaded['raw']):.2f} | {one['n']} / {busy['n']}"
                f"{f' ({errors} errors)' if errors else ''} |"
            )
    return [
        *lines,
        "",
        "Raw floors (bench/raw.py): 1a one transaction of `update_one` (`$inc`/`$max`) + `find_one` of "
        "the session (the order number) + `insert_one` of the same document (search terms and hash "
        "included), the session selected by `(user_id, session_id)`; 1b the whole turn: session look-up, "
        "that transaction for the question, the 20-message history range, the same offline reply, a "
        "transaction for the answer and its token usage (one HTTP send stores two messages); 2 the same "
        "aggregation on `(user_id, deleted_at, is_archived)`; 3 session look-up + one bounded range on "
        "`(user_id, session_id, order)` (SecantusDB never sorts by an index, so this is the fast floor, "
        "not `find().sort().limit()`); 4 the same `search_terms` queries on `(user_id, search_terms)`, "
        "the hits' sessions fetched by `_id` with the owner checked on the documents. Service and HTTP "
        "for 2-4 start from the public session id too (session look-up, then the read).",
        "",
        f"![operations](bench/results/{plot})",
        "",
    ]


def _append_costs(results: dict[str, Any]) -> list[str]:
    costs = results.get("append_costs")
    if not costs:
        return []
    steps = costs["steps"]
    first = next(iter(steps.values()))
    return [
        "### What one raw append costs on this server",
        "",
        f"Concurrency 1, interleaved; {costs['sessions_in_store']:,} sessions and "
        f"{costs['messages_in_store']:,} messages in the store.",
        "",
        "| step | p50 | p95 | p99 | x the insert alone |",
        "|---|---|---|---|---|",
        *(
            f"| {step} | {_ms(cost['p50_ms'])} | {_ms(cost['p95_ms'])} | {_ms(cost['p99_ms'])} "
            f"| {_ratio(cost, first):.2f} |"
            for step, cost in steps.items()
        ),
        "",
    ]


def _plans_cell(plans: list[dict[str, Any]]) -> str:
    return "<br>".join(
        f"{plan['collection']}: {'/'.join(plan['stages'])} {','.join(plan['indexes'])} "
        f"keys {plan['keys_examined']:,} docs {plan['docs_examined']:,} → {plan['returned']}"
        for plan in plans
    )


def _curve(curve: dict[str, Any], *, title: str, unit: str, plot: str) -> list[str]:
    layers = curve["layers"]
    shown = [layer for layer in LAYERS if layer in layers]
    lines = [
        f"### {title}",
        "",
        f"| {unit} | "
        + " | ".join(f"{layer} p50" for layer in shown)
        + " | "
        + " | ".join(f"{layer} p95" for layer in shown[1:])
        + " | "
        + " | ".join(f"{layer} x raw" for layer in shown[1:])
        + " | the product's queries (explain: stages, index, keys/docs examined → returned) |",
        "|---|" + "---|" * (3 * len(shown) - 1),
    ]
    for size in curve["sizes"]:
        points = {layer: layers[layer][str(size)] for layer in shown}
        lines.append(
            f"| {_size(size)} | "
            + " | ".join(_ms(points[layer]["p50_ms"]) for layer in shown)
            + " | "
            + " | ".join(_ms(points[layer]["p95_ms"]) for layer in shown[1:])
            + " | "
            + " | ".join(f"{_ratio(points[layer], points['raw']):.2f}" for layer in shown[1:])
            + f" | {_plans_cell(curve['plans'].get(str(size), []))} |"
        )
    return [*lines, "", f"![{title}](bench/results/{plot})", ""]


def _migration(results: dict[str, Any], plot: str | None) -> list[str]:
    migration = results.get("migration", {})
    lines = ["### Migration: `manage.py migrate_chats --source mysql` vs raw `insert_many`", ""]
    if not migration.get("available"):
        return [*lines, f"Not available in this run: {migration.get('reason', 'not run')}.", ""]
    lines += [
        f"Legacy `chat_history` rows in {migration['legacy']} (about 200 rows per user, bursts of questions "
        "split by quiet hours, 2% without a response). Both sides run as their own process, timed from start "
        "to exit (the command's time includes Django's start-up and the daily statistics it recomputes at "
        "the end); peak RSS is the kernel's high-water mark of the process (`VmHWM`). Raw inserts exactly "
        "the documents the command stored (dumped afterwards), 1,000 per `insert_many(ordered=False)`, into "
        "a fresh database with the same "
        "indexes. `import rows/s` is what the command's own progress line reports for its import phase.",
        "",
        "| legacy rows | messages stored | migrate_chats s | rows/s | import rows/s | statistics days "
        "| raw s | raw rows/s | ratio | peak RSS migrate_chats | peak RSS raw |",
        "|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for size in migration["sizes"]:
        migrate, raw = size["migrate"], size["raw"]
        if not migrate or not raw:
            lines.append(f"| {_size(size['rows'])} | failed: see latest.json |" + " |" * 9)
            continue
        lines.append(
            f"| {_size(size['rows'])} | {size['documents']:,} | {migrate['seconds']:.1f} "
            f"| {migrate['rows_per_s']:,.0f} | {migrate.get('import_rows_per_s', float('nan')):,.0f} "
            f"| {migrate.get('statistics_days', float('nan')):.0f} | {raw['seconds']:.1f} "
            f"| {raw['rows_per_s']:,.0f} | {size['throughput_ratio']:.2f} "
            f"| {migrate['peak_rss_mib']:.0f} MiB | {raw['peak_rss_mib']:.0f} MiB |"
        )
    notes = [
        f"- {_size(size['rows'])} rows: {size['note']}" for size in migration["sizes"] if size.get("note")
    ]
    if notes:
        lines += ["", *notes]
    if plot:
        lines += ["", f"![migration](bench/results/{plot})"]
    return [*lines, ""]


def _introduction(results: dict[str, Any]) -> list[str]:
    plan, mode = results["plan"], results["mode"]
    lines = [
        "# Benchmarks",
        "",
        f"Written by `python -m bench{' --quick' if mode == 'quick' else ''}` ({mode} mode) on "
        f"{results['machine']['date']}; the run took {results['duration_s']:.0f} s. Regenerate with "
        "`python -m bench` (full) or `python -m bench --quick` (under 3 minutes); raw numbers in "
        "`bench/results/latest.json`.",
        "",
    ]
    if mode == "full" and plan["migration_rows"] != [10_000, 100_000, 1_000_000]:
        lines += [
            "**Full mode with a shorter migration curve** (`--migration-rows "
            f"{','.join(str(s) for s in plan['migration_rows'])}`): on SecantusDB here both sides move "
            "150-250 rows/s, so the issue's 1,000,000 rows would take 1.5-2 h per side, and SecantusDB's own "
            "memory reached 18 GiB of this machine's 24 at 100,000 rows; larger sizes are listed under "
            "operation 5 when measured separately.",
            "",
        ]
    if mode == "quick":
        lines += [
            "**Quick mode: smaller top sizes than the issue's** (session lengths "
            f"{', '.join(_size(s) for s in plan['session_lengths'])}; sessions per user "
            f"{', '.join(_size(s) for s in plan['session_counts'])}; search over "
            f"{', '.join(_size(s) for s in plan['search_sizes'])} messages; migration of "
            f"{', '.join(_size(s) for s in plan['migration_rows'])} rows) and fewer samples.",
            "",
        ]
    return [
        *lines,
        "Every operation is measured three ways in the same run, on the same servers, interleaved in short "
        "rounds whose order rotates (raw, service, http; service, http, raw; ...), so the machine's noise "
        "hits every layer alike and layers are compared by ratios taken in the same run:",
        "",
        "- **raw**: plain pymongo doing the same storage work on the same collections (the floor; "
        "`bench/raw.py`);",
        "- **service**: `chats.services` / `chats.selectors` / `chats.services.turn` called in-process, as "
        "the views call them;",
        "- **http**: DRF behind gunicorn (2 workers x 2 threads, gthread), token-authenticated, through a "
        "keep-alive `httpx` client; the request's relational work (token, outbox and EHR look-ups) included.",
        "",
    ]


def markdown(results: dict[str, Any], plots: dict[str, str | None]) -> str:
    curves = results["curves"]
    notes = findings(results)
    lines = [
        *_introduction(results),
        *_machine(results),
        "## Targets",
        "",
        "| target | measured | status |",
        "|---|---|---|",
        *(f"| {target.name} | {target.measured} | {target.status} |" for target in targets(results)),
        "",
        *(["## Findings", "", *notes, ""] if notes else []),
        *_operations(results, str(plots["operations"])),
        *_append_costs(results),
        "## Scaling curves",
        "",
        "Concurrency 1; every size and layer interleaved in the same rounds. The explain column runs the "
        "aggregations the product sent (captured from its query log) again with `explain`.",
        "",
        *_curve(
            curves["newest_page"],
            title="Newest 50 messages by session length",
            unit="messages in the session",
            plot=str(plots["newest_page"]),
        ),
        *_curve(
            curves["session_list"],
            title="First 20 sessions by sessions per user",
            unit="sessions of the user",
            plot=str(plots["session_list"]),
        ),
        *_curve(
            curves["search"],
            title="Search for two words by messages per user",
            unit="messages of the user",
            plot=str(plots["search"]),
        ),
        *_migration(results, plots.get("migration")),
    ]
    return "\n".join(lines)


def write(results: dict[str, Any]) -> None:
    RESULTS.mkdir(parents=True, exist_ok=True)
    curves = results["curves"]
    migration_sizes = _migration_sizes(results)
    plots: dict[str, str | None] = {
        "operations": _plot_operations(results),
        "newest_page": _plot_curve(
            curves["newest_page"],
            name="newest_page.png",
            title="Newest 50 messages",
            xlabel="messages in the session",
        ),
        "session_list": _plot_curve(
            curves["session_list"],
            name="session_list.png",
            title="First 20 sessions",
            xlabel="sessions of the user",
        ),
        "search": _plot_curve(
            curves["search"], name="search.png", title="Search for two words", xlabel="messages of the user"
        ),
        "migration": _plot_migration(migration_sizes) if migration_sizes else None,
    }
    (REPO / "BENCHMARKS.md").write_text(markdown(results, plots) + "\n")
