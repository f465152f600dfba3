#!/usr/bin/env bash
# Set up (venv with requirements/dev.lock: matplotlib, gunicorn, httpx) and run the benchmark suite.
# Arguments go to `python -m bench` (e.g. --quick, --migration-rows 10000,100000).
source "$(dirname "$0")/lib.sh"
cd "$MEDIBOT_ROOT"
ensure_mysql_build_deps
ensure_venv requirements/dev.lock
exec python -m bench "$@"
