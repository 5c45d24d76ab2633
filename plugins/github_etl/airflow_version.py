"""The Airflow versions the pipeline runs on, checked where Airflow loads it (the DAG file and the plugin).

The pipeline is pinned to and tested with Airflow 3.3; a deployment that adds it to its own Airflow may run an
older one (docs/existing-airflow.md). Airflow 3.1 and 3.2 run it (``tools/airflow_version_check.sh``); older
ones fail further in with errors that do not say why (Airflow 3.0's DAG has no ``deadline`` argument and its
UI no plugin pages), so they are refused here, naming both versions.
"""

from __future__ import annotations

from github_etl.errors import ConfigurationError

MINIMUM = (3, 1)
# The DAG's late-run alert: Airflow 3.1 has no ``AsyncCallback`` in ``airflow.sdk``.
DEADLINE_MINIMUM = (3, 2)

try:
    from airflow.sdk.exceptions import AirflowNotFoundException
except ImportError:  # Airflow 3.1's task SDK raises core's (the same class from Airflow 3.2 on)
    from airflow.exceptions import AirflowNotFoundException  # type: ignore[no-redef,attr-defined]

__all__ = ["AirflowNotFoundException", "at_least", "installed", "require_supported"]


def installed() -> str:
    """The running Airflow's version, e.g. ``3.3.2``."""
    from airflow import __version__

    return __version__


def _release(version: str) -> tuple[int, int]:
    from packaging.version import Version

    major, minor = Version(version).release[:2]
    return major, minor


def at_least(minimum: tuple[int, int]) -> bool:
    """Whether the running Airflow is ``minimum`` (major, minor) or newer; pre-releases count as their release."""
    return _release(installed()) >= minimum


def require_supported() -> None:
    """Refuse an Airflow older than :data:`MINIMUM` before anything fails less clearly."""
    if not at_least(MINIMUM):
        raise ConfigurationError(
            f"github-etl needs Airflow >= {'.'.join(map(str, MINIMUM))}; this is Airflow {installed()} "
            "(docs/existing-airflow.md lists the versions it runs on)"
        )
