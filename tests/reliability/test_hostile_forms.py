"""Hostile input to forms and imports (issue 11, part 4): random Unicode, huge values and
missing fields in the sign-up, redeem and admin forms get form errors, never a 500; a
malformed, mixed-encoding CSV import is rejected row by row with clear reasons."""

import csv
from pathlib import Path

import pytest
from django.contrib.auth import get_user_model
from django.core.management import call_command
from django.test import Client
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from points.models import LedgerTransaction, Member
from points.services.accounts import issuance_account
from redemption.models import Redemption
from redemption.services.rewards import reward_create
from tests.conftest import assert_ledger_invariants
from tests.points.conftest import make_shop
from tests.points.helpers import earn
from tests.reliability.conftest import EXAMPLES

pytestmark = pytest.mark.django_db

TRIED: dict[str, int] = {}

# Any Unicode a browser can send (lone surrogates cannot be encoded as UTF-8), up to 3000
# characters, or a huge number, or nothing at all (the field is missing).
HOSTILE_TEXT = st.text(st.characters(exclude_categories=("Cs",)), max_size=3000)
HOSTILE_VALUE = st.one_of(
    HOSTILE_TEXT,
    st.integers(min_value=-(10**30), max_value=10**30).map(str),
    st.sampled_from(["", "0", "-1", "1e309", "NaN", "99999999999999999999", "\x00", "１２"]),
)


def hostile_form(fields):
    return st.fixed_dictionaries({}, optional={name: HOSTILE_VALUE for name in fields})


FUZZ = settings(
    max_examples=EXAMPLES * 2,
    deadline=None,
    database=None,
    suppress_health_check=list(HealthCheck),
)


def submit(client, url, data, name):
    response = client.post(url, data)
    TRIED[name] = TRIED.get(name, 0) + 1
    assert response.status_code < 500, (url, data)
    return response


def test_the_sign_up_form_answers_hostile_input_with_form_errors():
    @FUZZ
    @given(data=hostile_form(["username", "email", "mobile", "password1", "password2", "consent"]))
    def fuzz(data):
        response = submit(Client(), "/accounts/signup/", data, "signup")
        assert response.status_code in (200, 302)

    fuzz()
    assert TRIED["signup"] >= EXAMPLES


def test_the_redeem_form_answers_hostile_input_without_writing_anything_odd(make_member):
    terminal = make_shop("forms-a", "jf_forms_key_a_0001")
    member = make_member()
    earn(member, issuance_account(terminal.store.merchant), 100_000)
    reward = reward_create(
        merchant=terminal.store.merchant,
        title="Bag",
        points_price=100,
        face_value_fen=800,
        stock=1000,
    )
    client = Client()
    client.force_login(member.user, backend="django.contrib.auth.backends.ModelBackend")
    url = f"/rewards/{reward.pk}/redeem/"

    @FUZZ
    @given(data=hostile_form(["quantity", "token"]))
    def fuzz(data):
        submit(client, url, data, "redeem")
        client.get(url, {"quantity": data.get("quantity", "")})  # the confirmation step

    fuzz()
    # Only well-formed requests (a 32-hex token, 1..99 units) may have redeemed anything.
    for redemption in Redemption.objects.filter(member=member):
        assert 1 <= redemption.quantity <= 99
    assert_ledger_invariants()


ADMIN_FORMS = {
    "/admin/redemption/reward/add/": [
        "merchant",
        "title",
        "points_price",
        "cash_price_fen",
        "face_value_fen",
        "stock",
        "kind",
        "validity_days",
        "per_member_limit",
    ],
    "/admin/merchants/merchant/add/": [
        "name",
        "slug",
        "points_per_yuan",
        "cancel_compensation_percent",
    ],
    "/admin/points/community/add/": ["name", "kind"],
}


def test_members_cannot_be_added_in_admin_only_by_sign_up_or_at_the_till():
    admin = get_user_model().objects.create_superuser("add-admin", "b@example.com", "pw-12345")
    client = Client()
    client.force_login(admin, backend="django.contrib.auth.backends.ModelBackend")
    response = client.post("/admin/points/member/add/", {"member_no": "M1", "mobile": "1"})
    assert response.status_code == 403
    assert not Member.objects.filter(member_no="M1").exists()


def fuzz_admin_form(client, url, fields):
    @FUZZ
    @given(data=hostile_form(fields))
    def fuzz(data):
        response = submit(client, url, data, url)
        assert response.status_code in (200, 302)

    return fuzz


def test_admin_forms_answer_hostile_input_with_form_errors():
    admin = get_user_model().objects.create_superuser("fuzz-admin", "a@example.com", "pw-12345")
    client = Client()
    client.force_login(admin, backend="django.contrib.auth.backends.ModelBackend")
    ledger_rows = LedgerTransaction.objects.count()

    for url, fields in ADMIN_FORMS.items():
        fuzz_admin_form(client, url, fields)()
    assert LedgerTransaction.objects.count() == ledger_rows  # admin forms post no points


def test_a_malformed_mixed_encoding_csv_is_rejected_row_by_row(tmp_path: Path, make_member):
    make_shop("forms-b", "jf_forms_key_b_0001")
    member = make_member()
    header = "merchant,member_no,receipt_no,occurred_at,sku,category,quantity,amount_fen\n"
    good = f"forms-b,{member.member_no},G-1,2024-09-02T10:30:00+08:00,,pens,1,1000\n"
    rows = [
        header.encode(),
        good.encode(),
        f"forms-b,{member.member_no},B-1,2024-09-02T10:30:00+08:00,,笔,1,1000\n".encode("gbk"),
        b"forms-b,M-nobody,B-2,2024-09-02T10:30:00+08:00,,pens,1,1000\n",
        f"forms-b,{member.member_no},B-3,not-a-date,,pens,1,1000\n".encode(),
        f"forms-b,{member.member_no},B-4,2024-09-02T10:30:00+08:00,,pens,1,1e9999\n".encode(),
        f"forms-b,{member.member_no},B-5,2024-09-02T10:30:00+08:00,,pens\n".encode(),
        f"forms-b,{member.member_no},B-6,2024-09-02T10:30:00+08:00,X,pens,1,10\n".encode(),
        b"\xff\xfe\x00garbage\x00,\x00\n",
        f"forms-b,{member.member_no},B-7,2024-09-02T10:30:00,,pens,1,1000\n".encode("utf-16"),
    ]
    source = tmp_path / "history.csv"
    source.write_bytes(b"".join(rows))

    call_command("import_purchases", str(source), "--no-progress")

    with open(tmp_path / "history.rejects.csv", encoding="utf-8") as rejects:
        rejected = list(csv.DictReader(rejects))
    # Everything but the header and the good row (the UTF-16 line splits in two).
    assert len(rejected) >= len(rows) - 2
    assert all(row["reason"].strip() for row in rejected)
    reasons = " ".join(row["reason"] for row in rejected).lower()
    assert "utf-8" in reasons
    assert LedgerTransaction.objects.filter(kind="earn").count() == 1  # only G-1
    TRIED["csv rows"] = len(rows) - 1
    assert_ledger_invariants()
