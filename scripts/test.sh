#!/usr/bin/env bash
# Install and run the whole test suite: ruff, mypy, import-linter contracts (pyproject.toml),
# Django system checks on both databases, pytest.
# CI=true: 'default' on the real MariaDB (127.0.0.1:3306, root), Celery on the real Redis, and a
# SecantusDB started by the test session; a missing service fails the run.
source "$(dirname "$0")/lib.sh"
cd "$MEDIBOT_ROOT"
ensure_mysql_build_deps
apt_install docker-compose chromium
ensure_venv requirements/dev.txt
export DJANGO_SETTINGS_MODULE=medibot.settings.test

log "ruff"; ruff check .
log "mypy"; mypy .
log "lint-imports"; lint-imports
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
