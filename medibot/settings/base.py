"""Every setting of Medibot, read from the environment in this one place.

Embedded defaults (SQLite, a local SecantusDB, Celery on kombu's filesystem transport) make
``local`` runs need nothing but Python; production supplies MySQL, MongoDB and Redis URLs.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import django_stubs_ext
import environ
from csp.constants import NONE, SELF
from django.core.exceptions import ImproperlyConfigured

from medibot.logs import logging_config

# Runtime support for the generic classes of the type stubs (``ModelAdmin[User]``, ``QuerySet[...]``).
django_stubs_ext.monkeypatch()

BASE_DIR = Path(__file__).resolve().parent.parent.parent
env = environ.Env()
env.read_env(BASE_DIR / ".env", overwrite=False)
VAR_DIR = Path(env.str("MEDIBOT_VAR_DIR", default=str(BASE_DIR / "var")))  # after .env: it may set it

DEBUG = env.bool("DJANGO_DEBUG", default=False)
SECRET_KEY = env.str("DJANGO_SECRET_KEY", default="")
ALLOWED_HOSTS: list[str] = env.list("DJANGO_ALLOWED_HOSTS", default=["127.0.0.1", "localhost"])
CSRF_TRUSTED_ORIGINS: list[str] = env.list("DJANGO_CSRF_TRUSTED_ORIGINS", default=[])

INSTALLED_APPS = [
    "medibot.apps.MedibotConfig",
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "rest_framework",
    "rest_framework.authtoken",
    "django_filters",
    "drf_spectacular",
    "drf_spectacular_sidecar",
    "csp",
    "django_celery_beat",
    "accounts.apps.AccountsConfig",
    "audit.apps.AuditConfig",
    "ehr.apps.EhrConfig",
    "chats.apps.ChatsConfig",
    "chats.outbox.apps.OutboxConfig",
    "web.apps.WebConfig",
    "whatsapp.apps.WhatsAppConfig",
]

MIDDLEWARE = [
    # First: the request id is on every log line and response, redirects and errors included.
    "medibot.logs.RequestIdMiddleware",
    "medibot.metrics.RequestMetricsMiddleware",
    "django.middleware.security.SecurityMiddleware",
    "csp.middleware.CSPMiddleware",
    "medibot.middleware.ApiBodyLimitMiddleware",
    # Static files (chat page script and styles, admin) served by the app itself: no proxy needed.
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "medibot.middleware.NoStoreMiddleware",
    "medibot.mongodb.shard_guard.AdminScopeMiddleware",
    "medibot.routers.ReplicaPinningMiddleware",
]

ROOT_URLCONF = "medibot.urls"
WSGI_APPLICATION = "medibot.wsgi.application"
ASGI_APPLICATION = "medibot.asgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
            ],
        },
    },
]

# --- Databases --------------------------------------------------------------------------------
# ``default`` (users, auth, sessions, admin log, EHR, outbox): MySQL in production, SQLite embedded.
# ``chats`` (every chat model): MongoDB through django-mongodb-backend.


def relational_database(environment: environ.Env) -> dict[str, Any]:
    """``default`` from DATABASE_URL, else MYSQL_*, else the embedded SQLite file under var/."""
    if environment.str("DATABASE_URL", default=""):
        config: dict[str, Any] = environment.db_url("DATABASE_URL")
    elif environment.str("MYSQL_HOST", default=""):
        config = {
            "ENGINE": "django.db.backends.mysql",
            "HOST": environment.str("MYSQL_HOST"),
            "PORT": environment.int("MYSQL_PORT", default=3306),
            "USER": environment.str("MYSQL_USER", default="root"),
            "PASSWORD": environment.str("MYSQL_PASSWORD", default=""),
            "NAME": environment.str("MYSQL_DATABASE", default="medibot"),
        }
    else:
        config = {"ENGINE": "django.db.backends.sqlite3", "NAME": str(VAR_DIR / "medibot.sqlite3")}
    if config["ENGINE"] == "django.db.backends.mysql":
        config.setdefault("OPTIONS", {}).update(
            {
                "charset": "utf8mb4",
                "init_command": "SET sql_mode='STRICT_TRANS_TABLES'",
                # A down or frozen MySQL fails a request fast (503) instead of hanging a worker.
                "connect_timeout": environment.int("MYSQL_CONNECT_TIMEOUT", default=5),
                "read_timeout": environment.int("MYSQL_READ_TIMEOUT", default=5),
                "write_timeout": environment.int("MYSQL_WRITE_TIMEOUT", default=5),
            }
        )
        config["CONN_MAX_AGE"] = environment.int("MYSQL_CONN_MAX_AGE", default=60)
        config["CONN_HEALTH_CHECKS"] = True
        config.setdefault("TEST", {})["CHARSET"] = "utf8mb4"
        config["TEST"]["COLLATION"] = "utf8mb4_unicode_ci"
    elif config["ENGINE"] == "django.db.backends.sqlite3":
        config.setdefault("OPTIONS", {}).update(
            {"timeout": 20, "transaction_mode": "IMMEDIATE", "init_command": "PRAGMA journal_mode=WAL;"}
        )
    return config


EMBEDDED_MONGODB_PORT = env.int("MEDIBOT_EMBEDDED_MONGODB_PORT", default=27117)
MONGODB_URI = env.str(
    "MONGODB_URI", default=f"mongodb://127.0.0.1:{EMBEDDED_MONGODB_PORT}/?directConnection=true"
)
MONGODB_DATABASE = env.str("MONGODB_DATABASE", default="medibot_chats")
MONGODB_TIMEOUT_MS = env.int("MONGODB_TIMEOUT_MS", default=2000)
MONGODB_CONFLICT_RETRY_SECONDS = env.float("MONGODB_CONFLICT_RETRY_SECONDS", default=10.0)
MONGODB_CONFLICT_MAX_ATTEMPTS = env.int("MONGODB_CONFLICT_MAX_ATTEMPTS", default=500)


# Scale-out (docs/SCALING.md): majority-acknowledged chat writes unless the URI says otherwise
# (``?w=...``); read preference and read concern come from the URI (``readPreference=...``).
MONGODB_WRITE_CONCERN = env.str("MONGODB_WRITE_CONCERN", default="majority")
# Shard-key guard on every chat command: off | log | record (the test suite records and fails).
MONGODB_SHARD_KEY_GUARD = env.str("MONGODB_SHARD_KEY_GUARD", default="off")


def _uri_options(uri: str) -> set[str]:
    query = urlsplit(uri).query
    return {key.lower() for key in parse_qs(query, keep_blank_values=True)}


def chats_database() -> dict[str, Any]:
    """The ``chats`` alias; short client-side timeouts so an outage fails fast instead of hanging.
    The shard-key guard (MONGODB_SHARD_KEY_GUARD) is installed by the engine when it connects."""
    options: dict[str, Any] = {}
    if "w" not in _uri_options(MONGODB_URI):
        options["w"] = (
            int(MONGODB_WRITE_CONCERN) if MONGODB_WRITE_CONCERN.isdigit() else MONGODB_WRITE_CONCERN
        )
    return {
        "ENGINE": "medibot.mongodb",
        "HOST": MONGODB_URI,
        "NAME": MONGODB_DATABASE,
        "OPTIONS": {
            "serverSelectionTimeoutMS": MONGODB_TIMEOUT_MS,
            "connectTimeoutMS": MONGODB_TIMEOUT_MS,
            # pymongo's deadline for every operation (it also bounds server selection), so an
            # unreachable MongoDB fails a request fast; background jobs widen it with pymongo.timeout().
            "timeoutMS": env.int("MONGODB_OPERATION_TIMEOUT_MS", default=MONGODB_TIMEOUT_MS),
            "appname": "medibot",
            **options,
        },
    }


def replica_database(environment: environ.Env, primary: dict[str, Any]) -> dict[str, Any] | None:
    """The optional read replica of ``default``: DATABASE_REPLICA_URL, or MYSQL_REPLICA_HOST (+ the
    other MYSQL_REPLICA_* settings, each defaulting to the primary's value)."""
    if environment.str("DATABASE_REPLICA_URL", default=""):
        replica: dict[str, Any] = environment.db_url("DATABASE_REPLICA_URL")
    elif environment.str("MYSQL_REPLICA_HOST", default=""):
        replica = {
            "ENGINE": "django.db.backends.mysql",
            "HOST": environment.str("MYSQL_REPLICA_HOST"),
            "PORT": environment.int("MYSQL_REPLICA_PORT", default=int(primary.get("PORT") or 3306)),
            "USER": environment.str("MYSQL_REPLICA_USER", default=primary.get("USER", "root")),
            "PASSWORD": environment.str("MYSQL_REPLICA_PASSWORD", default=primary.get("PASSWORD", "")),
            "NAME": environment.str("MYSQL_REPLICA_DATABASE", default=primary.get("NAME", "medibot")),
        }
    else:
        return None
    for key in ("OPTIONS", "CONN_MAX_AGE", "CONN_HEALTH_CHECKS"):
        if key in primary and key not in replica:
            replica[key] = primary[key]
    # Tests: the same data as the primary unless a test database of its own is configured.
    replica.setdefault("TEST", {"MIRROR": "default"})
    return replica


DATABASES = {"default": relational_database(env), "chats": chats_database()}
if (_replica := replica_database(env, DATABASES["default"])) is not None:
    DATABASES["replica"] = _replica
DATABASE_ROUTERS = ["django_mongodb_backend.routers.MongoRouter", "medibot.routers.DatabaseRouter"]
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"
AUTH_USER_MODEL = "accounts.User"


# --- Auth -------------------------------------------------------------------------------------
AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]
SESSION_COOKIE_AGE = env.int("SESSION_COOKIE_AGE", default=60 * 60 * 8)
SESSION_SAVE_EVERY_REQUEST = True  # idle sessions expire after SESSION_COOKIE_AGE of inactivity
LOGIN_URL = "/login/"
LOGIN_REDIRECT_URL = "/"
LOGOUT_REDIRECT_URL = "/login/"

