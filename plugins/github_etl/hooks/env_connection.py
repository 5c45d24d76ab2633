"""What to say about an ``AIRFLOW_CONN_*`` variable that Airflow cannot read, without quoting it (it holds secrets)."""

from __future__ import annotations

import json
import os

from github_etl.errors import ConfigurationError

# How a URI carries a password holding a character that ends the URI's host part.
PERCENT_ENCODING_HINT = (
    "a password holding '/', '?', '#' or '@' is percent-encoded in a URI, '/' as %2F "
    "(urllib.parse.quote(password, safe='')), or the connection given as JSON"
)


def unreadable_connection(
    conn_id: str, error: type[ConfigurationError] = ConfigurationError
) -> ConfigurationError | None:
    """The error for an ``AIRFLOW_CONN_*`` variable that is set but that Airflow could not read, or None.

    Airflow reports such a connection as not defined, which would send a run elsewhere (the GitHub hook's
    api.github.com without a token) or tell the user to define what they did define.
    """
    name = f"AIRFLOW_CONN_{conn_id.upper()}"
    raw = os.environ.get(name, "").strip()
    if not raw:
        return None
    why = f"Airflow cannot read it as a connection URI: {PERCENT_ENCODING_HINT}"
    if raw.startswith("{"):
        try:
            json.loads(raw)
            why = "Airflow cannot read it as a connection"
        except json.JSONDecodeError as exc:
            # Where, never what: the text around the fault may be part of a secret.
            why = (
                f"it is not valid JSON ({exc.msg}: line {exc.lineno}, column {exc.colno}); within JSON a "
                "private key must be one line, its line breaks written as \\n (or give 'private_key_path')"
            )
    return error(f"{name} is set, but {why}.")
