# llama.cpp's source, as vendored in llama-cpp-python's sdist (the version requirements.txt pins):
# convert_hf_to_gguf.py, convert_lora_to_gguf.py, gguf-py, and the C++ tree the classroom
# `llama-server` build compiles. Chapter 08 writes its merged GGUF with the `gguf` package and
# needs none of it; this is the one place the source comes from. Extracted under .cache/ (git-ignored).
LLAMA_CPP_VERSION ?= $(shell sed -n 's/^llama-cpp-python\(\[[a-z]*\]\)\{0,1\}==\([0-9.]*\).*/\2/p' requirements.txt)
LLAMA_CPP_SRC := .cache/llama-cpp-python-$(LLAMA_CPP_VERSION)

$(LLAMA_CPP_SRC)/vendor/llama.cpp/convert_hf_to_gguf.py:
	mkdir -p .cache/sdist
	$(BIN)/python -m pip download --quiet --no-deps --no-binary :all: --dest .cache/sdist "llama-cpp-python==$(LLAMA_CPP_VERSION)"
	tar -xzf .cache/sdist/llama_cpp_python-$(LLAMA_CPP_VERSION).tar.gz -C .cache
	mv .cache/llama_cpp_python-$(LLAMA_CPP_VERSION) $(LLAMA_CPP_SRC) 2>/dev/null || true
	test -f $@ || { echo "No $@ in the sdist: see .cache/sdist"; exit 1; }

.PHONY: llama-cpp-src
llama-cpp-src: $(LLAMA_CPP_SRC)/vendor/llama.cpp/convert_hf_to_gguf.py
	@echo "llama.cpp source: $(LLAMA_CPP_SRC)/vendor/llama.cpp"

# llama.cpp's own `llama-server` for a room of learners (docs/classroom.md): built once from the same source,
# the server alone (no tests, examples or web UI download; no HTTPS: it serves the room's network, not the internet).
# 5 to 8 minutes on 2 cores; a rebuild with nothing changed is a no-op. `make serve-llama` runs it.
LLAMA_SERVER_BUILD := $(LLAMA_CPP_SRC)/build-server
LLAMA_SERVER := $(LLAMA_SERVER_BUILD)/bin/llama-server
LLAMA_SERVER_JOBS ?= 2

# The machine's cmake; without one, PyPI's cmake wheel in the venv (a machine with no cmake still builds the room).
CMAKE := $(or $(shell command -v cmake 2>/dev/null),$(BIN)/cmake)

$(BIN)/cmake: | $(STAMP)
	$(BIN)/python -m pip install --quiet "cmake==3.31.6"

$(LLAMA_SERVER): | $(LLAMA_CPP_SRC)/vendor/llama.cpp/convert_hf_to_gguf.py $(CMAKE)
	$(CMAKE) -S $(LLAMA_CPP_SRC)/vendor/llama.cpp -B $(LLAMA_SERVER_BUILD) -DCMAKE_BUILD_TYPE=Release $(CMAKE_ARGS) \
		-DBUILD_SHARED_LIBS=OFF -DLLAMA_BUILD_TESTS=OFF -DLLAMA_BUILD_EXAMPLES=OFF -DLLAMA_BUILD_APP=OFF \
		-DLLAMA_BUILD_TOOLS=ON -DLLAMA_BUILD_SERVER=ON -DLLAMA_BUILD_UI=OFF -DLLAMA_USE_PREBUILT_UI=OFF \
		-DLLAMA_OPENSSL=OFF
	$(CMAKE) --build $(LLAMA_SERVER_BUILD) --config Release --target llama-server -j $(LLAMA_SERVER_JOBS)
	test -x $@

.PHONY: llama-server
llama-server: setup $(LLAMA_SERVER)
	@echo "llama-server: $(LLAMA_SERVER)"

# The room's server in the foreground: the bundled model (or AIENG_GGUF), 4 requests decoded at once, the key from
# AIENG_API_KEY (required off loopback), on SERVE_HOST (default 127.0.0.1) and SERVE_PORT (default 8082).
.PHONY: serve-llama test-classroom
serve-llama: setup $(LLAMA_SERVER)
	$(BIN)/python -m aieng.classroom $(or $(SERVE_HOST),127.0.0.1) $(or $(SERVE_PORT),8082)

# Chapter 00 and the triage pipeline through llama-server, a wrong key, and the load sweep beside the course's own
# server (tests/test_classroom.py; left out of `make test`, which would pay for the build).
test-classroom: setup $(LLAMA_SERVER)
	AIENG_CHECKS_STRICT=1 $(BIN)/python -m pytest tests/test_classroom.py -m classroom -rP --durations=5
