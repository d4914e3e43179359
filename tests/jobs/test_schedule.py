"""The beat schedule names real tasks; with no broker, tasks run eagerly."""

from celery.schedules import crontab
from django.conf import settings

from config.celery_app import app


def test_every_beat_entry_names_a_registered_task():
    app.loader.import_default_modules()
    schedule = settings.CELERY_BEAT_SCHEDULE

    assert {entry["task"] for entry in schedule.values()} <= set(app.tasks)
    assert schedule["seal-ledger"]["schedule"] == 60.0
    assert isinstance(schedule["expire-points"]["schedule"], crontab)
    assert isinstance(schedule["send-expiry-reminders"]["schedule"], crontab)
    assert "retry-pending-emails" in schedule


def test_tasks_are_thin_wrappers_that_run_eagerly_in_tests(db):
    from points.tasks import expire_points_task, send_expiry_reminders_task

    assert expire_points_task.delay().get() == {
        "transactions": 0,
        "points": 0,
        "lots": 0,
        "batches": 0,
    }
    assert send_expiry_reminders_task.delay().get() == {"notifications": 0, "lots": 0}
