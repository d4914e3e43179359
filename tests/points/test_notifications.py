import pytest
from django.core import mail

from points.models import Notification
from points.services.notifications import notification_send, notifications_mark_read

pytestmark = pytest.mark.django_db


def test_a_notification_lands_in_the_inbox_and_is_emailed_after_commit(
    make_member, django_capture_on_commit_callbacks
):
    member = make_member(email="m@example.com")
    with django_capture_on_commit_callbacks(execute=True):
        notification = notification_send(
            member=member, kind="points", title="积分到账", body="您获得了 256 积分"
        )
    notification.refresh_from_db()
    assert notification.email_status == Notification.EmailStatus.SENT
    assert len(mail.outbox) == 1 and "积分到账" in mail.outbox[0].subject


def test_the_same_dedupe_key_never_makes_two_notifications(make_member):
    member = make_member()
    first = notification_send(member=member, kind="expiry_reminder", title="a", dedupe_key="k1")
    second = notification_send(member=member, kind="expiry_reminder", title="a", dedupe_key="k1")
    assert first is not None and second is None
    assert Notification.objects.filter(member=member).count() == 1


def test_a_failing_mail_server_keeps_the_notification(
    make_member, settings, django_capture_on_commit_callbacks
):
    settings.EMAIL_BACKEND = "tests.points.test_notifications.BrokenBackend"
    member = make_member(email="m@example.com")
    with django_capture_on_commit_callbacks(execute=True):
        notification = notification_send(member=member, kind="points", title="x")
    notification.refresh_from_db()
    assert notification.email_status in {
        Notification.EmailStatus.PENDING,
        Notification.EmailStatus.FAILED,
    }
    assert notification.email_attempts >= 1


def test_marking_read_touches_only_the_members_own(make_member):
    mine, theirs = make_member(), make_member()
    notification_send(member=mine, kind="points", title="a")
    other = notification_send(member=theirs, kind="points", title="b")
    assert notifications_mark_read(member=mine, ids=[other.pk]) == 0
    assert notifications_mark_read(member=mine) == 1


class BrokenBackend:
    def __init__(self, *args, **kwargs):
        pass

    def send_messages(self, messages):
        raise ConnectionRefusedError("mail server down")
