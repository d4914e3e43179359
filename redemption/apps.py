from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class RedemptionConfig(AppConfig):
    name = "redemption"
    verbose_name = _("Redemption")

    def ready(self):
        from points.dashboard import register_section
        from redemption.dashboard import BANNER, SECTION
        from redemption.offer import connect_signals
        from redemption.reconciliation import register_kind_rules

        register_section(SECTION)
        register_section(BANNER)
        connect_signals()
        register_kind_rules()
