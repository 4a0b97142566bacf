# The two commands a newcomer needs: `make run` (the gateway, with demo data, on an embedded
# PostgreSQL unless DATABASE_URL is set) and `make test`. Both install what they need first.
PY ?= python3
VENV := .venv

.PHONY: setup run demo test bench lock mutate
setup: $(VENV)/.installed node_modules/.installed

$(VENV)/.installed: pyproject.toml requirements.lock
	$(PY) -m venv $(VENV)
	$(VENV)/bin/pip install -q --upgrade pip
	$(VENV)/bin/pip install -q -c requirements.lock -e '.[dev]'
	touch $@

node_modules/.installed: package.json package-lock.json
	npm ci --ignore-scripts --no-audit --no-fund
	touch $@

run: setup
	$(VENV)/bin/marketgraph demo
	$(VENV)/bin/marketgraph serve

test: setup
	$(VENV)/bin/pytest --cov --cov-report=term --cov-report=html

bench: setup
	$(VENV)/bin/python bench/ingest.py
	$(VENV)/bin/python bench/fetch.py
	$(VENV)/bin/python bench/graphql.py
	$(VENV)/bin/python bench/cache.py
	$(VENV)/bin/python bench/shared_state.py
	$(VENV)/bin/python bench/loop_stalls.py

# Re-pin the Python lock file after changing dependencies in pyproject.toml.
lock:
	rm -rf /tmp/mg-lock && $(PY) -m venv /tmp/mg-lock
	/tmp/mg-lock/bin/pip install -q -e '.[dev]'
	/tmp/mg-lock/bin/pip freeze --exclude-editable | grep -v '^marketgraph' > requirements.lock

# Mutation testing of the critical modules listed under [tool.mutmut] in pyproject.toml (slow:
# not in CI). Needs the same database as the tests; results: `.venv/bin/mutmut results`.
mutate: setup
	GRAPHIQL_ASSETS_DIR=$(CURDIR)/node_modules $(VENV)/bin/mutmut run
