# syntax=docker/dockerfile:1
#
# Two targets, one dependency layer:
#
#   runtime  Airflow plus the pinned run-time requirements (requirements.txt; the test tooling of
#            requirements-dev.txt stays out), and no project code. docker-compose.yaml runs this
#            target and bind-mounts dags/, plugins/ and include/, so an edit needs no rebuild.
#   release  runtime plus the project code, baked in. Kubernetes runs this target (the last stage, so
#            a plain `docker build .` produces it): every pod starts from the same immutable code,
#            and a release is rolled back by rolling back the image tag.
#
# The base tag and the `apache-airflow==` pins in requirements.txt and constraints.txt must name the
# same version: pip would otherwise upgrade or downgrade Airflow inside the image
# (tests/unit/test_deployment_files.py checks it). constraints.txt holds the resolved set the tests
# ran with, so the image gets the same versions.

FROM apache/airflow:3.3.2-python3.11 AS runtime

# The official image installs Python packages for the airflow user; installing as root would put them
# where the airflow user's interpreter does not look.
USER airflow

COPY --chown=airflow:0 requirements.txt constraints.txt /opt/airflow/
RUN pip install --no-cache-dir -r /opt/airflow/requirements.txt -c /opt/airflow/constraints.txt


FROM runtime AS release

# Same paths compose mounts, so settings such as the SQL folder resolve identically in both.
COPY --chown=airflow:0 dags/ /opt/airflow/dags/
COPY --chown=airflow:0 plugins/ /opt/airflow/plugins/
COPY --chown=airflow:0 include/ /opt/airflow/include/
# Airflow imports config/airflow_local_settings.py from $AIRFLOW_HOME/config in every component.
COPY --chown=airflow:0 config/ /opt/airflow/config/
