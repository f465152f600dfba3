# Shared set-up steps for scripts/run.sh, scripts/test.sh and bench. Idempotent.
set -euo pipefail

MEDIBOT_ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
VENV="${MEDIBOT_VENV:-$MEDIBOT_ROOT/.venv}"
SUPPORTED_PYTHONS="3.13 3.12 3.11"  # pyproject.toml: requires-python = ">=3.11,<3.14"

# python_for VERSION : a working interpreter of that version on the PATH or under pyenv, or nothing.
python_for() {
  local version="$1" candidate
  for candidate in "python$version" "${PYENV_ROOT:-$HOME/.pyenv}"/versions/"$version".*/bin/"python$version"; do
    if command -v "$candidate" >/dev/null 2>&1 && "$candidate" -c '' >/dev/null 2>&1; then
      command -v "$candidate"; return 0
    fi
  done
  return 1
}

# pick_python : $PYTHON when given, else the default python3 when it is supported (a pyenv or
# distribution default stays the default), else the newest supported python3.1x installed.
pick_python() {
  if [ -n "${PYTHON:-}" ]; then echo "$PYTHON"; return 0; fi
  if command -v python3 >/dev/null 2>&1 \
    && python3 -c 'import sys; sys.exit(0 if (3, 11) <= sys.version_info[:2] < (3, 14) else 1)'; then
    echo python3; return 0
  fi
  local version
  for version in $SUPPORTED_PYTHONS; do
    if python_for "$version"; then return 0; fi
  done
  echo "no supported Python (3.11, 3.12 or 3.13) found; set PYTHON=/path/to/python3.x" >&2
  return 1
}
PYTHON_BIN="$(pick_python)"

log() { printf '\033[1m[medibot]\033[0m %s\n' "$*" >&2; }

# apt_install PACKAGE... : installs Debian packages that are missing (needs root).
apt_install() {
  local missing=()
  for pkg in "$@"; do
    dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed" || missing+=("$pkg")
  done
  [ ${#missing[@]} -eq 0 ] && return 0
  if [ "$(id -u)" -ne 0 ]; then
    log "missing system packages: ${missing[*]} (run: sudo apt-get install -y ${missing[*]})"
    return 1
  fi
  log "installing system packages: ${missing[*]}"
  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" >/dev/null
}

# ensure_venv_only : creates .venv with the picked interpreter when it does not exist yet.
ensure_venv_only() {
  if [ ! -x "$VENV/bin/python" ]; then
    log "creating virtualenv $VENV with $PYTHON_BIN"
    "$PYTHON_BIN" -m venv "$VENV"
  fi
}

# ensure_venv LOCK_FILE : creates .venv and installs the hash-locked file (requirements/*.lock,
# made by scripts/lock.sh) when the requirements changed since last time.
ensure_venv() {
  local requirements="$1" stamp
  ensure_venv_only
  stamp="$VENV/.installed-$(basename "$requirements")"
  local digest
  digest="$(cat "$MEDIBOT_ROOT"/requirements/*.in "$MEDIBOT_ROOT"/requirements/*.lock | sha256sum | cut -d' ' -f1)"
  if [ ! -f "$stamp" ] || [ "$(cat "$stamp")" != "$digest" ]; then
    log "installing $requirements (hash-checked)"
    "$VENV/bin/python" -m pip install -q --disable-pip-version-check --require-hashes \
      -r "$MEDIBOT_ROOT/$requirements"
    echo "$digest" > "$stamp"
  fi
  export PATH="$VENV/bin:$PATH"
}

# Build dependencies of mysqlclient (Debian's client library and pkg-config).
ensure_mysql_build_deps() {
  apt_install default-libmysqlclient-dev pkg-config gcc
}

# --- supervising the embedded run (scripts/run.sh) ------------------------------------------------
# Every supervised command runs in its own process group; shutdown_supervised sends SIGTERM to
# each group (and to the groups of their children: honcho starts each process in its own session),
# waits up to MEDIBOT_STOP_GRACE_SECONDS (default 8) and SIGKILLs whatever is still alive, so
# Ctrl-C always stops everything within ~10 s even when a process ignores SIGTERM.
SUPERVISED=()

# supervise COMMAND... : start COMMAND in the background in a process group of its own.
supervise() {
  setsid "$@" &
  SUPERVISED+=("$!")
}

# _group_alive PGID : true while any non-zombie process is in the group.
_group_alive() {
  ps -o stat= -g "$1" 2>/dev/null | grep -qv '^Z'
}

shutdown_supervised() {
  trap - EXIT INT TERM
  [ ${#SUPERVISED[@]} -eq 0 ] && return 0
  local groups=() pid child
  for pid in "${SUPERVISED[@]}"; do
    groups+=("$pid")
    for child in $(pgrep -P "$pid" 2>/dev/null || true); do groups+=("$child"); done
  done
  for pid in "${groups[@]}"; do kill -TERM -- "-$pid" 2>/dev/null || true; done
  local deadline=$((SECONDS + ${MEDIBOT_STOP_GRACE_SECONDS:-8})) alive
  while [ "$SECONDS" -lt "$deadline" ]; do
    alive=0
    for pid in "${groups[@]}"; do _group_alive "$pid" && alive=1; done
    [ "$alive" -eq 0 ] && break
    sleep 0.2
  done
  for pid in "${groups[@]}"; do
    if _group_alive "$pid"; then
      log "process group $pid ignored SIGTERM; sending SIGKILL"
      kill -KILL -- "-$pid" 2>/dev/null || true
    fi
  done
  wait 2>/dev/null || true
  SUPERVISED=()
}
