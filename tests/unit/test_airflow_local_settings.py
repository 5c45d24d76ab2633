"""config/airflow_local_settings.py: what a component's environment asks of its Python process, and nothing else."""

from __future__ import annotations

import gc
import os
import subprocess
import sys

import airflow_local_settings as local_settings
import pytest

from tools.airflow_processes import PROJECT_ROOT, airflow_env

VARIABLE = local_settings.GC_THRESHOLD_VARIABLE


@pytest.fixture
def thresholds():
    """The collector's thresholds as they were, restored after the test."""
    before = gc.get_threshold()
    yield before
    gc.set_threshold(*before)


def test_threshold_from_the_environment_sets_the_first_generation_only(thresholds):
    assert local_settings.apply_gc_threshold({VARIABLE: " 50000 "}) == 50_000
    assert gc.get_threshold() == (50_000, *thresholds[1:])


@pytest.mark.parametrize("environ", [{}, {VARIABLE: ""}, {VARIABLE: "  "}])
def test_without_the_variable_the_collector_is_left_alone(thresholds, environ):
    assert local_settings.apply_gc_threshold(environ) is None
    assert gc.get_threshold() == thresholds


@pytest.mark.parametrize("value", ["abc", "0", "-5", "1.5", "5e4"])
def test_a_value_that_is_no_threshold_is_refused_naming_the_variable(thresholds, value):
    with pytest.raises(ValueError, match=rf"{VARIABLE} must be a whole number of at least 1, got '{value}'"):
        local_settings.apply_gc_threshold({VARIABLE: value})
    assert gc.get_threshold() == thresholds


def test_airflow_exports_no_policy_or_setting_from_the_module():
    """Airflow copies every public name of airflow_local_settings into its settings unless __all__ says otherwise."""
    assert local_settings.__all__ == []


def _python_with_airflow(env: dict[str, str], code: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=120)


def _threshold_seen_by_airflow(env: dict[str, str]) -> int:
    # `import airflow` runs Airflow's settings initialisation, which imports airflow_local_settings.
    done = _python_with_airflow(env, "import airflow, gc; print(gc.get_threshold()[0])")
    assert done.returncode == 0, done.stderr[-2000:]
    return int(done.stdout.split()[-1])


def test_airflow_started_by_the_project_applies_the_setting():
    env = {**airflow_env(), VARIABLE: "12345"}
    assert _threshold_seen_by_airflow(env) == 12_345


def test_airflow_finds_the_module_in_airflow_home_config_as_in_the_image(tmp_path):
    """The image and compose put config/ at $AIRFLOW_HOME/config, where Airflow looks without any PYTHONPATH."""
    (tmp_path / "config").symlink_to(PROJECT_ROOT / "config", target_is_directory=True)
    env = {key: value for key, value in os.environ.items() if key != "PYTHONPATH"}
    env.update(AIRFLOW_HOME=str(tmp_path), AIRFLOW__CORE__LOAD_EXAMPLES="False", **{VARIABLE: "23456"})
    assert _threshold_seen_by_airflow(env) == 23_456


def test_a_bad_value_stops_airflow_with_the_reason():
    env = {**airflow_env(), VARIABLE: "lots"}
    probe = _python_with_airflow(env, "import airflow")
    assert probe.returncode != 0
    assert f"{VARIABLE} must be a whole number of at least 1, got 'lots'" in probe.stderr
