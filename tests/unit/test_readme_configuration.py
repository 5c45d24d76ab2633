"""README's configuration table says what the code does: each variable is read, with the default stated.

The deployments (docker-compose.yaml, the Helm values in docs/deploy-kubernetes.md) may set only
variables the code reads, so a misspelt one fails here instead of being silently ignored in a container.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import yaml

from github_etl import params, settings
from github_etl.api.config import ApiSettings
from github_etl.settings import ClientSettings, QuotaReserve

REPO_ROOT = Path(__file__).resolve().parents[2]
README = REPO_ROOT / "README.md"
API_DOC = REPO_ROOT / "docs" / "api.md"
VARIABLE = re.compile(r"\b(GITHUB_ETL_[A-Z0-9_]+|GITHUB_API_URL|GITHUB_TOKEN)\b")


def _table_rows() -> dict[str, tuple[str, str]]:
    """``name -> (kind, default)`` for every row of README's configuration table (both of ``A`` / ``B``)."""
    section = README.read_text().split("## Configuration", 1)[1].split("\n## ", 1)[0]
    rows = {}
    for line in section.splitlines():
        cells = [cell.strip() for cell in line.strip().strip("|").split("|")]
        if len(cells) < 4 or not cells[0].startswith("`"):
            continue
        names = re.findall(r"`([^`]+)`", cells[0])
        # `GITHUB_ETL_ALERT_NOTIFIER` (`_KWARGS`): a suffix names a second variable.
        names = [names[0] + name if name.startswith("_") else name for name in names]
        defaults = re.findall(r"`([^`]+)`", cells[2]) or [cells[2]]
        for index, name in enumerate(names):
            rows[name] = (cells[1], defaults[min(index, len(defaults) - 1)])
    return rows


def _code_reads() -> set[str]:
    """Environment variables named in the code the pipeline runs (the plugin package, the DAGs and the
    airflow_local_settings.py of config/)."""
    sources = [
        *(REPO_ROOT / "plugins").rglob("*.py"),
        *(REPO_ROOT / "dags").glob("*.py"),
        *(REPO_ROOT / "config").glob("*.py"),
    ]
    return {name for path in sources for name in VARIABLE.findall(path.read_text())}


def _environment_rows() -> list[str]:
    return sorted(name for name, (kind, _) in _table_rows().items() if kind == "env" and VARIABLE.fullmatch(name))


@pytest.mark.parametrize("name", _environment_rows())
def test_documented_variable_is_read_by_the_code(name):
    assert name in _code_reads()


@pytest.mark.parametrize("name", sorted(_code_reads()))
def test_variable_the_code_reads_is_documented(name):
    documented = set(_table_rows()) | set(VARIABLE.findall(README.read_text()))
    if name.startswith("GITHUB_ETL_API_"):
        documented |= set(VARIABLE.findall(API_DOC.read_text()))
    assert name in documented


# What each documented default is, read from the code with the variable unset.
DEFAULTS: dict[str, Callable[[], Any]] = {
    "GITHUB_API_URL": lambda: settings.DEFAULT_API_URL,
    "GITHUB_ETL_STAGING_URL": settings.staging_url,
    "GITHUB_ETL_SQL_DIR": settings.sql_dir,
    "GITHUB_ETL_POOL_SLOTS": settings.github_api_pool_slots,
    "GITHUB_ETL_CONNECT_TIMEOUT": lambda: ClientSettings.from_env().connect_timeout,
    "GITHUB_ETL_READ_TIMEOUT": lambda: ClientSettings.from_env().read_timeout,
    "GITHUB_ETL_MAX_RETRIES": lambda: ClientSettings.from_env().max_retries,
    "GITHUB_ETL_BACKOFF_BASE": lambda: ClientSettings.from_env().backoff_base,
    "GITHUB_ETL_BACKOFF_MAX": lambda: ClientSettings.from_env().backoff_max,
    "GITHUB_ETL_SECONDARY_MIN_WAIT": lambda: ClientSettings.from_env().secondary_min_wait,
    "GITHUB_ETL_SECONDARY_MAX_TRIES": lambda: ClientSettings.from_env().secondary_max_tries,
    "GITHUB_ETL_MAX_RATE_LIMIT_WAIT": lambda: ClientSettings.from_env().max_inline_wait,
    "GITHUB_ETL_RESET_JITTER": lambda: ClientSettings.from_env().reset_jitter,
    "GITHUB_ETL_QUOTA_RESERVE": lambda: "10%" if QuotaReserve.from_env() == QuotaReserve.parse("10%") else "other",
    "GITHUB_ETL_RUN_DEADLINE_HOURS": settings.run_deadline_hours,
    "GITHUB_ETL_MAX_DELETED_SHARE": settings.max_deleted_share,
    "GITHUB_ETL_SCHEDULED_MODE": params.scheduled_mode,
}


