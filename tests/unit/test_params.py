"""Run parameters are checked together, before any API call, with messages a user understands."""

from __future__ import annotations

import pytest

from github_etl.errors import ConfigurationError
from github_etl.params import RunParams, require_conf_applied, validate


@pytest.mark.parametrize(
    ("params", "message"),
    [
        ({"mode": "everything"}, "param 'mode' must be one of sample, search, owners, refresh"),
        ({"mode": "search"}, "mode 'search' needs a non-empty param 'query'"),
        ({"mode": "search", "query": "   "}, "mode 'search' needs a non-empty param 'query'"),
        ({"mode": "owners", "owners": []}, "mode 'owners' needs param 'owners'"),
        ({"mode": "owners", "owners": ["ok", "not a login!"]}, "not GitHub logins"),
        ({"mode": "owners", "owners": ["https://github.com/apache"]}, "write the login alone, e.g. 'apache'"),
        ({"mode": "owners", "owners": ["", " "]}, "mode 'owners' needs param 'owners'"),
        ({"mode": "owners", "owners": "@, apache"}, r"not GitHub logins: \['@'\]"),
        ({"mode": "owners", "owners": ["-x", "o" * 40, "a_b"]}, r"not GitHub logins: \['-x', 'o{40}', 'a_b'\]"),
        ({"sample_size": 0}, "param 'sample_size' must be between 1 and"),
        ({"seed": 2**53}, "param 'seed' must be between 0 and 9007199254740991"),
        ({"sample_size": -5}, "param 'sample_size' must be between 1 and"),
        ({"sample_size": "many"}, "param 'sample_size' must be a whole number"),
        ({"sample_size": True}, "param 'sample_size' must be a whole number"),
        ({"sample_size": 500.5}, "param 'sample_size' must be a whole number"),
        ({"per_page_take": 101}, "param 'per_page_take' must be between 1 and 100"),
        ({"shards": 0}, "param 'shards' must be between 1 and 64"),
        ({"stale_days": -1}, "param 'stale_days' must be between 0 and"),
        ({"mode": "census", "until_id": 500}, "param 'until_id' needs param 'since_id'"),
        ({"mode": "census", "since_id": 500, "until_id": 500}, "param 'until_id' must be above 'since_id'"),
        ({"mode": "census", "since_id": -1}, "param 'since_id' must be between 0 and"),
        # A param of another mode would be ignored: a query without "mode": "search" loaded a random sample.
        ({"query": "language:rust"}, "param 'query' is read only by mode 'search', and this run's mode is 'sample'"),
        ({"mode": "search", "query": "org:x", "owners": ["x"]}, "param 'owners' is read only by mode 'owners'"),
        ({"mode": "owners", "owners": ["x"], "stale_days": 3}, "param 'stale_days' is read only by mode 'refresh'"),
        ({"mode": "refresh", "since_id": 5}, "param 'since_id' is read only by mode 'census'"),
        ({"until_id": 5}, "param 'until_id' is read only by mode 'census'"),
        ({"mode": "owners", "owners": "x", "sample_size": 5}, "param 'sample_size' is read only by mode 'sample'"),
        ({"mode": "search", "query": "a", "seed": 3}, "param 'seed' is read only by mode 'sample'"),
        ({"mode": "census", "per_page_take": 1}, "param 'per_page_take' is read only by mode 'sample'"),
    ],
)
def test_invalid_params_are_refused_with_a_clear_message(params, message) -> None:
    with pytest.raises(ConfigurationError, match=message):
        validate(params)


@pytest.mark.parametrize(
    ("params", "expected"),
    [
        ({}, RunParams()),
        ({"mode": "search", "query": " language:rust "}, RunParams(mode="search", query="language:rust")),
        (
            {"mode": "owners", "owners": "apache, octocat apache"},
            RunParams(mode="owners", owners=("apache", "octocat")),
        ),
        # Logins as GitHub writes them (@apache) or pasted with spaces and blank lines are the logins themselves.
        (
            {"mode": "owners", "owners": [" @apache ", "", "octocat\n"]},
            RunParams(mode="owners", owners=("apache", "octocat")),
        ),
        # GitHub logins are case-insensitive: one owner, listed (and counted) once, as first written.
        (
            {"mode": "owners", "owners": ["apache", "Apache", "APACHE", "python"]},
            RunParams(mode="owners", owners=("apache", "python")),
        ),
        # Accounts older than GitHub's rule against them keep a trailing or a doubled hyphen.
        (
            {"mode": "owners", "owners": "x-, a--b, " + "o" * 38 + "-"},
            RunParams(mode="owners", owners=("x-", "a--b", "o" * 38 + "-")),
        ),
        ({"sample_size": "250", "seed": 7, "stale_days": None}, RunParams(sample_size=250, seed=7)),
        # 1e3 and 500.0 are floats in JSON; Airflow's form lets them through as integers, and so does prepare.
        ({"sample_size": 1e3, "shards": 8.0}, RunParams(sample_size=1000, shards=8)),
        ({"mode": "census"}, RunParams(mode="census")),
        (
            {"mode": "census", "since_id": 0, "until_id": "1000"},
            RunParams(mode="census", since_id=0, until_id=1000),
        ),
    ],
)
def test_valid_params(params, expected) -> None:
    assert validate(params) == expected


def test_scheduled_runs_take_their_mode_from_the_environment(monkeypatch) -> None:
    from github_etl.params import scheduled_mode, trigger_form_params

    assert trigger_form_params()["mode"].value == "sample"
    monkeypatch.setenv("GITHUB_ETL_SCHEDULED_MODE", "census")
    assert scheduled_mode() == "census"
    assert trigger_form_params()["mode"].value == "census"
    monkeypatch.setenv("GITHUB_ETL_SCHEDULED_MODE", "everything")
    with pytest.raises(ConfigurationError, match="GITHUB_ETL_SCHEDULED_MODE must be one of"):
        scheduled_mode()


