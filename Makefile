# bioplastic — two commands: `make run` and `make test`. Everything else is set up on demand.
#
#   make run    create .venv, then run the quick built-in default experiment
#   make test   create .venv, then run the test suite (slow tests excluded)
#   make test-slow, make test-sweep, make bench, make notebooks, make clean
#   make torch-env   build .venv-torch (torch + SpykeTorch source) for the comparison benchmark
#   make bench-conv  the convolutional STDP network, bioplastic vs SpykeTorch, per stage
#   make genn        build .venv-genn (Python 3.11, brian2 2.5, brian2genn 1.7) and GeNN 4.9 (CPU backend)
#   make test-genn   GeNN device tests (GeNN's CPU backend; no GPU needed)
#   make test-cuda   cuda_standalone compile test (nvcc, no GPU needed)
#
# The interpreter must be Python >= 3.12. Set PYTHON=/path/to/python3.12 to choose one;
# otherwise python3.13, python3.12, python3 and pyenv's installs are tried in that order.

SHELL := /bin/bash
VENV  ?= .venv
PY    := $(VENV)/bin/python
DATA_DIR_GUESS := $(wildcard ../shared/data)
export BIOPLASTIC_DATA_DIR ?= $(if $(DATA_DIR_GUESS),$(abspath $(DATA_DIR_GUESS)),)
export MPLBACKEND ?= Agg
export PYTHONUNBUFFERED := 1
# Brian2 keeps compiled Cython code in Cython's cache, ~/.cython/brian_extensions, shared by every
# clone (set CYTHON_CACHE_DIR to move it; Brian2 2.10 does not read BRIAN_CACHE_DIR).
export XDG_CACHE_HOME ?= $(abspath $(VENV))/cache

RUN_ARGS ?=
TEST_ARGS ?=
PYTEST_WORKERS ?= 2

.PHONY: run test test-slow test-sweep bench notebooks clean venv genn test-genn test-cuda

venv: $(VENV)/.installed

$(VENV)/.installed: setup.cfg pyproject.toml
	@python_bin="$$(bash .ci/find-python "$(PYTHON)")" || exit 1; \
	 echo "Creating $(VENV) with $$python_bin ($$($$python_bin -V 2>&1))"; \
	 "$$python_bin" -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e '.[test,cluster]'
	@touch $@

run: venv
	$(VENV)/bin/bioplastic run experiments/supervised_stdp_alltd.yaml --quick $(RUN_ARGS)

test: venv
	$(VENV)/bin/ruff check bioplastic tests benchmarks notebooks
	$(PY) -m pytest -n $(PYTEST_WORKERS) tests notebooks --nbmake $(TEST_ARGS)

test-slow: venv
	$(PY) -m pytest -n $(PYTEST_WORKERS) -m slow tests $(TEST_ARGS)

# Sweeps killed and resumed, and on a real single-node SLURM that the tests start on this machine
# (needs root; installs slurmctld slurmd slurm-client munge with apt-get when missing, else skips).
test-sweep: venv
	$(PY) -m pytest -m sweep -s -v tests/test_sweep_cluster.py $(TEST_ARGS)

bench: venv
	$(PY) -m benchmarks.training --scaling

notebooks: venv
	$(PY) -m pytest --nbmake notebooks

# --- GeNN (brian2genn) ---------------------------------------------------------------------
# brian2genn 1.7.0 (the latest) pins brian2 2.5, which has wheels up to CPython 3.11 and needs
# numpy < 2: a separate environment. bioplastic's own code is the same; the device layer
# (bioplastic/devices/) absorbs the brian2 2.5 / 2.10 differences. GeNN itself: GENN_PATH, or
# the vendored source archive, or a clone (see .ci/genn-path). Build outputs: .genn/.
GENN_VENV   ?= .venv-genn
GENN_PYTHON ?= python3.11
GENN_PY     := $(GENN_VENV)/bin/python

genn: $(GENN_VENV)/.installed
	@genn_path="$$(bash .ci/genn-path)" || exit 1; \
	 echo "$$genn_path" > $(GENN_VENV)/genn-path; echo "GeNN: $$genn_path (recorded in $(GENN_VENV)/genn-path)"