def _documented_value(name: str, text: str) -> Any:
    text = text.replace("<project>", str(settings.PROJECT_ROOT))
    if name == "GITHUB_ETL_SQL_DIR":
        return Path(text)
    try:
        return float(text)
    except ValueError:
        return text


@pytest.mark.parametrize("name", sorted(DEFAULTS))
def test_documented_default_is_the_codes(name, monkeypatch):
    for variable in _code_reads():
        monkeypatch.delenv(variable, raising=False)
    kind, documented = _table_rows()[name]
    assert kind == "env"
    actual = DEFAULTS[name]()
    expected = _documented_value(name, documented)
    assert (float(actual) if isinstance(expected, float) else actual) == expected


def test_api_page_cache_default_is_the_codes(monkeypatch):
    monkeypatch.delenv("GITHUB_ETL_API_PAGE_CACHE_MB", raising=False)
    documented = re.search(r"`GITHUB_ETL_API_PAGE_CACHE_MB` \(default `(\d+)`", README.read_text())[1]
    assert float(documented) == ApiSettings.from_env().page_cache_mb


def _deployment_variables() -> list[tuple[str, str]]:
    compose = yaml.safe_load((REPO_ROOT / "docker-compose.yaml").read_text())
    found = {("docker-compose.yaml", key) for key in compose["x-airflow-common"]["environment"]}
    for service in compose["services"].values():
        environment = service.get("environment") or {}
        found |= {("docker-compose.yaml", key) for key in environment}
    for block in re.findall(r"```yaml\n(.*?)```", (REPO_ROOT / "docs" / "deploy-kubernetes.md").read_text(), re.DOTALL):
        values = yaml.safe_load(block)
        if not isinstance(values, dict):
            continue
        items = [
            *(values.get("env") or []),
            *yaml.safe_load(values.get("extraEnv") or "[]"),
            *((values.get("apiServer") or {}).get("env") or []),
        ]
        found |= {("deploy-kubernetes.md", item["name"]) for item in items}
    return sorted((where, name) for where, name in found if name.startswith(("GITHUB_ETL_", "GITHUB_API")))


@pytest.mark.parametrize(("where", "name"), _deployment_variables())
def test_deployment_sets_only_variables_the_code_reads(where, name):
    assert name in _code_reads()


@pytest.mark.parametrize(
    ("heading", "pattern"),
    [
        ("position the API continues from", "github_etl.api.models:CURSOR_PATTERN"),
        ("**Trending.**", "github_etl.api.insight_models:TRENDING_CURSOR_PATTERN"),
    ],
)
def test_a_next_cursor_the_api_doc_shows_is_one_the_api_accepts(heading: str, pattern: str) -> None:
    """A client passes ``next_cursor`` back as it is: the example's must follow the grammar the API checks."""
    import importlib
    import json

    module, name = pattern.split(":")
    section = API_DOC.read_text(encoding="utf-8").split(heading, 1)[1]
    example = json.loads(re.search(r"```json\n(.*?)```", section, re.DOTALL).group(1))
    assert re.fullmatch(getattr(importlib.import_module(module), name), example["next_cursor"])
