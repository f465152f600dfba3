#!/usr/bin/env bash
# Install and run the whole test suite: ruff, mypy, import-linter contracts (pyproject.toml),
# Django system checks on both databases, pytest.
# CI=true: 'default' on the real MariaDB (127.0.0.1:3306, root), Celery on the real Redis, and a
# SecantusDB started by the test session; a missing service fails the run.
source "$(dirname "$0")/lib.sh"
cd "$MEDIBOT_ROOT"
ensure_mysql_build_deps
apt_install docker-compose chromium
ensure_venv requirements/dev.lock
export DJANGO_SETTINGS_MODULE=medibot.settings.test

log "ruff"; ruff check .
log "mypy"; mypy .
log "lint-imports"; lint-imports
# The whole suite (no pytest arguments) runs as MEDIBOT_TEST_SHARDS (default 2) pytest processes at
# the same time, split by the recorded test durations in tests/.test_durations (pytest-split; tests
# not recorded there count as the average). Most of the suite waits on SecantusDB, MariaDB, Chromium
# and child processes rather than on the CPU, so two shards take about half the time on two cores.
# Each shard has stores of its own: MariaDB test databases suffixed _s<k>, its own SecantusDB (the
# test session starts one), and with real services a Redis database of its own (15, 14, ...).
# With arguments, one pytest process runs exactly what was asked.
# Refresh the durations after adding or slowing tests: MEDIBOT_TEST_STORE_DURATIONS=1 scripts/test.sh
# (each shard records its own tests, split by count; the records are merged into tests/.test_durations).
shards="${MEDIBOT_TEST_SHARDS:-2}"
if [ "$#" -gt 0 ] || [ "$shards" -le 1 ]; then
  log "pytest"
  set +e
  python -m pytest "$@"
  status=$?
  set -e
  if [ "$status" -eq 5 ]; then
    log "pytest collected no tests: that is a failure, not a pass"
    exit 1
  fi
  exit "$status"
fi

redis_base=""
if [ -n "${REDIS_URL:-}" ]; then
  redis_base="${REDIS_URL%/*}"
elif [ "${CI:-}" = "true" ] || [ "${MEDIBOT_TEST_REAL_SERVICES:-}" = "true" ]; then
  redis_base="redis://127.0.0.1:6379"
fi
mkdir -p var
log "pytest: $shards shards in parallel (pytest-split, tests/.test_durations); lines are prefixed [shard/of]"
pids=()
for group in $(seq 1 "$shards"); do
  (
    export MEDIBOT_TEST_DB_SUFFIX="${MEDIBOT_TEST_DB_SUFFIX:-}_s$group"
    if [ -n "$redis_base" ]; then export REDIS_URL="$redis_base/$((16 - group))"; fi
    set +e
    durations=(--durations-path tests/.test_durations)
    if [ "${MEDIBOT_TEST_STORE_DURATIONS:-}" = "1" ]; then
      rm -f "var/test-durations-$group.json"
      durations=(--durations-path "var/test-durations-$group.json" --store-durations)
    fi
    python -m pytest --splits "$shards" --group "$group" --splitting-algorithm least_duration \
      "${durations[@]}" --durations=15 2>&1 | sed -u "s|^|[$group/$shards] |" | tee "var/test-shard-$group.log"
    exit "${PIPESTATUS[0]}"
  ) &
  pids+=("$!")
done
failed=0
for index in "${!pids[@]}"; do
  set +e
  wait "${pids[$index]}"
  status=$?
  set -e
  group=$((index + 1))
  if [ "$status" -eq 5 ]; then
    log "shard $group/$shards collected no tests: that is a failure, not a pass"
    failed=1
  elif [ "$status" -ne 0 ]; then
    log "shard $group/$shards failed (pytest exit $status)"
    failed=1
  fi
done
if [ "$failed" -ne 0 ]; then
  # The shards' lines are interleaved and long: the failures again, last, where a CI log's tail shows them.
  {
    grep -hE '^\[[0-9]+/[0-9]+\] (FAILED|ERROR) ' var/test-shard-*.log | head -40
    grep -hE '^\[[0-9]+/[0-9]+\] (E  |.*Timeout)' var/test-shard-*.log | head -40
  } >var/test-failures.txt || true
  log "failures (also in var/test-failures.txt; whole shard logs: var/test-shard-*.log):"
  cat var/test-failures.txt
  exit 1
fi
if [ "${MEDIBOT_TEST_STORE_DURATIONS:-}" = "1" ]; then
  python - "$shards" <<'PY'
import json, sys
from pathlib import Path

merged = {}
for group in range(1, int(sys.argv[1]) + 1):
    merged.update(json.loads(Path(f"var/test-durations-{group}.json").read_text()))
Path("tests/.test_durations").write_text(json.dumps(dict(sorted(merged.items())), indent=1) + "\n")
print(f"tests/.test_durations: {len(merged)} tests, {sum(merged.values()) / 60:.1f} min in all")
PY
fi
log "pytest: all $shards shards passed"
