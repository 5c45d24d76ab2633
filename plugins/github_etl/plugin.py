"""The Airflow plugin of this project: the repository API in Airflow's API server, and a link to its docs in the UI.

Airflow finds this module by scanning the plugins folder; nothing imports it.
"""

from __future__ import annotations

from airflow.plugins_manager import AirflowPlugin

from github_etl.api.app import create_app

API_URL_PREFIX = "/github-etl"


class GitHubEtlPlugin(AirflowPlugin):
    """Mounts the repository API at ``/github-etl`` and adds "GitHub repositories API" to the UI's Docs menu."""

    name = "github_etl"
    fastapi_apps = [
        {"app": create_app(), "url_prefix": API_URL_PREFIX, "name": "GitHub repositories API"},
    ]
    external_views = [
        {
            "name": "GitHub repositories API",
            # Relative to the UI's base URL, so it keeps working when Airflow is served under a path.
            "href": f"{API_URL_PREFIX.lstrip('/')}/docs",
            "destination": "nav",
            # Airflow's "Docs" menu, beside the link to its own REST API docs.
            "category": "docs",
        },
    ]
