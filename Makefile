# Two commands matter: `make demo` (the service's main job on embedded defaults) and `make test`.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: demo demo-admin test lint format serve worker migrate bench eval messages shopify-schema clean

$(STAMP): pyproject.toml constraints.txt
	$(PYTHON) -c 'import sys; sys.exit("Python >= 3.11 is required, found " + sys.version.split()[0]) if sys.version_info < (3, 11) else None'
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -c constraints.txt -e '.[dev]'
	touch $(STAMP)

demo: $(STAMP)  ## Migrate a SQLite file, start the service, post the bundled sample emails, print what happened.
	$(BIN)/python -m app demo

demo-admin: $(STAMP)  ## The demo, then the service keeps running with the admin at http://127.0.0.1:8000/admin.
	$(BIN)/python -m app demo --serve 8000

test: $(STAMP)  ## Lint, type-check, check the import rules and run the whole suite (TEST_DATABASE_URL selects PostgreSQL).
	$(BIN)/ruff check app tests bench
	$(BIN)/ruff format --check app tests bench
	$(BIN)/mypy
	$(BIN)/lint-imports
	$(BIN)/python -m pytest

lint: $(STAMP)
	$(BIN)/ruff check app tests bench
	$(BIN)/mypy
	$(BIN)/lint-imports

format: $(STAMP)
	$(BIN)/ruff format app tests bench
	$(BIN)/ruff check --fix app tests bench

serve: $(STAMP)
	$(BIN)/python -m app migrate
	$(BIN)/python -m app serve

worker: $(STAMP)
	$(BIN)/python -m app worker

migrate: $(STAMP)
	$(BIN)/python -m app migrate

bench: $(STAMP)  ## Every benchmark against its same-run baseline (see bench/all.py; ARGS="--postgres URL").
	$(BIN)/python -m bench.all $(ARGS)

eval: $(STAMP)  ## Score the configured model (offline rules without OPENAI_API_KEY) on the labelled email set.
	$(BIN)/python -m app eval

# Only a version given on the command line overrides the settings default: a SHOPIFY_API_VERSION
# exported for running the service must not replace the schema the tests pin.
shopify-schema: $(STAMP)  ## Refresh tests/store/schema/ from npm's @shopify/dev-mcp (SHOPIFY_API_VERSION=2027-01 to pick another).
	$(BIN)/python -m tests.store.schema.refresh $(if $(filter command line,$(origin SHOPIFY_API_VERSION)),$(SHOPIFY_API_VERSION))

LOCALES := app/replies/locales
messages: $(STAMP)  ## Re-extract the reply wording into messages.pot and update every language's catalog.
	$(BIN)/pybabel -q extract -F babel.cfg --add-comments=TRANSLATORS: --sort-by-file --width=100 \
		--header-comment="# The reply wording, extracted by \`make messages\` (do not edit: edit the sources)." \
		--project=shop-support-mail --msgid-bugs-address= -o $(LOCALES)/messages.pot .
	$(BIN)/pybabel -q update -i $(LOCALES)/messages.pot -d $(LOCALES) --width=100 --ignore-obsolete
	$(BIN)/python -m app.replies.catalogs fill-source

clean:
	rm -rf $(VENV) var .pytest_cache .mypy_cache .ruff_cache
