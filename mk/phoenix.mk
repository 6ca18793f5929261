# Chapter 07's trace viewer: Arize Phoenix, in its own virtualenv (it pins many packages of its own,
# so it stays out of requirements.txt and out of `make lab`).
#   make phoenix-setup · install Phoenix into .venv-phoenix (once; about the time printed in the README)
#   make phoenix       · serve it on http://127.0.0.1:$(PHOENIX_PORT), offline; chapter 07 sends its traces there
PHOENIX_VERSION ?= 20.26.1
PHOENIX_VENV := .venv-phoenix
PHOENIX_STAMP := $(PHOENIX_VENV)/.installed
PHOENIX_PORT ?= 6006

.PHONY: phoenix-setup phoenix

phoenix-setup: $(PHOENIX_STAMP)

$(PHOENIX_STAMP): mk/phoenix.mk
	test -x $(PHOENIX_VENV)/bin/python || $(PYTHON) -m venv $(PHOENIX_VENV)
	$(PHOENIX_VENV)/bin/python -m pip install -q arize-phoenix==$(PHOENIX_VERSION)
	touch $(PHOENIX_STAMP)

# Offline and private: PHOENIX_TELEMETRY_ENABLED=false drops its analytics pixels, and
# PHOENIX_ALLOW_EXTERNAL_RESOURCES=false its web fonts and every other request to the internet;
# the UI's scripts and styles are served by Phoenix itself (tests/test_phoenix.py checks both).
phoenix: phoenix-setup
	PHOENIX_TELEMETRY_ENABLED=false PHOENIX_ALLOW_EXTERNAL_RESOURCES=false PHOENIX_HOST=127.0.0.1 PHOENIX_PORT=$(PHOENIX_PORT) \
		PHOENIX_WORKING_DIR=$(CURDIR)/workspace/phoenix $(PHOENIX_VENV)/bin/phoenix serve

# The browser test of chapter 07 needs it (prerequisite only: `make test`'s recipe stays the Makefile's).
test: phoenix-setup
