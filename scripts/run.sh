#!/usr/bin/env bash
# Install and run Medibot on embedded defaults: SQLite, a local SecantusDB under var/, Celery on
# kombu's filesystem transport. Starts web (http://127.0.0.1:8000), worker and beat; Ctrl-C stops all.
source "$(dirname "$0")/lib.sh"
cd "$MEDIBOT_ROOT"
ensure_venv requirements/local.lock
mkdir -p var
export DJANGO_SETTINGS_MODULE="${DJANGO_SETTINGS_MODULE:-medibot.settings.local}"

trap shutdown_supervised EXIT
trap 'shutdown_supervised; exit 130' INT TERM

if [ -z "${MONGODB_URI:-}" ]; then
  port="${MEDIBOT_EMBEDDED_MONGODB_PORT:-27117}"
  if python -c "import socket,sys; s=socket.socket(); sys.exit(0 if s.connect_ex(('127.0.0.1',$port)) else 1)"; then
    log "starting embedded SecantusDB on 127.0.0.1:$port (data in var/secantus)"
    supervise python -m secantus --host 127.0.0.1 --port "$port" --storage-path var/secantus \
      --log-level WARNING >>var/secantus.log 2>&1
    python -c "from medibot.embedded import wait_for_port; wait_for_port($port)"
  else
    log "something already listens on 127.0.0.1:$port; using it as the embedded MongoDB"
  fi
fi

python manage.py migrate --noinput -v 0
python manage.py migrate --database chats --noinput -v 0
python manage.py seed_demo
log "starting web (http://127.0.0.1:8000), Celery worker and beat; Ctrl-C stops everything"
supervise honcho -f Procfile.dev start
wait "${SUPERVISED[-1]}" || true
