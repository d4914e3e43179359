"""Merchant staff read their own earning-rule history in admin (the merchant-scoped admin
shows them their merchant's rows only); platform staff read all of it."""

from django.db import migrations

VIEWERS = ("Merchant staff", "Platform staff")


def grant_view(apps, schema_editor):
    from django.contrib.auth.management import create_permissions

    app_config = apps.get_app_config("points")
    app_config.models_module = True
    create_permissions(app_config, apps=apps, verbosity=0)
    app_config.models_module = None
    Group = apps.get_model("auth", "Group")
    Permission = apps.get_model("auth", "Permission")
    view = Permission.objects.filter(content_type__app_label="points", codename="view_ruleversion")
    for name in VIEWERS:
        Group.objects.get_or_create(name=name)[0].permissions.add(*view)


class Migration(migrations.Migration):
    dependencies = [("points", "0013_rule_versions"), ("merchants", "0003_roles")]

    operations = [migrations.RunPython(grant_view, migrations.RunPython.noop)]
