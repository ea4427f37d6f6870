# Ouderloket tasks. `make run` and `make test` are the two commands in the README: each
# creates the virtual environment, installs, compiles the catalogs and migrates by itself.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed-stamp

.PHONY: run test lint i18n bench clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e ".[dev]"
	touch $(STAMP)

## run: the bot (long polling) on the embedded SQLite database; without BOT_TOKEN, the demo
run: $(STAMP)
	$(BIN)/ouderloket run

## test: ruff, mypy and the whole test suite
test: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/mypy
	$(BIN)/python -m pytest -q

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/mypy

## i18n: extract texts to locales/messages.pot, update nl and en, compile
i18n: $(STAMP)
	$(BIN)/pybabel extract --no-location --sort-output -F locales/babel.cfg -k _ -k __ -k lazy_gettext -o locales/messages.pot --project=Ouderloket .
	$(BIN)/pybabel update --no-fuzzy-matching --ignore-obsolete -i locales/messages.pot -d locales -D messages
	$(BIN)/pybabel compile -d locales -D messages --statistics

## bench: the five benchmarks (webhook_load needs PostgreSQL and Redis on 127.0.0.1)
bench: $(STAMP)
	$(BIN)/python bench/dispatch.py
	$(BIN)/python bench/import_pupils.py
	$(BIN)/python bench/outbox.py
	$(BIN)/python bench/peak.py
	$(BIN)/python bench/webhook_load.py

clean:
	rm -rf $(VENV) .mypy_cache .ruff_cache .pytest_cache
