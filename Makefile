# The project's commands. `make run` and `make test` are all a fresh clone needs.
SHELL := /bin/bash
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed
PARAMS ?= {}
DATE ?=
PYTEST_ARGS ?=
EXECUTOR ?= standalone
WORKERS ?= 2

export PARAMS DATE

.PHONY: help venv run test lint airflow bench warehouse-stop clean

help:
	@echo "make run [PARAMS='{\"sample_size\": 500}'] [DATE=2026-11-01]  one full DAG run and its summary"
	@echo "make test                                                    the whole test suite"
	@echo "make airflow                                                 Airflow UI (standalone) with this project"
	@echo "make airflow EXECUTOR=celery [WORKERS=2]                     the same on CeleryExecutor workers (Redis broker)"
	@echo "make bench                                                   benchmarks with figures and ratios"
	@echo "make lint                                                    ruff"

venv: $(STAMP)

$(STAMP): requirements.txt constraints.txt
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -r requirements.txt -c constraints.txt
	@touch $(STAMP)

run: $(STAMP)
	$(PY) -m tools.dev run

test: $(STAMP)
	$(PY) -m pytest $(PYTEST_ARGS)

lint: $(STAMP)
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .

airflow: $(STAMP)
ifeq ($(EXECUTOR),celery)
	$(PY) -m tools.celery_cluster up --workers $(WORKERS)
else
	$(PY) -m tools.dev airflow
endif

bench: $(STAMP)
	PYTHONPATH=plugins:. $(PY) -m bench

warehouse-stop: $(STAMP)
	$(PY) -m tools.embedded_postgres stop

clean: warehouse-stop
	rm -rf .airflow .staging .pgdata .artifacts
