"""Model permissions of the catalog and of manual adjustments for the two back-office roles
(created in merchants/0003_roles). Which rows a merchant user sees is decided by the
merchant-scoped admin, not by these permissions."""

from django.db import migrations

MERCHANT_STAFF = "Merchant staff"
PLATFORM_STAFF = "Platform staff"

CATALOG_PERMISSIONS = {
    "redemption": {
        "reward": "view add change",
        "priceschedule": "view add change delete",
        "rewardpricechange": "view",
        "redemption": "view change",
        "voucher": "view change",
    },
}
PLATFORM_ONLY_PERMISSIONS = {
    "points": {"adjustmentrequest": "view add approve"},
}


def _permissions(apps, table):
    Permission = apps.get_model("auth", "Permission")
    for app_label, models in table.items():
        for model, actions in models.items():
            codenames = [f"{action}_{model}" for action in actions.split()]
            found = list(
                Permission.objects.filter(
                    content_type__app_label=app_label, codename__in=codenames
                )
            )
            missing = set(codenames) - {p.codename for p in found}
            if missing:
                raise RuntimeError(f"Permissions not found: {sorted(missing)}")
            yield from found


def grant(apps, schema_editor):
    from django.contrib.auth.management import create_permissions

    for app_config in apps.get_app_configs():
        app_config.models_module = True
        create_permissions(app_config, apps=apps, verbosity=0)
        app_config.models_module = None
    Group = apps.get_model("auth", "Group")
    merchant_staff, _ = Group.objects.get_or_create(name=MERCHANT_STAFF)
    platform_staff, _ = Group.objects.get_or_create(name=PLATFORM_STAFF)
    merchant_staff.permissions.add(*_permissions(apps, CATALOG_PERMISSIONS))
    platform_staff.permissions.add(*_permissions(apps, CATALOG_PERMISSIONS))
    platform_staff.permissions.add(*_permissions(apps, PLATFORM_ONLY_PERMISSIONS))


def revoke(apps, schema_editor):
    Group = apps.get_model("auth", "Group")
    for name, tables in (
        (MERCHANT_STAFF, [CATALOG_PERMISSIONS]),
        (PLATFORM_STAFF, [CATALOG_PERMISSIONS, PLATFORM_ONLY_PERMISSIONS]),
    ):
        group = Group.objects.filter(name=name).first()
        if group is not None:
            for table in tables:
                group.permissions.remove(*_permissions(apps, table))


class Migration(migrations.Migration):
    dependencies = [
        ("redemption", "0001_initial"),
        ("merchants", "0003_roles"),
        ("points", "0004_adjustment"),
        ("auth", "0012_alter_user_first_name_max_length"),
        ("contenttypes", "0002_remove_content_type_name"),
    ]

    operations = [migrations.RunPython(grant, revoke)]
