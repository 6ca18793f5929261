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
