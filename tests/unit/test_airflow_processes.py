"""The supervisor of Airflow's processes reports a dead process or a failed command with its output, and
stops every process it started."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from github_etl.errors import ConfigurationError
from tools.airflow_processes import (
    AirflowProcessError,
    AirflowProcesses,
    StopRequested,
    airflow_env,
    holding_home,
    stop_on_signals,
)
from tools.waiting import poll


class _Failure(AirflowProcessError):
    pass


@pytest.fixture
def processes(tmp_path) -> Iterator[AirflowProcesses]:
    supervised = AirflowProcesses(airflow_env(), log_dir=tmp_path / "logs", error=_Failure, stop_timeout=5)
    yield supervised
    supervised.stop()


def test_a_process_that_exits_ends_a_wait_quoting_its_log(processes) -> None:
    processes.start("bogus", "no-such-command")
    with pytest.raises(_Failure, match=r"(?s)bogus exited with 2; its log ends:.*no-such-command"):
        processes.wait(lambda: False, timeout=300, what="a condition that never holds")
    assert processes.returncode("bogus") == 2


def test_a_failed_command_raises_with_its_output(processes) -> None:
    with pytest.raises(_Failure, match=r"(?s)airflow no-such-command exited with 2:.*invalid choice"):
        processes.run("no-such-command")


def test_a_second_signal_while_stopping_does_not_abandon_the_stop(processes, monkeypatch, tmp_path) -> None:
    # `make airflow` killed by its process group gets SIGTERM twice: from the kill and from make.
    sleeper = tmp_path / "airflow"
    sleeper.write_text("#!/bin/sh\nexec sleep 600\n")
    sleeper.chmod(0o755)
    monkeypatch.setattr("tools.airflow_processes.airflow_executable", lambda: str(sleeper))
    handlers = {signum: signal.getsignal(signum) for signum in (signal.SIGINT, signal.SIGTERM)}
    try:
        stop_on_signals()
        processes.start("standalone", "standalone")
        standalone = processes._processes[0].popen
        with pytest.raises(StopRequested):
            signal.raise_signal(signal.SIGTERM)
        # The second lands where the first one's handler left off, before the stop has blocked signals.
        try:
            signal.raise_signal(signal.SIGTERM)
        except StopRequested:
            pytest.fail("a second SIGTERM raised again, abandoning the stop the first one began")
        processes.stop()
    finally:
        for signum, handler in handlers.items():
            signal.signal(signum, handler)
    # Stopped and reaped by the stop itself, not left to the fixture's.
    assert standalone.returncode == -signal.SIGTERM


# What an Airflow worker looks like to the stop: a leader that waits for its running task on SIGTERM (a Celery
# warm shutdown), and the task itself in a process group of its own, as Airflow's supervisor starts every task.
_WORKER_WITH_A_TASK = """\
import os, signal, sys, time
signal.signal(signal.SIGTERM, signal.SIG_IGN)
task = os.fork()
if task == 0:
    os.setpgid(0, 0)
    time.sleep(600)
    os._exit(0)
with open(sys.argv[-1], "w") as pid_file:
    pid_file.write(str(task))
