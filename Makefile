# initlib: `make reproduce` and `make test` are the two commands a fresh machine needs;
# each builds the environment and fetches MNIST first. `make` alone lists the targets.

SHELL := bash
.SHELLFLAGS := -eu -o pipefail -c
.DEFAULT_GOAL := help

PYTHON ?= python3
VENV := .venv
VPY := $(VENV)/bin/python
PAPERMILL := $(VENV)/bin/papermill --kernel initlib --log-output --no-progress-bar
STAMP := .make
comma := ,

# Any of these can be overridden on the command line, e.g. `make reproduce EPOCHS=2`.
INITS := random xavier he orthogonal
SEEDS := [0, 1, 2, 3, 4]
EPOCHS := 10
TRAIN_SUBSET := 0
TEST_SUBSET := 0
LR := 0.001
# the learning rates `make lr-grid` adds to the paper's 0.001
LR_GRID := 0.0003 0.003
RESULTS := data/results/paper
RUNS := notebooks/runs
FIGURES := figures
# yes: copy the executed summary and propagation notebooks over the committed ones (nbval checks those)
REFRESH_NOTEBOOKS := yes
# Rerun a finished initializer only when the code or the notebook changed since it ran.
SOURCES := $(wildcard initlib/*.py) notebooks/initializer.ipynb

.PHONY: help env data reproduce lr-grid sweep test notebook-outputs lab bench clean clean-results

help: ## List the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-17s %s\n", $$1, $$2}'

env: $(VENV)/.installed ## Create .venv with the pinned packages and the "initlib" Jupyter kernel

$(VENV)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(VPY) -m pip install --quiet --upgrade pip
	$(VPY) -m pip install --quiet -e .
	$(VPY) -m ipykernel install --sys-prefix --name initlib --display-name "Python (initlib)"
	touch $@

data: env ## Fetch MNIST into data/MNIST/raw and verify its sha256 checksums
	$(VPY) -m initlib.data

reproduce: env data $(STAMP)/summary.done ## Run every initializer notebook (paper settings, 5 seeds), then the summary

# One papermill run per initializer. The stamp is written only after papermill succeeds, so an
# interrupted run is redone and a finished one is not; a failed run keeps its notebook for debugging.
$(STAMP)/run-%.done: $(SOURCES) | env data
	@mkdir -p $(STAMP) $(RUNS)
	$(PAPERMILL) notebooks/initializer.ipynb $(RUNS)/$*.ipynb \
		-p init $* -p epochs $(EPOCHS) -p lr $(LR) -y "seeds: $(SEEDS)" \
		-p train_subset $(TRAIN_SUBSET) -p test_subset $(TEST_SUBSET) -p eval_interval 200 -p monitor_interval 100 \
		-p results_dir $(RESULTS)
	touch $@

# Signal propagation at init in a 10-layer network: no training, a few seconds.
$(STAMP)/propagation.done: $(SOURCES) notebooks/propagation.ipynb | env data
	@mkdir -p $(STAMP) $(RUNS)
	$(PAPERMILL) notebooks/propagation.ipynb $(RUNS)/propagation.ipynb -p results_dir $(RESULTS) -p figures_dir $(FIGURES)
	$(if $(filter yes,$(REFRESH_NOTEBOOKS)),cp $(RUNS)/propagation.ipynb notebooks/.propagation.ipynb.tmp && mv notebooks/.propagation.ipynb.tmp notebooks/propagation.ipynb)
	touch $@

$(STAMP)/summary.done: $(INITS:%=$(STAMP)/run-%.done) $(STAMP)/propagation.done notebooks/summary.ipynb | env
	$(PAPERMILL) notebooks/summary.ipynb $(RUNS)/summary.ipynb -p results_dir $(RESULTS) -p figures_dir $(FIGURES) \
		-p run_notebooks_dir $(RUNS) -y "runs: [$(subst $(eval) ,$(comma) ,$(INITS))]"
	$(if $(filter yes,$(REFRESH_NOTEBOOKS)),cp $(RUNS)/summary.ipynb notebooks/.summary.ipynb.tmp && mv notebooks/.summary.ipynb.tmp notebooks/summary.ipynb)
	touch $@

lr-grid: reproduce ## Rerun the comparison at the learning rates in LR_GRID and tabulate the verdicts per rate
	for lr in $(LR_GRID); do \
		$(MAKE) --no-print-directory reproduce LR=$$lr RESULTS=data/results/lr-$$lr RUNS=$(RUNS)/lr-$$lr \
			FIGURES=$(FIGURES)/lr-$$lr STAMP=$(STAMP)/lr-$$lr REFRESH_NOTEBOOKS=no; \
	done
	$(PAPERMILL) notebooks/lr_grid.ipynb $(RUNS)/lr_grid.ipynb \
		-y "results_dirs: [$(RESULTS), $(subst $(eval) ,$(comma) ,$(LR_GRID:%=data/results/lr-%))]"
	cp $(RUNS)/lr_grid.ipynb notebooks/.lr_grid.ipynb.tmp && mv notebooks/.lr_grid.ipynb.tmp notebooks/lr_grid.ipynb

# The depth sweep: 24 (depth, activation, optimizer) groups of 18 stacked models each; 16.5 min on the
# 2-core CPU. Finished groups are kept in data/results/sweep/groups/, so an interrupted sweep resumes.
sweep: env data ## Train 2-50 hidden-layer MLPs for each activation, optimizer and init (3 seeds, 2 epochs)
	@mkdir -p $(RUNS)
	$(PAPERMILL) notebooks/sweep.ipynb $(RUNS)/sweep.ipynb \
		-y "depths: [2, 5, 10, 20, 30, 50]" -y "activations: [relu, tanh]" -y "optimizers: [sgd, adam]" \
		-y "inits: [he, xavier, orthogonal, orthogonal_relu, random_small, lecun]" -y "seeds: [0, 1, 2]" \
		-p epochs 2 -p train_subset 20000 -p test_subset 0 \
		-p results_dir data/results/sweep -p figures_dir $(FIGURES)

test: env data ## Run the unit tests and the nbval checks of the committed notebooks
	$(VPY) -m pytest -q tests
	$(VPY) -m pytest -q --nbval-lax --nbval-current-env -p no:cacheprovider notebooks/initializer.ipynb notebooks/propagation.ipynb notebooks/summary.ipynb notebooks/sweep.ipynb

notebook-outputs: env data ## Re-execute initializer.ipynb with its defaults to refresh the outputs nbval checks
	$(PAPERMILL) notebooks/initializer.ipynb notebooks/.initializer.ipynb.tmp
	mv notebooks/.initializer.ipynb.tmp notebooks/initializer.ipynb

lab: env data ## Start JupyterLab on the "initlib" kernel
	$(VENV)/bin/jupyter lab --notebook-dir=.

clean-results: ## Forget finished runs, so the next `make reproduce` reruns them all
	rm -rf $(STAMP)

clean: clean-results ## Remove .venv, quick-run outputs (data/results/quick, figures/quick, notebooks/runs/quick*) and caches
	rm -rf $(VENV) data/results/quick figures/quick .pytest_cache $(RUNS)/quick*.ipynb
	find . -name __pycache__ -type d -prune -exec rm -rf {} +

bench: env data ## Benchmark the paper-style loop against the plain and stacked trainers (writes benchmarks/cpu.md)
	$(VPY) benchmarks/bench.py --rounds 3 --output benchmarks/$(if $(filter cuda,$(DEVICE)),cuda,cpu).md $(if $(DEVICE),--device $(DEVICE))
