# make run: serve the chat on http://127.0.0.1:7860   make test: run every test   make check: lint and fast tests
# Both work from a fresh clone: they create .venv, install requirements.txt, build the index if needed.

PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed

.PHONY: run test check index install browser clean

run: install index
	$(PY) app.py

test: install browser
	$(PY) -m pytest -q tests

# The fast lane: lint and the tests that need no model, index, server or browser.
check: install
	$(PY) -m ruff check .
	$(PY) -m mypy
	$(PY) -m pytest -q -m "not slow" tests

index: install
	@$(PY) -m retrieval build --check >/dev/null 2>&1 || $(PY) -m retrieval build

install: $(STAMP)

$(STAMP): requirements.txt
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	# torch first and alone, so that pip takes the CPU build and never resolves a CUDA one
	$(PY) -m pip install -qq torch==2.13.0
	$(PY) -m pip install -qq -r requirements.txt  # -qq: errors only (pip warns of an lxml extra trafilatura asks for)
	touch $(STAMP)

# The browser tests drive Debian's Chromium (Playwright's own download cannot work offline);
# the network test watches the app's system calls with strace.
browser:
	@test -x /usr/bin/chromium -a -x /usr/bin/strace || { \
	  echo "Installing Debian's chromium and strace for the browser and network tests"; \
	  (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium strace >/dev/null) \
	  || echo "warning: could not install chromium or strace; the tests that need them will be skipped"; }

clean:
	rm -rf $(VENV) index test-artifacts
