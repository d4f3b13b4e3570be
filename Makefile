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

.PHONY: help venv install demo run test lint format chaos bench fuzz clean

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
CHAOS_TESTS := tests/test_crash_reactions.py tests/test_crash_notifications.py $(wildcard casework/*/tests/test_crash_*.py)

chaos: install ## crash scenarios, each CHAOS_RUNS=20 times (DATABASE_URL=postgres://... for PostgreSQL)
	CASEWORK_CHAOS_RUNS=$(CHAOS_RUNS) $(BIN)/pytest -q -p no:randomly -n $(PYTEST_WORKERS) $(PYTEST_ARGS) $(CHAOS_TESTS)

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
