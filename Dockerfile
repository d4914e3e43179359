# syntax=docker/dockerfile:1
# Jifen production image: gunicorn serving config.wsgi with config.settings.production.
# One image for every role: web (default command), Celery worker and beat, and the one-off
# release step (deploy/release.sh); docker-compose.yml shows each command.
#
#   runtime-base  Debian's libraries WeasyPrint needs + a CJK font, the venv on PATH
#   build         Python packages, compiled translations, collected static files
#   runtime       runtime-base + the results of build, run as an unprivileged user

FROM python:3.11-slim-bookworm AS runtime-base
ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    VIRTUAL_ENV=/opt/venv \
    PATH=/opt/venv/bin:$PATH
# WeasyPrint draws text with Pango and subsets fonts with HarfBuzz (without
# libharfbuzz-subset0 a CJK PDF takes seconds instead of ~0.1 s); without a CJK font,
# Chinese renders as boxes.
RUN apt-get update \
    && apt-get install -y --no-install-recommends \
        libpango-1.0-0 libpangoft2-1.0-0 libharfbuzz-subset0 fonts-noto-cjk \
    && rm -rf /var/lib/apt/lists/*


FROM runtime-base AS build
# gettext: msgfmt, for compilemessages.
RUN apt-get update \
    && apt-get install -y --no-install-recommends gettext \
    && rm -rf /var/lib/apt/lists/*
RUN python -m venv /opt/venv
# Dependencies first, from the lock alone (pinned, every file checked against its hash), so
# this layer is rebuilt only when they change. `make lock` compiles it from pyproject.toml.
COPY requirements.lock /tmp/build/
RUN pip install --no-cache-dir --require-hashes -r /tmp/build/requirements.lock
WORKDIR /app
COPY . .
# Build-time values only: nothing here ends up in the running container's environment.
# Neither command opens a database connection; the URL only has to name PostgreSQL.
RUN export DJANGO_SETTINGS_MODULE=config.settings.production \
        SECRET_KEY=build-only-not-a-secret ALLOWED_HOSTS=localhost \
        DATABASE_URL=postgres://build@127.0.0.1:1/never_connected \
    && python manage.py compilemessages \
    && python manage.py collectstatic --noinput


FROM runtime-base AS runtime
RUN groupadd --system --gid 10001 jifen \
    && useradd --system --uid 10001 --gid jifen --create-home --home-dir /home/jifen \
        --shell /usr/sbin/nologin jifen
COPY --from=build /opt/venv /opt/venv
# The code stays owned by root: the app can read it, not change it.
COPY --from=build /app /app
WORKDIR /app
ENV DJANGO_SETTINGS_MODULE=config.settings.production \
    PYTHONPATH=/app \
    PORT=8000
USER jifen
EXPOSE 8000
HEALTHCHECK --interval=30s --timeout=5s --start-period=30s --retries=3 \
    CMD ["python", "deploy/healthcheck.py", "web"]
# gunicorn is the default command (CMD, not ENTRYPOINT), so the same image also runs
# `celery ...` or `python manage.py ...` without --entrypoint.
CMD ["gunicorn", "--config", "deploy/gunicorn.conf.py", "config.wsgi:application"]
