from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class PointsConfig(AppConfig):
    name = "points"
    verbose_name = _("Points")

    def ready(self):
        from points import checks  # noqa: F401 - registers the deploy checks
        from points.rule_history import connect_signals as connect_rule_history

        connect_rule_history()  # records each rule change and forgets the cached rules

        from points.signals import connect_signals as connect_language_signals

        connect_language_signals()
        # Register the tasks in every process (Celery's autodiscovery waits for a worker):
        # services queue them by name, without importing this module.
        import points.tasks  # noqa: F401