# --- I18N / static ----------------------------------------------------------------------------
LANGUAGE_CODE = "en-us"
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True
STATIC_URL = "static/"
STATIC_ROOT = VAR_DIR / "static"

# --- Redis / Celery ---------------------------------------------------------------------------
REDIS_URL = env.str("REDIS_URL", default="")
CELERY_BROKER_URL = env.str("CELERY_BROKER_URL", default="") or "filesystem://"
CELERY_EMBEDDED_BROKER_DIR = VAR_DIR / "celery-broker"
CELERY_RESULT_BACKEND = env.str("CELERY_RESULT_BACKEND", default="") or (
    f"file://{VAR_DIR / 'celery-results'}"
)
CELERY_TASK_ALWAYS_EAGER = env.bool("CELERY_TASK_ALWAYS_EAGER", default=False)
CELERY_TASK_TIME_LIMIT = env.int("CELERY_TASK_TIME_LIMIT", default=15 * 60)
CELERY_TASK_SOFT_TIME_LIMIT = env.int("CELERY_TASK_SOFT_TIME_LIMIT", default=14 * 60)

# The recent-history cache of chat sessions holds message text (PHI): its own Redis if wanted.
CHAT_RECENT_CACHE_URL = env.str("CHAT_RECENT_CACHE_URL", default="") or REDIS_URL
# Shared cache (throttles, health probes): Redis when configured, else per-process memory.
CACHES = {
    "default": (
        {"BACKEND": "django.core.cache.backends.redis.RedisCache", "LOCATION": REDIS_URL}
        if REDIS_URL
        else {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}
    ),
    # The recent history of active chat sessions, read only while MongoDB is down (chats/recent_history.py).
    # Short socket timeouts: when Redis is down too, a turn still answers and reads answer 503 quickly.
    "recent_history": (
        {
            "BACKEND": "django.core.cache.backends.redis.RedisCache",
            "LOCATION": CHAT_RECENT_CACHE_URL,
            "KEY_PREFIX": "medibot",
            "OPTIONS": {"socket_connect_timeout": 0.5, "socket_timeout": 0.5},
        }
        if CHAT_RECENT_CACHE_URL
        else {
            "BACKEND": "django.core.cache.backends.filebased.FileBasedCache",
            "LOCATION": str(VAR_DIR / "recent-history"),
            "OPTIONS": {"MAX_ENTRIES": 100_000},  # two files per active session, one per user
        }
    ),
}
AUTH_LOGIN_FAILURE_RATE = env.str("AUTH_LOGIN_FAILURE_RATE", default="5/min")

