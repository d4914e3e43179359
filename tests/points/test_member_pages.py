"""Member pages: sign-up, dashboard, history (+CSV), inbox; privacy and query counts."""

import csv
import io

import pytest
from django.urls import reverse

from points.models import Account, Notification
from points.services.accounts import system_account
from points.services.ledger import Posting, ledger_post
from points.services.notifications import notification_send
from tests.points.helpers import earn, spend, standard

pytestmark = pytest.mark.django_db

MEMBER_PAGES = ["/", "/points/history/", "/me/notifications/", "/points/history/?format=csv"]


@pytest.mark.parametrize("url", MEMBER_PAGES)
def test_member_pages_send_anonymous_visitors_to_login(client, url):
    response = client.get(url)
    assert response.status_code == 302 and response["Location"].startswith("/accounts/login/")


# Sign-up (mobile proven by an SMS code first) is tested in test_identity_pages.py.


def test_dashboard_shows_the_card_qr_and_that_points_never_expire(client, make_member, issuer):
    member = make_member()
    earn(member, issuer, 50)
    client.force_login(member.user)
    body = client.get("/").content.decode()
    assert "<svg" in body and 'data-testid="member-qr"' in body
    assert "永久有效" in body


def test_dashboard_lists_points_expiring_within_90_days(client, make_member, issuer, settings):
    from datetime import timedelta

    from django.utils import timezone

    member = make_member()
    earn(member, issuer, 40, expires_at=timezone.now() + timedelta(days=20))
    earn(member, issuer, 60, expires_at=timezone.now() + timedelta(days=200))
    settings.POINTS_EXPIRY_MONTHS = 12
    client.force_login(member.user)
    section = client.get("/").content.decode().split('data-testid="expiring"')[1]
    section = section.split("</section>")[0]
    assert "40" in section and "60" not in section


def test_history_shows_balance_after_each_movement(client, make_member, issuer, merchant):
    member = make_member()
    earn(member, issuer, 100)
    earn(member, issuer, 50)
    spend(member, merchant, 30)
    client.force_login(member.user)

    rows = client.get("/points/history/").context["page"].object_list

    assert [(r.points, r.balance_after) for r in rows] == [(-30, 120), (50, 150), (100, 100)]


def test_history_filters_by_kind_and_month_keep_the_running_balance(
    client, make_member, issuer, merchant
):
    from django.utils import timezone

    member = make_member()
    earn(member, issuer, 100)
    spend(member, merchant, 30)
    client.force_login(member.user)
    month = timezone.localdate().strftime("%Y-%m")

    rows = client.get(f"/points/history/?kind=redeem&month={month}").context["page"].object_list
    assert [(r.points, r.balance_after) for r in rows] == [(-30, 70)]
    assert not client.get("/points/history/?month=2001-01").context["page"].object_list


@pytest.mark.parametrize(
    ("query", "status"),
    [
        ("month=2026-13", 400),
        ("month=abc", 400),
        ("kind=gift", 400),
        ("page=-1", 400),
        ("page=99999", 200),  # a page past the end shows the last page
        ("month=%FF%FE", 400),
    ],
)
def test_history_with_bad_filters_is_a_400_not_an_error(client, make_member, query, status):
    client.force_login(make_member().user)
    assert client.get(f"/points/history/?{query}").status_code == status


def test_history_csv_has_a_bom_and_one_row_per_movement(client, make_member, issuer):
    member = make_member()
    earn(member, issuer, 100)
    earn(member, issuer, 20)
    client.force_login(member.user)

    response = client.get("/points/history/?format=csv")

    content = b"".join(response.streaming_content).decode("utf-8")
    assert content.startswith("\ufeff")
    rows = list(csv.reader(io.StringIO(content.lstrip("\ufeff"))))
    assert len(rows) == 3
    assert [row[-2:] for row in rows[1:]] == [["20", "120"], ["100", "100"]]


def test_history_and_dashboard_cost_the_same_queries_with_2000_movements(
    client, make_member, issuer, merchant, django_assert_max_num_queries
):
    member = make_member()
    green = Account.objects.get(member=member, kind=Account.Kind.GREEN)
    green_issuer = system_account(Account.Kind.GREEN_ISSUANCE, merchant)
    for n in range(1000):  # 2,000 member entries
        ledger_post(
            kind="earn",
            idempotency_key=f"bulk-{n}",
            member=member,
            merchant=merchant,
            postings=[
                Posting(standard(member), 5),
                Posting(issuer, -5),
                Posting(green, 1),
                Posting(green_issuer, -1),
            ],
        )
    notification_send(member=member, kind="points", title="hi")
    client.force_login(member.user)
    for url in ["/", "/points/history/", "/points/history/?page=50", "/me/notifications/"]:
        with django_assert_max_num_queries(12):
            assert client.get(url).status_code == 200


def test_inbox_shows_unread_count_and_marks_read(client, make_member):
    member = make_member()
    notification = notification_send(member=member, kind="points", title="积分到账", link="/")
    client.force_login(member.user)
    assert 'data-testid="unread-count">1<' in client.get("/me/notifications/").content.decode()

    client.post(reverse("notification-read", args=[notification.pk]))

    assert Notification.objects.get(pk=notification.pk).is_read
    assert 'data-testid="unread-count"' not in client.get("/").content.decode()


def test_another_members_notification_is_404(client, make_member):
    mine, theirs = make_member(), make_member()
    other = notification_send(member=theirs, kind="points", title="theirs")
    client.force_login(mine.user)
    assert client.post(reverse("notification-read", args=[other.pk])).status_code == 404
    assert not Notification.objects.get(pk=other.pk).is_read
    assert "theirs" not in client.get("/me/notifications/").content.decode()


def test_pages_work_in_english(client, make_member):
    client.force_login(make_member().user)
    client.post("/i18n/setlang/", {"language": "en", "next": "/"})
    body = client.get("/points/history/").content.decode()
    assert "Points history" in body and '<html lang="en">' in body


def test_password_reset_sends_a_mail(client, make_member, mailoutbox):
    make_member(username="forgetful")
    from django.contrib.auth import get_user_model

    get_user_model().objects.filter(username="forgetful").update(email="f@example.com")
    response = client.post("/accounts/password_reset/", {"email": "f@example.com"})
    assert response.status_code == 302
    assert len(mailoutbox) == 1 and "/accounts/reset/" in mailoutbox[0].body
