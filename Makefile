# Jifen — the commands of the README. `make run` and `make test` are the two to know.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed
TEST_SETTINGS := config.settings.test
SQLITE_TEST_URL := sqlite:///$(CURDIR)/var/test.sqlite3
PYTEST_ARGS ?=

.PHONY: install run migrate seed test test-long test-sqlite bench worker beat lint verify messages clean

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

test-sqlite: install
	@mkdir -p var
	DATABASE_URL=$(SQLITE_TEST_URL) DJANGO_SETTINGS_MODULE=$(TEST_SETTINGS) $(PY) -m pytest $(PYTEST_ARGS)

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

messages: install
	$(PY) manage.py compilemessages --ignore=.venv

clean:
	rm -rf $(VENV) var staticfiles
