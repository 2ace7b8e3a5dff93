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
WEB_BUILD := web/dist/index.html
WEB_MODULES := web/node_modules/.package-lock.json
WEB_SOURCES := $(shell find web/src web/public -type f 2>/dev/null) web/index.html \
	web/vite.config.ts web/tsconfig.json
CHROMIUM := /usr/bin/chromium
HOST ?= 127.0.0.1
PORT ?= 8000

.PHONY: run test lint bench install clean system-deps browser-deps web api-client api-client-check

run: system-deps $(STAMP) $(WEB_BUILD)
	$(BIN)/nexus migrate
	$(BIN)/nexus seed
	$(BIN)/nexus serve --host $(HOST) --port $(PORT)

# Two pytest sessions: Playwright's sync API keeps its own event loop marked running in the
# process, which the asyncio tests must never share.
test: $(STAMP) lint browser-deps $(WEB_BUILD) api-client-check
	$(BIN)/pytest -q -m "not browser"
	$(BIN)/pytest -q -m browser

lint: $(STAMP)
	$(BIN)/ruff check src tests bench
	$(BIN)/ruff format --check src tests bench
	$(BIN)/lint-imports

bench: $(STAMP) $(WEB_BUILD) browser-deps
	$(BIN)/python bench/bench_agent_loop.py
	$(BIN)/python bench/bench_embedded_model.py
	$(BIN)/python bench/bench_engine.py
	$(BIN)/python bench/bench_checkpoints.py
	$(BIN)/python bench/bench_sandbox.py
	$(BIN)/python bench/bench_code_agent.py
	$(BIN)/python bench/bench_ui.py

install: $(STAMP)

# The web app: built when missing or older than its sources; the API serves web/dist at /.
web: $(WEB_BUILD)

$(WEB_MODULES): web/package.json web/package-lock.json
	cd web && npm ci --no-audit --no-fund
	touch $(WEB_MODULES)

$(WEB_BUILD): $(WEB_MODULES) $(WEB_SOURCES)
	cd web && npm run build

# The typed API client is generated from the API's OpenAPI document and checked in;
# `make api-client` regenerates it, `make test` fails if it drifted from the API.
api-client: $(STAMP) $(WEB_MODULES)
	$(BIN)/nexus openapi --output web/openapi.json
	cd web && npm run --silent gen:api

api-client-check: $(STAMP) $(WEB_MODULES)
	@tmp=$$(mktemp -d) && $(BIN)/nexus openapi --output $$tmp/openapi.json \
	&& (cd web && npx openapi-typescript $$tmp/openapi.json -o $$tmp/schema.d.ts >/dev/null) \
	&& diff -q web/openapi.json $$tmp/openapi.json && diff -q web/src/api/schema.d.ts $$tmp/schema.d.ts \
	|| { echo "the web app's API client is stale: run 'make api-client' and commit"; exit 1; }

# Browser tests drive Debian's chromium (no browser download at run time).
browser-deps:
	@test -x $(CHROMIUM) || { \
		if [ "$$(id -u)" = 0 ]; then apt-get update -q && apt-get install -y -q chromium; \
		else echo "install chromium (sudo apt-get install chromium) for the browser tests"; exit 1; fi; }

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
	rm -rf $(VENV) .nexus .pytest_cache .ruff_cache build src/*.egg-info web/dist web/node_modules
