#!/usr/bin/env bash
# The Python versions this project supports, and where each one present on this machine is.
#
#   tools/pythons.sh              "X.Y /path/to/python" for each supported version present, newest first
#   tools/pythons.sh --supported  the supported versions, newest first, on one line
#   tools/pythons.sh --newest     the path of the newest supported Python present (exit 1 when none)
#
# A version is looked for as pythonX.Y on PATH, then in pyenv's versions (a pyenv shim on PATH exists for
# every installed version but fails for one that is not selected), then as python3. An interpreter counts
# only once it has run and reported that version.
set -uo pipefail

# Airflow 3.3 supports 3.10 to 3.14; the providers the pipeline runs on (postgres, amazon, celery, ...)
# require 3.11.
# pyproject.toml's requires-python and the CI workflow name the same versions (the deployment tests check it).
SUPPORTED="3.14 3.13 3.12 3.11"

if [[ ${1:-} == --supported ]]; then
  echo "$SUPPORTED"
  exit 0
fi

version_of() {
  "$1" -c 'import sys; print("%d.%d" % sys.version_info[:2])' 2>/dev/null
}

candidates() {
  local version=$1 found
  command -v "python$version" 2>/dev/null
  # Newest patch release first.
  for found in $(ls -d "${PYENV_ROOT:-$HOME/.pyenv}/versions/$version".*/bin/"python$version" 2>/dev/null | sort -rV); do
    echo "$found"
  done
  command -v python3 2>/dev/null
}

for version in $SUPPORTED; do
  while read -r candidate; do
    if [[ -n $candidate && $(version_of "$candidate") == "$version" ]]; then
      if [[ ${1:-} == --newest ]]; then
        # Asked here rather than through `| head -n1`: under pipefail that pipe fails with SIGPIPE (141)
        # once head has its line and this script writes the next one.
        echo "$candidate"
        exit 0
      fi
      echo "$version $candidate"
      break
    fi
  done < <(candidates "$version")
done
[[ ${1:-} != --newest ]]
