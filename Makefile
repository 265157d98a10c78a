# Quick start: `make demo` (baseline vs the bag-of-tricks recipe on scarce digits) and
# `make test`. Both create .venv/ at the repo root if missing and skip what is installed.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
# torch/torchvision are pinned to the releases served from local disk on our machines;
# pyproject.toml admits them (and older ones) without forcing a newer multi-GB download.
TORCH_PIN := torch==2.14.1 torchvision==0.29.1

.PHONY: demo train test docs gpu-check gpu-bench lint format bench clean

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

# baseline vs baseline + configs/recipes/bag_of_tricks.yaml, 4 seeds each (a few minutes)
demo: $(VENV)/.examples-installed
	$(VENV)/bin/lightning-tricks demo

# one model: the reference classifier on all the embedded digits
train: $(VENV)/.examples-installed
	$(VENV)/bin/lightning-tricks fit --config configs/digits.yaml

test: $(VENV)/.dev-installed
	$(PY) -m pytest

# the documentation site: README guide, method cards, API from __all__, notebooks, results,
# augmentation gallery drawn at build time; any warning fails the build
docs: $(VENV)/.dev-installed
	$(PY) -m sphinx -b html -W --keep-going docs docs/_build/html
	@echo "docs: open docs/_build/html/index.html"

# the tests marked `gpu` only (CUDA tensors and generators, 16-mixed); needs a CUDA device
gpu-check: $(VENV)/.dev-installed
	$(PY) -c "import torch, sys; sys.exit(0 if torch.cuda.is_available() else 'no CUDA device')"
	$(PY) -m pytest -m gpu -q

# the GPU benchmark (benchmarks/gpu.py, <= 5 min on one GPU): prints one Markdown table;
# without CUDA it prints "needs a CUDA device" and exits with 0
gpu-bench: $(VENV)/.dev-installed
	$(PY) benchmarks/gpu.py

# ruff (lint + format) on everything, mypy on the package (config: [tool.mypy] in pyproject.toml)
lint: $(VENV)/.dev-installed
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	$(VENV)/bin/mypy lightning_tricks

bench: $(VENV)/.dev-installed
	for b in benchmarks/*.py; do $(PY) $$b || exit 1; done

clean:
	rm -rf $(VENV) runs .pytest_cache .ruff_cache .mypy_cache docs/_build docs/_generated
