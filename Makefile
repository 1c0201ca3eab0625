# bioplastic — two commands: `make run` and `make test`. Everything else is set up on demand.
#
#   make run    create .venv, then run the quick built-in default experiment
#   make test   create .venv, then run the test suite (slow tests excluded)
#   make test-slow, make test-sweep, make bench, make notebooks, make clean
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
# Brian2 keeps compiled Cython code here; inside the venv so a `make clean` removes it.
export BRIAN_CACHE_DIR := $(abspath $(VENV))/brian-cache
export XDG_CACHE_HOME ?= $(abspath $(VENV))/cache

RUN_ARGS ?=
TEST_ARGS ?=
PYTEST_WORKERS ?= 2

.PHONY: run test test-slow test-sweep bench notebooks clean venv

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
	$(PY) -m pytest -n $(PYTEST_WORKERS) tests notebooks --nbmake $(TEST_ARGS)

test-slow: venv
	$(PY) -m pytest -m slow $(TEST_ARGS)

# Sweeps killed and resumed, and on a real single-node SLURM that the tests start on this machine
# (needs root; installs slurmctld slurmd slurm-client munge with apt-get when missing, else skips).
test-sweep: venv
	$(PY) -m pytest -m sweep -s -v tests/test_sweep_cluster.py $(TEST_ARGS)

bench: venv
	$(PY) -m benchmarks.training --scaling

notebooks: venv
	$(PY) -m pytest --nbmake notebooks

clean:
	rm -rf $(VENV) build *.egg-info .pytest_cache
