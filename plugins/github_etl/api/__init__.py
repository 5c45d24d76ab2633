"""The repository API: a FastAPI app that Airflow's API server mounts at ``/github-etl`` (see ``github_etl.plugin``).

Airflow executes every ``.py`` file of the plugins folder as a top-level module, so the modules of this
package import each other by absolute name only.
"""
