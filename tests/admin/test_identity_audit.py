"""The identity audit trail in admin: platform staff see who did what, when, with the number
masked; merchant users see none of it and never a full mobile."""

import pytest

from points.models import IdentityEvent
from points.services.identity import sms_code_send
from points.services.members import member_enrol
from tests.admin.conftest import client_for

pytestmark = pytest.mark.django_db

MOBILE = "13912345678"


@pytest.fixture
def events(db):
    sms_code_send(mobile=MOBILE, purpose="till_enrol", client="terminal:7", actor="terminal:7")
    member, _ = member_enrol(mobile=MOBILE, actor="terminal:7", client="terminal:7")
    return member


def test_platform_staff_see_identity_events_with_masked_numbers(platform_user, events):
    page = client_for(platform_user).get("/admin/points/identityevent/")
    assert page.status_code == 200
    body = page.content.decode()
    assert "139****5678" in body and "terminal:7" in body and MOBILE not in body
    assert set(IdentityEvent.objects.values_list("kind", flat=True)) == {"code_sent", "till_enrol"}


def test_identity_events_cannot_be_changed_or_deleted(platform_user, events):
    client = client_for(platform_user)
    event = IdentityEvent.objects.first()
    assert client.get("/admin/points/identityevent/add/").status_code == 403
    assert client.get(f"/admin/points/identityevent/{event.pk}/delete/").status_code == 403
    client.post(f"/admin/points/identityevent/{event.pk}/change/", {"kind": "signup"})
    assert IdentityEvent.objects.get(pk=event.pk).kind == event.kind


def test_merchant_users_see_no_identity_events_and_no_full_mobile(merchant_a_user, events):
    client = client_for(merchant_a_user)
    assert client.get("/admin/points/identityevent/").status_code == 403
    for url in ("/admin/", "/admin/points/ledgertransaction/", "/admin/points/member/"):
        response = client.get(url)
        assert MOBILE not in response.content.decode()
        assert "13800138000" not in response.content.decode()
