"""Entry point Airflow's plugin manager finds: the plugin itself lives in the ``github_etl`` package."""

from __future__ import annotations

from github_etl.plugin import GitHubEtlPlugin

__all__ = ["GitHubEtlPlugin"]
