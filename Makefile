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

# The demo's Apps and Books stand-in (unless VPP_ENDPOINT names a service): its CA, content token and location
# are kept in VPP_DEMO from one run to the next.
VPP_DEMO := instance/vpp-demo
VPP_DEMO_PORT ?= 8443
VPP_DEMO_URL := https://127.0.0.1:$(VPP_DEMO_PORT)
VPP_DEMO_ASSETS := --asset 361309726:25 --asset 284882215:10 --asset 310633997:3

run: install
	$(BIN)/flask db upgrade
	@# the Apps and Books stand-in and the background worker (pushes, scheduled jobs) run beside gunicorn and
	@# stop with it; demo-setup loads the stand-in's content token and syncs the catalogue
	@set -e; pids=; trap 'kill $$pids 2>/dev/null' EXIT INT TERM; token=; \
	if [ -z "$$VPP_ENDPOINT" ]; then \
	  mkdir -p $(VPP_DEMO); \
	  $(BIN)/python -m mdm_core.vpp.standin --demo $(VPP_DEMO) --port $(VPP_DEMO_PORT) $(VPP_DEMO_ASSETS) \
	    --quiet >$(VPP_DEMO)/standin.log 2>&1 & pids=$$!; \
	  for _ in $$(seq 100); do grep -qs "listening on" $(VPP_DEMO)/standin.log && break; \
	    kill -0 $$pids 2>/dev/null || { cat $(VPP_DEMO)/standin.log; exit 1; }; sleep 0.1; done; \
	  export VPP_ENDPOINT=$(VPP_DEMO_URL)/mdm/v2/ VPP_CA_BUNDLE=$(VPP_DEMO)/vpp-ca.pem \
	    ITUNES_LOOKUP_URL=$(VPP_DEMO_URL)/lookup; \
	  token="--vpp-token $(VPP_DEMO)/standin.vpptoken"; \
	  echo "Apps and Books stand-in at $$VPP_ENDPOINT (log: $(VPP_DEMO)/standin.log)"; \
	fi; \
	$(BIN)/flask demo-setup $$token; \
	$(BIN)/flask worker & pids="$$pids $$!"; \
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

# Translations (portal/translations/, docs/decisions.md "Languages and e-mail", its "Translations" item): extract
# the strings, merge them into every language's catalogue, compile the .mo files that are committed beside them
# (tests/test_i18n_catalogues.py).
i18n-extract: install
	$(BIN)/pybabel extract -F babel.cfg -k _l --project byod-mdm --no-location -o portal/translations/messages.pot portal

i18n-update: i18n-extract
	$(BIN)/pybabel update -i portal/translations/messages.pot -d portal/translations

i18n-compile: install
	$(BIN)/pybabel compile -d portal/translations
