# rilib — the two commands of the README:
#   make book   set everything up, execute every notebook at $(PROFILE) (default: default), render _build/html
#   make test   set everything up, run the test-suite
# Both are idempotent: a second run installs nothing and costs seconds.

PROFILE ?= default
PYTHON  ?= python3
VENV    := .venv
PY      := $(VENV)/bin/python
STAMP   := $(VENV)/.rilib-installed
PYTEST_ARGS ?=
# spinning OpenMP threads are ~100x slower for small torch ops when another process shares the 2 cores
export OMP_WAIT_POLICY ?= PASSIVE

.PHONY: book test setup system-packages clean-book help

help:
	@echo "make book [PROFILE=ci|default|paper]   build the book (_build/html/index.html)"
	@echo "make test                              run the tests (includes every notebook at profile ci)"

book: setup
	$(PY) -m rilib.runner --profile $(PROFILE)

test: setup
	$(PY) -m pytest $(PYTEST_ARGS)

setup: system-packages $(STAMP)

# The venv is (re)installed only when the pins or the package metadata change.
$(STAMP): requirements.txt pyproject.toml
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	@echo "installing the pinned stack into $(VENV) (first time: a few minutes, ~6 GB)"
	@$(PY) -m pip install --disable-pip-version-check -q -r requirements.txt > $(VENV)/pip.log 2>&1 \
	  || { cat $(VENV)/pip.log; echo "pip install failed (log: $(VENV)/pip.log)"; exit 1; }
	@$(PY) -m pip install --disable-pip-version-check -q --no-deps --no-build-isolation -e . >> $(VENV)/pip.log 2>&1 \
	  || { cat $(VENV)/pip.log; echo "pip install -e . failed"; exit 1; }
	$(PY) -c "import torch, torchvision, foolbox, captum, papermill, jupytext, jupyter_book, mlxtend, safetensors" 
	$(PY) -m ipykernel install --sys-prefix --name rilib --display-name rilib > /dev/null
	@touch $(STAMP)

# Debian data / offline assets: installed when root, otherwise say what is missing.
system-packages:
	@sh .ci/system-packages.sh

clean-book:
	rm -rf _build book/generated
