# The two commands of the README: `make demo` (the main job) and `make test`.
# Both create .venv and install the project with its dev extras on first use.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-stamp
DEMO_DB ?= sqlite:///var/demo.db

.PHONY: demo test bench install lint clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	touch $(STAMP)

install: $(STAMP)

# init var/demo.db, seed the calendar, write demo bars, run the example backtest at speed 0
demo: $(STAMP)
	$(BIN)/marketsession --db $(DEMO_DB) demo

# the benchmark suite (a few minutes): figures, ratios and targets on the terminal and in var/bench.json
bench: $(STAMP)
	$(BIN)/python -m ops.bench --json var/bench.json

test: $(STAMP)
	$(BIN)/pytest

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/mypy domain

clean:
	rm -rf $(VENV) var
