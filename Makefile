# Two commands from a fresh machine: `make demo` and `make test` (see README.md).
# Both set up .venv and ffmpeg first, and both are idempotent.

PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
SUDO := $(shell [ "$$(id -u)" = 0 ] || echo sudo)
CORES ?= all

.PHONY: demo test lint format setup ffmpeg bench clean

setup: $(STAMP) ffmpeg

# ffmpeg/ffprobe from the distribution when missing
ffmpeg:
	@command -v ffmpeg >/dev/null && command -v ffprobe >/dev/null || { \
	  echo "installing ffmpeg from the distribution"; \
	  $(SUDO) apt-get update -qq && \
	  DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install -y -qq ffmpeg >/dev/null; }

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q -e ".[dev]"
	touch $@

demo: setup
	$(BIN)/snakemake --cores $(CORES)

test: setup
	$(BIN)/pytest

lint: setup
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/snakefmt --check Snakefile rules/
	$(BIN)/snakemake --lint --cores 1

format: setup
	$(BIN)/ruff format .
	$(BIN)/snakefmt Snakefile rules/

bench: setup
	$(BIN)/python bench/clips.py

clean:
	rm -rf results resources logs benchmarks .snakemake
