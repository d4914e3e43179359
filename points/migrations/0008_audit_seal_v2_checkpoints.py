"""Seals carry their format version; signed checkpoints; a lot's terms are fixed.

Existing seals are version 1 (the column is added with that default, then the model's
default becomes 2 for new seals: no existing row is updated). Checkpoints are append-only
like the other ledger tables. A lot's account, transaction, amount, expiry and creation
time can never be UPDATEd: only `remaining` changes (docs/audit.md, "Lots").
"""

from django.db import migrations, models

APPEND_ONLY = "points_ledgercheckpoint"

LOT_TERMS_FUNCTION = """
CREATE OR REPLACE FUNCTION jifen_refuse_lot_terms_change() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    IF NEW.account_id IS DISTINCT FROM OLD.account_id
       OR NEW.transaction_id IS DISTINCT FROM OLD.transaction_id
       OR NEW.points IS DISTINCT FROM OLD.points
       OR NEW.expires_at IS DISTINCT FROM OLD.expires_at
       OR NEW.created_at IS DISTINCT FROM OLD.created_at THEN
        RAISE EXCEPTION 'jifen lot terms are fixed: only remaining may change on points_pointlot; post a ledger transaction instead'
            USING ERRCODE = 'restrict_violation';
    END IF;
    RETURN NEW;
END;
$$;
"""


def create_triggers(apps, schema_editor):
    execute = schema_editor.execute
    execute(
        f"CREATE TRIGGER {APPEND_ONLY}_append_only BEFORE UPDATE OR DELETE ON {APPEND_ONLY} "
        f"FOR EACH ROW EXECUTE FUNCTION jifen_refuse_ledger_change()"
    )
    execute(
        f"CREATE TRIGGER {APPEND_ONLY}_no_truncate BEFORE TRUNCATE ON {APPEND_ONLY} "
        f"FOR EACH STATEMENT EXECUTE FUNCTION jifen_refuse_ledger_change()"
    )
    execute(LOT_TERMS_FUNCTION, params=None)
    execute(
        "CREATE TRIGGER points_pointlot_terms_fixed BEFORE UPDATE ON points_pointlot "
        "FOR EACH ROW EXECUTE FUNCTION jifen_refuse_lot_terms_change()"
    )
    execute(
        "CREATE TRIGGER points_pointlot_no_delete BEFORE DELETE ON points_pointlot "
        "FOR EACH ROW EXECUTE FUNCTION jifen_refuse_ledger_change()"
    )


def drop_triggers(apps, schema_editor):
    execute = schema_editor.execute
    execute(f"DROP TRIGGER IF EXISTS {APPEND_ONLY}_append_only ON {APPEND_ONLY}")
    execute(f"DROP TRIGGER IF EXISTS {APPEND_ONLY}_no_truncate ON {APPEND_ONLY}")
    execute("DROP TRIGGER IF EXISTS points_pointlot_terms_fixed ON points_pointlot")
    execute("DROP TRIGGER IF EXISTS points_pointlot_no_delete ON points_pointlot")
    execute("DROP FUNCTION IF EXISTS jifen_refuse_lot_terms_change()")


class Migration(migrations.Migration):
    dependencies = [("points", "0007_lean_write_indexes")]

    operations = [
        migrations.AddField(
            model_name="ledgerseal",
            name="seal_version",
            field=models.PositiveSmallIntegerField(default=1, verbose_name="seal version"),
        ),
        migrations.AlterField(
            model_name="ledgerseal",
            name="seal_version",
            field=models.PositiveSmallIntegerField(default=2, verbose_name="seal version"),
        ),
        migrations.CreateModel(
            name="LedgerCheckpoint",
            fields=[
                (
                    "id",
                    models.BigAutoField(
                        auto_created=True, primary_key=True, serialize=False, verbose_name="ID"
                    ),
                ),
                ("seq", models.PositiveIntegerField(unique=True, verbose_name="sequence")),
                ("head_hash", models.CharField(max_length=64, verbose_name="head hash")),
                (
                    "sealed_count",
                    models.PositiveBigIntegerField(verbose_name="sealed transactions"),
                ),
                ("at", models.DateTimeField(verbose_name="signed at")),
                ("key_id", models.CharField(max_length=16, verbose_name="key id")),
                ("signature", models.CharField(max_length=100, verbose_name="signature")),
            ],
            options={
                "verbose_name": "ledger checkpoint",
                "verbose_name_plural": "ledger checkpoints",
                "ordering": ["seq"],
            },
        ),
        migrations.RunPython(create_triggers, drop_triggers),
    ]
