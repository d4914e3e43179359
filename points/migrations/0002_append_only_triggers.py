"""Ledger rows are append-only at the database: UPDATE, DELETE and TRUNCATE are refused.

The trigger lets TRUNCATE through only on a connection that sets `jifen.allow_truncate=on`
(the test settings do, so Django can flush test tables); UPDATE and DELETE never pass.
"""

from django.db import migrations

APPEND_ONLY_TABLES = (
    "points_ledgertransaction",
    "points_ledgerentry",
    "points_lotallocation",
    "points_ledgerseal",
)

PG_FUNCTION = """
CREATE OR REPLACE FUNCTION jifen_refuse_ledger_change() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'TRUNCATE' AND current_setting('jifen.allow_truncate', true) = 'on' THEN
        RETURN NULL;
    END IF;
    RAISE EXCEPTION 'jifen ledger is append-only: % on % is not allowed; post a reversing transaction instead', TG_OP, TG_TABLE_NAME
        USING ERRCODE = 'restrict_violation';
END;
$$;
"""


def create_triggers(apps, schema_editor):
    execute = schema_editor.execute
    execute(PG_FUNCTION, params=None)
    for table in APPEND_ONLY_TABLES:
        execute(
            f"CREATE TRIGGER {table}_append_only BEFORE UPDATE OR DELETE ON {table} "
            f"FOR EACH ROW EXECUTE FUNCTION jifen_refuse_ledger_change()"
        )
        execute(
            f"CREATE TRIGGER {table}_no_truncate BEFORE TRUNCATE ON {table} "
            f"FOR EACH STATEMENT EXECUTE FUNCTION jifen_refuse_ledger_change()"
        )


def drop_triggers(apps, schema_editor):
    execute = schema_editor.execute
    for table in APPEND_ONLY_TABLES:
        execute(f"DROP TRIGGER IF EXISTS {table}_append_only ON {table}")
        execute(f"DROP TRIGGER IF EXISTS {table}_no_truncate ON {table}")
    execute("DROP FUNCTION IF EXISTS jifen_refuse_ledger_change()")


class Migration(migrations.Migration):
    dependencies = [("points", "0001_initial")]

    operations = [migrations.RunPython(create_triggers, drop_triggers)]
