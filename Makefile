# casework — the two set-up commands are `make demo` and `make test`; the rest are for developers.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
HOST ?= 127.0.0.1
PORT ?= 8000
# pytest workers: 2 cores here; override with `make test PYTEST_WORKERS=0` to run serially.
PYTEST_WORKERS ?= 2
PYTEST_ARGS ?=

.DEFAULT_GOAL := help

.PHONY: help venv install demo run test lint format chaos load bench fuzz clean

help: ## list the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-10s %s\n", $$1, $$2}'

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip

$(VENV)/.installed: pyproject.toml | $(BIN)/python
	$(BIN)/pip install --quiet -e '.[dev]'
	@touch $@

install: $(VENV)/.installed ## create the venv and install casework with its dev tools

# The demo writes outgoing mail to var/sent-mail/ instead of needing an SMTP server.
demo: export CASEWORK_EMAIL_BACKEND ?= django.core.mail.backends.filebased.EmailBackend
demo: install ## migrate, load demo data, start web + worker on 127.0.0.1:8000 and print the logins
	$(BIN)/casework migrate --noinput
	$(BIN)/casework collectstatic --noinput -v 0
	$(BIN)/casework demo
	$(BIN)/casework serve --host $(HOST) --port $(PORT)

test: install ## lint, then the whole test suite (set DATABASE_URL to run it on PostgreSQL)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/pytest -n $(PYTEST_WORKERS) $(PYTEST_ARGS)

# The crash scenarios (SIGKILL right after a commit, a worker killed mid-send), each CHAOS_RUNS times on fresh
# copies of a seeded database; `make test` runs them once. See casework/testing/README.md.
CHAOS_RUNS ?= 20
CHAOS_TESTS := tests/test_crash_reactions.py tests/test_crash_notifications.py tests/test_crash_import_load.py $(wildcard casework/*/tests/test_crash_*.py)

# The chaos rounds under load (tests/test_crash_import_load.py) import CHAOS_MAILS mails and make CHAOS_WRITES
# API writes per round while CHAOS_KILLS random SIGKILLs hit the importer, the API writer and the worker.
CHAOS_MAILS ?= 1000
CHAOS_WRITES ?= 1000
CHAOS_KILLS ?= 8

chaos: install ## crash scenarios, each CHAOS_RUNS=20 times (DATABASE_URL=postgres://... for PostgreSQL)
	CASEWORK_CHAOS_RUNS=$(CHAOS_RUNS) CASEWORK_CHAOS_MAILS=$(CHAOS_MAILS) CASEWORK_CHAOS_WRITES=$(CHAOS_WRITES) \
	CASEWORK_CHAOS_KILLS=$(CHAOS_KILLS) $(BIN)/pytest -q -p no:randomly -n $(PYTEST_WORKERS) $(PYTEST_ARGS) $(CHAOS_TESTS)

# 50 concurrent clients for 60 s against gunicorn + a worker, on SQLite and on a throwaway PostgreSQL cluster
# (LOAD_DB=sqlite|postgres|both); JSON in bench/results/load-<db>-<time>.json. See bench/README.md.
LOAD_DB ?= both
LOAD_CLIENTS ?= 50
LOAD_SECONDS ?= 60
LOAD_CASES ?= 5000

load: install ## 50 clients × 60 s on SQLite and PostgreSQL: errors, throughput, p95 per route
	$(BIN)/python bench/load.py --db $(LOAD_DB) --clients $(LOAD_CLIENTS) --duration $(LOAD_SECONDS) --cases $(LOAD_CASES)

# The API fuzzer (schemathesis, tests/test_fuzz_api.py): `make test` runs 40 examples per operation; this
# runs FUZZ_EXAMPLES (500) each. Goal: 0 server errors, 0 answers the OpenAPI document does not describe.
FUZZ_EXAMPLES ?= 500

fuzz: install ## long API fuzzing run, FUZZ_EXAMPLES=500 per operation (DATABASE_URL=postgres://... for PostgreSQL)
	CASEWORK_FUZZ_EXAMPLES=$(FUZZ_EXAMPLES) $(BIN)/pytest -q -p no:randomly -n $(PYTEST_WORKERS) $(PYTEST_ARGS) tests/test_fuzz_api.py

lint: install ## ruff lint + format check
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

format: install ## apply ruff fixes and formatting
	$(BIN)/ruff check --fix .
	$(BIN)/ruff format .

# The paired run (PEER=1) also measures API create at 100,000 existing cases unless BIG says otherwise.
bench: install ## run the benchmarks, JSON in bench/results/ (PEER=1 also runs django-helpdesk and BIG=100000)
	$(BIN)/python bench/run.py $(if $(PEER),--peer) $(if $(N),--n $(N)) $(if $(BIG),--big $(BIG),$(if $(PEER),--big 100000))

clean: ## remove the venv and local data
	rm -rf $(VENV) var .pytest_cache .ruff_cache
