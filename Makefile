# The project's commands. `make run` and `make test` are all a fresh clone needs.
SHELL := /bin/bash
# PYTHON names the interpreter for a new venv (default: the newest supported one present, see
# tools/pythons.sh); VENV=.venv-3.12 keeps a venv per Python side by side.
PYTHON ?=
VENV ?= .venv
PY := $(VENV)/bin/python
PARAMS ?= {}
DATE ?=
PYTEST_ARGS ?=
# Test processes: the suite waits on Airflow, PostgreSQL and servers more than on the CPU, so three share two
# cores well. 1 runs it in this process.
PYTEST_WORKERS ?= 3
EXECUTOR ?= standalone
WORKERS ?= 2

export PARAMS DATE PYTHON


.PHONY: help venv pythons run test lint airflow bench warehouse-stop clean

help:
	@echo "make run [PARAMS='{\"sample_size\": 500}'] [DATE=2026-11-01]  one full DAG run and its summary"
	@echo "make test                                                    the whole test suite"
	@echo "make airflow                                                 Airflow UI (standalone) with this project"
	@echo "make airflow EXECUTOR=celery [WORKERS=2]                     the same on CeleryExecutor workers (Redis broker)"
	@echo "make bench                                                   benchmarks with figures and ratios"
	@echo "make lint                                                    ruff"
	@echo "make pythons                                                 supported Pythons (newest first) and those present"
	@echo "any target PYTHON=python3.12 [VENV=.venv-3.12]               with that Python (supported: $$(tools/pythons.sh --supported))"

# Always asked: the script returns at once when the venv is current and made with the Python asked for.
venv:
	@tools/venv.sh $(VENV)

pythons:
	@echo "supported: $$(tools/pythons.sh --supported)"
	@tools/pythons.sh

run: venv
	$(PY) -m tools.dev run

test: venv
	$(PY) -m pytest $(if $(filter-out 0 1,$(PYTEST_WORKERS)),-n $(PYTEST_WORKERS) --dist loadgroup) $(PYTEST_ARGS)

lint: venv
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .

airflow: venv
ifeq ($(EXECUTOR),celery)
	$(PY) -m tools.celery_cluster up --workers $(WORKERS)
else
	$(PY) -m tools.dev airflow
endif

bench: venv
	PYTHONPATH=plugins:. $(PY) -m bench

warehouse-stop: venv
	$(PY) -m tools.embedded_postgres stop

clean: warehouse-stop
	rm -rf .airflow .staging .pgdata .artifacts
