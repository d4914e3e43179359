#!/bin/sh
# One-off release step (the compose `migrate` service): run before the new web/worker start.
# Migrations are written to be safe while the previous release still serves traffic.
set -eu
# Run as the owner role (the migrate service's DATABASE_URL).
python manage.py migrate --noinput
# The append-only role web, worker and beat connect as: created once, granted every time
# (new tables included). Its name and password: APP_DB_USER, APP_DB_PASSWORD.
python manage.py db_app_role
# Prints any security warning in the logs; fails the release on errors (among them demo
# users with the public demo password or the demo POS key left in the database).
python manage.py check --deploy
# No demo data here: seed_demo refuses under the production settings. Try the demo with
# `make run` (docs/deploy.md).
