# The two commands: `make run` and `make test`. Both create the environment.
PYTHON ?= python3.11
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
DATA ?= .tally/node
PORT ?= 8750

SUDO := $(shell [ "$$(id -u)" = 0 ] || echo sudo)

.PHONY: run test lint bench venv clean etcd chromium

$(STAMP): pyproject.toml constraints.txt
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -c constraints.txt -e '.[node,dev]'
	touch $(STAMP)

venv: $(STAMP)

## run: one node on SQLite with demo data, API on http://127.0.0.1:$(PORT) (Ctrl-C stops it)
run: $(STAMP)
	$(BIN)/tally demo --data-dir $(DATA)
	$(BIN)/tally node start --data-dir $(DATA) --port $(PORT)

## etcd: the etcd server the network tests start members of (Debian's etcd-server)
etcd:
	@command -v etcd >/dev/null || { $(SUDO) apt-get update -qq && \
		DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install -y -qq etcd-server >/dev/null; }
	@etcd --version | head -n 1

## chromium: the browser the web app tests drive (Debian's chromium, through Playwright), and a
## Korean font (fonts-nanum) so that the screenshots the tests save show Korean text
chromium:
	@{ command -v chromium >/dev/null && fc-list 2>/dev/null | grep -qi nanum; } || { $(SUDO) apt-get update -qq && \
		DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install -y -qq chromium fonts-nanum >/dev/null; }
	@chromium --version

## test: lint, type checks and the whole suite
test: $(STAMP) etcd chromium lint
	$(BIN)/pytest -q

lint: $(STAMP)
	$(BIN)/ruff check src tests bench docs/examples
	$(BIN)/ruff format --check src tests bench docs/examples
	$(BIN)/mypy

## bench: end-to-end figures on this machine (takes several minutes)
bench: $(STAMP) etcd
	$(BIN)/python bench/verify_rate.py
	$(BIN)/python bench/pipeline.py 100
	$(BIN)/python bench/directory.py
	$(BIN)/tally bench
	$(BIN)/tally bench-network

clean:
	rm -rf $(VENV) .tally .pytest_cache .mypy_cache .ruff_cache artifacts