$(GENN_VENV)/.installed: setup.cfg pyproject.toml .ci/genn-requirements
	@command -v $(GENN_PYTHON) >/dev/null || { echo "error: brian2genn needs Python 3.11 (brian2 2.5 has no wheels for 3.12+); set GENN_PYTHON=/path/to/python3.11"; exit 1; }
	$(GENN_PYTHON) -m venv $(GENN_VENV)
	$(GENN_PY) -m pip install --quiet --upgrade pip
	$(GENN_PY) .ci/genn-requirements > $(GENN_VENV)/requirements.txt
	$(GENN_PY) -m pip install --quiet -r $(GENN_VENV)/requirements.txt
	# .ci/genn-requirements: setup.cfg's install_requires with brian2 2.5 and numpy < 2 (see there).
	# bioplastic declares python>=3.12 and brian2 2.10 for its main environment; here both are
	# deliberately different, so it is installed without its dependency pins.
	$(GENN_PY) -m pip install --quiet --no-deps --ignore-requires-python -e .
	@touch $@

test-genn: export XDG_CACHE_HOME := $(abspath $(GENN_VENV))/cache
test-genn: genn
	GENN_PATH="$$(cat $(GENN_VENV)/genn-path)" $(GENN_PY) -m pytest -m genn tests/test_devices.py $(TEST_ARGS)

# --- CUDA (brian2cuda): generate and compile only; running needs a GPU ---------------------
# nvidia-curand: curand for a CUDA toolkit that lacks it (bioplastic/devices/cuda.py finds it).
test-cuda: venv
	@$(PY) -c 'import brian2cuda' 2>/dev/null || $(PY) -m pip install --quiet -e '.[cuda]' nvidia-curand
	$(PY) -m pytest -m cuda tests/test_devices.py $(TEST_ARGS)

clean:
	rm -rf $(VENV) $(GENN_VENV) $(TORCH_VENV) .genn .spyketorch build *.egg-info .pytest_cache

# --- SpykeTorch (comparison benchmark) -----------------------------------------------------
# benchmarks/spyketorch_mozafari.py times SpykeTorch's MozafariDeep.py (Mozafari et al. 2019)
# stage by stage. It needs torch, not brian2: a separate environment. torchvision, Pillow and
# matplotlib: MozafariDeep.py and SpykeTorch's own modules import them. On Linux x86_64 PyPI's
# torch wheel is the CUDA-bundled one (it also runs on CPU). SpykeTorch is not on PyPI:
# SPYKETORCH_PATH, or .spyketorch/SpykeTorch, or a clone from SPYKETORCH_GIT (see .ci/spyketorch-path).
TORCH_VENV ?= .venv-torch
TORCH_PY   := $(TORCH_VENV)/bin/python

.PHONY: torch-env bench-conv

torch-env: $(TORCH_VENV)/.installed
	@spyketorch_path="$$(bash .ci/spyketorch-path)" || exit 1; \
	 echo "$$spyketorch_path" > $(TORCH_VENV)/spyketorch-path; echo "SpykeTorch: $$spyketorch_path (recorded in $(TORCH_VENV)/spyketorch-path)"

$(TORCH_VENV)/.installed:
	@python_bin="$$(bash .ci/find-python "$(PYTHON)")" || exit 1; \
	 echo "Creating $(TORCH_VENV) with $$python_bin ($$($$python_bin -V 2>&1))"; \
	 "$$python_bin" -m venv $(TORCH_VENV)
	$(TORCH_PY) -m pip install --quiet --upgrade pip
	$(TORCH_PY) -m pip install --quiet torch torchvision numpy pillow matplotlib
	@touch $@

# bioplastic's convolutional STDP network next to SpykeTorch's MozafariDeep.py, stage by stage,
# on the same MNIST images, in one run (README, "Performance").
bench-conv: venv torch-env
	$(PY) -m benchmarks.conv_stdp --json benchmarks/measured/conv_stdp-2core.json
