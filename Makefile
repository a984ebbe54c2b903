# morebench: the two set-up commands of the README are `make test` and `make paper`.
# Each creates/updates .venv itself (pinned by constraints.txt, so no unpinned multi-GB torch is ever pulled).
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
SCRATCH := $(CURDIR)/.scratch
OUT ?= outputs
PATIENTS ?=
PROFILE ?= smoke
SEED ?= 0
JOBS ?= 2

# Offline by construction: a hidden hub download fails at once. Tool state goes to a scratch folder, not ~.
export HF_HUB_OFFLINE := 1
export TRANSFORMERS_OFFLINE := 1
export HF_DATASETS_OFFLINE := 1
export MPLBACKEND := Agg
export MPLCONFIGDIR := $(SCRATCH)/mpl
export IPYTHONDIR := $(SCRATCH)/ipython
export JUPYTER_CONFIG_DIR := $(SCRATCH)/jupyter/config
export JUPYTER_DATA_DIR := $(SCRATCH)/jupyter/data
export JUPYTER_RUNTIME_DIR := $(SCRATCH)/jupyter/runtime
export NUMBA_CACHE_DIR := $(SCRATCH)/numba
export npm_config_cache := $(SCRATCH)/npm
export PYTHONHASHSEED := 0
export OMP_NUM_THREADS ?= 2

.PHONY: test paper venv sync lint nbtest pytest lab docs clean-venv

$(VENV)/.installed: setup.py settings.ini constraints.txt
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --disable-pip-version-check -c constraints.txt -e ".[dev]"
	@touch $@

venv: $(VENV)/.installed

# Notebooks and package must be in sync: nbdev_clean + nbdev_export may not change a single file.
sync: venv
	@mkdir -p $(SCRATCH)
	@bash .ci/tree_hash > $(SCRATCH)/before.sha
	$(BIN)/nbdev_clean
	$(BIN)/nbdev_export
	@bash .ci/tree_hash > $(SCRATCH)/after.sha
	@if ! cmp -s $(SCRATCH)/before.sha $(SCRATCH)/after.sha; then \
	  echo "ERROR: nbdev_clean/nbdev_export changed these files (commit the clean, exported tree):"; \
	  diff $(SCRATCH)/before.sha $(SCRATCH)/after.sha | grep '^[<>]' | awk '{print $$3}' | sort -u; exit 1; fi

# Names used by exported code but defined only in non-exported cells, and stray imports.
lint: venv
	$(BIN)/ruff check --select F821,F401 morebench

# Every notebook under nbdev_test, slow cells included (gpu cells are skipped on CPU).
nbtest: venv
	# two notebooks at a time, one thread each: two kernels that each take both cores oversubscribe them (measured many times slower)
	OMP_NUM_THREADS=1 MKL_NUM_THREADS=1 $(BIN)/nbdev_test --flags slow --n_workers 2 --timing

# pytest last, so CI reads its closing line. Exit code 5 (no tests collected) fails like any other.
pytest: venv
	$(BIN)/python -m pytest tests -q -p no:cacheprovider --durations=15

test: sync lint nbtest pytest

# The main job: every benchmark notebook on the embedded (synthetic) default data, on CPU (profile smoke; its step
# budget lives in morebench.bench.PROFILES). PATIENTS= overrides the profile's cohort size; JOBS= how many pre-training
# runs and notebooks run at once (each with cores/JOBS threads).
paper: venv
	$(BIN)/morebench paper --profile $(PROFILE) --out $(OUT) --seed $(SEED) --jobs $(JOBS) $(if $(PATIENTS),--patients $(PATIENTS))

# JupyterLab on the notebooks (nbs/ = the library, more_nb/ = the benchmarks); installs the `lab` extra first.
# (JupyterLab's extension manager calls npm: its cache and logs go to .scratch/npm, not ~/.npm.)
lab: venv
	$(BIN)/pip install -q --disable-pip-version-check -c constraints.txt -e ".[dev,lab]"
	$(BIN)/jupyter-lab --notebook-dir=$(CURDIR) $(if $(filter 0,$(shell id -u)),--allow-root)

# The documentation site (_docs/) from nbs/ (home page: index.ipynb, written from README.md by .ci/sync_index.py).
# Needs Quarto on PATH first: without it, nbdev_docs would run nbdev's own installer (sudo, then pip into whatever
# Python is first on PATH), so we stop. README.md is touched first so that nbdev_docs keeps it (it re-renders
# README.md from index.ipynb only when the notebook is newer).
docs: venv
	@command -v quarto >/dev/null || { echo "Quarto is not installed: install it first (see README, 'Documentation')"; exit 2; }
	$(BIN)/python .ci/sync_index.py
	@touch README.md
	$(BIN)/nbdev_docs

clean-venv:
	rm -rf $(VENV)
