"""What to say about a connection Airflow cannot read, without quoting it (it holds secrets).

Airflow reports a connection it cannot read as not defined, whether it is an ``AIRFLOW_CONN_*`` variable or an
entry of a secrets backend (``[secrets] backend``): it logs the reason at DEBUG only and goes on to the next
place it looks. Taken at its word, the GitHub hook would go to api.github.com without a token, the staging to
S3 with the machine's own credentials, and ``make run`` would start an embedded warehouse.
"""

from __future__ import annotations

import contextlib
import json
import os
from pathlib import Path
from typing import Any

from github_etl.errors import ConfigurationError, GitHubEtlError, SecretsBackendUnavailableError

# How a URI carries a password holding a character that ends the URI's host part.
PERCENT_ENCODING_HINT = (
    "a password holding '/', '?', '#' or '@' is percent-encoded in a URI, '/' as %2F "
    "(urllib.parse.quote(password, safe='')), or the connection given as JSON"
)
# The places Airflow itself looks; any other backend in its search path is the deployment's own.
_BUILT_IN_BACKENDS = ("EnvironmentVariablesBackend", "MetastoreBackend", "ExecutionAPISecretsBackend")


def unreadable_connection(
    conn_id: str,
    error: type[ConfigurationError] = ConfigurationError,
    unavailable: type[GitHubEtlError] = SecretsBackendUnavailableError,
) -> GitHubEtlError | None:
    """The error for a connection Airflow reported as not defined although it is there, or None.

    :param error: raised for an ``AIRFLOW_CONN_*`` variable or backend entry that Airflow cannot read.
    :param unavailable: raised for a secrets backend that could not be asked (a retry may find it back).
    """
    name = f"AIRFLOW_CONN_{conn_id.upper()}"
    raw = os.environ.get(name, "").strip()
    if raw:
        return error(f"{name} is set, but {_why_unreadable(raw)}.")
    for backend in secrets_backends():
        found = _backend_problem(backend, conn_id)
        if found is not None:
            message, retryable = found
            return (unavailable if retryable else error)(message)
    return None


def where_to_define(conn_id: str) -> str:
    """Where a connection goes: the secrets backend's place for it, when one is configured, and the variable."""
    variable = f"AIRFLOW_CONN_{conn_id.upper()}"
    backends = secrets_backends()
    if not backends:
        return variable
    return f"in {_place_of(backends[0], conn_id)}, or as {variable}"


def backend_holding(conn_id: str) -> str | None:
    """Where the secrets backend that serves ``conn_id`` keeps it, or None when no backend of the deployment does.

    Airflow asks such a backend before ``AIRFLOW_CONN_*`` variables: a variable set beside it is not read.
    """
    for backend in secrets_backends():
        # A backend that cannot be asked or read holds nothing usable, as for Airflow.
        with contextlib.suppress(Exception):
            if backend.get_connection(conn_id=conn_id) is not None:
                return _place_of(backend, conn_id)
    return None


def secrets_backends() -> list[Any]:
    """The secrets backends configured in this Airflow (``[secrets] backend``), without Airflow's own."""
    from airflow.sdk.execution_time.supervisor import ensure_secrets_backend_loaded

    return [b for b in ensure_secrets_backend_loaded() if type(b).__name__ not in _BUILT_IN_BACKENDS]


def _why_unreadable(raw: str) -> str:
    """Why a connection's serialized value is not one, naming where in it and never what."""
    if not raw.startswith("{"):
        if _host_of(raw).lower().startswith("%2f"):
            return (
                "Airflow cannot read it as a connection URI: its host is a socket directory, which is "
                "percent-encoded whole, '/' as %2F and ':' as %3A (urllib.parse.quote(directory, safe='')), or "
                "given in the query instead (postgresql://user@/database?host=/cloudsql/PROJECT:REGION:INSTANCE)"
            )
        return f"Airflow cannot read it as a connection URI: {PERCENT_ENCODING_HINT}"
    try:
        json.loads(raw)
    except json.JSONDecodeError as exc:
        return _json_error(exc)
    return "Airflow cannot read it as a connection"


def _host_of(uri: str) -> str:
    """What follows the last ``@`` of a URI's authority: its host and port, when nothing in it is misread."""
    authority = uri.partition("://")[2].partition("/")[0].partition("?")[0]
    return authority.rpartition("@")[2]


def _json_error(exc: json.JSONDecodeError) -> str:
    # Where, never what: the text around the fault may be part of a secret.
    return (
        f"it is not valid JSON ({exc.msg}: line {exc.lineno}, column {exc.colno}); within JSON a "
        "private key must be one line, its line breaks written as \\n (or give 'private_key_path')"
    )


