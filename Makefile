# make lab   · set up if needed, start the model backend, open JupyterLab in workspace/ (or $AIENG_WORKSPACE)
# make test  · set up if needed, run every test (unit tests, notebooks, learner copies), then build and check
#              the site and slides of the executed course (make site, make slides: mk/site.mk)
# make serve · run the local model server in the foreground    make stop · stop it
# make test-fast · the tests that need no model server (a quick loop while developing)
# make doctor · check the backend and each capability           make exercises · rebuild notebooks/
# make gate  · score a triage pipeline on the regression gate (ROUTER=prompted PROMPT=v2 picks one)

PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
# Set TORCH_INDEX to a PyTorch wheel index (see README) to install torch from there first.
TORCH_INDEX ?=

export CMAKE_ARGS := -DGGML_NATIVE=OFF
export HF_HUB_OFFLINE := 1
export TRANSFORMERS_OFFLINE := 1
export ANONYMIZED_TELEMETRY := False
export MARIMO_SKIP_UPDATE_CHECK := 1
export PATH := $(CURDIR)/$(BIN):$(PATH)

.PHONY: setup browser lab test test-fast gate serve stop doctor exercises

setup: $(STAMP)

$(STAMP): requirements.txt pyproject.toml
	@$(PYTHON) -c 'import sys; sys.exit(0 if sys.version_info >= (3, 10) else "Python 3.10 or newer is needed; this is " + sys.version.split()[0] + ". Try: make PYTHON=python3.11 lab")'
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(if $(TORCH_INDEX),$(BIN)/python -m pip install torch==2.13.0 --index-url $(TORCH_INDEX))
	$(BIN)/python -m pip install -r requirements.txt
	$(BIN)/python -m pip install --no-deps -e .
	touch $(STAMP)

lab: setup
	$(BIN)/python -m aieng workspace
	$(BIN)/python -m aieng start
	$(BIN)/jupyter lab --notebook-dir="$${AIENG_WORKSPACE:-workspace}" --LabApp.check_for_updates_class=jupyterlab.NeverCheckForUpdate \
		$$([ "$$(id -u)" = 0 ] && echo --allow-root)

# The app's browser test drives Debian's Chromium; install it where we can (root + apt-get).
browser:
	@if [ -x /usr/bin/chromium ]; then :; \
	elif [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
		apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null; \
	else echo "Chromium is missing and cannot be installed here (needs root and apt-get): the browser test will skip."; fi

# Then the site and the slides from the notebooks that run executed (build/executed/), and their checks.
test: setup browser
	AIENG_CHECKS_STRICT=1 $(BIN)/python -m pytest --durations=15
	$(MAKE) site slides
	AIENG_CHECKS_STRICT=1 $(BIN)/python -m pytest tests/test_site.py tests/test_slides.py -m site -q

# Tests marked neither `model` (calls a model) nor `slow`, over tests/ only: under 2 minutes, no model server.
test-fast: setup
	AIENG_CHECKS_STRICT=1 $(BIN)/python -m pytest tests -m "not model and not slow" -q

# The regression gate alone: the pipeline under review and the known-bad one (which must fail). A pipeline is a
# router and a drafting prompt: ROUTER is shipped (default), prompted, embedding-zero:<version>, embedding-lr:<n>
# or tfidf-lr; PROMPT is a triage prompt version (default: the shipped one). See aieng/gate.py.
ROUTER ?=
PROMPT ?=
gate: setup
	AIENG_ROUTER=$(ROUTER) AIENG_PROMPT_VERSION=$(PROMPT) $(BIN)/python -m pytest tests/test_gate.py -rP

# SERVE_HOST=0.0.0.0 serves a classroom (export AIENG_API_KEY first: docs/classroom.md);
# a SERVE_PORT you name must be free (without it: 8081, or a free port).
serve: setup
	$(BIN)/python -m aieng serve $(if $(SERVE_HOST),--host $(SERVE_HOST)) $(if $(SERVE_PORT),--port $(SERVE_PORT))

stop:
	$(BIN)/python -m aieng stop

doctor: setup
	$(BIN)/python -m aieng doctor

exercises: setup
	$(BIN)/python -m aieng exercises

# Each chapter or tool adds its own targets in mk/<name>.mk (for example a trace viewer or the llama.cpp source).
-include mk/*.mk
