# The README's two commands: `make demo` and `make test`. Both set up everything they need first.
# The test tiers: `make unit` (no broker, no PostgreSQL, no downloads), `make integration`
# (tests/integration, against the real broker and PostgreSQL), `make test` (both).
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
INSTALLED := $(VENV)/.installed

.PHONY: setup demo test unit integration lint format clean

## setup: virtual environment with the project and its dev tools, plus the Kafka jars from Maven Central
setup: $(INSTALLED)
	$(BIN)/bus kafka provision

# The native verifier (native/) is built with Rust's cargo; rustup installs it in ~/.cargo/bin,
# which a fresh CI shell may not have on its PATH.
export PATH := $(HOME)/.cargo/bin:$(PATH)
NATIVE_SOURCES := $(wildcard native/*.toml native/Cargo.lock native/*.pyi native/src/*.rs)

$(INSTALLED): pyproject.toml $(NATIVE_SOURCES)
	@$(PYTHON) -c 'import sys; sys.exit(sys.version_info < (3, 11))' \
		|| { echo "error: Python 3.11+ is needed (found $$($(PYTHON) --version)); set PYTHON=..."; exit 1; }
	@command -v cargo > /dev/null \
		|| { echo "error: Rust's cargo is needed to build native/ (install it with rustup, https://rustup.rs)"; exit 1; }
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	@echo "building the native verifier (native/, Rust; a minute the first time)"
	$(BIN)/pip install --quiet ./native
	$(BIN)/pip install --quiet -e '.[dev]'
	touch $@

## demo: set up, start the broker if needed and run the scripted scenario (`bus demo`)
demo: setup
	$(BIN)/bus demo

## test: set up and run the whole test suite against the real broker and the project's own
## PostgreSQL (both started if needed; PostgreSQL installed from Debian's packages if missing)
test: setup
	$(BIN)/bus postgres up
	$(BIN)/bus lab tools
	$(BIN)/pytest

## unit: tests/unit only; needs the virtual environment and nothing else (no broker, no Kafka
## jars, no PostgreSQL). The pipeline fuzz runs 1,000 examples here, 5,000 in `make test`
unit: $(INSTALLED)
	BUS_FUZZ_EXAMPLES=$${BUS_FUZZ_EXAMPLES:-1000} $(BIN)/pytest tests/unit

## integration: tests/integration against the real broker and PostgreSQL (started if needed);
## `make integration PYTEST_ARGS='-m "not slow"'` leaves out the crash, kill and restart tests
integration: setup
	$(BIN)/bus postgres up
	$(BIN)/bus lab tools
	$(BIN)/pytest tests/integration $(PYTEST_ARGS)

## lint: ruff, mypy --strict and the import layers (import-linter, contracts in pyproject.toml)
lint: $(INSTALLED)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy
	$(BIN)/lint-imports

## format: let the formatter decide (import order and layout, in place)
format: $(INSTALLED)
	$(BIN)/ruff check --select I --fix .
	$(BIN)/ruff format .

## clean: stop the broker and remove its state and the virtual environment
clean:
	-$(BIN)/bus kafka reset --yes
	-$(BIN)/bus postgres down
	rm -rf $(VENV)