# --- Chat product settings ---------------------------------------------------------------------
CHAT_MAX_MESSAGE_CHARS = env.int("CHAT_MAX_MESSAGE_CHARS", default=32_000)
CHAT_TITLE_MAX_CHARS = 80
CHAT_PAGE_SIZE_MAX = 100
CHAT_RETENTION_DAYS = env.int("CHAT_RETENTION_DAYS", default=0)  # 0 = keep forever
CHAT_SOFT_DELETE_DAYS = env.int("CHAT_SOFT_DELETE_DAYS", default=30)
# Sessions active in this many days keep their last CHAT_RECENT_CACHE_MESSAGES messages in the
# recent_history cache, served (marked degraded) while MongoDB is unreachable.
CHAT_RECENT_CACHE_DAYS = env.int("CHAT_RECENT_CACHE_DAYS", default=7)
CHAT_RECENT_CACHE_MESSAGES = 50
CHAT_RETENTION_ACTION = env.str("CHAT_RETENTION_ACTION", default="archive")  # or "purge"
if CHAT_RETENTION_ACTION not in ("archive", "purge"):
    raise ImproperlyConfigured("CHAT_RETENTION_ACTION must be 'archive' or 'purge'.")
OUTBOX_MAX_ATTEMPTS = env.int("OUTBOX_MAX_ATTEMPTS", default=10)
OUTBOX_BATCH_SIZE = env.int("OUTBOX_BATCH_SIZE", default=200)
# /api/chat/health: probes at most once per HEALTH_CACHE_SECONDS per process, enqueues the outbox
# sync at most once per HEALTH_ENQUEUE_INTERVAL_SECONDS, "degraded" from this outbox depth on.
HEALTH_CACHE_SECONDS = env.float("HEALTH_CACHE_SECONDS", default=5.0)
HEALTH_ENQUEUE_INTERVAL_SECONDS = env.int("HEALTH_ENQUEUE_INTERVAL_SECONDS", default=60)
HEALTH_OUTBOX_DEGRADED_DEPTH = env.int("HEALTH_OUTBOX_DEGRADED_DEPTH", default=100)
CHAT_BACKUP_DIR = env.str("CHAT_BACKUP_DIR", default="")  # empty = no JSON backup job
# Imports and exports a patient starts from the page (issues 17, 21): uploads and built zips wait
# in CHAT_TRANSFER_DIR (private; web and import worker must share it), each deleted when done.
CHAT_TRANSFER_DIR = env.str("CHAT_TRANSFER_DIR", default=str(VAR_DIR / "transfers"))
CHAT_IMPORT_MAX_BYTES = env.int("CHAT_IMPORT_MAX_BYTES", default=200 * 1024 * 1024)
CHAT_IMPORT_BATCH_SIZE = env.int("CHAT_IMPORT_BATCH_SIZE", default=200)
CHAT_EXPORT_KEEP_HOURS = env.int("CHAT_EXPORT_KEEP_HOURS", default=24)
# Per-patient encryption of chat content (README "Encryption"). "off" keeps writing plaintext but
# still reads what was encrypted (rollback with `encrypt_chats --decrypt`).
CHAT_ENCRYPTION = env.str("CHAT_ENCRYPTION", default="off")
if CHAT_ENCRYPTION not in ("off", "on"):
    raise ImproperlyConfigured("CHAT_ENCRYPTION must be 'off' or 'on'.")
