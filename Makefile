# The two commands a user needs: `make run` and `make test`. Both install into ./.venv.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: run test lint unit bench clean dashboard dashboard-test

$(STAMP): pyproject.toml constraints.txt
	@$(PYTHON) -c 'import sys; sys.exit(0 if sys.version_info >= (3, 11) else "proxyfleet needs Python 3.11 or newer")'
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -c constraints.txt -e '.[test]'
	touch $(STAMP)

run: $(STAMP)
	$(BIN)/proxyfleet serve

lint: $(STAMP)
	$(BIN)/ruff check src tests bench
	$(BIN)/mypy
	$(BIN)/lint-imports

test: lint dashboard-test
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
