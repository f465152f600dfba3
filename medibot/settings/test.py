"""Test settings.

With ``CI=true`` (or ``MEDIBOT_TEST_REAL_SERVICES=true``) ``default`` is the real MariaDB/MySQL
and the broker the real Redis; otherwise SQLite and the in-memory broker. ``chats`` points at
``MONGODB_URI`` when given, else at a SecantusDB that the test session starts on a free port
(``tests/conftest.py``, which also fails the run when a service is missing). Declarations only:
nothing here starts a process or installs a listener (the engine installs the shard-key guard).
"""

import os

from .base import *  # noqa: F403
from .base import DATABASES, VAR_DIR, env

SECRET_KEY = "medibot-test-key"  # noqa: S105  # nosec B105 - test-only
DEBUG = False
PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]

REAL_SERVICES = env.bool("CI", default=False) or env.bool("MEDIBOT_TEST_REAL_SERVICES", default=False)

if REAL_SERVICES and not env.str("DATABASE_URL", default="") and not env.str("MYSQL_HOST", default=""):
    DATABASES["default"] = {
        "ENGINE": "django.db.backends.mysql",
        "HOST": "127.0.0.1",
        "PORT": 3306,
        "USER": "root",
        "PASSWORD": "",  # nosec B105 - CI MariaDB: root without a password
        "NAME": "medibot",
        "OPTIONS": {"charset": "utf8mb4", "init_command": "SET sql_mode='STRICT_TRANS_TABLES'"},
        "TEST": {
            "NAME": "test_medibot" + env.str("MEDIBOT_TEST_DB_SUFFIX", default=""),
            "CHARSET": "utf8mb4",
            "COLLATION": "utf8mb4_unicode_ci",
        },
    }
elif DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    # A file, not memory: outage tests run a real server process against the same test database.
    DATABASES["default"]["TEST"] = {"NAME": str(VAR_DIR / f"test-medibot-{os.getpid()}.sqlite3")}

# The read replica is a second database of its own, so tests can tell which one answered.
if "replica" not in DATABASES:
    _replica = dict(DATABASES["default"])
    if _replica["ENGINE"] == "django.db.backends.mysql":
        _test_name = _replica.get("TEST", {}).get("NAME") or f"test_{_replica['NAME']}"
        _replica["TEST"] = {**_replica.get("TEST", {}), "NAME": f"{_test_name}_replica"}
    else:
        _replica["TEST"] = {"NAME": str(VAR_DIR / f"test-medibot-replica-{os.getpid()}.sqlite3")}
    DATABASES["replica"] = _replica
# Nothing replicates into that database, so lag-tolerant reads use the primary unless a test
# (tests/medibot/test_replica.py) turns replica reads on.
REPLICA_READS = False

REDIS_URL = env.str("REDIS_URL", default="redis://127.0.0.1:6379/15" if REAL_SERVICES else "")
CELERY_BROKER_URL = env.str("CELERY_BROKER_URL", default="") or (REDIS_URL or "memory://")
CELERY_RESULT_BACKEND = env.str("CELERY_RESULT_BACKEND", default="") or (REDIS_URL or "cache+memory://")
CELERY_TASK_ALWAYS_EAGER = False
# Every health request probes afresh, so tests see a change at once.
HEALTH_CACHE_SECONDS = env.float("HEALTH_CACHE_SECONDS", default=0.0)
# The recent-history cache on the test Redis (give it a db of its own through REDIS_URL or
# CHAT_RECENT_CACHE_URL), else in process memory.
CHAT_RECENT_CACHE_URL = env.str("CHAT_RECENT_CACHE_URL", default="") or REDIS_URL
CACHES["recent_history"] = (  # noqa: F405
    {
        "BACKEND": "django.core.cache.backends.redis.RedisCache",
        "LOCATION": CHAT_RECENT_CACHE_URL,
        "KEY_PREFIX": "medibot",
        "OPTIONS": {"socket_connect_timeout": 0.5, "socket_timeout": 0.5},
    }
    if CHAT_RECENT_CACHE_URL
    else {"BACKEND": "django.core.cache.backends.locmem.LocMemCache", "LOCATION": "recent-history"}
)

LOGGING["root"]["level"] = "WARNING"  # noqa: F405

# Bulk test fixtures and flushes between tests are not request paths: give them room.
DATABASES["chats"]["OPTIONS"]["timeoutMS"] = env.int("MONGODB_OPERATION_TIMEOUT_MS", default=30_000)
DATABASES["chats"]["TEST"] = {"NAME": "test_medibot_chats", "DEPENDENCIES": []}
# Every chat command of the suite is checked for the shard key (tests/conftest.py fails the test).
MONGODB_SHARD_KEY_GUARD = "record"

# Rate limits out of the way of functional tests; tests/security/test_throttling.py sets real ones.
REST_FRAMEWORK["DEFAULT_THROTTLE_RATES"] = {"chat_send": "100000/min", "chat_export": "100000/min"}  # noqa: F405

# WhiteNoise serves STATIC_ROOT (filled by collectstatic in Docker); app static files come from
# the finders here, and an existing (possibly empty) STATIC_ROOT keeps it from warning.
WHITENOISE_USE_FINDERS = True
STATIC_ROOT.mkdir(parents=True, exist_ok=True)  # noqa: F405
