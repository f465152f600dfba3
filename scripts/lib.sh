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
