#!/usr/bin/env bash
# Regenerate the hash-locked requirements from requirements/*.in (run after changing any .in file):
#   requirements/local.lock  scripts/run.sh (embedded run)
#   requirements/prod.lock   the Docker image
#   requirements/dev.lock    scripts/test.sh, CI and the benchmarks
# Every package, transitive ones included, pinned with the sha256 of each of its files; installs use
# `pip install --require-hashes`. tests/medibot/test_locks.py fails when a .in and its lock disagree.
source "$(dirname "$0")/lib.sh"
cd "$MEDIBOT_ROOT"
UV_VERSION=0.13.8
if ! command -v uv >/dev/null 2>&1 || [ "$(uv --version | cut -d' ' -f2)" != "$UV_VERSION" ]; then
  ensure_venv_only
  "$VENV/bin/python" -m pip install -q --disable-pip-version-check "uv==$UV_VERSION"
  export PATH="$VENV/bin:$PATH"
fi
for name in local prod dev; do
  log "locking requirements/$name.in -> requirements/$name.lock"
  # --universal: one lock valid on every supported Python (3.11-3.13) and platform.
  uv pip compile --quiet --universal --python-version 3.11 --generate-hashes --no-header \
    --output-file "requirements/$name.lock" "requirements/$name.in"
done