time.sleep(600)
"""


def test_the_stop_kills_tasks_running_in_a_process_group_of_their_own(processes, monkeypatch, tmp_path) -> None:
    import os
    import sys
    import time

    script = tmp_path / "worker.py"
    script.write_text(_WORKER_WITH_A_TASK)
    airflow = tmp_path / "airflow"
    airflow.write_text(f'#!/bin/sh\nexec {sys.executable} {script} "$@"\n')
    airflow.chmod(0o755)
    monkeypatch.setattr("tools.airflow_processes.airflow_executable", lambda: str(airflow))
    processes.stop_timeout = 1
    pid_file = tmp_path / "task.pid"
    processes.start("worker1", "celery", "worker", str(pid_file))
    deadline = time.monotonic() + 30
    while not pid_file.exists() or not pid_file.read_text():
        assert time.monotonic() < deadline, "the worker never started its task"
        time.sleep(0.05)
    task = int(pid_file.read_text())

    processes.stop()

    # The task was the leader's child, not this process's: reaped by init once killed.
    deadline = time.monotonic() + 10
    while _running(task) and time.monotonic() < deadline:
        time.sleep(0.05)
    survived = _running(task)
    if survived:
        os.kill(task, signal.SIGKILL)
    assert not survived, "the task process outlived the stop of its worker"


def _running(pid: int) -> bool:
    import psutil

    try:
        return psutil.Process(pid).status() != psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return False


# A supervisor of the tools, run as a script with a stand-in for airflow that writes its pid and sleeps.
_MAKE_RUN = """
import sys
import tools.airflow_processes as processes
processes.airflow_executable = lambda: sys.argv[1]
import tools.dev
sys.exit(tools.dev.foreground(processes.airflow_env(), "dags", "test", "github_repositories"))
"""

_MAKE_AIRFLOW = """
import sys
from pathlib import Path
import tools.airflow_processes as processes
processes.airflow_executable = lambda: sys.argv[1]
with processes.holding_home(Path(sys.argv[2])):
    supervised = processes.AirflowProcesses(processes.airflow_env(), log_dir=None)
    supervised.start("standalone", "standalone")
    supervised.watch()
"""


@contextlib.contextmanager
def _supervising(tmp_path: Path, script: str, *args: str) -> Iterator[tuple[subprocess.Popen[bytes], int]]:
    """The supervisor ``script`` running, in a session of its own as in a terminal, and its airflow's pid; both are
    killed at the end whatever became of them."""
    project = Path(__file__).resolve().parents[2]
    pid_file = tmp_path / "airflow.pid"
    airflow = tmp_path / "airflow"
    airflow.write_text(f'#!/bin/sh\necho $$ > "{pid_file}"\nexec sleep 600\n')
    airflow.chmod(0o755)
    supervisor = subprocess.Popen(
        [sys.executable, "-c", script, str(airflow), *args],
        cwd=project,
        env={**os.environ, "PYTHONPATH": os.pathsep.join([str(project / "plugins"), str(project)])},
        start_new_session=True,
    )
    pids = [supervisor.pid]
    try:
        poll(lambda: pid_file.exists() and pid_file.read_text().strip(), timeout=60, what="airflow to start")
        pids.append(int(pid_file.read_text()))
        yield supervisor, pids[1]
    finally:
        for pid in pids:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(pid, signal.SIGKILL)


def test_closing_the_terminal_of_make_run_stops_the_airflow_it_started(tmp_path) -> None:
    """Closing the terminal (or an ssh session dropping) sends SIGHUP to make run's process group. The supervisor
    died of it at once, and airflow, in a session of its own, never got it: it lived on as an orphan holding the
    DAG's run (and make airflow's scheduler, port 8080 and home)."""
    with _supervising(tmp_path, _MAKE_RUN) as (supervisor, airflow_pid):
        os.killpg(supervisor.pid, signal.SIGHUP)  # the terminal's process group, as the kernel signals it
        supervisor.wait(timeout=60)
        # The supervisor ends once what it started is stopped and reaped.
        assert not Path(f"/proc/{airflow_pid}").exists(), "airflow goes on as an orphan after the terminal closed"


def test_make_run_still_refuses_while_the_airflow_of_a_killed_make_airflow_runs(tmp_path) -> None:
    """kill -9 of make airflow's supervisor (or the OOM killer) leaves airflow standalone running in its own session;
    the home lock was the supervisor's alone, so make run started airflow dags test beside that scheduler."""
    home = tmp_path / "home"
    with _supervising(tmp_path, _MAKE_AIRFLOW, str(home)) as (supervisor, airflow_pid):
        supervisor.kill()
        supervisor.wait(timeout=30)
        assert Path(f"/proc/{airflow_pid}").exists(), "standalone outlives its killed supervisor"

        with pytest.raises(ConfigurationError, match="already"), holding_home(home):
            pass
