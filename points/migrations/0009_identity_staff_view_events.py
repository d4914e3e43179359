"""Platform staff read the identity audit trail (IdentityEvent) in admin; merchants do not."""

from django.db import migrations

PLATFORM_STAFF = "Platform staff"
PLATFORM_PERMISSIONS = {"points": {"identityevent": "view"}}


def grant_platform_staff(apps, schema_editor):
    from django.contrib.auth.management import create_permissions

    app_config = apps.get_app_config("points")
    app_config.models_module = True
    create_permissions(app_config, apps=apps, verbosity=0)
    app_config.models_module = None
    Group = apps.get_model("auth", "Group")
    Permission = apps.get_model("auth", "Permission")
    platform_staff, _ = Group.objects.get_or_create(name=PLATFORM_STAFF)
    for app_label, models in PLATFORM_PERMISSIONS.items():
        for model, actions in models.items():
            codenames = [f"{action}_{model}" for action in actions.split()]
            platform_staff.permissions.add(
                *Permission.objects.filter(
                    content_type__app_label=app_label, codename__in=codenames
                )
            )


class Migration(migrations.Migration):
    dependencies = [
        ("points", "0008_identity_codes_and_card"),
        ("merchants", "0003_roles"),
    ]

    operations = [migrations.RunPython(grant_platform_staff, migrations.RunPython.noop)]
