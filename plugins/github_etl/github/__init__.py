"""An Airflow-free GitHub API client: HTTP, auth, paging, retries and rate limits, in one place."""
