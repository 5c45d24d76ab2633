"""The API's settings from the environment, and what the freeze_gc setting does to the server process."""

from __future__ import annotations

import pytest
from starlette.testclient import TestClient

from github_etl.api import app as api_app
from github_etl.api.config import ApiSettings
from github_etl.errors import ConfigurationError


@pytest.mark.parametrize(
    ("raw", "expected"), [("true", True), ("1", True), (" Yes ", True), ("false", False), ("0", False), ("", True)]
)
def test_freeze_gc_reads_the_usual_spellings_of_a_flag(monkeypatch, raw, expected):
    monkeypatch.setenv("GITHUB_ETL_API_FREEZE_GC", raw)

    assert ApiSettings.from_env().freeze_gc is expected


def test_a_malformed_flag_is_a_clear_error(monkeypatch):
    monkeypatch.setenv("GITHUB_ETL_API_FREEZE_GC", "sometimes")

    with pytest.raises(ConfigurationError, match="GITHUB_ETL_API_FREEZE_GC must be true or false"):
        ApiSettings.from_env()


@pytest.mark.parametrize("freeze_gc", [True, False])
def test_the_server_start_freezes_the_garbage_collector_only_when_asked(monkeypatch, freeze_gc):
    frozen: list[bool] = []
    monkeypatch.setattr(api_app.gc, "get_freeze_count", lambda: len(frozen))
    monkeypatch.setattr(api_app.gc, "freeze", lambda: frozen.append(True))
    app = api_app.create_app(ApiSettings(freeze_gc=freeze_gc))

    with TestClient(app):  # runs the lifespan, as Airflow's API server does for the apps it mounts
        pass
    with TestClient(app):  # a second start freezes nothing more
        pass

    assert frozen == ([True] if freeze_gc else [])
