# The two commands a user needs: `make run` and `make test`. Both install into ./.venv:
# `run` only what serving needs, `test` adds the test tools and the Debian packages the
# tests drive (tests/debian-packages.txt; installed when root, else named and stopped).
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
RUN_STAMP := $(VENV)/.installed-run
TEST_STAMP := $(VENV)/.installed-test

.PHONY: run test lint packages unit bench clean dashboard dashboard-test bytecode

$(RUN_STAMP): pyproject.toml constraints.txt
	@$(PYTHON) -c 'import sys; sys.exit(0 if sys.version_info >= (3, 11) else "proxyfleet needs Python 3.11 or newer")'
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -c constraints.txt -e .
	$(MAKE) --no-print-directory bytecode
	touch $(RUN_STAMP)

$(TEST_STAMP): $(RUN_STAMP)
	$(BIN)/python -m pip install --quiet -c constraints.txt -e '.[test]'
	touch $(TEST_STAMP)

# The package is installed editable, so pip compiles none of it; where PYTHONDONTWRITEBYTECODE
# is set every command would compile its modules again (about 50 ms of each CLI start).
bytecode:
	@$(BIN)/python -m compileall -q src >/dev/null

run: $(RUN_STAMP) bytecode
	$(BIN)/proxyfleet serve

packages:
	@$(PYTHON) tests/ensure_packages.py tests/debian-packages.txt

lint: $(TEST_STAMP)
	$(BIN)/ruff check src tests bench
	$(BIN)/mypy
	$(BIN)/lint-imports

test: packages lint dashboard-test bytecode
	$(BIN)/pytest $(PYTEST_ARGS)

# The dashboard (frontend/, Vue + Pinia + Vite): its Vitest suite, and a rebuild compared with
# the build shipped inside the package (fails when they differ). The browser tests
# (tests/browser, Debian's Chromium) run with pytest.
frontend/node_modules/.installed: frontend/package.json frontend/package-lock.json
	cd frontend && npm ci --no-audit --no-fund
	touch $@

dashboard-test: frontend/node_modules/.installed
	cd frontend && npx vitest run
	cd frontend && node scripts/check-shipped.mjs

# Rebuild the shipped dashboard after changing frontend/ (commit the result).
dashboard: frontend/node_modules/.installed
	cd frontend && npx vite build

clean:
	rm -rf $(VENV) .mypy_cache .ruff_cache frontend/node_modules
