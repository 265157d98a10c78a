# Quick start: `make demo` (train on the embedded digits data set) and `make test`.
# Both create .venv/ at the repo root if missing and skip what is already installed.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
# torch/torchvision are pinned to the releases served from local disk on our machines;
# pyproject.toml admits them (and older ones) without forcing a newer multi-GB download.
TORCH_PIN := torch==2.14.1 torchvision==0.29.1

.PHONY: demo test gpu-check lint format bench clean

$(PY):
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip

$(VENV)/.torch-installed: | $(PY)
	$(PY) -m pip install $(TORCH_PIN)
	touch $@

$(VENV)/.examples-installed: pyproject.toml $(VENV)/.torch-installed
	$(PY) -m pip install -e ".[examples]"
	touch $@

$(VENV)/.dev-installed: pyproject.toml $(VENV)/.torch-installed
	$(PY) -m pip install -e ".[examples,dev]"
	touch $@ $(VENV)/.examples-installed

demo: $(VENV)/.examples-installed
	$(VENV)/bin/lightning-tricks fit --config configs/digits.yaml

test: $(VENV)/.dev-installed
	$(PY) -m pytest

# the tests marked `gpu` only (CUDA tensors and generators, 16-mixed); needs a CUDA device
gpu-check: $(VENV)/.dev-installed
	$(PY) -c "import torch, sys; sys.exit(0 if torch.cuda.is_available() else 'no CUDA device')"
	$(PY) -m pytest -m gpu -q

# ruff (lint + format) on everything, mypy on the package (config: [tool.mypy] in pyproject.toml)
lint: $(VENV)/.dev-installed
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	$(VENV)/bin/mypy lightning_tricks

bench: $(VENV)/.dev-installed
	for b in benchmarks/*.py; do $(PY) $$b || exit 1; done

clean:
	rm -rf $(VENV) runs .pytest_cache .ruff_cache
