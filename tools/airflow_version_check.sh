#!/usr/bin/env bash
# Tries the pipeline on another Airflow 3, added as docs/existing-airflow.md says: that Airflow first, then
# requirements.txt without its apache-airflow line; dags/, plugins/ and include/ copied into a fresh
# AIRFLOW_HOME. Parses the DAGs, lists the plugins and runs `airflow dags test` on a sample of 8 against the
# project's fake GitHub. Not part of `make test` (it installs Airflow: minutes).
#
#   WAREHOUSE_URL=postgresql://postgres@127.0.0.1:5432/scratch tools/airflow_version_check.sh 3.2.2 [DATE]
#
# DATE (e.g. 2026-05-30, the day after that Airflow's release) installs Airflow with what PyPI had then
# (`uv --exclude-newer`), as its constraints file would: the newest of everything breaks older Airflows
# (3.2.2 with today's fastapi cannot start a task). The DAG's late-run alert needs Airflow 3.2: on 3.1 run
# this with GITHUB_ETL_RUN_DEADLINE_ALERT=false. The tables go into WAREHOUSE_URL's `github` schema.
# Everything else is made in CHECK_DIR (default /tmp/github-etl-airflow-VERSION), kept for a second look.
set -euo pipefail
version=${1:?usage: WAREHOUSE_URL=postgresql://… $0 AIRFLOW_VERSION [EXCLUDE_NEWER_DATE]}
date=${2:-}
: "${WAREHOUSE_URL:?set WAREHOUSE_URL to a PostgreSQL database the check may create the github schema in}"
root=$(cd "$(dirname "$0")/.." && pwd)
dir=${CHECK_DIR:-/tmp/github-etl-airflow-$version}
if command -v uv >/dev/null; then uv=(uv); else uv=("$root/.venv/bin/python" -m uv); fi

rm -rf "$dir" && mkdir -p "$dir/home" "$dir/cwd"
"${uv[@]}" venv -q "$dir/venv"
"${uv[@]}" pip install -q --python "$dir/venv/bin/python" ${date:+--exclude-newer "$date"} "apache-airflow==$version"
grep -v '^apache-airflow==' "$root/requirements.txt" >"$dir/requirements.txt"
"${uv[@]}" pip install -q --python "$dir/venv/bin/python" -r "$dir/requirements.txt"
for folder in dags plugins include; do cp -r "$root/$folder" "$dir/home/"; done
find "$dir/home" -name __pycache__ -prune -exec rm -rf {} +

export PATH="$dir/venv/bin:$PATH" AIRFLOW_HOME="$dir/home"
export AIRFLOW__CORE__LOAD_EXAMPLES=False AIRFLOW_CONN_POSTGRES_DEFAULT="$WAREHOUSE_URL"
PYTHONPATH="$root" python -m tests.fake_github --repos 200 >"$dir/fake_github.out" 2>&1 &
fake=$!
trap 'kill $fake' EXIT
until [[ -s $dir/fake_github.out ]]; do kill -0 $fake; sleep 0.2; done
export AIRFLOW_CONN_GITHUB_DEFAULT="{\"conn_type\": \"http\", \"host\": \"$(head -1 "$dir/fake_github.out")\"}"

cd "$dir/cwd"
echo "Airflow $(airflow version 2>/dev/null | tail -1) in $dir"
airflow db migrate >"$dir/migrate.log" 2>&1
status=0
airflow dags reserialize >"$dir/reserialize.log" 2>&1 || status=1
airflow dags list-import-errors 2>/dev/null | grep -vE '^[0-9T:.-]+Z \[|graphviz|^You might|^Run .pip|^\s*$' || true
airflow dags list 2>/dev/null | grep -E '^github_repositories' || true
airflow dags list 2>/dev/null | grep -qE '^github_repositories\s' || status=1
airflow plugins 2>/dev/null | grep -o '^github_etl\b' || { echo "plugin github_etl not loaded"; status=1; }
conf='{"mode": "sample", "sample_size": 8, "shards": 1}'
if airflow dags test github_repositories -c "$conf" >"$dir/dags_test.log" 2>&1; then
  echo "airflow dags test: success"
else
  echo "airflow dags test failed: $dir/dags_test.log"
  grep -m3 'Error\b\|Error:' "$dir/dags_test.log" || true
  status=1
fi
exit $status
