# mlgate: two commands for a fresh machine with Python 3.11 and make.
#   make demo   the whole pipeline end to end on the embedded default
#   make test   lint, type check and the test suite
# Each sets up what it needs first (a virtual environment from uv.lock, bytecode
# compiled); a second call reuses it.

PYTHON ?= $(shell command -v python3.11 || command -v python3)
UV_VERSION := 0.13.8
TOOLS := .tools
UV := $(TOOLS)/bin/uv
VENV := .venv
STAMP := $(VENV)/.mlgate-synced
ROWS ?= 50000

# One core per server process; keep BLAS from oversubscribing small machines.
export OMP_NUM_THREADS ?= 1
export OPENBLAS_NUM_THREADS ?= 1
export MKL_NUM_THREADS ?= 1
export UV_COMPILE_BYTECODE := 1
export UV_PYTHON_DOWNLOADS := never
export UV_PROJECT_ENVIRONMENT := $(VENV)

.PHONY: demo test lint typecheck pytest setup clean

setup: $(STAMP)

$(UV):
	$(PYTHON) -m venv $(TOOLS)
	$(TOOLS)/bin/python -m pip install --quiet "uv==$(UV_VERSION)"

$(STAMP): $(UV) uv.lock pyproject.toml
	$(UV) sync --frozen --all-extras --python "$(PYTHON)"
	@touch $(STAMP)

demo: $(STAMP)
	$(VENV)/bin/mlgate demo --rows $(ROWS)

lint: $(STAMP)
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .

typecheck: $(STAMP)
	$(VENV)/bin/mypy governance connectors mlgate/spec.py

pytest: $(STAMP)
	$(VENV)/bin/pytest -q

test: lint typecheck pytest

clean:
	rm -rf $(VENV) $(TOOLS) .mlgate .pytest_cache .mypy_cache .ruff_cache
