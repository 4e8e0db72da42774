# finops-flows: `make demo` and `make test` each build .venv from uv.lock when it is missing or
# older than the lock.  uv itself is pinned by hash (tools/uv/requirements.txt) and bootstrapped
# into .uv/ with the interpreter already here: nothing global is needed or changed.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
UV_HOME := .uv
UV := $(UV_HOME)/bin/uv
TOOLS_STAMP := .venv-tools/.installed
export PREFECT_HOME ?= $(CURDIR)/.finops/prefect-home
# uv uses the interpreter on PATH (never a downloaded one) and copies from its cache, so the
# environment does not depend on the cache staying where it is.
export UV_PYTHON ?= $(PYTHON)
export UV_PYTHON_DOWNLOADS := never
export UV_LINK_MODE := copy
export UV_NO_PROGRESS := 1

.PHONY: venv tools lock test lint imports typecheck pytest demo demo-stop eval bench clean

venv: $(STAMP)

$(UV): tools/uv/requirements.txt
	@test -x $(UV_HOME)/bin/python || $(PYTHON) -m venv $(UV_HOME)
	PIP_CONFIG_FILE=/dev/null $(UV_HOME)/bin/python -m pip install --quiet \
	  --disable-pip-version-check --no-deps \
	  --require-hashes --requirement tools/uv/requirements.txt
	@touch $(UV)

# --locked: the lock must already satisfy pyproject.toml; nothing is resolved at install time.
$(STAMP): pyproject.toml uv.lock $(UV)
	$(UV) sync --locked --quiet
	@touch $(STAMP)

# checkov pins packages that clash with prefect's: its own locked environment in .venv-tools.
tools: $(TOOLS_STAMP)

$(TOOLS_STAMP): tools/checkov/pyproject.toml tools/checkov/uv.lock $(UV)
	UV_PROJECT_ENVIRONMENT=$(CURDIR)/.venv-tools $(UV) sync --locked --quiet --project tools/checkov
	@touch $(TOOLS_STAMP)

# The one command that refreshes every Python lock (then `make test` installs from them).
lock: $(UV)
	$(UV) lock --upgrade
	$(UV) lock --upgrade --project tools/checkov

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

imports: $(STAMP)
	$(BIN)/lint-imports

typecheck: $(STAMP)
	$(BIN)/mypy

# pytest exits 5 when it collects nothing: that is a failure of the suite, said plainly.
pytest: $(STAMP)
	@mkdir -p "$(PREFECT_HOME)"
	$(BIN)/python -m pytest $(PYTEST_ARGS); rc=$$?; \
	  if [ $$rc -eq 5 ]; then echo "pytest collected no tests"; exit 1; fi; exit $$rc

test: lint imports typecheck pytest

# A demo in a folder a previous demo used moves that one's data aside first (.finops/demo/previous).
demo: $(STAMP)
	$(BIN)/finops demo

# Stops every running demo of this user (recorded in ~/.finops/demos/), whatever its data folder.
demo-stop: $(STAMP)
	$(BIN)/finops demo --stop

eval: $(STAMP)
	$(BIN)/python bench/anomaly_eval.py

bench: $(STAMP)
	for script in bench/bench_*.py; do $(BIN)/python $$script || exit 1; done

clean:
	rm -rf $(VENV) $(UV_HOME) .venv-tools .finops .pytest_cache .mypy_cache .ruff_cache
