"""The Airflow plugin of this project: the repository API in Airflow's API server, the GitHub insights page in
Airflow's navigation, a link to the API's docs in the UI, and a scheduler listener that creates the ``github_api``
pool when a run starts without it.

Airflow finds this module by scanning the plugins folder; nothing imports it.
"""

from __future__ import annotations

from airflow.plugins_manager import AirflowPlugin

from github_etl import airflow_version

# On an Airflow too old for it, the plugin fails to load saying so (``airflow plugins`` lists the error).
airflow_version.require_supported()

from github_etl import pool  # noqa: E402
from github_etl.api.app import create_app  # noqa: E402

API_URL_PREFIX = "/github-etl"


class GitHubEtlPlugin(AirflowPlugin):
    """Mounts the repository API at ``/github-etl``, shows its insights page from the UI's navigation and adds
    "GitHub repositories API" to the UI's Docs menu."""

    name = "github_etl"
    # Creates the github_api pool when a run starts in a deployment that has none (github_etl.pool).
    listeners = [pool]
    fastapi_apps = [
        {"app": create_app(), "url_prefix": API_URL_PREFIX, "name": "GitHub repositories API"},
    ]
    external_views = [
        {
            "name": "GitHub insights",
            # Served by the app above; Airflow's UI frames it under /plugin/github-insights, beside its menus.
            "href": f"{API_URL_PREFIX.lstrip('/')}/ui/",
            "url_route": "github-insights",
            "destination": "nav",
            "nav_top_level": True,
            "icon": f"{API_URL_PREFIX.lstrip('/')}/ui/static/icon.svg",
        },
        {
            "name": "GitHub repositories API",
            # Relative to the UI's base URL, so it keeps working when Airflow is served under a path.
            "href": f"{API_URL_PREFIX.lstrip('/')}/docs",
            "destination": "nav",
            # Airflow's "Docs" menu, beside the link to its own REST API docs.
            "category": "docs",
        },
    ]
