#!/bin/sh
# One-off release step (the compose `migrate` service): run before the new web/worker start.
# Migrations are written to be safe while the previous release still serves traffic.
set -eu
python manage.py migrate --noinput
# Prints any security warning in the logs; fails the release only on errors.
python manage.py check --deploy
case "${SEED_DEMO:-0}" in
  1 | true | True | yes)
    # Demo users with a public password: for a trial only, never on a real deployment.
    python manage.py seed_demo
    ;;
esac
