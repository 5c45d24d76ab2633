"""The supervisor of Airflow's processes reports a dead process or a failed command with its output."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tools.airflow_processes import AirflowProcessError, AirflowProcesses, airflow_env


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
