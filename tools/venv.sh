#!/usr/bin/env bash
# Builds (or brings up to date) the virtualenv that every make target runs in.
#
#   tools/venv.sh [VENV]   VENV defaults to .venv; PYTHON in the environment names the interpreter
#
# Without PYTHON, the newest supported Python present is used (tools/pythons.sh). An existing VENV is
# kept while its Python is the one asked for; it is reinstalled only when requirements.txt,
# requirements-dev.txt or constraints.txt is newer than its last install, so the check costs one
# interpreter start. It gets requirements-dev.txt: what the image installs (requirements.txt) and the
# test tooling.
set -euo pipefail
cd "$(dirname "$0")/.."

venv=${1:-.venv}
stamp=$venv/.installed
supported=$(tools/pythons.sh --supported)
listed=$(echo "$supported" | tr ' ' '\n' | sort -V | paste -sd, | sed 's/,/, /g')

version_of() {
  "$1" -c 'import sys; print("%d.%d" % sys.version_info[:2])' 2>/dev/null
}

is_supported() {
  [[ " $supported " == *" $1 "* ]]
}

fail() {
  echo "$*" >&2
  exit 1
}

if [[ -n ${PYTHON:-} ]]; then
  python=$(command -v "$PYTHON" || true)
  if [[ $PYTHON =~ ^python(3\.[0-9]+)$ ]] && ! version_of "$python" >/dev/null; then
    # A bare pythonX.Y that does not run here (a pyenv shim of a version not selected) is looked up as a version.
    is_supported "${BASH_REMATCH[1]}" || fail "PYTHON=$PYTHON is Python ${BASH_REMATCH[1]}; this project supports Python $listed."
    python=$(tools/pythons.sh | awk -v v="${BASH_REMATCH[1]}" '$1 == v { print $2 }')
  fi
  [[ -n $python ]] || fail "PYTHON=$PYTHON is not an interpreter found on this machine. Supported: Python $listed."
  wanted=$(version_of "$python") || fail "PYTHON=$PYTHON does not run. Supported: Python $listed."
  is_supported "$wanted" || fail "PYTHON=$PYTHON is Python $wanted; this project supports Python $listed."
fi

if [[ -x $venv/bin/python ]]; then
  have=$(version_of "$venv/bin/python" || echo "none")
  if ! is_supported "$have"; then
    fail "$venv was made with Python $have, which this project does not support (Python $listed): delete it (rm -rf $venv) and run make again."
  fi
  if [[ -n ${PYTHON:-} && $have != "$wanted" ]]; then
    fail "$venv was made with Python $have and PYTHON names $wanted: delete it (rm -rf $venv), or keep both with VENV=.venv-$wanted."
  fi
  if [[ -f $stamp && $stamp -nt requirements.txt && $stamp -nt requirements-dev.txt && $stamp -nt constraints.txt ]]; then
    exit 0
  fi
else
  if [[ -z ${PYTHON:-} ]]; then
    python=$(tools/pythons.sh --newest) || python=
    [[ -n $python ]] || fail "No supported Python found: this project runs on Python $listed. Install one, or name it: make PYTHON=/path/to/python3.X ..."
  fi
  echo "Creating $venv with Python $("$python" -c 'import platform; print(platform.python_version())') ($python)" >&2
  "$python" -m venv "$venv"
fi

# uv installs the pinned set several times faster than pip (it downloads and unpacks in parallel). It is
# pointed at the indexes, find-links, constraints and CA bundle pip is configured with (pip.conf or PIP_*
# variables), and weighs every index as pip does, so that it installs what pip would from where pip would.
"$venv/bin/python" -m pip install --quiet --upgrade pip
"$venv/bin/python" -m pip install --quiet "$(grep '^uv==' constraints.txt)"
declare -A pip_setting=() pip_from_env=()
while IFS= read -r line; do
  [[ $line =~ ^([^.]*)\.([a-z-]+)=\'(.*)\'$ ]] || continue
  # A list is one value per line in pip.conf, which pip prints as \n.
  scope=${BASH_REMATCH[1]} key=${BASH_REMATCH[2]}
  read -ra words <<<"${BASH_REMATCH[3]//\\n/ }"
  value=${words[*]}
  # A PIP_* variable wins over the files, as in pip.
  [[ $scope == :env: || ${pip_from_env[$key]:-} != 1 ]] && pip_setting[$key]=$value
  [[ $scope == :env: ]] && pip_from_env[$key]=1
done < <("$venv/bin/python" -m pip config list 2>/dev/null)
for pair in index-url:UV_DEFAULT_INDEX extra-index-url:UV_INDEX find-links:UV_FIND_LINKS constraint:UV_CONSTRAINT \
  cert:SSL_CERT_FILE; do
  key=${pair%%:*} variable=${pair#*:}
  [[ -n ${pip_setting[$key]:-} && -z ${!variable:-} ]] || continue
  value=${pip_setting[$key]}
  [[ $variable == UV_FIND_LINKS ]] && value=${value// /,}
  export "$variable=$value"
done
export UV_INDEX_STRATEGY=${UV_INDEX_STRATEGY:-unsafe-best-match}
"$venv/bin/uv" pip install --quiet --python "$venv/bin/python" -r requirements-dev.txt -c constraints.txt
touch "$stamp"

# One constraints file serves every supported Python only while it pins what each of them installs.
"$venv/bin/python" - <<'PY' >&2
import re
from importlib.metadata import distributions

def key(name):
    return re.sub(r"[-_.]+", "-", name).lower()

pinned = {key(line.split("==")[0]) for line in open("constraints.txt") if "==" in line}
unpinned = sorted(
    f"{d.metadata['Name']}=={d.version}" for d in distributions() if key(d.metadata["Name"]) not in pinned | {"pip"}
)
if unpinned:
    print("Installed but not pinned in constraints.txt (add them):", *unpinned, sep="\n  ")
PY
