# The two commands of the quick start. Each creates or reuses the project's virtual environment
# (.venv, Python 3.11) and installs the pinned versions in constraints.txt when pyproject.toml or
# constraints.txt changed since the last install; nothing to activate in between.
# Why make: it is on every Debian developer machine, needs nothing from PyPI to start, and its
# stamp files make both commands idempotent (a second run installs nothing).

PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
# Extras to install: CI adds spark,postgres (the optional engines' tests).
EXTRAS ?= test
STAMP := $(VENV)/.installed-$(EXTRAS)

.PHONY: demo test quick wheel-smoke lint-imports clean-venv

# Install (or re-install after a pin changed) the package with the chosen extras.
$(STAMP): pyproject.toml constraints.txt
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -c constraints.txt -e ".[$(EXTRAS)]"
	@touch $(STAMP)

## make demo: simulate, validate, train, promote, score, publish and serve on the embedded defaults.
demo: $(STAMP)
	$(BIN)/risingrisk demo $(ARGS)

## make test: everything CI runs: the full suite on 2 cores (it includes the layer contracts).
test: $(STAMP)
	@bash .ci/browser-deps
	$(BIN)/python -m pytest -n 2 -q

## make quick: the fast tier a developer runs while working (under 2 minutes on 2 cores).
quick: $(STAMP)
	$(BIN)/python -m pytest -n 2 -q -m "not slow"

## make wheel-smoke: build the wheel, install it in a fresh venv outside the checkout, run the demo there.
wheel-smoke: $(STAMP)
	bash .ci/wheel-smoke

lint-imports: $(STAMP)
	$(BIN)/lint-imports

clean-venv:
	rm -rf $(VENV)
