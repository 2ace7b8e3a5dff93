# Nexus: `make run` installs, migrates, seeds and serves; `make test` checks everything.
SHELL := /bin/bash
PYTHON ?= python3.11
VENV := .venv
BIN := $(VENV)/bin
WHEELS ?= $(HOME)/.cache/nexus/wheels
LLAMA_VERSION := 0.3.36
LLAMA_WHEEL := $(WHEELS)/llama_cpp_python-$(LLAMA_VERSION)-py3-none-linux_x86_64.whl
# A native llama.cpp build crashes in decode on these CPUs (AMX); build it portable, once.
LLAMA_CMAKE_ARGS := -DGGML_NATIVE=OFF -DGGML_AVX=ON -DGGML_AVX2=ON -DGGML_FMA=ON -DGGML_F16C=ON \
	-DGGML_AVX512=OFF -DGGML_AMX_TILE=OFF -DGGML_AMX_INT8=OFF -DGGML_AMX_BF16=OFF
STAMP := $(VENV)/.installed
HOST ?= 127.0.0.1
PORT ?= 8000

.PHONY: run test lint bench install clean system-deps

run: system-deps $(STAMP)
	$(BIN)/nexus migrate
	$(BIN)/nexus seed
	$(BIN)/nexus serve --host $(HOST) --port $(PORT)

test: $(STAMP) lint
	$(BIN)/pytest -q

lint: $(STAMP)
	$(BIN)/ruff check src tests bench
	$(BIN)/ruff format --check src tests bench
	$(BIN)/lint-imports

bench: $(STAMP)
	$(BIN)/python bench/bench_agent_loop.py
	$(BIN)/python bench/bench_embedded_model.py

install: $(STAMP)

# bubblewrap runs untrusted code; without it code execution is refused (never unsandboxed).
system-deps:
	@command -v bwrap >/dev/null || { \
		if [ "$$(id -u)" = 0 ]; then apt-get update -q && apt-get install -y -q bubblewrap; \
		else echo "install bubblewrap (sudo apt-get install bubblewrap) for code execution"; fi; }

$(LLAMA_WHEEL):
	mkdir -p $(WHEELS)
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	CMAKE_ARGS="$(LLAMA_CMAKE_ARGS)" $(BIN)/pip wheel --no-deps --no-cache-dir \
		-w $(WHEELS) llama-cpp-python==$(LLAMA_VERSION)

$(STAMP): pyproject.toml $(LLAMA_WHEEL)
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q --no-deps --force-reinstall $(LLAMA_WHEEL)
	$(BIN)/pip install -q --find-links $(WHEELS) -e '.[dev]'
	touch $(STAMP)

clean:
	rm -rf $(VENV) .nexus .pytest_cache .ruff_cache build src/*.egg-info
