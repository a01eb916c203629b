# robokit: `make demo` and `make test` each set up .venv on a fresh machine, then run.
# `make test` also sets up .venv-robosuite (the robosuite extra: robosuite 1.5.2, mujoco 3.9.0, numpy<2) for the
# robosuite tests.
SHELL := /bin/bash
VENV ?= .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.robokit-installed
RS_VENV ?= .venv-robosuite
RS_PY := $(RS_VENV)/bin/python
RS_STAMP := $(RS_VENV)/.robokit-installed
DEMO_DIR ?= demo_output
# headless rendering: EGL, or OSMesa on a machine that has OSMesa and no EGL
ifeq ($(origin MUJOCO_GL),undefined)
MUJOCO_GL := $(shell python3 -c "import ctypes.util as u; print('osmesa' if u.find_library('OSMesa') and not u.find_library('EGL') else 'egl')")
endif
PYOPENGL_PLATFORM ?= $(MUJOCO_GL)
export MUJOCO_GL PYOPENGL_PLATFORM

.PHONY: setup setup-robosuite test test-main test-robosuite test-all demo benchmark benchmark-online configs clean

MAIN_EXTRAS := sim,dev
RS_EXTRAS := sim,dev,robosuite

# $(call make_venv,VENV_DIR,EXTRAS): a venv with the CPU build of torch and robokit installed editable with EXTRAS
define make_venv
	test -x $(1)/bin/python || python3 -m venv $(1)
	$(1)/bin/python -m pip install --quiet --upgrade pip
	$(1)/bin/python -m pip install --quiet torch==2.13.0
	$(1)/bin/python -m pip install --quiet -e ".[$(2)]"
	touch $(1)/.robokit-installed
endef

$(STAMP): setup.py
	$(call make_venv,$(VENV),$(MAIN_EXTRAS))

setup: $(STAMP)

$(RS_STAMP): setup.py
	$(call make_venv,$(RS_VENV),$(RS_EXTRAS))

setup-robosuite: $(RS_STAMP)

## fast test suite (what CI runs), on two worker processes; `make test-all` adds the slow learning checks.
## The main venv skips the robosuite tests (no robosuite there); they run afterwards in .venv-robosuite.
TEST_WORKERS ?= 2
test: test-main test-robosuite

test-main: $(STAMP)
	$(PY) -m pytest tests -q -m "not slow" -p no:cacheprovider -n $(TEST_WORKERS)

test-robosuite: $(RS_STAMP)
	$(RS_PY) -m pytest tests -q -m "robosuite and not slow" -p no:cacheprovider -n $(TEST_WORKERS)

test-all: $(STAMP) $(RS_STAMP)
	$(PY) -m pytest tests -q -p no:cacheprovider -n $(TEST_WORKERS)
	$(RS_PY) -m pytest tests -q -m robosuite -p no:cacheprovider -n $(TEST_WORKERS)

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
