# Quick start: `make demo` (install, then the main job) and `make test` (install, then the tests).
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
PIP := $(PY) -m pip
STAMP := $(VENV)/.installed

.PHONY: install demo test test-fast lint format clean gpu-check

$(STAMP): setup.cfg pyproject.toml constraints.txt
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PIP) install -q -c constraints.txt -e '.[dev,hub,lora,text]'
	touch $(STAMP)

install: $(STAMP)

demo: $(STAMP)
	$(PY) examples/model_summary.py convvit_s --size-2d 224 --size-3d 64
	$(PY) benchmarks/latency.py --models convvit_s,convnext_small,swin_small_patch4_window7_224 \
		--batch-size 1,4 --input-size 224 --markdown

test: $(STAMP)
	$(PY) -m pytest -n 2 --durations=15 tests

# On a CUDA machine (no install step: it uses .venv if there, else python3): gpu-marked tests,
# kernel benchmark and bf16 latency, < 10 min, JSON in benchmarks/results/gpu_check. See
# benchmarks/README.md. Without CUDA it stops with exit status 2.
gpu-check:
	bash benchmarks/gpu_check.sh

lint: $(STAMP)
	$(VENV)/bin/ruff check hybridnets kernels benchmarks tests examples
	$(VENV)/bin/ruff format --check hybridnets kernels benchmarks tests examples

format: $(STAMP)
	$(VENV)/bin/ruff format hybridnets kernels benchmarks tests examples
	$(VENV)/bin/ruff check --fix hybridnets kernels benchmarks tests examples

clean:
	rm -rf $(VENV) build dist *.egg-info .pytest_cache .ruff_cache
