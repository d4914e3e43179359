#!/bin/sh
# One-off release step (the compose `migrate` service): run before the new web/worker start.
# Migrations are written to be safe while the previous release still serves traffic.
set -eu
python manage.py migrate --noinput
# Prints any security warning in the logs; fails the release on errors (among them demo
# users with the public demo password or the demo POS key left in the database).
python manage.py check --deploy
# No demo data here: seed_demo refuses under the production settings. Try the demo with
# `make run` (docs/deploy.md).
