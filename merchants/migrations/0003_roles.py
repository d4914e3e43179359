"""The two back-office roles. Their model permissions are granted here; which rows a
merchant user sees is decided by the merchant-scoped admin, not by these permissions."""

from django.db import migrations

MERCHANT_STAFF = "Merchant staff"
PLATFORM_STAFF = "Platform staff"

MERCHANT_PERMISSIONS = {
    "merchants": {"store": "view add change", "terminal": "view add change",
                  "category": "view add change", "product": "view add change delete",
                  "campaign": "view add change delete"},
    "points": {"ledgertransaction": "view", "purchase": "view", "refund": "view"},
}
PLATFORM_PERMISSIONS = {
    "merchants": {"merchant": "view add change", "merchantmembership": "view add change delete",
                  "store": "view add change", "terminal": "view add change",
                  "category": "view add change", "product": "view add change",
                  "campaign": "view add change"},
    "points": {"member": "view change", "community": "view add change",
               "account": "view", "ledgertransaction": "view", "ledgerentry": "view",
               "pointlot": "view", "lotallocation": "view", "ledgerseal": "view",
               "purchase": "view", "refund": "view"},
}


def grant(apps, group, table):
    Permission = apps.get_model("auth", "Permission")
    for app_label, models in table.items():
        for model, actions in models.items():
            codenames = [f"{action}_{model}" for action in actions.split()]
            group.permissions.add(*Permission.objects.filter(
                content_type__app_label=app_label, codename__in=codenames))


def create_roles(apps, schema_editor):
    from django.contrib.auth.management import create_permissions

    for app_config in apps.get_app_configs():
        app_config.models_module = True
        create_permissions(app_config, apps=apps, verbosity=0)
        app_config.models_module = None
    Group = apps.get_model("auth", "Group")
    merchant_staff, _ = Group.objects.get_or_create(name=MERCHANT_STAFF)
    platform_staff, _ = Group.objects.get_or_create(name=PLATFORM_STAFF)
    grant(apps, merchant_staff, MERCHANT_PERMISSIONS)
    grant(apps, platform_staff, PLATFORM_PERMISSIONS)


def remove_roles(apps, schema_editor):
    apps.get_model("auth", "Group").objects.filter(
        name__in=[MERCHANT_STAFF, PLATFORM_STAFF]).delete()


class Migration(migrations.Migration):
    dependencies = [
        ("merchants", "0002_merchant_membership"),
        ("points", "0002_append_only_triggers"),
        ("auth", "0012_alter_user_first_name_max_length"),
        ("contenttypes", "0002_remove_content_type_name"),
    ]

    operations = [migrations.RunPython(create_roles, remove_roles)]
