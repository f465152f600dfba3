# Shared set-up steps for scripts/run.sh, scripts/test.sh and bench. Idempotent.
set -euo pipefail

MEDIBOT_ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
VENV="${MEDIBOT_VENV:-$MEDIBOT_ROOT/.venv}"
PYTHON_BIN="${PYTHON:-python3.11}"
command -v "$PYTHON_BIN" >/dev/null 2>&1 || PYTHON_BIN=python3

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

# ensure_venv REQUIREMENTS_FILE : creates .venv and installs the file when it changed since last time.
ensure_venv() {
  local requirements="$1" stamp
  if [ ! -x "$VENV/bin/python" ]; then
    log "creating virtualenv $VENV"
    "$PYTHON_BIN" -m venv "$VENV"
  fi
  stamp="$VENV/.installed-$(basename "$requirements" .txt)"
  local digest
  digest="$(cat "$MEDIBOT_ROOT"/requirements/*.txt | sha256sum | cut -d' ' -f1)"
  if [ ! -f "$stamp" ] || [ "$(cat "$stamp")" != "$digest" ]; then
    log "installing $requirements"
    "$VENV/bin/python" -m pip install -q --disable-pip-version-check -r "$MEDIBOT_ROOT/$requirements"
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
