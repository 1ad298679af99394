# Two commands: `make run` (set up and serve the demo on SQLite) and `make test` (set up and pass the tests).
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
export FLASK_APP := wsgi

.PHONY: run test install clean i18n-extract i18n-update i18n-compile

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e ".[test]"
	touch $(STAMP)

install: $(STAMP)

run: install
	$(BIN)/flask db upgrade
	$(BIN)/flask demo-setup
	@# the background worker (pushes, scheduled jobs) runs beside gunicorn and stops with it
	$(BIN)/flask worker & worker=$$!; trap 'kill $$worker 2>/dev/null' EXIT INT TERM; \
	$(BIN)/gunicorn --config gunicorn.conf.py --bind 127.0.0.1:8000 --workers 2 --access-logfile - wsgi:app

# The end-to-end tests' OpenID Connect provider (panva/oidc-provider, pinned by tests/idp/package-lock.json).
IDP_MODULES := tests/idp/node_modules/.package-lock.json
$(IDP_MODULES): tests/idp/package-lock.json
	@if command -v npm >/dev/null; then cd tests/idp && npm ci --no-audit --no-fund --silent; \
	else echo "npm not found: the IdP end-to-end tests will be skipped"; fi

test: install $(IDP_MODULES)
	$(BIN)/python -m pytest $(PYTEST_ARGS)

clean:
	rm -rf $(VENV) .pytest_cache

# Translations (portal/translations/, docs/decisions.md "Translations"): extract the strings, merge them into
# every language's catalogue, compile the .mo files that are committed beside them (tests/test_i18n_catalogues.py).
i18n-extract: install
	$(BIN)/pybabel extract -F babel.cfg -k _l --project byod-mdm --no-location -o portal/translations/messages.pot portal

i18n-update: i18n-extract
	$(BIN)/pybabel update -i portal/translations/messages.pot -d portal/translations

i18n-compile: install
	$(BIN)/pybabel compile -d portal/translations
