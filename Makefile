# atb-prediction: `make help` lists the targets.
.DEFAULT_GOAL := help
SHELL := /bin/bash
VENV ?= .venv
PYTHON ?= python3
PY := $(VENV)/bin/python

.PHONY: help
help: ## List the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-8s %s\n", $$1, $$2}'

$(PY):
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip

.PHONY: install
install: $(PY) ## Create .venv and install the package (editable) with test and dev tools
	$(PY) -m pip install -q -e ".[dev]"

.PHONY: build
build: $(PY) ## Rebuild the Rust extension into .venv (release)
	$(PY) -m pip install -q "maturin>=1.7,<2"
	VIRTUAL_ENV=$(abspath $(VENV)) $(VENV)/bin/maturin develop --release

.PHONY: test
test: $(PY) ## Build, then run the Rust core's tests and the Python tests
	$(PY) -m pip install -q -e ".[test]"
	ORT_DYLIB_PATH=$$($(PY) -c "from atb_prediction._runtime import find_library; print(find_library())") \
		cargo test --no-default-features --quiet
	$(PY) -m pytest
	$(PY) -m atb_prediction._fuzz --seconds $(FUZZ_SMOKE_SECONDS) --seed $(FUZZ_SMOKE_SEED)

FUZZ_SECONDS ?= 600
FUZZ_SMOKE_SECONDS ?= 30
# The test run's smoke fuzz replays one fixed sequence of cases, so that a green run stays green
# on the same code; `make fuzz` explores from a new seed each time.
FUZZ_SMOKE_SEED ?= 1

.PHONY: fuzz
fuzz: $(PY) ## Fuzz the registry loaders for FUZZ_SECONDS (default 600); findings go to tests/fuzz_cases
	$(PY) -m atb_prediction._fuzz --seconds $(FUZZ_SECONDS)

.PHONY: lint
lint: ## cargo fmt --check, clippy -D warnings, ruff, mypy, stubtest, no Python import loops
	cargo fmt --check
	PYO3_PYTHON=$(abspath $(PY)) cargo clippy --release --all-targets -- -D warnings
	cargo clippy --no-default-features --all-targets -- -D warnings
	$(VENV)/bin/ruff check python tests benches scripts
	$(VENV)/bin/ruff format --check python tests benches scripts
	$(PY) -m mypy
	$(PY) -m mypy.stubtest atb_prediction._core
	$(VENV)/bin/lint-imports

MUTANTS_PATHS ?=
MUTANTS_BASE ?= main
MUTANTS_TESTS ?=

$(VENV)/bin/mutmut: | $(PY)
	$(PY) -m pip install -q -e ".[dev]"

.PHONY: mutants
mutants: $(VENV)/bin/mutmut ## Mutation-test what changed since main (or MUTANTS_PATHS); print survivors
	$(PY) scripts/mutants.py --base $(MUTANTS_BASE) --tests "$(MUTANTS_TESTS)" $(MUTANTS_PATHS)

WHEEL_TAG := manylinux_2_28
SMOKE_VENV := dist/smoke-venv

.PHONY: wheel
wheel: $(PY) ## Build the publishable abi3 wheel into dist/ (manylinux_2_28, linked by zig)
	$(PY) -m pip install -q "maturin>=1.7,<2" "ziglang>=0.13" "auditwheel>=6"
	rm -f dist/atb_prediction-*.whl
	PATH="$(abspath $(VENV))/bin:$$PATH" $(VENV)/bin/maturin build --release --zig \
		--compatibility $(WHEEL_TAG) --out dist
	$(PY) scripts/check_wheel.py --max-glibc 2.28 dist/atb_prediction-*.whl

.PHONY: sdist
sdist: $(PY) ## Build the source distribution into dist/
	$(PY) -m pip install -q "maturin>=1.7,<2"
	rm -f dist/atb_prediction-*.tar.gz
	$(VENV)/bin/maturin sdist --out dist

.PHONY: wheel-smoke
wheel-smoke: ## Install dist/'s wheel in a fresh venv with no Rust on PATH and run `atb demo`
	rm -rf $(SMOKE_VENV)
	$(PYTHON) -m venv $(SMOKE_VENV)
	env PATH="$$(echo "$$PATH" | tr ':' '\n' | grep -v -e cargo -e rustup | paste -sd:)" \
		bash -c '! command -v cargo && ! command -v rustc \
		&& $(SMOKE_VENV)/bin/python -m pip install -q --only-binary=:all: dist/atb_prediction-*.whl \
		&& cd $(SMOKE_VENV) && bin/atb demo --out demo-registry && bin/atb --version'

.PHONY: bench
bench: ## Side-by-side benchmarks; print ratios against the competitors
	$(PY) benches/bench_session.py
	$(PY) benches/bench_hot_path.py
	$(PY) benches/bench_registry.py
	$(PY) benches/bench_live.py
	$(PY) benches/bench_sweep.py
	$(PY) benches/bench_score.py
	$(PY) benches/bench_ray.py

.PHONY: docs-images
docs-images: ## Redraw the README's pictures into docs/images (needs the plot extra)
	$(PY) scripts/make_docs_images.py --out docs/images