# local (a 96-byte master key, base64, from CHAT_ENCRYPTION_LOCAL_KEY or the file), aws, azure, gcp, kmip.
CHAT_ENCRYPTION_KMS_PROVIDER = env.str("CHAT_ENCRYPTION_KMS_PROVIDER", default="local")
if CHAT_ENCRYPTION_KMS_PROVIDER not in ("local", "aws", "azure", "gcp", "kmip"):
    raise ImproperlyConfigured("CHAT_ENCRYPTION_KMS_PROVIDER must be local, aws, azure, gcp or kmip.")
CHAT_ENCRYPTION_LOCAL_KEY = env.str("CHAT_ENCRYPTION_LOCAL_KEY", default="")
CHAT_ENCRYPTION_LOCAL_KEY_FILE = env.str(
    "CHAT_ENCRYPTION_LOCAL_KEY_FILE", default=str(VAR_DIR / "chat-master-key.b64")
)
CHAT_ENCRYPTION_GENERATE_LOCAL_KEY = env.bool("CHAT_ENCRYPTION_GENERATE_LOCAL_KEY", default=True)
# The cloud providers' credentials and the master key description (pymongo's kms_providers[<provider>]
# and master_key), as JSON, e.g. {"accessKeyId": ..., "secretAccessKey": ...} and {"region": ..., "key": ...}.
CHAT_ENCRYPTION_KMS_CREDENTIALS = env.json("CHAT_ENCRYPTION_KMS_CREDENTIALS", default={})
CHAT_ENCRYPTION_MASTER_KEY = env.json("CHAT_ENCRYPTION_MASTER_KEY", default={})
# How long any process may keep using a data key after it was destroyed (key caches' expiry).
CHAT_ENCRYPTION_KEY_CACHE_SECONDS = env.float("CHAT_ENCRYPTION_KEY_CACHE_SECONDS", default=60.0)
# An account erasure runs a second time this long after the deletion, when no request of the account
# that was in flight at the deletion can still be storing anything (gunicorn's timeout is 30 s;
# streamed answers end well within this). sync_outbox (every minute) runs it.
CHAT_ACCOUNT_ERASURE_RECHECK_SECONDS = env.float("CHAT_ACCOUNT_ERASURE_RECHECK_SECONDS", default=300.0)
# The key vault collection; empty: <chats database>_keyvault.datakeys (a database of its own).
CHAT_KEY_VAULT_NAMESPACE = env.str("CHAT_KEY_VAULT_NAMESPACE", default="")
# The outbox payloads' AES-256-GCM key (base64 of 32 bytes); empty: derived from the local master key.
CHAT_OUTBOX_KEY = env.str("CHAT_OUTBOX_KEY", default="")
# The chats client's BSON decoder: decrypts every encrypted value it reads (a dotted path).
MONGODB_TYPE_REGISTRY = "chats.crypto.type_registry"
CHAT_RESPONDER = env.str("CHAT_RESPONDER", default="offline")  # or "openai"
# OpenAI-compatible provider (CHAT_RESPONDER=openai): OpenAI, Azure OpenAI, vLLM, Ollama, LM Studio...
OPENAI_BASE_URL = env.str("OPENAI_BASE_URL", default="https://api.openai.com/v1")
OPENAI_API_KEY = env.str("OPENAI_API_KEY", default="")
OPENAI_MODEL = env.str("OPENAI_MODEL", default="gpt-4o-mini")
OPENAI_TIMEOUT_SECONDS = env.float("OPENAI_TIMEOUT_SECONDS", default=30.0)
OPENAI_MAX_RETRIES = env.int("OPENAI_MAX_RETRIES", default=2)
OPENAI_PRICE_PER_1K_PROMPT = env.str("OPENAI_PRICE_PER_1K_PROMPT", default="0")
OPENAI_PRICE_PER_1K_COMPLETION = env.str("OPENAI_PRICE_PER_1K_COMPLETION", default="0")
if CHAT_RESPONDER == "openai" and not OPENAI_API_KEY and OPENAI_BASE_URL.startswith("https://api.openai.com"):
    raise ImproperlyConfigured("CHAT_RESPONDER=openai against api.openai.com needs OPENAI_API_KEY.")

