# Jifen — the commands of the README. `make run` and `make test` are the two to know.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed
TEST_SETTINGS := config.settings.test
PYTEST_ARGS ?=
LOCK_FLAGS := --quiet --generate-hashes --strip-extras --allow-unsafe --no-emit-index-url \
	--no-emit-find-links

.PHONY: install run migrate seed test test-long bench worker beat lint typecheck stop-db lock verify messages clean

$(STAMP): pyproject.toml
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e ".[dev]"
	@touch $(STAMP)

install: $(STAMP)

migrate: install
	$(PY) manage.py migrate --noinput

seed: migrate
	$(PY) manage.py seed_demo

run: seed
	$(PY) manage.py runserver 127.0.0.1:8000

test: install
	@DJANGO_SETTINGS_MODULE=$(TEST_SETTINGS) $(PY) -m config.preflight
	DJANGO_SETTINGS_MODULE=$(TEST_SETTINGS) $(PY) -m pytest $(PYTEST_ARGS)

# The reliability suite with many more hypothesis/schemathesis examples (tests/reliability/),
# the fast-path differential test with 5,000 histories (200 in `make test`).
LONG_EXAMPLES ?= 300
LONG_DIFFERENTIAL_EXAMPLES ?= 5000
test-long: install
	@DJANGO_SETTINGS_MODULE=$(TEST_SETTINGS) $(PY) -m config.preflight
	RELIABILITY_EXAMPLES=$(LONG_EXAMPLES) RELIABILITY_STEPS=60 DIFFERENTIAL_EXAMPLES=$(LONG_DIFFERENTIAL_EXAMPLES) DJANGO_SETTINGS_MODULE=$(TEST_SETTINGS) $(PY) -m pytest tests/reliability -s $(PYTEST_ARGS)

# Every hot path against its physical baseline on DATABASE_URL's PostgreSQL (throw-away
# databases); QUICK=1 is the same suite at a tenth of the size. See bench/README.md.
bench: install
	$(PY) -m bench.run $(if $(QUICK),--quick,) $(if $(ONLY),--only $(ONLY),)

worker: install
	$(PY) -m celery -A config.celery_app worker --loglevel=INFO

beat: install
	@mkdir -p var
	$(PY) -m celery -A config.celery_app beat --loglevel=INFO --schedule var/celerybeat-schedule

verify: install
	$(PY) manage.py verify_ledger

lint: install
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .

typecheck: install
	$(VENV)/bin/mypy

# Stops the embedded PostgreSQL of this checkout (var/pg/), if it runs.
stop-db:
	@test -x $(PY) && $(PY) -m config.embedded_db stop || true

# Re-pins requirements.lock (runtime, the image installs it) and requirements-dev.lock.
lock: install
	$(VENV)/bin/pip-compile $(LOCK_FLAGS) --output-file requirements.lock pyproject.toml
	$(VENV)/bin/pip-compile $(LOCK_FLAGS) --extra dev --output-file requirements-dev.lock pyproject.toml

messages: install
	$(PY) manage.py compilemessages --ignore=.venv

clean: stop-db
	rm -rf $(VENV) var staticfiles
