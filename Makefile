# The two commands of the README: `make book` builds the site, `make test` runs the whole test suite.
# Both create the virtual environment and fetch the data first, so a fresh clone needs only Python 3.11.
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV   := .venv
PY     := $(VENV)/bin/python
NOTEBOOKS := chapters exercises solutions
# Tests and notebooks run two at a time (pytest-xdist, one worker per core; nbval gives a whole notebook to one
# worker); each gets one torch thread so that the two do not fight over the cores. Chapters that share the base
# model train it once (a file lock in mlcourse.training.base_model), and likewise the course's tokenizer.
WORKERS ?= 2

.PHONY: book test venv data notebooks test-lib test-notebooks test-book test-site test-outside-clone clean

book: data                              ## build _build/html, executing the chapters (quick profile, cached)
	$(PY) -m mlcourse book --execute cache

test: data test-lib test-notebooks test-book test-site   ## everything CI checks

venv: $(VENV)/.installed
$(VENV)/.installed: requirements.txt pyproject.toml
	@$(PYTHON) -c 'import sys; assert sys.version_info[:2] == (3, 11), "the course needs Python 3.11, found " + sys.version.split()[0] + ": make PYTHON=/path/to/python3.11"'
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -r requirements.txt
	touch $@

data: venv                              ## fetch + verify + parse the Shakespeare corpus (once)
	$(PY) -m mlcourse data

test-lib: venv                          ## pytest: library, data, runner
	OMP_NUM_THREADS=1 $(PY) -m pytest tests --ignore=tests/site --ignore=tests/outside_clone -q -n $(WORKERS)

test-notebooks: venv                    ## nbval: every notebook runs top to bottom with its defaults, in parallel
	OMP_NUM_THREADS=1 $(PY) -m pytest --nbval-lax $(NOTEBOOKS) -q -p no:cacheprovider \
		-n $(WORKERS) --dist loadfile -p mlcourse.course.notebook_timing

test-book: venv                         ## the book renders the stored outputs with zero warnings
	$(PY) -m mlcourse book --execute off

test-site: venv                         ## headless Chromium over the built site, with no network
	$(PY) -m pytest tests/site -q

# Not part of `make test`: it installs a fresh virtual environment from PyPI (minutes, and needs PyPI), to check
# that a chapter notebook downloaded alone runs. Run it after changing the bootstrap cell or the requirements.
test-outside-clone: venv                ## one chapter notebook, copied alone, run by a fresh environment
	OMP_NUM_THREADS=1 $(PY) -m pytest tests/outside_clone -q -s

notebooks: venv                         ## re-execute every notebook in place (quick profile) before committing
	# One at a time, one torch thread each, as in CI: the stored outputs (and the numbers the chapters' prose
	# quotes) are then exactly what CI's workers compute, and the timings are those of an unshared core.
	for nb in $$(find $(NOTEBOOKS) -name '*.ipynb' -not -path '*/.ipynb_checkpoints/*' | sort); do \
		echo "executing $$nb"; \
		OMP_NUM_THREADS=1 $(VENV)/bin/jupyter execute --inplace --timeout=900 $$nb || exit 1; \
	done

clean:
	rm -rf _build
