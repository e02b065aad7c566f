# Two commands on a fresh machine with only python3 and make:
#   make demo   set up .venv, install, run the headline experiments at demo size
#   make test   set up .venv with the dev extras, run the default test suite
PYTHON ?= python3
VENV   ?= .venv
PY     := $(VENV)/bin/python
PIP    := $(PY) -m pip --disable-pip-version-check
# pytest-xdist workers; the default suite is sized for 2 cores.
JOBS   ?= 2

.PHONY: demo test test-all install dev paper paper-quick clean notebooks lm-quick

$(VENV)/bin/python:
	$(PYTHON) -m venv $(VENV)
	$(PIP) install -q --upgrade pip

# Stamp files re-run the install when pyproject.toml changes.
$(VENV)/.installed: pyproject.toml | $(VENV)/bin/python
	$(PIP) install -q -e .
	@touch $@

$(VENV)/.installed-dev: pyproject.toml | $(VENV)/bin/python
	$(PIP) install -q -e '.[dev]'
	@touch $@ $(VENV)/.installed

install: $(VENV)/.installed
dev: $(VENV)/.installed-dev

demo: $(VENV)/.installed
	$(VENV)/bin/routerlab demo

# Notebooks run top to bottom at smoke scale (nbmake), writing their runs to a scratch directory.
NB_ENV := ROUTERLAB_SCALE=smoke ROUTERLAB_RUNS=$$(mktemp -d) TQDM_DISABLE=1

test: $(VENV)/.installed-dev
	$(NB_ENV) $(PY) -m pytest -q -n $(JOBS) -m "not slow" tests notebooks --nbmake

test-all: $(VENV)/.installed-dev
	$(NB_ENV) $(PY) -m pytest -q -n $(JOBS) tests notebooks --nbmake

# Rebuild each notebook's .ipynb from its .py (outputs stay stripped).
notebooks: $(VENV)/.installed-dev
	$(VENV)/bin/jupytext --sync notebooks/*.py

paper: $(VENV)/.installed
	$(MAKE) -C paper

# Every table and figure at quick scale from runs/, running each paper experiment that has no
# complete run of its current config (after `make demo`, its runs are reused), then the PDF.
paper-quick: $(VENV)/.installed
	$(VENV)/bin/routerlab paper --runs runs --out paper --scale quick --run-missing
	$(MAKE) -C paper

# Every in-model (LM) study at quick scale, LM_JOBS at a time (shared units are trained once, under
# a lock); each study's wall and CPU seconds and the whole's go to runs/reproduce-quick-timing.json.
# moe_vs_dense first (it trains the control units the others share), knowledge beside it (no shared units).
LM_STUDIES := moe_vs_dense knowledge capacity routers balancing expert_count granularity scaling_fit encoder_routers
LM_JOBS ?= 2
lm-quick: $(VENV)/.installed
	$(VENV)/bin/routerlab reproduce --scale quick --jobs $(LM_JOBS) $(addprefix --only ,$(LM_STUDIES))

clean:
	rm -rf $(VENV) *.egg-info .pytest_cache