# --- WhatsApp channel (Meta's WhatsApp Business Cloud API) --------------------------------------
# The channel is off (the webhook answers 404) while WHATSAPP_APP_SECRET is empty.
WHATSAPP_APP_SECRET = env.str("WHATSAPP_APP_SECRET", default="")
WHATSAPP_VERIFY_TOKEN = env.str("WHATSAPP_VERIFY_TOKEN", default="")
WHATSAPP_ACCESS_TOKEN = env.str("WHATSAPP_ACCESS_TOKEN", default="")
WHATSAPP_PHONE_NUMBER_ID = env.str("WHATSAPP_PHONE_NUMBER_ID", default="")
WHATSAPP_GRAPH_API_URL = env.str("WHATSAPP_GRAPH_API_URL", default="https://graph.facebook.com/v23.0").rstrip(
    "/"
)
WHATSAPP_SEND_TIMEOUT_SECONDS = env.float("WHATSAPP_SEND_TIMEOUT_SECONDS", default=10.0)
WHATSAPP_SESSION_GAP_MINUTES = env.int("WHATSAPP_SESSION_GAP_MINUTES", default=30)  # as migrate_chats
WHATSAPP_MAX_BODY_BYTES = env.int("WHATSAPP_MAX_BODY_BYTES", default=1_000_000)
WHATSAPP_LINK_CODE_MINUTES = env.int("WHATSAPP_LINK_CODE_MINUTES", default=15)
# API tokens are stored hashed and expire after this many hours (0 = only password change/logout).
AUTH_TOKEN_TTL_HOURS = env.int("AUTH_TOKEN_TTL_HOURS", default=720)

