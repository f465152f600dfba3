"""docker-compose.yml is valid for Debian's docker-compose 1.29 and keeps the stack's invariants.

The assertions run on ``docker-compose config``: the file as Compose itself reads it, with
anchors, merge keys and ``${VAR}`` interpolation resolved. Without docker-compose these tests
skip locally and fail under CI.
"""

from __future__ import annotations

import os
import re
import shlex
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
COMPOSE_FILE = ROOT / "docker-compose.yml"
README = ROOT / "README.md"
SERVICES = {"mysql", "mongodb", "redis", "web", "worker", "beat"}
WORKER_QUEUES = {"default", "outbox", "cleanup", "stats", "import"}
COMPOSE_SECRETS = {"DJANGO_SECRET_KEY": "x" * 64, "MYSQL_PASSWORD": "compose-test-password"}

# Subcommands whose positional arguments are service names; for exec/run only the first one is.
SERVICE_SUBCOMMANDS = frozenset(
    {"up", "down", "start", "stop", "restart", "logs", "ps", "build", "pull", "push", "rm", "kill"}
    | {"create", "pause", "unpause", "top", "events", "images", "exec", "run", "attach", "port", "watch"}
)
FIRST_POSITIONAL_ONLY = frozenset({"exec", "run", "port", "attach"})
# -f/-p mean --file/--project-name before the subcommand, --follow/--publish after it.
GLOBAL_OPTIONS_WITH_VALUE = frozenset(
    {"-f", "--file", "-p", "--project-name", "--profile", "--env-file", "--project-directory"}
    | {"--ansi", "--progress", "--parallel"}
)
OPTIONS_WITH_VALUE = frozenset(
    {"-e", "--env", "-u", "--user", "-w", "--workdir", "--entrypoint", "--name", "-v", "--volume"}
    | {"-l", "--label", "-p", "--publish", "-t", "--timeout", "--tail", "--since", "--until", "--index"}
    | {"--wait-timeout", "--pull", "--format", "--scale", "--exit-code-from", "--attach", "--no-attach"}
    | {"--signal", "-s", "--progress"}
)
OPTIONS_NAMING_A_SERVICE = frozenset({"--scale", "--exit-code-from", "--attach", "--no-attach"})
COMPOSE_INVOCATION = re.compile(r"(?<![\w./-])(?:docker[ \t]+compose|docker-compose)(?=[ \t]|$)")
SHELL_OPERATORS = frozenset({"&&", "||", "|", ";", "&", ">", ">>", "<", "#"})
# "the `web` service", "`worker` containers", "services `mysql`, `mongodb` and `redis`"
NAME_THEN_SERVICE = re.compile(r"`([a-z][a-z0-9_.-]*)`[ \t]+(?:service|container)s?\b", re.IGNORECASE)
SERVICES_THEN_NAMES = re.compile(
    r"\b(?:service|container)s?:?[ \t]+((?:`[a-z][a-z0-9_.-]*`(?:[ \t]*,[ \t]*|[ \t]+and[ \t]+|[ \t]*))+)",
    re.IGNORECASE,
)


def ci_requires_everything() -> bool:
    return os.environ.get("CI", "").strip().lower() in {"1", "true", "yes", "on"}


def docker_compose_binary() -> str:
    binary = shutil.which("docker-compose")
    if binary is None:
        message = "docker-compose is not installed (Debian: apt-get install docker-compose)"
        if ci_requires_everything():
            pytest.fail(message)
        pytest.skip(message)
    return binary


