"""A Celery worker on a RabbitMQ broker outlives a task longer than RabbitMQ's ``consumer_timeout``.

RabbitMQ closes the channel of a delivery left unacknowledged longer than ``consumer_timeout`` (30 min by default);
Airflow's Celery configuration acknowledges a task when it ends, and the worker takes the closed channel as an
unrecoverable error and exits, though a shard runs for hours (docs/census.md). ``tools.celery_cluster`` has an AMQP
broker's tasks acknowledged on receipt (docs/scaling.md).

The machine's RabbitMQ cannot be given a short consumer timeout without changing it for everyone else (3.10 has no
per-queue ``x-consumer-timeout``): the test starts a RabbitMQ node of its own (the same binaries, its own port, data
and log folders) with ``consumer_timeout = 3000`` ms and stops it at the end.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from tools.celery_cluster import CeleryCluster

pytestmark = [pytest.mark.integration, pytest.mark.timeout(300)]

RABBITMQ_SERVER = "/usr/lib/rabbitmq/bin/rabbitmq-server"
CONSUMER_TIMEOUT_MS = 3000
TASK_SECONDS = 12
PROJECT = Path(__file__).resolve().parents[2]

TASK_MODULE = """
import os, time
from celery import shared_task

@shared_task(name="sleeping_task")
def sleeping_task(seconds, marker):
    with open(marker, "a") as f:
        f.write(f"start {os.getpid()}\\n")
    time.sleep(seconds)
    with open(marker, "a") as f:
        f.write(f"end {os.getpid()}\\n")
