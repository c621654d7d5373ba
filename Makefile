# The two commands of the README: `make demo` (the main job) and `make test`.
# Both create .venv and install the project with its dev extras on first use.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-stamp
DEMO_DB ?= sqlite:///var/demo.db

.PHONY: demo live test bench install lint compose-check docs check clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	touch $(STAMP)

install: $(STAMP)

# init var/demo.db, seed the calendar, write demo bars, run the example backtest at speed 0
demo: $(STAMP)
	$(BIN)/marketsession --db $(DEMO_DB) demo

# a live session on the replay provider (demo store): a stored day as today's feed, 60x faster
PORT ?= 8080
live: $(STAMP)
	test -f var/demo.db || $(BIN)/marketsession --db $(DEMO_DB) demo
	$(BIN)/marketsession --db $(DEMO_DB) serve session_configs/live_session_example.json \
		--replay-start 09:29 --speed 60 --port $(PORT)

# the benchmark suite (a few minutes): figures, ratios and targets on the terminal and in var/bench.json
bench: $(STAMP)
	$(BIN)/python -m ops.bench --json var/bench.json

# the suite on one worker more than there are cores (part of it waits on processes, sockets and
# scaled clocks, not on the CPU); a test file's tests stay together on one worker, its fixtures
# shared; the files are handed out in collection order, slow ones first (tests/conftest.py)
WORKERS ?= $(shell expr $$(getconf _NPROCESSORS_ONLN 2>/dev/null || echo 1) + 1)
test: $(STAMP)
	$(BIN)/pytest -n $(WORKERS) --dist loadfile --no-loadscope-reorder

# the static checks of CI: lint, format, types (strict on domain/)
lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy --strict domain
	$(BIN)/mypy actors ops

# the compose stack against the Compose specification: `docker compose config` where Docker
# has the compose plugin, else the schema (check-jsonschema's copy of compose-spec)
COMPOSE := ops/deploy/compose.yaml
compose-check: $(STAMP)
	@if docker compose version >/dev/null 2>&1; then \
		docker compose -f $(COMPOSE) config --quiet && echo "$(COMPOSE): docker compose config ok"; \
	else \
		$(BIN)/check-jsonschema --builtin-schema vendor.compose-spec $(COMPOSE); \
	fi

# the docs site into var/site (the README's sections, the docs, the CLI and API references)
docs: $(STAMP)
	NO_MKDOCS_2_WARNING=1 $(BIN)/mkdocs build --strict

# everything CI runs: the static checks, the compose file, the docs site, then the tests
check: lint compose-check docs test

clean:
	rm -rf $(VENV) var
