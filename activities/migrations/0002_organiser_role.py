"""The "Activity organisers" group and its model permissions. Which rows an organiser sees
is decided by the community-scoped admin (activities/admin.py), not by these permissions."""

from django.db import migrations

ORGANISERS = "Activity organisers"
PLATFORM_STAFF = "Platform staff"

ORGANISER_PERMISSIONS = {"activity": "view add change", "checkin": "view"}
PLATFORM_PERMISSIONS = {
    "activity": "view add change",
    "checkin": "view",
    "checkinrefusal": "view",
    "organiser": "view add change delete",
}


def _permissions(apps, table):
    Permission = apps.get_model("auth", "Permission")
    codenames = [f"{action}_{model}" for model, actions in table.items() for action in actions.split()]
    found = list(Permission.objects.filter(content_type__app_label="activities", codename__in=codenames))
    missing = set(codenames) - {p.codename for p in found}
    if missing:
        raise RuntimeError(f"Permissions not found: {sorted(missing)}")
    return found


def grant(apps, schema_editor):
    from django.contrib.auth.management import create_permissions

    app_config = apps.get_app_config("activities")
    app_config.models_module = True
    create_permissions(app_config, apps=apps, verbosity=0)
    app_config.models_module = None
    Group = apps.get_model("auth", "Group")
    organisers, _ = Group.objects.get_or_create(name=ORGANISERS)
    organisers.permissions.add(*_permissions(apps, ORGANISER_PERMISSIONS))
    platform, _ = Group.objects.get_or_create(name=PLATFORM_STAFF)
    platform.permissions.add(*_permissions(apps, PLATFORM_PERMISSIONS))


def revoke(apps, schema_editor):
    Group = apps.get_model("auth", "Group")
    Group.objects.filter(name=ORGANISERS).delete()
    platform = Group.objects.filter(name=PLATFORM_STAFF).first()
    if platform is not None:
        platform.permissions.remove(*_permissions(apps, PLATFORM_PERMISSIONS))


class Migration(migrations.Migration):
    dependencies = [
        ("activities", "0001_initial"),
        ("auth", "0012_alter_user_first_name_max_length"),
        ("contenttypes", "0002_remove_content_type_name"),
    ]

    operations = [migrations.RunPython(grant, revoke)]
