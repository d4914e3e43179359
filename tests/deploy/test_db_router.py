"""The read-replica router: reports' own models and explicit reporting reads go to the
replica when there is one; everything else, and everything without one, uses default."""

from types import SimpleNamespace

import pytest
from django.db import DEFAULT_DB_ALIAS, router

from config.db import REPLICA_DB_ALIAS, ReportingReplicaRouter, database_url, reporting_alias
from points.models import LedgerEntry, Member
from tests.deploy.conftest import production_env, run_in_django


def model_of(app_label: str):
    """A stand-in model class of `app_label` (the reports app has no models of its own yet)."""
    return SimpleNamespace(_meta=SimpleNamespace(app_label=app_label, model_name="thing"))


@pytest.fixture
def with_replica(settings, monkeypatch):
    # Only the alias's presence matters to the router; no connection is ever opened to it.
    monkeypatch.setitem(settings.DATABASES, REPLICA_DB_ALIAS, {"ENGINE": "stand-in"})


def test_without_a_replica_everything_uses_default():
    assert reporting_alias() == DEFAULT_DB_ALIAS
    assert router.db_for_read(model_of("reports")) == DEFAULT_DB_ALIAS
    assert router.db_for_read(LedgerEntry) == DEFAULT_DB_ALIAS
    assert router.db_for_write(model_of("reports")) == DEFAULT_DB_ALIAS


def test_with_a_replica_reports_models_are_read_from_it(with_replica):
    assert reporting_alias() == REPLICA_DB_ALIAS
    assert router.db_for_read(model_of("reports")) == REPLICA_DB_ALIAS


def test_with_a_replica_other_apps_still_read_from_default(with_replica):
    # The write path reads balances it is about to change: never from a lagging replica.
    assert router.db_for_read(LedgerEntry) == DEFAULT_DB_ALIAS
    assert router.db_for_read(Member) == DEFAULT_DB_ALIAS


def test_with_a_replica_every_write_goes_to_default(with_replica):
    assert router.db_for_write(model_of("reports")) == DEFAULT_DB_ALIAS
    assert router.db_for_write(LedgerEntry) == DEFAULT_DB_ALIAS


def test_migrations_never_run_on_the_replica(with_replica):
    routing = ReportingReplicaRouter()
    assert routing.allow_migrate(REPLICA_DB_ALIAS, "reports") is False
    assert routing.allow_migrate(REPLICA_DB_ALIAS, "points") is False
    assert routing.allow_migrate(DEFAULT_DB_ALIAS, "points") is None  # no objection


def test_objects_from_primary_and_replica_may_be_related():
    routing = ReportingReplicaRouter()

    def obj(alias):
        return SimpleNamespace(_state=SimpleNamespace(db=alias))

    assert routing.allow_relation(obj(DEFAULT_DB_ALIAS), obj(REPLICA_DB_ALIAS)) is True
    assert routing.allow_relation(obj(DEFAULT_DB_ALIAS), obj("archive")) is None


def test_reports_code_reads_through_the_replica_alias(transactional_db, make_member, tmp_path):
    # Given a committed member and a "replica" that is the same database (as a streaming
    # replica would be, minus the lag)
    member = make_member()
    url = database_url()
    env = production_env(tmp_path, DATABASE_URL=url, DATABASE_REPLICA_URL=url)
    # When production code reads with .using(reporting_alias())
    result = run_in_django(
        "from config.db import reporting_alias\n"
        "from points.models import Member\n"
        "alias = reporting_alias()\n"
        f"found = Member.objects.using(alias).filter(member_no='{member.member_no}')\n"
        "print(alias, found.count())\n",
        env,
    )
    # Then the query went to the replica connection and found the row
    assert result.returncode == 0, result.stderr
    assert result.stdout.split() == [REPLICA_DB_ALIAS, "1"]