def test_the_form_offers_every_mode_there_is_and_no_other() -> None:
    from github_etl.extract.plan import MODES as MODE_IMPLEMENTATIONS
    from github_etl.params import MODES

    assert sorted(MODES) == sorted(MODE_IMPLEMENTATIONS)


@pytest.mark.parametrize(
    "owners", ["apache", "apache, python", "apache python", "apache\npython\n", ["apache", "python"], None]
)
def test_the_form_takes_owners_as_a_list_or_as_one_string(owners) -> None:
    """Airflow checks a trigger's conf against the form before any task: a string must get past it to validate()."""
    from github_etl.params import trigger_form_params

    assert trigger_form_params()["owners"].resolve(owners) == owners
    if owners is not None:
        assert validate({"mode": "owners", "owners": owners}).owners[0] == "apache"


@pytest.mark.parametrize("mode", ["search", "owners", "refresh", "census"])
def test_a_run_of_any_mode_passes_with_the_forms_defaults_of_the_other_modes_params(mode) -> None:
    """Airflow hands the task every param of the form, at its default unless set: those are not "given"."""
    from github_etl.params import trigger_form_params

    conf = {name: param.value for name, param in trigger_form_params().items()}
    conf |= {"mode": mode, "query": "language:go" if mode == "search" else None}
    conf |= {"owners": "apache" if mode == "owners" else None}

    assert validate(conf).mode == mode


def test_a_second_harvest_gives_its_params_new_defaults_checked_as_a_run_would_be() -> None:
    from github_etl.params import trigger_form_params

    params = trigger_form_params(mode="search", query="language:rust")

    assert (params["mode"].value, params["query"].value) == ("search", "language:rust")
    # The form still explains and checks them.
    assert params["mode"].schema == trigger_form_params()["mode"].schema
    assert params["query"].description == trigger_form_params()["query"].description


@pytest.mark.parametrize(
    ("defaults", "conf"),
    [
        # docs/existing-airflow.md's two examples, triggered in another mode: "a trigger's conf still overrides them".
        ({"mode": "search", "query": "language:rust"}, {"mode": "owners", "owners": "apache"}),
        ({"mode": "owners", "owners": "apache"}, {"mode": "sample"}),
        ({"mode": "owners", "owners": "apache"}, {"mode": "census", "since_id": 0, "until_id": 1000}),
        ({"sample_size": 500}, {"mode": "refresh"}),
    ],
)
def test_a_second_harvest_triggered_in_another_mode_runs_it_its_own_defaults_not_taken_as_asked(defaults, conf) -> None:
    from airflow.sdk.definitions.param import ParamsDict

    from github_etl.params import trigger_form_params

    form = ParamsDict(trigger_form_params(**defaults)).dump()

    # What Airflow hands the run: every param, the conf's over the DAG's defaults.
    assert validate(form | conf, dag_defaults=form) == validate(conf)


def test_a_second_harvest_triggered_in_another_mode_still_refuses_a_param_of_its_own_mode_given_anew() -> None:
    from airflow.sdk.definitions.param import ParamsDict

    from github_etl.params import trigger_form_params

    form = ParamsDict(trigger_form_params(mode="search", query="language:rust")).dump()
    conf = {"mode": "owners", "owners": "apache", "query": "language:go"}

    with pytest.raises(ConfigurationError, match="param 'query' is read only by mode 'search'"):
        validate(form | conf, dag_defaults=form)


def test_the_form_refuses_what_the_run_would_refuse_as_it_is_created() -> None:
    from airflow.sdk.definitions.param import ParamValidationError

    from github_etl.params import trigger_form_params

    with pytest.raises(ParamValidationError):
        trigger_form_params()["stale_days"].resolve(36_501)
    assert trigger_form_params()["stale_days"].resolve(36_500) == 36_500


@pytest.mark.parametrize(
    ("defaults", "message"),
    [
        ({"mode": "search"}, "would fail every scheduled run: mode 'search' needs a non-empty param 'query'"),
        ({"owner": "apache"}, "no param 'owner' to give a default"),
        ({"mode": "owners", "query": "language:rust"}, "param 'query' is read only by mode 'search'"),
    ],
)
def test_param_defaults_every_scheduled_run_would_fail_on_are_refused_when_the_dag_parses(
    defaults: dict[str, str], message: str
) -> None:
    from github_etl.params import trigger_form_params

    with pytest.raises(ConfigurationError, match=message):
        trigger_form_params(**defaults)


def test_a_conf_airflow_applied_or_that_asks_for_the_params_values_passes() -> None:
    params = {"mode": "sample", "sample_size": 100, "seed": None, "owners": []}
    require_conf_applied(None, params)
    require_conf_applied({}, params)
    # The trigger form sends every field; those left at their defaults ask for nothing that is lost.
    require_conf_applied({"mode": "sample", "seed": None, "owners": []}, params)


def test_a_conf_that_did_not_reach_the_params_is_refused_naming_its_keys_and_the_setting() -> None:
    params = {"mode": "sample", "sample_size": 100}
    with pytest.raises(ConfigurationError) as raised:
        require_conf_applied({"mode": "census", "sample_size": 100, "since_id": 7}, params)
    message = str(raised.value)
    assert "conf sets 'mode', 'since_id'," in message
    assert "AIRFLOW__CORE__DAG_RUN_CONF_OVERRIDES_PARAMS=True" in message
