"""Merchant users may open their own merchant's page in admin (read-only: view permission;
the scoped admin shows them only their own merchant)."""

from django.db import migrations


def grant_view(apps, schema_editor):
    Group = apps.get_model("auth", "Group")
    Permission = apps.get_model("auth", "Permission")
    group = Group.objects.filter(name="Merchant staff").first()
    permission = Permission.objects.filter(
        content_type__app_label="merchants", codename="view_merchant"
    ).first()
    if group is not None and permission is not None:
        group.permissions.add(permission)


def revoke_view(apps, schema_editor):
    Group = apps.get_model("auth", "Group")
    Permission = apps.get_model("auth", "Permission")
    group = Group.objects.filter(name="Merchant staff").first()
    permission = Permission.objects.filter(
        content_type__app_label="merchants", codename="view_merchant"
    ).first()
    if group is not None and permission is not None:
        group.permissions.remove(permission)


class Migration(migrations.Migration):
    dependencies = [("merchants", "0003_roles")]

    operations = [migrations.RunPython(grant_view, revoke_view)]