"""


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _wait_port(port: int, timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=1):
                return True
        except OSError:
            time.sleep(0.5)
    return False


def _stop_group(process: subprocess.Popen[bytes], timeout: float = 20.0) -> None:
    if process.poll() is not None:
        return
    try:
        os.killpg(process.pid, signal.SIGTERM)
        process.wait(timeout=timeout)
    except (ProcessLookupError, subprocess.TimeoutExpired):
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGKILL)
        process.wait(timeout=10)


@pytest.fixture
def short_consumer_timeout_rabbitmq(tmp_path: Path) -> Iterator[str]:
    """A private RabbitMQ node whose consumer_timeout is 3 s (checked every second)."""
    if not Path(RABBITMQ_SERVER).exists():
        pytest.skip("rabbitmq-server is not installed")
    base = tmp_path / "rabbitmq"
    (base / "mnesia").mkdir(parents=True)
    (base / "log").mkdir()
    port, dist_port = _free_port(), _free_port()
    (base / "rabbitmq.conf").write_text(
        f"listeners.tcp.default = 127.0.0.1:{port}\nconsumer_timeout = {CONSUMER_TIMEOUT_MS}\n"
    )
    (base / "advanced.config").write_text("[{rabbit, [{channel_tick_interval, 1000}]}].\n")
    (base / "enabled_plugins").write_text("[].\n")
    node = f"githubetl{uuid.uuid4().hex[:6]}@localhost"
    env = {
        **os.environ,
        "RABBITMQ_NODENAME": node,
        "RABBITMQ_NODE_PORT": str(port),
        "RABBITMQ_DIST_PORT": str(dist_port),
        "RABBITMQ_MNESIA_BASE": str(base / "mnesia"),
        "RABBITMQ_LOG_BASE": str(base / "log"),
        "RABBITMQ_CONFIG_FILE": str(base / "rabbitmq.conf"),
        "RABBITMQ_ADVANCED_CONFIG_FILE": str(base / "advanced.config"),
        "RABBITMQ_ENABLED_PLUGINS_FILE": str(base / "enabled_plugins"),
        "RABBITMQ_PID_FILE": str(base / "pid"),
        "RABBITMQ_CONF_ENV_FILE": str(base / "none.env"),
        "RABBITMQ_SERVER_START_ARGS": "-kernel inet_dist_use_interface {127,0,0,1}",
    }
    with (base / "server.out").open("wb") as out:
        server = subprocess.Popen(
            [RABBITMQ_SERVER], env=env, stdout=out, stderr=subprocess.STDOUT, start_new_session=True
        )
    try:
        if not _wait_port(port, 90):
            pytest.skip(f"private RabbitMQ node did not start: {(base / 'server.out').read_text()[-2000:]}")
        yield f"amqp://guest:guest@127.0.0.1:{port}//"
    finally:
        _stop_group(server)


def _text(path: Path) -> str:
    return path.read_text(errors="replace") if path.exists() else ""


def _wait_for(done: Callable[[], bool], worker: subprocess.Popen[bytes], seconds: float) -> None:
    """Until ``done``, or the worker exits, or ``seconds`` pass (polling: the events are in other processes)."""
    deadline = time.monotonic() + seconds
    while not done() and worker.poll() is None and time.monotonic() < deadline:
        time.sleep(0.2)


def _worker_env(broker_url: str, queue: str, tmp_path: Path) -> dict[str, str]:
    """The environment tools.celery_cluster gives its workers, for a RabbitMQ broker."""
    cluster = CeleryCluster(
        "postgresql://postgres@127.0.0.1:5432/postgres",
        broker_url=broker_url,
        workers=1,
        concurrency=1,
        database="airflow_rabbitmq_unused",
        queue=queue,
        home=tmp_path / "home",
    )
    env = dict(cluster.env)
    # Only to register the long test task with the worker; every other Celery setting is the cluster's.
    extra = json.loads(env.get("AIRFLOW__CELERY__EXTRA_CELERY_CONFIG") or "{}")
    extra["imports"] = [*extra.get("imports", []), "long_tasks"]
    env["AIRFLOW__CELERY__EXTRA_CELERY_CONFIG"] = json.dumps(extra)
    # Results of the test task go to a file of their own; the metadata database is not under test.
    env["AIRFLOW__CELERY__RESULT_BACKEND"] = f"db+sqlite:///{tmp_path / 'results.db'}"
    env["PYTHONPATH"] = os.pathsep.join([str(tmp_path / "tasks"), env.get("PYTHONPATH", "")])
    (tmp_path / "home").mkdir(exist_ok=True)
    return env


def test_rabbitmq_worker_survives_a_task_longer_than_the_consumer_timeout(
    short_consumer_timeout_rabbitmq: str, tmp_path: Path
) -> None:
    """A shard runs for hours (docs/census.md: "At 10 tokens a run takes about 5 h of extraction"); RabbitMQ's
    default consumer_timeout is 30 min. The worker must keep serving the queue after such a task, not exit.

    Scaled down here: a 12 s task against a 3 s consumer_timeout, on a worker started as tools.celery_cluster
    starts its workers (``airflow celery worker`` with the cluster's environment).
    """
    from celery import Celery

    broker_url = short_consumer_timeout_rabbitmq
    queue = f"rabbitmq_{uuid.uuid4().hex[:8]}"
    (tmp_path / "tasks").mkdir()
    (tmp_path / "tasks" / "long_tasks.py").write_text(TASK_MODULE)
    env = _worker_env(broker_url, queue, tmp_path)
    airflow = str(Path(sys.executable).with_name("airflow"))
    log_path = tmp_path / "worker.log"
    with log_path.open("wb") as log:
        worker = subprocess.Popen(
            [
                airflow,
                "celery",
                "worker",
                "--concurrency",
                "1",
                "--queues",
                queue,
                "--celery-hostname",
                "rabbitmq@%h",
                "--skip-serve-logs",
            ],
            env=env,
            cwd=PROJECT,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    sender = Celery(broker=broker_url)
    try:
        _wait_for(lambda: " ready." in _text(log_path), worker, 120)
        assert " ready." in _text(log_path), "the worker did not start:\n" + _text(log_path)[-3000:]

        long_marker = tmp_path / "long.marker"
        sender.send_task("sleeping_task", args=[TASK_SECONDS, str(long_marker)], queue=queue)
        _wait_for(lambda: "end" in _text(long_marker), worker, TASK_SECONDS + 60)
        short_marker = tmp_path / "short.marker"
        sender.send_task("sleeping_task", args=[0, str(short_marker)], queue=queue)
        _wait_for(lambda: "end" in _text(short_marker), worker, 30)

        log_text = log_path.read_text(errors="replace")
        unrecoverable = [line for line in log_text.splitlines() if "Unrecoverable error" in line]
        assert not unrecoverable, "\n".join(unrecoverable)
        assert worker.poll() is None, f"the worker exited ({worker.returncode}) after a long task:\n{log_text[-3000:]}"
        assert short_marker.exists(), "the worker took no task after the long one"
    finally:
        sender.close()
        _stop_group(worker, timeout=30)
        shutil.rmtree(tmp_path / "home", ignore_errors=True)
