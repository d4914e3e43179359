from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class ActivitiesConfig(AppConfig):
    name = "activities"
    verbose_name = _("Green activities")

    def ready(self):
        from activities.reconciliation import register_kind_rules

        register_kind_rules()