def _place_of(backend: Any, conn_id: str) -> str:
    """Where ``backend`` keeps ``conn_id``, as its user names it."""
    kind = type(backend).__name__
    if path := getattr(backend, "connections_file", None):
        return f"the connections file {path} of the secrets backend {kind}"
    prefix = getattr(backend, "connections_prefix", None)
    if isinstance(prefix, str) and hasattr(backend, "build_path"):
        return f"the secret {backend.build_path(prefix, conn_id, getattr(backend, 'sep', '/'))!r} of {kind}"
    return f"the secrets backend {kind}"


def _backend_problem(backend: Any, conn_id: str) -> tuple[str, bool] | None:
    """Why ``backend`` gave Airflow no ``conn_id``, and whether a retry may help; None when it has none."""
    place = _place_of(backend, conn_id)
    if getattr(backend, "connections_file", None):
        return _file_problem(backend.connections_file, conn_id, place)
    try:
        raw = backend.get_conn_value(conn_id=conn_id)
    except NotImplementedError:
        # A backend that builds its connections itself: only whether it could be asked can be told.
        try:
            backend.get_connection(conn_id=conn_id)
        except Exception as exc:
            return _unavailable(place, conn_id, exc), True
        return None
    except json.JSONDecodeError as exc:
        return f"{place} holds '{conn_id}', but {_json_error(exc)}.", False
    except Exception as exc:
        return _unavailable(place, conn_id, exc), True
    if not raw:
        return None
    try:
        backend.deserialize_connection(conn_id=conn_id, value=raw)
    except Exception:
        return f"{place} holds '{conn_id}', but {_why_unreadable(raw.strip())}.", False
    return None


def _unavailable(place: str, conn_id: str, exc: Exception) -> str:
    # botocore's messages name the endpoint, the operation and the refusal; other libraries' may quote a value.
    module = type(exc).__module__
    reason = f"{type(exc).__name__}: {exc}" if module.startswith("botocore") else type(exc).__name__
    return f"Airflow could not read {place} ({reason}), and took the connection '{conn_id}' for undefined."


def _file_problem(path: str, conn_id: str, place: str) -> tuple[str, bool] | None:
    """What keeps Airflow from reading a LocalFilesystemBackend's connections file, if anything does.

    Airflow reads the file whole: one entry it cannot read hides every connection in it.
    """
    from airflow.exceptions import AirflowException, AirflowFileParseException
    from airflow.secrets.local_filesystem import _create_connection, _parse_secret_file

    try:
        entries = _parse_secret_file(path)
    except FileNotFoundError:
        return f"{place} does not exist, so Airflow has none of its connections, '{conn_id}' among them.", False
    except AirflowFileParseException as exc:
        faults = "; ".join(_fault(e, yaml=Path(path).suffix.lower() in (".yaml", ".yml")) for e in exc.parse_errors)
        return (
            f"Airflow cannot parse {place} ({faults}), so it has none of its connections, '{conn_id}' among them.",
            False,
        )
    except AirflowException as exc:
        return f"Airflow cannot read {place} ({exc}).", False
    for key, value in entries.items():
        values = value if isinstance(value, list) else [value]
        if len(values) > 1:
            return _hidden(place, conn_id, key, "it is defined more than once"), False
        try:
            _create_connection(key, values[0])
        except Exception:
            return _hidden(place, conn_id, key, _why_entry_unreadable(values[0])), False
    return None


def _fault(error: Any, *, yaml: bool) -> str:
    if yaml and not error.message.startswith("The file"):
        # YAML's own messages quote the faulty line; its line numbers count from 0.
        return f"line {error.line_no + 1}"
    return f"line {error.line_no}: {error.message}"


def _hidden(place: str, conn_id: str, key: str, why: str) -> str:
    hides = "" if key == conn_id else f", which hides every connection in the file, '{conn_id}' among them"
    return f"Airflow cannot read the connection '{key}' in {place}: {why}{hides}."


def _why_entry_unreadable(value: Any) -> str:
    from airflow.secrets.local_filesystem import get_connection_parameter_names

    if isinstance(value, str):
        return _why_unreadable(value.strip())
    if isinstance(value, dict):
        allowed = get_connection_parameter_names() | {"extra_dejson"}
        if illegal := sorted(set(value) - allowed):
            return f"a connection has no {', '.join(map(repr, illegal))} (it has {', '.join(sorted(allowed))})"
        if "extra" in value and "extra_dejson" in value:
            return "it has both 'extra' and 'extra_dejson'; give one"
        return "its fields are not a connection's ('conn_id', if given, must be the entry's name)"
    return f"it is a {type(value).__name__}, not a URI or an object of a connection's fields"
