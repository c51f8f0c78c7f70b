# Every target reuses an existing .venv; it (re)installs only when pyproject.toml changed.
PYTHON ?= python3.11
VENV := .venv
PY := $(VENV)/bin/python
PIP := $(PY) -m pip
STAMP := $(VENV)/.emafusion-installed
LLAMA_VERSION := 0.3.36
# A portable x86-64 build: GGML_NATIVE also enables AVX-512/AMX where the CPU reports them, and on some
# virtual CPUs those fault at run time ("Illegal instruction").
LLAMA_CMAKE_ARGS ?= $(if $(filter x86_64,$(shell uname -m)),-DGGML_NATIVE=OFF -DGGML_AVX=ON -DGGML_AVX2=ON -DGGML_FMA=ON -DGGML_F16C=ON -DGGML_AVX512=OFF,)
# The compiled wheel is kept per build configuration, so a new venv (CI, a fresh clone) reuses it.
LLAMA_WHEELS := $(HOME)/.cache/langchain-emafusion/wheels/llama-cpp-python-$(LLAMA_VERSION)-$(shell printf '%s' '$(LLAMA_CMAKE_ARGS)' | sha256sum | cut -c1-12)
DEMO_PROMPT ?= What is the capital of France? Answer in one short sentence.

.PHONY: install demo test integration_test lint format clean-venv

install: $(STAMP)

$(PY):
	$(PYTHON) -m venv $(VENV) || python3 -m venv $(VENV)
	$(PIP) install -q --upgrade pip

# torch is pinned to the local CPU build first so that nothing pulls a CUDA build;
# llama-cpp-python compiles from source once per machine (~5-10 min on 2 cores).
$(STAMP): pyproject.toml | $(PY)
	$(PIP) install -q torch==2.13.0
	@if ! ls $(LLAMA_WHEELS)/llama_cpp_python-*.whl >/dev/null 2>&1; then \
	  echo "building llama-cpp-python $(LLAMA_VERSION) once (~5-10 min on 2 cores)"; \
	  rm -rf $(LLAMA_WHEELS).partial && mkdir -p $(LLAMA_WHEELS).partial && \
	  CMAKE_ARGS="$(LLAMA_CMAKE_ARGS)" CMAKE_BUILD_PARALLEL_LEVEL=2 \
	    $(PIP) wheel -q --no-deps --no-cache-dir llama-cpp-python==$(LLAMA_VERSION) -w $(LLAMA_WHEELS).partial && \
	  mv $(LLAMA_WHEELS).partial $(LLAMA_WHEELS); \
	fi
	$(PIP) install -q $(LLAMA_WHEELS)/llama_cpp_python-*.whl
	$(PIP) install -q -e '.[embedded,ml,server,dev,privacy-ner]'
	touch $(STAMP)

demo: $(STAMP)
	$(VENV)/bin/emafusion chat "$(DEMO_PROMPT)"

test: $(STAMP)
	$(PY) -m pytest tests --disable-socket --allow-unix-socket -q

integration_test: $(STAMP)
	$(PY) -m pytest integration_tests -q

lint: $(STAMP)
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	$(VENV)/bin/mypy

format: $(STAMP)
	$(VENV)/bin/ruff format .
	$(VENV)/bin/ruff check --fix .

clean-venv:
	rm -rf $(VENV)