def run_compose_config(
    *, env_file: Path, env_overrides: dict[str, str], quiet: bool
) -> subprocess.CompletedProcess[str]:
    """``docker-compose config`` in a controlled environment: an empty env file instead of .env."""
    env = {key: value for key, value in os.environ.items() if key not in COMPOSE_SECRETS}
    env.update(env_overrides)
    command = [docker_compose_binary(), "--env-file", str(env_file), "-f", str(COMPOSE_FILE), "config"]
    return subprocess.run(
        [*command, "-q"] if quiet else command,
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


@pytest.fixture(scope="module")
def env_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("compose") / "empty.env"
    path.write_text("")
    return path


@pytest.fixture(scope="module")
def compose(env_file: Path) -> dict[str, Any]:
    result = run_compose_config(env_file=env_file, env_overrides=COMPOSE_SECRETS, quiet=False)
    assert result.returncode == 0, result.stderr
    return yaml.safe_load(result.stdout)


@pytest.fixture(scope="module")
def services(compose: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return compose["services"]


def command_words(service: dict[str, Any]) -> list[str]:
    command = service.get("command", [])
    return shlex.split(command) if isinstance(command, str) else [str(word) for word in command]


def test_missing_docker_compose_fails_under_ci(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("PATH", str(tmp_path))
    monkeypatch.setenv("CI", "true")

    with pytest.raises(pytest.fail.Exception, match="docker-compose is not installed"):
        docker_compose_binary()


def test_missing_docker_compose_skips_outside_ci(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("PATH", str(tmp_path))
    monkeypatch.delenv("CI", raising=False)

    with pytest.raises(pytest.skip.Exception):
        docker_compose_binary()


def test_compose_file_validates(env_file: Path) -> None:
    result = run_compose_config(env_file=env_file, env_overrides=COMPOSE_SECRETS, quiet=True)

    assert result.returncode == 0, result.stderr


def test_missing_secret_key_stops_compose_with_a_clear_message(env_file: Path) -> None:
    secrets_but_key = {k: v for k, v in COMPOSE_SECRETS.items() if k != "DJANGO_SECRET_KEY"}

    result = run_compose_config(env_file=env_file, env_overrides=secrets_but_key, quiet=True)

    assert result.returncode != 0
    assert "set DJANGO_SECRET_KEY" in result.stderr


def test_every_service_exists(services: dict[str, dict[str, Any]]) -> None:
    assert set(services) >= SERVICES


@pytest.mark.parametrize("name", ["mysql", "mongodb", "redis", "web"])
def test_service_has_a_healthcheck(services: dict[str, dict[str, Any]], name: str) -> None:
    healthcheck = services[name].get("healthcheck", {})

    assert healthcheck.get("test"), f"{name} has no healthcheck"
    assert not healthcheck.get("disable", False)


def test_data_lives_in_named_volumes(compose: dict[str, Any], services: dict[str, dict[str, Any]]) -> None:
    declared = set(compose.get("volumes", {}))
    for name in ("mysql", "mongodb", "redis"):
        volumes = services[name].get("volumes", [])
        assert volumes, f"{name} keeps its data in the container"
        for volume in volumes:
            source = volume["source"] if isinstance(volume, dict) else volume.split(":", 1)[0]
            assert source in declared, f"{name}: {source!r} is not a named volume"


def test_web_worker_and_beat_run_one_image(services: dict[str, dict[str, Any]]) -> None:
    web, worker, beat = services["web"], services["worker"], services["beat"]

    assert web.get("build")
    assert web.get("build") == worker.get("build") == beat.get("build")
    assert web.get("image") == worker.get("image") == beat.get("image")
    assert web["environment"] == worker["environment"] == beat["environment"]


def test_web_migrates_both_databases_and_never_preloads(services: dict[str, dict[str, Any]]) -> None:
    command = " ".join(command_words(services["web"]))

    assert "--preload" not in command
    assert "python manage.py migrate --noinput" in command
    assert "python manage.py migrate --database chats --noinput" in command
    assert "gunicorn medibot.wsgi:application" in command


def test_web_waits_for_healthy_backing_services(services: dict[str, dict[str, Any]]) -> None:
    depends_on = services["web"]["depends_on"]

    for name in ("mysql", "mongodb", "redis"):
        assert depends_on[name]["condition"] == "service_healthy"


def test_mongodb_runs_as_a_replica_set(services: dict[str, dict[str, Any]]) -> None:
    words = command_words(services["mongodb"])
    probe = " ".join(services["mongodb"]["healthcheck"]["test"])

    assert words[words.index("--replSet") + 1] == "rs0"
    assert "rs.initiate" in probe
    assert "mongodb:27017" in probe
    assert "replicaSet=rs0" in services["web"]["environment"]["MONGODB_URI"]


def test_worker_consumes_every_queue(services: dict[str, dict[str, Any]]) -> None:
    words = command_words(services["worker"])

    assert words[:4] == ["celery", "-A", "medibot", "worker"]
    assert set(words[words.index("-Q") + 1].split(",")) == WORKER_QUEUES


def test_beat_runs_celery_beat(services: dict[str, dict[str, Any]]) -> None:
    assert command_words(services["beat"])[:4] == ["celery", "-A", "medibot", "beat"]


def test_production_settings_and_service_urls(services: dict[str, dict[str, Any]]) -> None:
    environment = services["web"]["environment"]

    assert environment["DJANGO_SETTINGS_MODULE"] == "medibot.settings.production"
    assert environment["DJANGO_SECRET_KEY"] == COMPOSE_SECRETS["DJANGO_SECRET_KEY"]
    assert environment["MYSQL_HOST"] == "mysql"
    assert environment["MONGODB_DATABASE"] == "medibot_chats"
    assert environment["CELERY_BROKER_URL"] == "redis://redis:6379/0"
    assert environment["CELERY_RESULT_BACKEND"] == "redis://redis:6379/1"
    assert environment["REDIS_URL"] == "redis://redis:6379/2"


# --- README: every service its "## Docker" section names must exist -----------------------------


def docker_section(markdown: str) -> str | None:
    """The text under a ``## Docker...`` heading up to the next heading of level 1 or 2."""
    match = re.search(r"^##[ \t]+Docker\b.*$", markdown, flags=re.IGNORECASE | re.MULTILINE)
    if match is None:
        return None
    rest = markdown[match.end() :]
    following = re.search(r"^#{1,2}[ \t]", rest, flags=re.MULTILINE)
    return rest[: following.start()] if following else rest


def compose_commands(section: str) -> Iterator[str]:
    """``docker compose ...`` from every line and inline `code`, after prompts or ``VAR=... `` prefixes."""
    for candidate in [*section.splitlines(), *re.findall(r"`([^`\n]+)`", section)]:
        match = COMPOSE_INVOCATION.search(candidate)
        if match:
            yield candidate[match.start() :].split("`", 1)[0]


def services_in_command(command: str) -> set[str]:
    try:
        words = shlex.split(command, comments=True)
    except ValueError:
        words = command.split()
    words = words[2:] if words[:2] == ["docker", "compose"] else words[1:]
    subcommand: str | None = None
    found: set[str] = set()
    expects_value_of: str | None = None
    for word in words:
        if word in SHELL_OPERATORS:
            break
        if expects_value_of:
            if expects_value_of in OPTIONS_NAMING_A_SERVICE:
                found.add(word.split("=", 1)[0])
            expects_value_of = None
            continue
        if word.startswith("-"):
            option, has_value, value = word.partition("=")
            if option in OPTIONS_NAMING_A_SERVICE and has_value:
                found.add(value.split("=", 1)[0])
            elif not has_value and option in (
                OPTIONS_WITH_VALUE if subcommand else GLOBAL_OPTIONS_WITH_VALUE
            ):
                expects_value_of = option
            continue
        if subcommand is None:
            subcommand = word
            if subcommand not in SERVICE_SUBCOMMANDS:
                break
            continue
        found.add(word)
        if subcommand in FIRST_POSITIONAL_ONLY:
            break
    return found


def services_named_in(section: str) -> set[str]:
    """Services used in docker compose commands or called a service/container in the prose."""
    named = {service for command in compose_commands(section) for service in services_in_command(command)}
    named.update(NAME_THEN_SERVICE.findall(section))
    for names in SERVICES_THEN_NAMES.findall(section):
        named.update(re.findall(r"`([^`]+)`", names))
    return named


def test_readme_parser_reads_services_from_commands_and_prose() -> None:
    markdown = (
        "# Medibot\n\n## Docker\n\nThe services `mysql`, `mongodb` and `redis` keep data in volumes;"
        " the `beat` service schedules.\n\n```bash\n$ docker compose up -d --build\n"
        "docker compose exec -T web python manage.py chats_doctor\n"
        "docker compose logs -f --tail 50 worker | less\n"
        "DJANGO_SECRET_KEY=$(python3 -c 'import secrets') docker compose up -d redis\n"
        "docker compose up --scale worker=3 -d\n```\n\n"
        "Then `docker-compose -f docker-compose.yml restart mongodb`; `DJANGO_SECRET_KEY` must be set.\n\n"
        "## Next\n\ndocker compose exec elsewhere sh\n"
    )

    section = docker_section(markdown)

    assert section is not None
    assert services_named_in(section) == {"web", "worker", "beat", "mongodb", "mysql", "redis"}
    assert set(compose_commands("See `docker-compose.yml` and /usr/bin/docker-compose.")) == set()


def test_services_named_in_readme_exist(services: dict[str, dict[str, Any]]) -> None:
    section = docker_section(README.read_text(encoding="utf-8")) if README.exists() else None
    if section is None:
        pytest.skip("README.md has no '## Docker' section yet")

    named = services_named_in(section)

    assert named <= set(services), f"README names unknown services: {sorted(named - set(services))}"


def test_scaled_profile_adds_dedicated_queue_workers(services: dict[str, dict[str, Any]]) -> None:
    queues: dict[str, set[str]] = {}
    for name in ("worker-outbox", "worker-import"):
        assert services[name]["profiles"] == ["scaled"]
        words = command_words(services[name])
        assert words[:4] == ["celery", "-A", "medibot", "worker"]
        queues[name] = set(words[words.index("-Q") + 1].split(","))

    assert queues["worker-outbox"] == {"outbox"}
    assert queues["worker-outbox"] | queues["worker-import"] | {"default"} == WORKER_QUEUES


# --- the README's recipe ends with a working admin login -----------------------------------------


def test_web_creates_the_first_admin_before_serving(services: dict[str, dict[str, Any]]) -> None:
    command = " ".join(services["web"]["command"])
    assert command.index("ensure_superuser") < command.index("gunicorn")
    environment = services["web"]["environment"]
    for name in ("DJANGO_SUPERUSER_USERNAME", "DJANGO_SUPERUSER_PASSWORD", "DJANGO_SECURE_SSL_REDIRECT"):
        assert name in environment, name


def test_readme_recipe_writes_the_admin_and_plain_http_settings_into_env() -> None:
    section = docker_section(README.read_text()) or ""
    for name in (
        "DJANGO_SECRET_KEY",
        "MYSQL_PASSWORD",
        "DJANGO_SUPERUSER_USERNAME",
        "DJANGO_SUPERUSER_PASSWORD",
        "DJANGO_SECURE_SSL_REDIRECT=false",
    ):
        assert name in section, name
