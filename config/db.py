"""Database routing: an optional read replica for reports and exports.

With `DATABASE_REPLICA_URL` set, the settings add a `replica` alias. Reads of the `reports`
app's own models go there; reports and exports code that reads other apps' models asks for
the alias explicitly: `LedgerEntry.objects.using(reporting_alias())`. Writes, migrations
and everything else stay on `default`. Without a replica every helper answers `default`.

A replica lags the primary by a little (asynchronous streaming replication), so only code
that can show slightly stale figures reads from it — never the write path, never a read
that decides a balance.
"""

from __future__ import annotations

import shutil
from pathlib import Path
from urllib.parse import quote

from django.conf import settings
from django.db import DEFAULT_DB_ALIAS, connections

REPLICA_DB_ALIAS = "replica"
# Apps whose own models are read from the replica when one is configured.
REPLICA_READ_APPS = frozenset({"reports"})


def replica_configured() -> bool:
    """True when the settings define the read-replica alias."""
    return REPLICA_DB_ALIAS in settings.DATABASES


def reporting_alias() -> str:
    """The alias reports and exports read from: the replica if there is one, else default."""
    return REPLICA_DB_ALIAS if replica_configured() else DEFAULT_DB_ALIAS


class ReportingReplicaRouter:
    """Sends reads of the reporting apps' models to the replica; nothing else."""

    def db_for_read(self, model, **hints):
        if model._meta.app_label in REPLICA_READ_APPS and replica_configured():
            return REPLICA_DB_ALIAS
        return None  # the next router, then default

    def db_for_write(self, model, **hints):
        return DEFAULT_DB_ALIAS if replica_configured() else None

    def allow_relation(self, obj1, obj2, **hints):
        # The replica holds the same rows as the primary: an object read from either may
        # point to an object read from the other.
        same_data = {DEFAULT_DB_ALIAS, REPLICA_DB_ALIAS}
        if obj1._state.db in same_data and obj2._state.db in same_data:
            return True
        return None

    def allow_migrate(self, db, app_label, model_name=None, **hints):
        # The replica receives the schema from the primary through replication.
        if db == REPLICA_DB_ALIAS:
            return False
        return None


# --- Our own connections beside Django's -------------------------------------------------
# Code that opens a connection of its own (pg_dump, psql, pgbench, a second psycopg
# connection in a test) must reach the server Django reaches. `settings_dict["HOST"]` is
# empty for the embedded server, whose socket directory is in OPTIONS: these helpers go
# through Django's get_connection_params(), which merges both.
_LIBPQ_KEYS = ("host", "port", "user", "password", "dbname")


def libpq_params(alias: str = DEFAULT_DB_ALIAS, **overrides: str) -> dict[str, str]:
    """host, port, user, password and dbname of a Django alias, as psycopg.connect() takes them."""
    params = connections[alias].get_connection_params()
    found = {key: str(params[key]) for key in _LIBPQ_KEYS if params.get(key) not in (None, "")}
    return {**found, **overrides}


def libpq_env(alias: str = DEFAULT_DB_ALIAS, **overrides: str) -> dict[str, str]:
    """The same as PGHOST, PGPORT, PGUSER, PGPASSWORD, PGDATABASE, for client programs."""
    return {
        f"PG{key.upper()}" if key != "dbname" else "PGDATABASE": value
        for key, value in libpq_params(alias, **overrides).items()
    }


def database_url(alias: str = DEFAULT_DB_ALIAS, **overrides: str) -> str:
    """A DATABASE_URL reaching the same server (and database, unless `dbname` is given)."""
    params = libpq_params(alias, **overrides)
    user = quote(params.get("user", "postgres"), safe="")
    password = f":{quote(params['password'], safe='')}" if params.get("password") else ""
    host = params.get("host", "127.0.0.1")
    name = quote(params.get("dbname", ""), safe="")
    if host.startswith("/"):  # a Unix socket directory, e.g. the embedded server's
        port = f"&port={params['port']}" if params.get("port") else ""
        return f"postgres://{user}{password}@/{name}?host={quote(host, safe='/')}{port}"
    return f"postgres://{user}{password}@{host}:{params.get('port', '5432')}/{name}"


def client_program(name: str, alias: str = DEFAULT_DB_ALIAS) -> str:
    """pg_dump, psql, pgbench...: the embedded server's own when the alias is that server
    (its version may be newer than the system's), else the one on PATH."""
    from config.embedded_db import VAR_DIR

    host = libpq_params(alias).get("host", "")
    # The embedded server's socket is in var/pg/ (or var/run/ when that path is too long).
    if host.startswith("/") and Path(host).resolve().is_relative_to(VAR_DIR.resolve()):
        from config.embedded_db import bin_path

        return str(bin_path(name))
    return shutil.which(name) or name
