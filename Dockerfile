# One image for web (gunicorn), worker and beat (Celery); see docker-compose.yml.
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1

# mysqlclient has no Linux wheel: build it against Debian's client library, then drop the compiler.
COPY requirements/ /tmp/requirements/
RUN apt-get update \
    && apt-get install -y --no-install-recommends default-libmysqlclient-dev pkg-config gcc libc6-dev \
    && pip install --require-hashes -r /tmp/requirements/prod.lock \
    && apt-get purge -y --auto-remove gcc pkg-config \
    && rm -rf /var/lib/apt/lists/* /tmp/requirements

RUN groupadd --system medibot \
    && useradd --system --gid medibot --home-dir /app --no-create-home --shell /usr/sbin/nologin medibot

# The code stays root-owned (read-only to the app); only var/ is writable.
WORKDIR /app
COPY . .

# Static files for a proxy that serves STATIC_ROOT; the placeholder key exists only for this step.
RUN DJANGO_SETTINGS_MODULE=medibot.settings.base \
    DJANGO_SECRET_KEY=collectstatic-only-placeholder \
    python manage.py collectstatic --noinput \
    && mkdir -p /app/var/transfers \
    && chown -R medibot:medibot /app/var

USER medibot
EXPOSE 8000
CMD ["gunicorn", "medibot.wsgi:application", "--bind", "0.0.0.0:8000", "--workers", "3"]
