"""Database routing: an optional read replica for reports and exports.

With `DATABASE_REPLICA_URL` set, the settings add a `replica` alias. Reads of the `reports`
app's own models go there; reports and exports code that reads other apps' models asks for
the alias explicitly: `LedgerEntry.objects.using(reporting_alias())`. Writes, migrations
and everything else stay on `default`. Without a replica every helper answers `default`.

A replica lags the primary by a little (asynchronous streaming replication), so only code
that can show slightly stale figures reads from it — never the write path, never a read
that decides a balance.
"""

from django.conf import settings
from django.db import DEFAULT_DB_ALIAS

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
