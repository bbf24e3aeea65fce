# Quick start: `make demo` (install, then the main job) and `make test` (install, then the tests).
PYTHON ?= python3
comma := ,
VENV ?= .venv
PY := $(VENV)/bin/python
PIP := $(PY) -m pip
STAMP := $(VENV)/.installed
EXTRAS := dev,docs,hub,lora,text
# requirements.lock pins every transitive dependency of .[$(EXTRAS)] at the versions the suite
# passed with; the package's own metadata (setup.cfg) keeps ranges. Regenerate: `make lock`.
LOCK := requirements.lock

.PHONY: install demo test docs test-latest lock lint format clean gpu-check

$(STAMP): setup.cfg pyproject.toml constraints.txt $(LOCK)
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PIP) install -q -c $(LOCK) -e '.[$(EXTRAS)]'
	touch $(STAMP)

install: $(STAMP)

demo: $(STAMP)
	$(PY) examples/model_summary.py convvit_s --size-2d 224 --size-3d 64
	$(PY) benchmarks/latency.py --models convvit_s,convnext_small,swin_small_patch4_window7_224 \
		--batch-size 1,4 --input-size 224 --markdown

test: $(STAMP)
	$(PY) -m pytest -n 2 --durations=15 tests

# The documentation site (docs/mkdocs.yml → build/site): strict (a broken link, a missing
# reference or a docstring warning fails it), results pages generated from
# benchmarks/results/*.json, then every page, link and public name checked over HTTP.
docs: $(STAMP)
	NO_MKDOCS_2_WARNING=1 $(VENV)/bin/mkdocs build --strict -q -f docs/mkdocs.yml
	$(PY) docs/check_site.py build/site

# Drift caught early: the whole suite in a fresh temporary venv with the newest releases that
# setup.cfg and constraints.txt allow (no lock). Run before every stop; when it fails, fix the
# code (or cap the dependency in setup.cfg with a comment saying why), then `make lock`.
test-latest:
	set -e; d=$$(mktemp -d); trap 'rm -rf "$$d"' EXIT; \
	$(PYTHON) -m venv $$d/venv; \
	$$d/venv/bin/python -m pip install -q --upgrade pip; \
	$$d/venv/bin/python -m pip install -q --upgrade -c constraints.txt -e '.[$(EXTRAS)]'; \
	echo "releases that differ from $(LOCK):"; grep '==' $(LOCK) | tr 'A-Z_.' 'a-z--' > $$d/lock; \
	$$d/venv/bin/python -m pip freeze --exclude-editable | tr 'A-Z_.' 'a-z--' \
		| grep -vxFf $$d/lock || echo "  none"; \
	$$d/venv/bin/python -m pytest -n 2 -q -p no:cacheprovider tests

# Re-resolve requirements.lock: newest releases allowed by setup.cfg and constraints.txt.
lock:
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PIP) install -q uv
	$(VENV)/bin/uv pip compile setup.cfg $(foreach e,$(subst $(comma), ,$(EXTRAS)),--extra $(e)) \
		-c constraints.txt --python-version 3.11 --upgrade -o $(LOCK)

# On a CUDA machine (no install step: it uses .venv if there, else python3): gpu-marked tests,
# kernel benchmark and bf16 latency, < 10 min, JSON in benchmarks/results/gpu_check. See
# benchmarks/README.md. Without CUDA it stops with exit status 2.
gpu-check:
	bash benchmarks/gpu_check.sh

lint: $(STAMP)
	$(VENV)/bin/ruff check hybridnets kernels benchmarks tests examples docs
	$(VENV)/bin/ruff format --check hybridnets kernels benchmarks tests examples docs

format: $(STAMP)
	$(VENV)/bin/ruff format hybridnets kernels benchmarks tests examples docs
	$(VENV)/bin/ruff check --fix hybridnets kernels benchmarks tests examples docs

clean:
	rm -rf $(VENV) build dist *.egg-info .pytest_cache .ruff_cache
