"""The run parameters of the DAG: their trigger-form definitions and their validation.

Each mode needs different parameters; the form's JSON schema checks each field alone, and
:func:`validate` checks them together before any API call is made.
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from typing import Any

from github_etl.errors import ConfigurationError
from github_etl.extract.search_query import ACCEPTED_FORMS

MODES = ("sample", "search", "owners", "refresh", "census")
# The largest whole number a browser's form keeps exact (a JavaScript number): the trigger form would
# quietly round a larger seed, and the same seed typed there and given on the CLI must draw one sample.
MAX_SEED = 2**53 - 1
PARAM_NAMES = (
    "mode",
    "sample_size",
    "seed",
    "per_page_take",
    "query",
    "owners",
    "stale_days",
    "shards",
    "since_id",
    "until_id",
)
# Big enough for a day's harvest with a few tokens; a larger one belongs in several runs.
MAX_SAMPLE_SIZE = 5_000_000
MAX_SHARDS = 64
DEFAULT_SAMPLE_SIZE = 100
DEFAULT_SHARDS = 4
# Taking the whole listing page (100) costs one listing call per 100 repositories; see docs/sampling.md.
DEFAULT_PER_PAGE_TAKE = 100
# Far beyond GitHub's ids (1.1 billion in 2026), so a typo cannot ask for an endless crawl.
MAX_REPOSITORY_ID = 1 << 40
# A century: a bound the form states, so a typo is refused as the run is created.
MAX_STALE_DAYS = 36_500
# The params only one mode reads; given to another mode they would be ignored without a word.
READ_ONLY_BY = {
    "sample_size": "sample",
    "seed": "sample",
    "per_page_take": "sample",
    "query": "search",
    "owners": "owners",
    "stale_days": "refresh",
    "since_id": "census",
    "until_id": "census",
}
# GitHub logins: alphanumerics and hyphens, at most 39 characters, beginning with an alphanumeric. New
# accounts may not end with a hyphen or hold two in a row, but older ones do (x-, a--b) and own repositories.
_LOGIN = re.compile(r"^[A-Za-z0-9][A-Za-z0-9-]{0,38}$")


@dataclass(frozen=True)
class RunParams:
    """Validated parameters of one run."""

    mode: str = "sample"
    sample_size: int = DEFAULT_SAMPLE_SIZE
    seed: int | None = None
    per_page_take: int = DEFAULT_PER_PAGE_TAKE
    query: str = ""
    owners: tuple[str, ...] = field(default_factory=tuple)
    stale_days: int | None = None
    shards: int = DEFAULT_SHARDS
    since_id: int | None = None
    until_id: int | None = None


def _integer(params: dict[str, Any], name: str, default: int | None, low: int, high: int) -> int | None:
    value = params.get(name, default)
    if value is None or value == "":
        return default
    # JSON's 1e3 is a float, and the form's schema (JSON Schema's "integer") lets a whole one through.
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    if isinstance(value, bool) or not isinstance(value, int | str):
        raise ConfigurationError(f"param '{name}' must be a whole number, got {value!r}")
    try:
        number = int(value)
    except ValueError:
        raise ConfigurationError(f"param '{name}' must be a whole number, got {value!r}") from None
    if not low <= number <= high:
        raise ConfigurationError(f"param '{name}' must be between {low} and {high}, got {number}")
    return number


def _owners(value: Any) -> tuple[str, ...]:
    if value is None:
        return ()
    if isinstance(value, str):
        value = [value]
    if not isinstance(value, list | tuple) or not all(isinstance(v, str) for v in value):
        raise ConfigurationError("param 'owners' must be a list of GitHub logins")
    # Airflow 3.1 and 3.2's form sends the field's lines as a list: a line may still hold "apache, python".
    value = [name for v in value for name in re.split(r"[\s,]+", v)]
    # GitHub writes a login as @apache; a list pasted into the form brings spaces and blank lines.
    given = [v.strip() for v in value if v.strip()]
    names = [v.removeprefix("@") for v in given]
    # A bare "@" is a login left out, not a blank to skip.
    bad = [g for g, name in zip(given, names, strict=True) if not _LOGIN.match(name)]
    if bad:
        raise ConfigurationError(
            f"param 'owners' holds names that are not GitHub logins: {bad[:5]}; "
            "write the login alone, e.g. 'apache' for https://github.com/apache"
        )
    # Logins are case-insensitive on GitHub: apache and Apache are one owner, to be listed and counted once.
    unique: dict[str, str] = {}
    for name in names:
        unique.setdefault(name.lower(), name)
    return tuple(unique.values())


def require_conf_applied(conf: Mapping[str, Any] | None, params: Mapping[str, Any]) -> None:
    """Refuse a run whose conf asks for what its params do not hold.

    Airflow applies a run's conf to its params only while ``[core] dag_run_conf_overrides_params`` is on (its
    default); a deployment that turns it off hands the tasks the params' defaults, so a census triggered with
    ``-c`` would run as the default sample and succeed. A conf value equal to its param's (the trigger form
    sends every field) asks for nothing that is lost.

    :raises ConfigurationError: naming the conf's keys that did not reach the params, and the setting.
    """
    lost = sorted(name for name, value in (conf or {}).items() if name not in params or params[name] != value)
    if lost:
        raise ConfigurationError(
            f"this run's conf sets {', '.join(map(repr, lost))}, but Airflow did not apply it to the run's params: "
            "this deployment has [core] dag_run_conf_overrides_params = False, so the run would harvest what the "
            "params' defaults say instead. Set AIRFLOW__CORE__DAG_RUN_CONF_OVERRIDES_PARAMS=True (Airflow's "
            "default), or trigger the run without conf"
        )


def validate(params: dict[str, Any], dag_defaults: Mapping[str, Any] | None = None) -> RunParams:
    """Check the parameters together; raise :class:`ConfigurationError` with a message a user understands.

    :param dag_defaults: the DAG's own param defaults (a second harvest's, ``harvest_dag(mode="search",
        query=...)``), which Airflow hands the run like the rest: a value of another mode equal to them was not
        asked for, any more than one equal to the project's defaults.
    """
    unknown = sorted(set(params) - set(PARAM_NAMES))
    if unknown:
        names = ", ".join(map(repr, unknown))
        raise ConfigurationError(f"unknown param(s) {names}; accepted: {', '.join(PARAM_NAMES)}")
    mode = params.get("mode") or "sample"
    if mode not in MODES:
        raise ConfigurationError(f"param 'mode' must be one of {', '.join(MODES)}; got {mode!r}")
    run = _read(params, mode)
    # {"query": "language:rust"} without "mode": "search" would load a random sample and succeed. Airflow
    # hands a task every param of the form, at its default unless set: only another value was asked for.
    defaults = RunParams()
    unasked = _read(dag_defaults, mode) if dag_defaults else defaults
    for name, reader in READ_ONLY_BY.items():
        if reader == mode:
            continue
        if getattr(run, name) not in (getattr(defaults, name), getattr(unasked, name)):
            raise ConfigurationError(
                f"param '{name}' is read only by mode '{reader}', and this run's mode is '{mode}': "
                f'add "mode": "{reader}", or leave \'{name}\' out'
            )
        run = replace(run, **{name: getattr(defaults, name)})
    # Imported here: the form's definitions above are read when the DAG is parsed, the modes only by tasks.
    from github_etl.extract import plan

    plan.MODES[mode].check_params(run)
    if run.until_id is not None:
        if run.since_id is None:
            raise ConfigurationError(
                "param 'until_id' needs param 'since_id' (0 crawls from the first repository): "
                "together they name the id range (since_id, until_id] to crawl"
            )
        if run.until_id <= run.since_id:
            raise ConfigurationError(
                f"param 'until_id' must be above 'since_id'; got since_id={run.since_id}, until_id={run.until_id}"
            )
    return run


def _read(params: Mapping[str, Any], mode: str) -> RunParams:
    """The parameters of a run of ``mode`` as given, each checked alone."""
    query = params.get("query") or ""
    if not isinstance(query, str):
        raise ConfigurationError(f"param 'query' must be a string, got {query!r}")
    return RunParams(
        mode=mode,
        sample_size=_integer(params, "sample_size", DEFAULT_SAMPLE_SIZE, 1, MAX_SAMPLE_SIZE),
        seed=_integer(params, "seed", None, 0, MAX_SEED),
        per_page_take=_integer(params, "per_page_take", DEFAULT_PER_PAGE_TAKE, 1, 100),
        query=query.strip(),
        owners=_owners(params.get("owners")),
        stale_days=_integer(params, "stale_days", None, 0, MAX_STALE_DAYS),
        shards=_integer(params, "shards", DEFAULT_SHARDS, 1, MAX_SHARDS),
        since_id=_integer(params, "since_id", None, 0, MAX_REPOSITORY_ID),
        until_id=_integer(params, "until_id", None, 1, MAX_REPOSITORY_ID),
    )


def scheduled_mode() -> str:
    """The mode of scheduled runs (and the trigger form's default): ``GITHUB_ETL_SCHEDULED_MODE``, else sample.

    ``census`` makes the daily schedule a daily census (docs/census.md).
    """
    mode = os.environ.get("GITHUB_ETL_SCHEDULED_MODE", "").strip() or "sample"
    if mode not in MODES:
        raise ConfigurationError(f"GITHUB_ETL_SCHEDULED_MODE must be one of {', '.join(MODES)}; got {mode!r}")
    return mode


def trigger_form_params(**defaults: Any) -> dict[str, Any]:
    """The DAG's ``params``: each a :class:`~airflow.sdk.Param` so the trigger form validates and explains it.

    :param defaults: new defaults for some of them, what a scheduled run of the DAG does (a second harvest's
        ``mode="search", query="language:rust"``); checked together as a run's params are, so that a DAG
        whose scheduled runs would all fail does not parse, its import error naming the param.
    """
    from airflow.sdk import Param

    params = {
        "mode": Param(
            scheduled_mode(),
            enum=list(MODES),
            title="Mode",
            description="sample: random public repositories; search: all matches of a query; "
            "owners: every repository of users/organisations; refresh: re-fetch the warehouse's repositories; "
            "census: every public repository listed since the census's cursor (or in since_id..until_id).",
        ),
        # Nullable, as every param a mode reads alone: clearing a field in the form sends null (its default), the
        # one way the form leaves a param out, which prepare asks of a run of another mode.
        "sample_size": Param(
            DEFAULT_SAMPLE_SIZE,
            type=["null", "integer"],
            minimum=1,
            maximum=MAX_SAMPLE_SIZE,
            title="Sample size",
            description=f"mode sample: how many distinct repositories to load; empty: {DEFAULT_SAMPLE_SIZE}.",
        ),
        "seed": Param(
            None,
            type=["null", "integer"],
            minimum=0,
            maximum=MAX_SEED,
            title="Seed",
            description=(
                "mode sample: mixed with the logical date into the random choice; the same seed, shards and end of "
                "GitHub's id space (logged by plan) draw the same sample."
            ),
        ),
        "per_page_take": Param(
            DEFAULT_PER_PAGE_TAKE,
            type=["null", "integer"],
            minimum=1,
            maximum=100,
            title="Repositories taken per listing page",
            description="mode sample: 100 is cheapest in quota; "
            f"1 is the most random (one listing call per repository); empty: {DEFAULT_PER_PAGE_TAKE}.",
        ),
        # Nullable: the trigger form treats a non-null string or array as required.
        # No maxLength: GitHub's limit of 256 characters leaves qualifiers out (prepare checks it).
        "query": Param(
            None,
            type=["null", "string"],
            title="Search query",
            description="mode search: GitHub search syntax, e.g. 'language:rust stars:>100'; every public match is "
            f"loaded, past GitHub's 1,000-result cap. At most one created: qualifier: {ACCEPTED_FORMS}.",
        ),
        # A string too: `-c '{"owners": "apache"}'` is how one owner is naturally written, and validate() splits it.
        "owners": Param(
            None,
            type=["null", "array", "string"],
            items={"type": "string"},
            title="Owners",
            description="mode owners: GitHub logins of users or organisations, separated by commas or one per "
            'line, or a JSON list; e.g. apache, octocat or ["apache", "octocat"].',
        ),
        "stale_days": Param(
            None,
            type=["null", "integer"],
            minimum=0,
            maximum=MAX_STALE_DAYS,
            title="Stale after (days)",
            description="mode refresh: only repositories not seen for this many days (UTC dates, counted back "
            "from the day the run fetches; 1: not seen yet that day); empty: all.",
        ),
        "shards": Param(
            DEFAULT_SHARDS,
            type="integer",
            minimum=1,
            maximum=MAX_SHARDS,
            title="Shards",
            description="How many parallel extraction tasks the run is split into (bounded by the github_api pool).",
        ),
        "since_id": Param(
            None,
            type=["null", "integer"],
            minimum=0,
            maximum=MAX_REPOSITORY_ID,
            title="Census: above this id",
            description="mode census: crawl repositories with ids above this one; empty: from where the census "
            "last stopped (its first run: from today's end of the id space). See docs/census.md.",
        ),
        "until_id": Param(
            None,
            type=["null", "integer"],
            minimum=1,
            maximum=MAX_REPOSITORY_ID,
            title="Census: up to this id",
            description="mode census: crawl a fixed range (since_id, until_id]; empty: up to the current end of "
            "the id space.",
        ),
    }
    for name, value in defaults.items():
        if name not in params:
            raise ConfigurationError(f"no param {name!r} to give a default; the DAG's params: {', '.join(params)}")
        params[name] = Param(value, params[name].description, schema=params[name].schema)
    try:
        validate({name: param.value for name, param in params.items()})
    except ConfigurationError as exc:
        if "mode" not in defaults and os.environ.get("GITHUB_ETL_SCHEDULED_MODE", "").strip():
            raise ConfigurationError(
                f"GITHUB_ETL_SCHEDULED_MODE={scheduled_mode()} would fail every scheduled run: {exc}. No setting gives "
                "a scheduled search its query or an owners harvest its owners: add a DAG of its own with them "
                "(docs/existing-airflow.md, a second harvest: harvest_dag(..., mode=..., query=...)), or set sample, "
                "refresh or census"
            ) from None
        raise ConfigurationError(f"the DAG's param defaults {defaults} would fail every scheduled run: {exc}") from None
    return params
