# Two commands on a fresh machine:
#   make run    set everything up, load the course and demo data, serve on 127.0.0.1:5000
#   make test   set everything up and run the whole test suite (browser tests included)
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
HOST ?= 127.0.0.1
PORT ?= 5000
PG_TEST_URL ?= postgresql://postgres@127.0.0.1:5432/test
export FLASK_APP := wsgi

.PHONY: setup chromium db run test test-postgres lint clean

setup: $(VENV)/.installed

$(VENV)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --disable-pip-version-check --upgrade pip
	$(BIN)/pip install --quiet --disable-pip-version-check -e ".[test]"
	touch $@

# Browser tests drive Debian's Chromium; never a browser downloaded by a test tool.
chromium:
	@command -v chromium >/dev/null 2>&1 || { \
	  echo "Installing Debian's chromium (apt)"; \
	  SUDO=$$( [ "$$(id -u)" = 0 ] || echo sudo ); \
	  $$SUDO apt-get update -qq && DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -qq chromium >/dev/null; }

db: setup
	$(BIN)/flask db upgrade
	$(BIN)/flask lms load-content
	$(BIN)/flask lms demo

# Links in the mail the demo and the site queue name this address (LMS_BASE_URL; without it the
# commands warn and the links are bare paths). Give your own: make run LMS_BASE_URL=https://...
db run: export LMS_BASE_URL ?= http://$(HOST):$(PORT)
db run: export LMS_TRUSTED_HOSTS ?= $(HOST),localhost

run: db
	$(BIN)/flask run --host $(HOST) --port $(PORT)

test: setup chromium
	$(BIN)/pytest -q

test-postgres: setup chromium
	TEST_DATABASE_URL=$(PG_TEST_URL) $(BIN)/pytest -q

lint: setup
	$(BIN)/ruff check lms tests bench migrations config.py wsgi.py
	$(BIN)/mypy

clean:
	rm -rf $(VENV) .pytest_cache lms.egg-info