# --- DRF --------------------------------------------------------------------------------------
REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": [
        "accounts.authentication.HashedTokenAuthentication",
        "rest_framework.authentication.SessionAuthentication",
    ],
    "DEFAULT_PERMISSION_CLASSES": ["rest_framework.permissions.IsAuthenticated"],
    "DEFAULT_SCHEMA_CLASS": "medibot.schema.MedibotAutoSchema",
    "EXCEPTION_HANDLER": "medibot.exception_handler.exception_handler",
    # ``?format=`` names export formats (csv, md, ...), not DRF renderers.
    "URL_FORMAT_OVERRIDE": None,
    # Reverse proxies in front of Django (1 behind nginx); client IPs for throttles come from this.
    "NUM_PROXIES": env.int("DRF_NUM_PROXIES", default=0),
    "DEFAULT_RENDERER_CLASSES": [
        "rest_framework.renderers.JSONRenderer",
        "rest_framework.renderers.BrowsableAPIRenderer",
    ],
    "DEFAULT_PARSER_CLASSES": [
        "medibot.parsers.SafeJSONParser",
        "rest_framework.parsers.FormParser",
        "rest_framework.parsers.MultiPartParser",
    ],
    # Views opt in with ``throttle_scope``; see medibot/throttling.py.
    "DEFAULT_THROTTLE_CLASSES": ["medibot.throttling.ResilientScopedRateThrottle"],
    "DEFAULT_THROTTLE_RATES": {
        "chat_send": env.str("CHAT_SEND_RATE", default="30/min"),
        "chat_export": env.str("CHAT_EXPORT_RATE", default="10/min"),
        "health": env.str("HEALTH_RATE", default="60/min"),
    },
}
SPECTACULAR_SETTINGS = {
    "TITLE": "Medibot API",
    "DESCRIPTION": "Chat history, EHR and operations API of Medibot.",
    "VERSION": "1.0.0",
    "SERVE_INCLUDE_SCHEMA": False,
    # Swagger UI and ReDoc from the drf-spectacular-sidecar package: the docs work offline.
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "REDOC_DIST": "SIDECAR",
    "POSTPROCESSING_HOOKS": [
        "drf_spectacular.hooks.postprocess_schema_enums",
        "medibot.schema.document_aliases_and_streams",
    ],
}

# --- Metrics (Prometheus) at /metrics: a bearer token or allowed client networks, else 404 ----------
METRICS_TOKEN = env.str("METRICS_TOKEN", default="")
METRICS_ALLOWED_IPS: list[str] = env.list("METRICS_ALLOWED_IPS", default=[])
# A Celery worker serves its own metrics on this port (0 = off); keep it on the private network.
METRICS_WORKER_PORT = env.int("METRICS_WORKER_PORT", default=0)

# --- Content-Security-Policy (django-csp): one policy for the web pages, the admin and the API docs.
# No inline script or style anywhere, nothing from another origin, no framing.
CONTENT_SECURITY_POLICY = {
    "DIRECTIVES": {
        "default-src": [SELF],
        "script-src": [SELF],
        "style-src": [SELF],
        "img-src": [SELF, "data:"],
        "font-src": [SELF],
        "connect-src": [SELF],
        "worker-src": [SELF, "blob:"],
        "object-src": [NONE],
        "base-uri": [NONE],
        "form-action": [SELF],
        "frame-ancestors": [NONE],
    }
}

# --- Logging: structured, ids only, never message text or EHR values ------------------------------
# ``json`` (one object per line; production's default) or ``text`` (readable; the default elsewhere).
LOG_LEVEL = env.str("LOG_LEVEL", default="INFO")
LOG_FORMAT = env.str("LOG_FORMAT", default="")
if LOG_FORMAT not in ("", "json", "text"):
    raise ImproperlyConfigured("LOG_FORMAT must be 'json' or 'text'.")
LOGGING = logging_config(log_format=LOG_FORMAT or "text", level=LOG_LEVEL)
