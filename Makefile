# The two commands a fresh machine needs: `make demo` and `make test`.
PY ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
export PREFECT_HOME ?= $(CURDIR)/.prefect
export PREFECT_SERVER_ANALYTICS_ENABLED ?= false
export DO_NOT_TRACK ?= 1

.PHONY: demo test lint bench serve clean install i18n

install: $(STAMP)

$(STAMP): pyproject.toml constraints.txt
	test -x $(BIN)/python || $(PY) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -m pip install -q -c constraints.txt -e ".[dev]"
	touch $(STAMP)

demo: $(STAMP)
	$(BIN)/earlywarn demo

# One pytest-xdist worker per core plus one, at most 4: about a third of the suite's time is spent waiting on
# other processes (Prefect servers and flow runs, Chromium, PostgreSQL), which the extra worker fills (on 2 cores:
# 4:15-4:34 with 3 workers against 4:22-5:19 with 2, same commit). Which tests share a worker is decided in
# tests/conftest.py (pytest_xdist_make_scheduler). TEST_WORKERS=0 runs in one process.
# Hypothesis: profile "ci" when CI=true (derandomized), "dev" elsewhere; HYPOTHESIS_PROFILE overrides.
TEST_WORKERS ?= $(shell echo $$(( $$(nproc 2>/dev/null || echo 1) + 1 )))
PYTEST_XDIST := -n $(TEST_WORKERS) --maxprocesses 4

test: $(STAMP)
	$(BIN)/python -m pytest -q $(PYTEST_XDIST); rc=$$?; if [ $$rc -eq 5 ]; then echo "no tests collected: failing"; exit 1; fi; exit $$rc

lint: $(STAMP)
	$(BIN)/ruff check earlywarn flows tests benchmarks scripts

# Translations: extract the marked texts, update each language's .po (new texts arrive empty), compile the .mo.
# Fill in the empty msgstr entries of earlywarn/locale/<lang>/LC_MESSAGES/earlywarn.po, then run it again.
i18n: $(STAMP)
	$(BIN)/python scripts/i18n.py

bench: $(STAMP)
	$(BIN)/python benchmarks/run.py

serve: $(STAMP)
	$(BIN)/python flows/serve.py

clean:
	rm -rf $(VENV) .prefect maps/*.html outputs
