# robokit: `make demo` and `make test` each set up .venv on a fresh machine, then run.
SHELL := /bin/bash
VENV ?= .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.robokit-installed
DEMO_DIR ?= demo_output
export MUJOCO_GL ?= egl
export PYOPENGL_PLATFORM ?= egl

.PHONY: setup test test-all demo benchmark benchmark-online configs clean

$(STAMP): setup.py
	test -x $(PY) || python3 -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet torch==2.13.0
	$(PY) -m pip install --quiet -e ".[sim,dev]"
	touch $(STAMP)

setup: $(STAMP)

## fast test suite (what CI runs), on two worker processes; `make test-all` adds the slow learning checks
TEST_WORKERS ?= 2
test: $(STAMP)
	$(PY) -m pytest tests -q -m "not slow" -p no:cacheprovider -n $(TEST_WORKERS)

test-all: $(STAMP)
	$(PY) -m pytest tests -q -p no:cacheprovider -n $(TEST_WORKERS)

## FetchPush demonstrations -> BC policy -> 50 evaluation episodes + video
demo: $(STAMP)
	$(PY) scripts/demo.py --out $(DEMO_DIR)

benchmark: $(STAMP)
	$(PY) scripts/benchmark.py

## online RL: robokit vs Stable-Baselines3, same hyperparameters, one run (about 20 minutes on 2 cores)
benchmark-online: $(STAMP)
	$(PY) -m pip install --quiet -e ".[bench]"
	$(PY) scripts/benchmark_online.py

configs: $(STAMP)
	$(PY) scripts/generate_configs.py

clean:
	rm -rf $(DEMO_DIR) runs
