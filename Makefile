# SLE stem-cell transplantation notebooks. `make help` lists the targets.
# Every target that needs Python sets up .venv first (python3 -m venv + the exact pins of pyproject.toml).

PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed
NB     ?= notebooks/*.ipynb
JOBS   ?= 2
NBVAL  := --nbval --nbval-current-env --nbval-sanitize-with tests/nbval_sanitize.cfg

.DEFAULT_GOAL := help
.PHONY: help setup report test rerun unit nbval lab notebooks data bench clean-venv

help: ## list the targets
	@awk 'BEGIN {FS = ":.*## "} /^[a-zA-Z_-]+:.*## / {printf "  make %-10s %s\n", $$1, $$2}' $(MAKEFILE_LIST)

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e .
	@# optional jsonschema extra that costs ~3 s at every nbformat import (jsonschema issue 1428)
	-$(BIN)/python -m pip uninstall --quiet --yes rfc3987-syntax
	$(BIN)/python -m pip check
	touch $(STAMP)

setup: $(STAMP) ## create .venv and install the pinned dependencies (done by the other targets when needed)

report: $(STAMP) ## run every notebook on the bundled data into reports/ and render reports/site/index.html
	$(BIN)/python -m sle_nb_utils run --data-dir data/raw --out reports --jobs $(JOBS)

test: $(STAMP) ## every test + nbval on notebooks/, except the reproducibility reruns (`make rerun`; .ci/run runs both)
	$(BIN)/python -m pytest tests $(NB) $(NBVAL) -q -n 2 --dist loadfile --no-loadscope-reorder -m "not rerun and not bench"

rerun: $(STAMP) ## reproducibility reruns (needs R): the R scripts of tests/reference/ against their committed values, and `make report` twice
	$(BIN)/python -m pytest tests -q -n 2 -m rerun

unit: $(STAMP) ## unit tests only, without the R and the slow tests (about 30 s)
	$(BIN)/python -m pytest tests -q -m "not r and not slow" -n 2

nbval: $(STAMP) ## nbval on the stored notebook outputs only
	$(BIN)/python -m pytest $(NB) $(NBVAL) -q

lab: $(STAMP) ## JupyterLab on 127.0.0.1 at the repository root (README, data/, reports/ in reach), notebooks/ open
	$(BIN)/jupyter lab --ip 127.0.0.1 --no-browser $(if $(filter 0,$(shell id -u)),--allow-root,) \
	  --ServerApp.root_dir="$(CURDIR)" --LabApp.default_url=/lab/tree/notebooks

notebooks: $(STAMP) ## deliberately refresh the golden outputs stored in notebooks/ (NB=path to do one)
	$(BIN)/python -m sle_nb_utils.report refresh $(NB)

data: $(STAMP) ## regenerate the bundled synthetic data in data/ (byte-identical to what is committed)
	$(BIN)/python -m sle_nb_utils synth --out data

bench: $(STAMP) ## benchmarks into bench/ (not in make test); PARTS="scale timings" SIZES="1000 10000": a subset
	$(BIN)/python -m sle_nb_utils.bench $(PARTS) $(if $(SIZES),--sizes $(SIZES),)

clean-venv: ## remove .venv
	rm -rf $(VENV)
