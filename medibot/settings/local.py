"""Embedded single-host run: DEBUG on, an insecure development key unless one is given."""

from .base import *  # noqa: F403
from .base import env

DEBUG = env.bool("DJANGO_DEBUG", default=True)
SECRET_KEY = env.str("DJANGO_SECRET_KEY", default="medibot-local-development-key-not-for-production")

# WhiteNoise serves STATIC_ROOT (filled by collectstatic in Docker); app static files come from
# the finders here, and an existing (possibly empty) STATIC_ROOT keeps it from warning.
WHITENOISE_USE_FINDERS = True
STATIC_ROOT.mkdir(parents=True, exist_ok=True)  # noqa: F405
